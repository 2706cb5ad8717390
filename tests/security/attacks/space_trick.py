"""Attack: hide a call in ``SPACE``, which the parent reads: a checker that evaluated it
(instead of reading it as a literal) would write ``space-<token>`` into the test's marker
folder. The static check must refuse the module (exit 2) or at least not run the call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
SPACE = {"alpha": {"type": "float", "low": 0.1, "high": 1.0,
                   "default": __import__("pathlib").Path(
                       SETTINGS.get("marker_dir", "/nonexistent"),
                       f"space-{SETTINGS.get('token')}").write_text("evaluated") and 0.5}}


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> Attack:
        raise RuntimeError("ATTACK space_trick: the module ran")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(alpha=params.get("alpha", 0.5))
