"""The code that runs a trial: fit on each fold, predict the held-out rows.

This is the sandbox boundary. Whatever the estimator does — raise, exit,
return garbage — becomes a report (``result.json``), never an exception in
the caller. The same function runs in a forked sandbox child and, for tests,
in the calling process (``InProcessExecutor``).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import clone

from sandbox._bundle import BundleData

logger = logging.getLogger(__name__)

ESTIMATOR_FILE = "estimator.joblib"
PREDICTIONS_FILE = "predictions.npy"
# in-sample predictions of the first fold's model on (up to TRAIN_SAMPLE of) its own training
# rows, each row prefixed by its position: the parent scores them to see the train/CV gap
TRAIN_PREDICTIONS_FILE = "train_predictions.npy"
TRAIN_SAMPLE = 2000
RESULT_FILE = "result.json"
LOG_FILE = "output.log"
ERROR_TAIL_CHARS = 2000


class InvalidOutputError(Exception):
    """The estimator returned predictions of the wrong shape, type or classes."""


def tail(text: str, n_chars: int = ERROR_TAIL_CHARS) -> str:
    """The end of a long message: a traceback's last lines name the actual error."""
    return text if len(text) <= n_chars else "..." + text[-(n_chars - 3):]


def run_trial(data: BundleData, estimator_path: Path, out_dir: Path, predict_kind: str) -> dict:
    """Run one trial and write ``predictions.npy`` and ``result.json`` into ``out_dir``.

    Returns the report that was written. Catches every ``Exception`` (and
    ``SystemExit``): a failing estimator is a result, not a crash.
    """
    report: dict[str, Any]
    try:
        estimator = joblib.load(estimator_path)
        predictions, in_sample, fit_time_s = cross_val_predictions(estimator, data,
                                                                   predict_kind)
        np.save(out_dir / PREDICTIONS_FILE, predictions, allow_pickle=False)
        np.save(out_dir / TRAIN_PREDICTIONS_FILE, in_sample, allow_pickle=False)
        report = {"status": "ok", "fit_time_s": fit_time_s}
    except InvalidOutputError as exc:
        report = _failure("invalid_output", str(exc))
    except MemoryError:
        report = _failure("memory", traceback.format_exc())
    except (Exception, SystemExit):
        report = _failure("exception", traceback.format_exc())
    (out_dir / RESULT_FILE).write_text(json.dumps(report))
    return report


def cross_val_predictions(estimator: Any, data: BundleData,
                          predict_kind: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Out-of-fold predictions in the bundle's row order, the first fold's in-sample
    predictions (see ``TRAIN_PREDICTIONS_FILE``), and the summed fit+predict seconds."""
    n_classes = data.n_classes
    if predict_kind == "proba":
        if n_classes is None:
            raise ValueError("predict_kind 'proba' needs a classification bundle (n_classes set)")
        out: np.ndarray = np.full((data.n_rows, n_classes), np.nan)
    elif predict_kind == "value":
        out = np.full(data.n_rows, np.nan)
    else:
        raise ValueError(f"predict_kind must be 'proba' or 'value'; got {predict_kind!r}")
    fit_time_s = 0.0
    in_sample = np.empty((0, 0))
    for fold, (train, test) in enumerate(zip(data.train_indices, data.test_indices,
                                             strict=True)):
        model = clone(estimator)
        start = time.perf_counter()
        model.fit(data.X.iloc[train], data.y[train])
        out[test] = _predict(model, data.X.iloc[test], predict_kind, n_classes)
        if fold == 0:
            rows = np.asarray(train)[:TRAIN_SAMPLE]
            pred = _predict(model, data.X.iloc[rows], predict_kind, n_classes)
            in_sample = np.column_stack([rows.astype(np.float64), pred])
        fit_time_s += time.perf_counter() - start
    return out, in_sample, fit_time_s


def _predict(model: Any, X: Any, predict_kind: str, n_classes: int | None) -> np.ndarray:
    if predict_kind == "proba":
        return _aligned_proba(model, X, n_classes or 0)
    return _values(model, X)


def _aligned_proba(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """``predict_proba`` with one column per class code 0..K-1.

    A fold whose training part lacks a class gives a model that knows fewer
    classes; its missing columns are probability 0.
    """
    proba = _as_float(model.predict_proba(X), "predict_proba")
    if proba.ndim != 2 or proba.shape[0] != len(X):
        raise InvalidOutputError(f"predict_proba must return shape ({len(X)}, n_classes); "
                                 f"got {proba.shape}")
    classes = getattr(model, "classes_", None)
    if classes is None:
        if proba.shape[1] != n_classes:
            raise InvalidOutputError(f"predict_proba returned {proba.shape[1]} columns and the "
                                     f"model has no classes_; expected {n_classes}")
        return proba
    codes = _class_codes(np.asarray(classes), n_classes)
    if len(codes) != proba.shape[1]:
        raise InvalidOutputError(f"the model has {len(codes)} classes_ but predict_proba "
                                 f"returned {proba.shape[1]} columns")
    aligned = np.zeros((len(X), n_classes))
    aligned[:, codes] = proba
    return aligned


def _class_codes(classes: np.ndarray, n_classes: int) -> np.ndarray:
    try:
        codes = classes.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidOutputError(f"classes_ must be class codes 0..{n_classes - 1}; "
                                 f"got {classes[:10].tolist()}") from exc
    if (codes.ndim != 1 or not np.isfinite(codes).all() or (codes != np.round(codes)).any()
            or codes.min(initial=0) < 0 or codes.max(initial=0) >= n_classes
            or len(np.unique(codes)) != len(codes)):
        raise InvalidOutputError(f"classes_ must be distinct class codes 0..{n_classes - 1}; "
                                 f"got {classes[:10].tolist()}")
    return codes.astype(np.int64)


def _values(model: Any, X: Any) -> np.ndarray:
    values = _as_float(model.predict(X), "predict")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (len(X),):
        raise InvalidOutputError(f"predict must return shape ({len(X)},); got {values.shape}")
    return values


def _as_float(values: Any, method: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidOutputError(f"{method} must return numbers; got {exc}") from exc


def _failure(failure: str, error: str) -> dict[str, Any]:
    return {"status": "failed", "failure": failure, "error": tail(error)}
