"""Attack: resolve a host name, and send a DNS-like datagram to a UDP server of the host.

The host has no DNS of its own here, so ``getaddrinfo`` alone cannot tell a sandbox from an
offline machine: the datagram to the test's UDP listener on 127.0.0.1 (standing in for a
resolver) is what the test checks. See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, udp_port: int = 0) -> None:
        self.udp_port = udp_port

    def fit(self, X: Any, y: Any) -> Attack:
        outcomes = []
        try:
            answer = socket.getaddrinfo("example.com", 80)
            outcomes.append(f"ESCAPED resolved example.com: {answer[0][4]}")
        except OSError as exc:
            outcomes.append(f"BLOCKED getaddrinfo: {exc}")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(b"query example.com from the sandbox", ("127.0.0.1", self.udp_port))
            outcomes.append("SENT datagram (the test checks whether it arrived)")
        except OSError as exc:
            outcomes.append(f"BLOCKED sendto: {exc}")
        raise RuntimeError("ATTACK resolve_name: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
