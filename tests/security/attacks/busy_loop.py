"""Attack: spin the CPU forever (bounded at ``max_s`` seconds, so the machine survives if
nothing stops it); the test runs it with a 5 s trial timeout.

See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, max_s: float = 120.0) -> None:
        self.max_s = max_s

    def fit(self, X: Any, y: Any) -> Attack:
        end = time.monotonic() + self.max_s
        n = 0
        while time.monotonic() < end:
            n += 1
        raise RuntimeError(f"ATTACK busy_loop: ESCAPED spun for {self.max_s:g} s ({n} turns)")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
