"""Attack: write outside the trial folder: the data file, the user's home, a marker folder of
the test, /tmp, the repository and one of its packages.

Every file it creates is named after the test's token, so the test can find and remove it.
See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, data_path: str = "", home: str = "", marker_dir: str = "",
                 repo: str = "", token: str = "") -> None:
        self.data_path = data_path
        self.home = home
        self.marker_dir = marker_dir
        self.repo = repo
        self.token = token

    def fit(self, X: Any, y: Any) -> Attack:
        name = f"escape-{self.token}.txt"
        targets = [(self.data_path, "a"), (os.path.join(self.home, name), "w"),
                   (os.path.join(self.home, ".bashrc"), "a"),
                   (os.path.join(self.marker_dir, name), "w"), (os.path.join("/tmp", name), "w"),
                   (os.path.join(self.repo, name), "w"),
                   (os.path.join(self.repo, "tools", name), "w")]
        outcomes = []
        for path, mode in targets:
            try:
                with open(path, mode) as handle:
                    handle.write(f"\nwritten from a trial {self.token}\n")
                outcomes.append(f"ESCAPED wrote {path}")
            except OSError as exc:
                outcomes.append(f"BLOCKED {path}: {exc.strerror}")
        raise RuntimeError("ATTACK write_outside: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
