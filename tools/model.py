"""The deployable model: feature preparation plus the fitted pipeline(s), one object.

``model.joblib`` holds a ``FittedModel``: one pipeline, or a weighted average of
several (the selected ensemble). It takes raw rows with the training columns
(extra columns are ignored) and returns labels in the user's own vocabulary, or
class probabilities.

A model whose pipelines hold LLM-written code (a code proposal) is *sandboxed*:
unpickling its fitted pipelines would run that code, so it keeps them only as the
bytes of their joblib file (``FittedModel.sandboxed``), never loaded in this
process. Its feature preparation runs here; the pipelines predict inside the
sandbox, through a *runner* the caller passes (``mlpilot predict`` uses
``sandbox.predict_in_sandbox``; this package does not import the sandbox).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from schemas import ConfigError, DataError, SandboxError, TaskType
from tools.features import FeaturePrep

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
# (the sandboxed pipelines' joblib bytes, the rows after ``prep``) -> one block of predictions
# per pipeline: (n_members, n_rows, n_classes) for a classifier, (n_members, n_rows) otherwise
PredictRunner = Callable[[bytes, pd.DataFrame], np.ndarray]
# Each class probability a classifier returns is mixed with the uniform distribution at this
# weight, so none is below PROBABILITY_FLOOR / K. Pure leaves of tree models give exact
# zeros, and one confident miss then costs a row log loss 36 (the clip at machine
# epsilon); the floor caps it near ln(K / 1e-4), about 10, and costs at most 1e-4 a row.
PROBABILITY_FLOOR = 1e-4
SANDBOX_ONLY = ("The model holds LLM-written code and predicts only inside the sandbox; "
                "use 'mlpilot predict RUN_DIR DATA'.")


@dataclass
class FittedModel:
    """What ``mlpilot predict`` loads. Built by ``fit_final_model`` or ``sandboxed_model``.

    ``sandboxed``: the joblib bytes of the fitted pipelines' tuple when they hold
    LLM-written code; ``pipelines`` is then empty and predictions need a runner
    (see the module docstring).
    ``threshold``: for two classes, the positive-class probability from which ``predict``
    says the positive class (chosen for a label metric such as F1); None: the more
    probable class.
    """

    prep: FeaturePrep
    pipelines: tuple[Any, ...]
    weights: tuple[float, ...]
    task_type: TaskType
    target: str
    classes: tuple[Any, ...] | None
    mlpilot_version: str
    sandboxed: bytes | None = None
    threshold: float | None = None

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    @property
    def contains_code(self) -> bool:
        """Whether the pipelines hold LLM-written code (they predict in the sandbox only)."""
        return self.sandboxed is not None

    @property
    def input_columns(self) -> list[str]:
        return [str(c) for c in self.prep.input_columns_]

    def predict_proba(self, X: pd.DataFrame, *, runner: PredictRunner | None = None
                      ) -> np.ndarray:
        if not self.is_classifier:
            raise DataError("The model is a regressor: it has no class probabilities.")
        return self.predict_raw(X, runner=runner)

    def predict_raw(self, X: pd.DataFrame, *, runner: PredictRunner | None = None
                    ) -> np.ndarray:
        """Probabilities (n, K) for a classifier, values (n,) for a regressor.

        ``runner`` predicts with a sandboxed model's pipelines (required then,
        ignored otherwise); without one a sandboxed model raises ``DataError``.
        """
        if self.sandboxed is not None:
            if runner is None:
                raise DataError(SANDBOX_ONLY)
            Xt = self.prep.transform(X)
            return self._floored(
                self._combine(self._checked(runner(self.sandboxed, Xt), len(Xt))))
        Xt = self.prep.transform(X)
        total: np.ndarray | None = None
        for pipeline, weight in zip(self.pipelines, self.weights, strict=True):
            out = pipeline.predict_proba(Xt) if self.is_classifier else pipeline.predict(Xt)
            part = weight * np.asarray(out, dtype=float)
            total = part if total is None else total + part
        assert total is not None
        return self._floored(total)

    def predict(self, X: pd.DataFrame, *, runner: PredictRunner | None = None) -> np.ndarray:
        raw = self.predict_raw(X, runner=runner)
        if self.classes is None:
            return raw
        return self.labels(raw)

    def labels(self, proba: np.ndarray) -> np.ndarray:
        """Class labels for probabilities from ``predict_raw``."""
        if self.threshold is not None and proba.shape[1] == 2:
            codes = (proba[:, 1] >= self.threshold).astype(int)
        else:
            codes = proba.argmax(axis=1)
        return np.asarray(self.classes, dtype=object)[codes]

    def save(self, run_dir: Path) -> Path:
        path = run_dir / MODEL_FILE
        tmp = path.with_suffix(".tmp")
        joblib.dump(self, tmp)
        tmp.replace(path)
        return path

    def _checked(self, out: Any, n_rows: int) -> np.ndarray:
        """The runner's predictions, if they have one block per pipeline of the right shape."""
        values = np.asarray(out, dtype=np.float64)
        expected: tuple[int, ...] = (len(self.weights), n_rows)
        if self.classes is not None:
            expected = (*expected, len(self.classes))
        if values.shape != expected:
            raise SandboxError(f"The sandboxed predictions must have shape {expected}; "
                               f"got {values.shape} instead.")
        return values

    def _combine(self, values: np.ndarray) -> np.ndarray:
        """The weighted average of the pipelines' predictions."""
        return np.tensordot(np.asarray(self.weights, dtype=np.float64), values, axes=1)

    def _floored(self, values: np.ndarray) -> np.ndarray:
        """Class probabilities mixed with the uniform at ``PROBABILITY_FLOOR``; values as
        they are for a regressor."""
        if not self.is_classifier:
            return values
        return (1.0 - PROBABILITY_FLOOR) * values + PROBABILITY_FLOOR / values.shape[1]


