"""``predict_in_sandbox``: apply fitted estimators that hold LLM-written code, in the sandbox.

Unpickling a fitted code model runs its code (see ``tools.code_model``), so the
parent process never loads one: it hands the pickled bytes and the rows to a
one-worker pool without a data bundle, which runs a single "predict" job, and
reads back the plain ``.npy`` predictions.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sandbox._pool import Isolation, SandboxPool
from schemas import ConfigError, PredictKind, SandboxError, TrialConfig, TrialSpec

logger = logging.getLogger(__name__)

# a single job: importing what it needs in the job costs the same as in the worker, so
# the worker preloads only what every prediction needs (torch is imported if the model uses it)
PREDICT_PRELOAD = ("numpy", "pandas", "sklearn")
_MIB = 1 << 20
_MIN_DISK_MB = 1024


def predict_in_sandbox(fitted: bytes, rows: pd.DataFrame, *, predict_kind: PredictKind,
                       n_classes: int | None, isolation: Isolation = "auto",
                       timeout_s: float = 600, memory_mb: int = 4096,
                       scratch_dir: Path | None = None) -> np.ndarray:
    """Predict ``rows`` with each fitted estimator of ``fitted`` inside a fresh sandbox worker.

    ``fitted`` is the joblib file content of a tuple of fitted estimators (a
    "refit" job's ``fitted.joblib``); ``rows`` the feature rows, already
    transformed by the feature preparation. Returns float64 predictions of shape
    (n_members, n_rows, n_classes) for ``predict_kind`` "proba" (columns for class
    codes 0..K-1) or (n_members, n_rows) for "value". The worker and every file
    are gone when it returns. A job that fails raises ``SandboxError`` (one line:
    the failure and the last line of its error), as does a sandbox that cannot start.
    """
    _check_arguments(fitted, rows, predict_kind, n_classes, timeout_s, memory_mb)
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="mlpilot-predict-", dir=scratch_dir))
    try:
        job_dir = root / "job"
        job_dir.mkdir()
        estimator_path = job_dir / "estimator.joblib"
        estimator_path.write_bytes(fitted)
        rows_path = job_dir / "rows.parquet"
        rows.reset_index(drop=True).to_parquet(rows_path, index=False)
        inputs_mb = math.ceil((len(fitted) + rows_path.stat().st_size) / _MIB)
        spec = TrialSpec(trial_id=0, config=TrialConfig(family="predict", params={}),
                         source="default", work_dir=job_dir / "out",
                         estimator_path=estimator_path, predict_kind=predict_kind,
                         timeout_s=timeout_s, memory_mb=memory_mb,
                         disk_mb=max(_MIN_DISK_MB, 2 * inputs_mb + 64), kind="predict",
                         rows_path=rows_path, n_classes=n_classes)
        with SandboxPool(None, n_workers=1, isolation=isolation, scratch_dir=root / "pool",
                         preload=PREDICT_PRELOAD) as pool:
            logger.info("predicting %d rows in the sandbox (%s)", len(rows),
                        pool.isolation_level)
            result = pool.run(spec)
        if not result.ok or result.predictions_path is None:
            raise SandboxError(f"Prediction in the sandbox failed ({result.failure}): "
                               f"{_last_line(result.error)}")
        return np.load(result.predictions_path, allow_pickle=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _check_arguments(fitted: bytes, rows: pd.DataFrame, predict_kind: str,
                     n_classes: int | None, timeout_s: float, memory_mb: int) -> None:
    if not isinstance(fitted, bytes) or not fitted:
        raise ConfigError(f"The 'fitted' parameter of predict_in_sandbox must be the non-empty "
                          f"bytes of a joblib file; got {type(fitted).__name__} instead.")
    if not isinstance(rows, pd.DataFrame):
        raise ConfigError(f"The 'rows' parameter of predict_in_sandbox must be a pandas "
                          f"DataFrame; got {type(rows).__name__} instead.")
    if predict_kind not in ("proba", "value"):
        raise ConfigError(f"The 'predict_kind' parameter of predict_in_sandbox must be 'proba' "
                          f"or 'value'; got {predict_kind!r} instead.")
    if predict_kind == "proba" and (isinstance(n_classes, bool) or not isinstance(n_classes, int)
                                    or n_classes < 2):
        raise ConfigError(f"The 'n_classes' parameter of predict_in_sandbox must be an int >= 2 "
                          f"for predict_kind 'proba'; got {n_classes!r} instead.")
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigError(f"The 'timeout_s' parameter of predict_in_sandbox must be a positive "
                          f"number of seconds; got {timeout_s!r} instead.")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < 64:
        raise ConfigError(f"The 'memory_mb' parameter of predict_in_sandbox must be an int "
                          f">= 64; got {memory_mb!r} instead.")


def _last_line(error: str | None) -> str:
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"
