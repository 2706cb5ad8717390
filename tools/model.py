"""The deployable model: feature preparation plus the fitted pipeline(s), one object.

``model.joblib`` holds a ``FittedModel``: one pipeline, or a weighted average of
several (the selected ensemble). It takes raw rows with the training columns
(extra columns are ignored) and returns labels in the user's own vocabulary, or
class probabilities.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from schemas import DataError, TaskType
from tools.features import FeaturePrep

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"


@dataclass
class FittedModel:
    """What ``mlpilot predict`` loads. Built only by ``fit_final_model``."""

    prep: FeaturePrep
    pipelines: tuple[Any, ...]
    weights: tuple[float, ...]
    task_type: TaskType
    target: str
    classes: tuple[Any, ...] | None
    mlpilot_version: str

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    @property
    def input_columns(self) -> list[str]:
        return [str(c) for c in self.prep.input_columns_]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not self.is_classifier:
            raise DataError("The model is a regressor: it has no class probabilities.")
        return self.predict_raw(X)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities (n, K) for a classifier, values (n,) for a regressor."""
        Xt = self.prep.transform(X)
        total: np.ndarray | None = None
        for pipeline, weight in zip(self.pipelines, self.weights, strict=True):
            out = pipeline.predict_proba(Xt) if self.is_classifier else pipeline.predict(Xt)
            part = weight * np.asarray(out, dtype=float)
            total = part if total is None else total + part
        assert total is not None
        return total

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raw = self.predict_raw(X)
        if self.classes is None:
            return raw
        return np.asarray(self.classes, dtype=object)[raw.argmax(axis=1)]

    def save(self, run_dir: Path) -> Path:
        path = run_dir / MODEL_FILE
        tmp = path.with_suffix(".tmp")
        joblib.dump(self, tmp)
        tmp.replace(path)
        return path


def fit_final_model(pipelines: Sequence[Any], weights: Sequence[float], prep: FeaturePrep,
                    X_train: pd.DataFrame, y_train: np.ndarray, *, task_type: TaskType,
                    target: str, classes: tuple[Any, ...] | None,
                    mlpilot_version: str) -> FittedModel:
    """Fit each pipeline on all training rows (already transformed by ``prep``)."""
    if not pipelines or len(pipelines) != len(weights):
        raise ValueError("fit_final_model needs one weight per pipeline, and at least one")
    for pipeline in pipelines:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipeline.fit(X_train, y_train)
        for warning in caught:  # one line in the log, not a library's paragraph on the terminal
            log.info("final refit: %s: %s", warning.category.__name__,
                     str(warning.message).splitlines()[0])
    total = float(sum(weights))
    return FittedModel(prep=prep, pipelines=tuple(pipelines),
                       weights=tuple(float(w) / total for w in weights), task_type=task_type,
                       target=target, classes=classes, mlpilot_version=mlpilot_version)


def load_model(run_dir: Path) -> FittedModel:
    path = run_dir / MODEL_FILE if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise DataError(f"No model found at '{path}': give the folder of a finished run.")
    try:
        model = joblib.load(path)
    except Exception as exc:  # a corrupt or foreign file: bad input, not a bug of ours
        raise DataError(f"'{path}' cannot be read as an mlpilot model: {exc}") from exc
    if not isinstance(model, FittedModel):
        raise DataError(f"'{path}' does not hold an mlpilot model.")
    return model


def prediction_frame(model: FittedModel, X: pd.DataFrame) -> pd.DataFrame:
    """One row per input row, in order: ``prediction`` and, for a classifier, ``proba_<class>``."""
    raw = model.predict_raw(X)
    if model.classes is None:
        return pd.DataFrame({"prediction": raw})
    labels = np.asarray(model.classes, dtype=object)[raw.argmax(axis=1)]
    out = pd.DataFrame({"prediction": labels})
    for i, cls in enumerate(model.classes):
        out[f"proba_{cls}"] = raw[:, i]
    return out
