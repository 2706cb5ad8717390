"""Turning what a trial left behind into a ``TrialResult``, trusting none of it.

A trial's files are untrusted: the report is plain JSON read with a size
cap, the predictions are loaded with ``allow_pickle=False`` and checked for
shape, dtype and finiteness. Nothing a trial wrote is ever unpickled here: a
refit's ``fitted.joblib`` is only checked to be a regular file.
"""

from __future__ import annotations

import json
import math
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from sandbox._harness import FITTED_FILE, PREDICTIONS_FILE, TRAIN_PREDICTIONS_FILE, tail
from schemas import FailureKind, TrialResult, TrialSpec

MAX_REPORT_BYTES = 1 << 20
_FAILURES: frozenset[str] = frozenset(
    {"exception", "timeout", "memory", "killed", "invalid_output", "cancelled"})


def failed_result(spec: TrialSpec, failure: FailureKind, error: str, *, wall_time_s: float,
                  started_at: datetime | None, fit_time_s: float = 0.0) -> TrialResult:
    return TrialResult(trial_id=spec.trial_id, config=spec.config, source=spec.source,
                       status="failed", failure=failure, error=tail(error),
                       fit_time_s=fit_time_s, wall_time_s=wall_time_s, started_at=started_at)


def read_report(path: Path) -> dict[str, Any] | None:
    """The trial's ``result.json`` if it is a sane, small, regular file; else None."""
    data = read_regular_file(path, MAX_REPORT_BYTES)
    if data is None:
        return None
    try:
        report = json.loads(data)
    except ValueError:
        return None
    if not isinstance(report, dict) or report.get("status") not in ("ok", "failed"):
        return None
    if report["status"] == "failed" and report.get("failure") not in _FAILURES:
        return None
    return report


def result_from_report(spec: TrialSpec, report: dict[str, Any], *, n_rows: int,
                       n_classes: int | None, wall_time_s: float,
                       started_at: datetime | None) -> TrialResult:
    """The result of a job whose harness finished and wrote a report.

    ``n_rows`` and ``n_classes`` are those of the predictions: see ``job_shape``.
    """
    fit_time_s = _seconds(report.get("fit_time_s"))
    if report["status"] == "failed":
        error = report.get("error")
        return failed_result(spec, report["failure"], error if isinstance(error, str) else "",
                             wall_time_s=wall_time_s, started_at=started_at)
    path = spec.work_dir / PREDICTIONS_FILE
    problem = check_predictions(path, spec.predict_kind, n_rows, n_classes,
                                members=spec.kind != "cv")
    fitted = spec.work_dir / FITTED_FILE
    if problem is None and spec.kind == "refit" and not _is_regular_file(fitted):
        problem = f"no regular fitted-model file at {FITTED_FILE}"
    if problem is not None:
        return failed_result(spec, "invalid_output", problem, wall_time_s=wall_time_s,
                             started_at=started_at, fit_time_s=fit_time_s)
    train_path = spec.work_dir / TRAIN_PREDICTIONS_FILE
    return TrialResult(trial_id=spec.trial_id, config=spec.config, source=spec.source,
                       status="ok", predictions_path=path,
                       fitted_path=fitted if spec.kind == "refit" else None,
                       train_predictions_path=(train_path if spec.kind == "cv"
                                               and train_path.is_file() else None),
                       fit_time_s=fit_time_s,
                       wall_time_s=wall_time_s, started_at=started_at)


def job_shape(spec: TrialSpec, n_rows: int | None,
              n_classes: int | None) -> tuple[int, int | None]:
    """The rows and classes of a job's predictions, given the bundle's (None without one).

    A "cv" job predicts the bundle's rows; "refit" and "predict" jobs the rows of
    ``spec.rows_path`` (its Parquet metadata is read: OSError or ValueError if it
    cannot be), with the bundle's classes ("refit") or ``spec.n_classes`` ("predict").
    """
    if spec.kind == "cv":
        if n_rows is None:
            raise ValueError("a 'cv' job needs a data bundle")
        return n_rows, n_classes
    assert spec.rows_path is not None  # TrialSpec's validator
    return parquet_rows(spec.rows_path), n_classes if spec.kind == "refit" else spec.n_classes


def parquet_rows(path: Path) -> int:
    """The number of rows of a Parquet file, from its metadata (OSError for a missing file,
    ValueError for one that is not Parquet)."""
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def check_predictions(path: Path, predict_kind: str, n_rows: int,
                      n_classes: int | None, *, members: bool = False) -> str | None:
    """Why the predictions file cannot be used, or None if it is sound.

    ``members``: the predictions of a "refit" or "predict" job, one block per
    member estimator: shape (n_members, n_rows[, n_classes]), n_members >= 1.
    """
    fd = _open_regular(path)
    if fd is None:
        return f"no regular predictions file at {path.name}"
    try:
        with os.fdopen(fd, "rb") as handle:
            values = np.load(handle, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return f"predictions file is not a plain .npy array: {exc}"
    expected: tuple[int, ...] = (n_rows,)
    if predict_kind == "proba":
        expected = (n_rows, n_classes or 0)
    if not isinstance(values, np.ndarray) or values.dtype != np.float64:
        return f"predictions must be a float64 array; got {getattr(values, 'dtype', values)!r}"
    if members:
        if values.ndim != len(expected) + 1 or values.shape[1:] != expected \
                or values.shape[0] < 1:
            shape = ", ".join(map(str, ("n_members", *expected)))
            return f"predictions must have shape ({shape}); got {values.shape}"
    elif values.shape != expected:
        return f"predictions must have shape {expected}; got {values.shape}"
    if not np.isfinite(values).all():
        n_bad = int((~np.isfinite(values)).sum())
        return f"predictions must be finite; got {n_bad} NaN or infinite values"
    return None


def read_regular_file(path: Path, max_bytes: int) -> bytes | None:
    """Read a regular file of at most ``max_bytes`` without following a symlink.

    A trial could leave a symlink named like an output that points at a file
    of the host; it must never be followed.
    """
    fd = _open_regular(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > max_bytes:
            return None
        return handle.read(max_bytes)


def _is_regular_file(path: Path) -> bool:
    fd = _open_regular(path)
    if fd is None:
        return False
    os.close(fd)
    return True


def _open_regular(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return max(float(value), 0.0)
    return 0.0
