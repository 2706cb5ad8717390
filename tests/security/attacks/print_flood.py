"""Attack: print gigabytes to stdout and stderr (bounded at ``max_mb`` in all, so the machine
survives if nothing stops it), through ``print`` and straight into file descriptors 1 and 2.

See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
LINE = "flood " * 174762 + "\n"  # about 1 MiB


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, max_mb: int = 2048) -> None:
        self.max_mb = max_mb

    def fit(self, X: Any, y: Any) -> Attack:
        written = 0
        outcomes = []
        data = LINE.encode()
        for label, write in (("print", lambda: print(LINE, end="", flush=True)),
                             ("fd 1", lambda: os.write(1, data)),
                             ("fd 2", lambda: os.write(2, data)),
                             ("stderr", lambda: print(LINE, end="", file=sys.stderr))):
            try:
                while written < self.max_mb:
                    write()
                    written += 1
            except OSError as exc:
                outcomes.append(f"BLOCKED {label} after {written} MiB in all: {exc.strerror}")
                continue
            raise RuntimeError(f"ATTACK print_flood: ESCAPED printed {written} MiB")
        raise RuntimeError("ATTACK print_flood: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