def fit_final_model(pipelines: Sequence[Any], weights: Sequence[float], prep: FeaturePrep,
                    X_train: pd.DataFrame, y_train: np.ndarray, *, task_type: TaskType,
                    target: str, classes: tuple[Any, ...] | None,
                    mlpilot_version: str) -> FittedModel:
    """Fit each pipeline on all training rows (already transformed by ``prep``)."""
    if not pipelines or len(pipelines) != len(weights):
        raise ValueError("fit_final_model needs one weight per pipeline, and at least one")
    for pipeline in pipelines:
        # record=True keeps the filters as they are: a "show always" filter set here could
        # outlive the block when a library thread swaps filters too (catch_warnings is not
        # thread-safe), and show a user every warning afterwards
        with warnings.catch_warnings(record=True) as caught:
            pipeline.fit(X_train, y_train)
        for warning in caught:  # one line in the log, not a library's paragraph on the terminal
            log.info("final refit: %s: %s", warning.category.__name__,
                     str(warning.message).splitlines()[0])
    total = float(sum(weights))
    return FittedModel(prep=prep, pipelines=tuple(pipelines),
                       weights=tuple(float(w) / total for w in weights), task_type=task_type,
                       target=target, classes=classes, mlpilot_version=mlpilot_version)


def sandboxed_model(fitted: bytes, weights: Sequence[float], prep: FeaturePrep, *,
                    task_type: TaskType, target: str, classes: tuple[Any, ...] | None,
                    mlpilot_version: str) -> FittedModel:
    """A model whose fitted pipelines hold LLM-written code, kept as ``fitted`` (the bytes
    of a sandbox refit's ``fitted.joblib``: a tuple with one pipeline per weight).

    The bytes are stored as they are, never unpickled here; ``weights`` are normalized
    to sum to 1.
    """
    if not isinstance(fitted, bytes) or not fitted:
        raise ConfigError(f"The 'fitted' parameter of sandboxed_model must be the non-empty "
                          f"bytes of a joblib file; got {type(fitted).__name__} instead.")
    values = [float(w) for w in weights]
    if not values or not all(np.isfinite(values)) or min(values) < 0 or sum(values) <= 0:
        raise ConfigError(f"The 'weights' parameter of sandboxed_model must be one or more "
                          f"finite, non-negative numbers with a positive sum; got {values} "
                          f"instead.")
    total = sum(values)
    return FittedModel(prep=prep, pipelines=(), weights=tuple(w / total for w in values),
                       task_type=task_type, target=target, classes=classes,
                       mlpilot_version=mlpilot_version, sandboxed=fitted)


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


def prediction_frame(model: FittedModel, X: pd.DataFrame, *,
                     runner: PredictRunner | None = None) -> pd.DataFrame:
    """One row per input row, in order: ``prediction`` and, for a classifier, ``proba_<class>``.

    ``runner``: see ``FittedModel.predict_raw`` (needed by a sandboxed model)."""
    raw = model.predict_raw(X, runner=runner)
    if model.classes is None:
        return pd.DataFrame({"prediction": raw})
    out = pd.DataFrame({"prediction": model.labels(raw)})
    for i, cls in enumerate(model.classes):
        out[f"proba_{cls}"] = raw[:, i]
    return out
