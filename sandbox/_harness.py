"""The code that runs a job inside the sandbox, by kind (see ``schemas.TrialSpec``).

- "cv": fit on each fold, predict the held-out rows.
- "refit": fit a tuple of estimators on all rows, save the fitted tuple, predict new rows.
- "predict": load a tuple of fitted estimators, predict new rows.

This is the sandbox boundary. Whatever the estimator does — raise, exit,
return garbage — becomes a report (``result.json``), never an exception in
the caller. The same function runs in a forked sandbox child and, for tests,
in the calling process (``InProcessExecutor``). Loading a fitted estimator may
run the code it holds: it happens here, never in the parent.
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
import pandas as pd
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
ROWS_FILE = "rows.parquet"  # the rows a "refit" or "predict" job predicts, copied in
FITTED_FILE = "fitted.joblib"  # a "refit" job's fitted estimators (a tuple), for "predict" jobs
ERROR_TAIL_CHARS = 2000
NO_BUNDLE = ("this executor was started without a data bundle: a {kind!r} job needs the "
             "training data (only a 'predict' job runs without)")


class InvalidOutputError(Exception):
    """The estimator returned predictions of the wrong shape, type or classes."""


def tail(text: str, n_chars: int = ERROR_TAIL_CHARS) -> str:
    """The end of a long message: a traceback's last lines name the actual error."""
    return text if len(text) <= n_chars else "..." + text[-(n_chars - 3):]


def run_trial(data: BundleData | None, estimator_path: Path, out_dir: Path, predict_kind: str,
              *, kind: str = "cv", rows_path: Path | None = None,
              n_classes: int | None = None) -> dict:
    """Run one job and write ``predictions.npy`` and ``result.json`` into ``out_dir``.

    ``kind`` "cv" (the default) needs ``data``; "refit" needs ``data`` and
    ``rows_path`` and also writes ``fitted.joblib``; "predict" needs
    ``rows_path`` and, for "proba", ``n_classes`` (the other kinds take the
    bundle's). Returns the report that was written. Catches every
    ``Exception`` (and ``SystemExit``): a failing estimator is a result, not a crash.
    """
    report: dict[str, Any]
    try:
        if kind == "cv":
            estimator = joblib.load(estimator_path)
            predictions, in_sample, fit_time_s = cross_val_predictions(
                estimator, _bundle_of(data, kind), predict_kind)
            np.save(out_dir / TRAIN_PREDICTIONS_FILE, in_sample, allow_pickle=False)
        elif kind == "refit":
            predictions, fit_time_s = refit_predictions(
                estimator_path, _bundle_of(data, kind), _rows(rows_path), predict_kind,
                out_dir / FITTED_FILE)
        elif kind == "predict":
            predictions, fit_time_s = fitted_predictions(estimator_path, _rows(rows_path),
                                                         predict_kind, n_classes)
        else:
            raise ValueError(f"kind must be 'cv', 'refit' or 'predict'; got {kind!r}")
        np.save(out_dir / PREDICTIONS_FILE, predictions, allow_pickle=False)
        report = {"status": "ok", "fit_time_s": fit_time_s}
    except InvalidOutputError as exc:
        report = _failure("invalid_output", str(exc))
    except MemoryError:
        report = _failure("memory", traceback.format_exc())
    except (Exception, SystemExit):
        report = _failure("exception", traceback.format_exc())
    (out_dir / RESULT_FILE).write_text(json.dumps(report))
    return report


def refit_predictions(estimator_path: Path, data: BundleData, rows: pd.DataFrame,
                      predict_kind: str, fitted_path: Path) -> tuple[np.ndarray, float]:
    """Fit each unfitted estimator of the tuple on all rows of the bundle, dump the fitted
    tuple to ``fitted_path``, and predict ``rows`` with each: (n_members, n_rows[, K])."""
    members = _members(joblib.load(estimator_path), "unfitted")
    _check_predict_kind(predict_kind, data.n_classes)
    start = time.perf_counter()
    for member in members:
        member.fit(data.X, data.y)
    fit_time_s = time.perf_counter() - start
    joblib.dump(members, fitted_path)
    predictions, predict_time_s = _member_predictions(members, rows, predict_kind,
                                                      data.n_classes)
    return predictions, fit_time_s + predict_time_s


def fitted_predictions(estimator_path: Path, rows: pd.DataFrame, predict_kind: str,
                       n_classes: int | None) -> tuple[np.ndarray, float]:
    """Load the tuple of fitted estimators (THIS RUNS THE CODE THEY HOLD) and predict
    ``rows`` with each: (n_members, n_rows[, K]) and the predict seconds."""
    _check_predict_kind(predict_kind, n_classes)
    members = _members(joblib.load(estimator_path), "fitted")
    return _member_predictions(members, rows, predict_kind, n_classes)


def _member_predictions(members: tuple[Any, ...], rows: pd.DataFrame, predict_kind: str,
                        n_classes: int | None) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    predictions = np.stack([_predict(member, rows, predict_kind, n_classes)
                            for member in members])
    return predictions, time.perf_counter() - start


def _members(loaded: Any, what: str) -> tuple[Any, ...]:
    if not isinstance(loaded, (tuple, list)) or not loaded:
        raise TypeError(f"{ESTIMATOR_FILE} must hold a non-empty tuple of {what} estimators; "
                        f"it holds {type(loaded).__name__}")
    return tuple(loaded)


def _check_predict_kind(predict_kind: str, n_classes: int | None) -> None:
    if predict_kind == "proba" and n_classes is None:
        raise ValueError("predict_kind 'proba' needs the number of classes (n_classes)")
    if predict_kind not in ("proba", "value"):
        raise ValueError(f"predict_kind must be 'proba' or 'value'; got {predict_kind!r}")


def _bundle_of(data: BundleData | None, kind: str) -> BundleData:
    if data is None:
        raise ValueError(NO_BUNDLE.format(kind=kind))
    return data


def _rows(rows_path: Path | None) -> pd.DataFrame:
    if rows_path is None:
        raise ValueError("a 'refit' or 'predict' job needs the rows to predict (rows_path)")
    return pd.read_parquet(rows_path)


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
