"""What crosses the sandbox boundary: a trial to run and its result.

The executor never scores. It fits the estimator on each cross-validation
fold and writes out-of-fold predictions; ``tools.scoring`` computes the
scores from those predictions in the parent process.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._metric import PredictKind
from schemas._space import TrialConfig

TrialSource = Literal["default", "bo", "llm", "memory", "repair"]
TrialStatus = Literal["ok", "failed"]
FailureKind = Literal["exception", "timeout", "memory", "killed", "invalid_output", "cancelled"]


class TrialSpec(BaseModel):
    """One unit of work for an ``Executor``.

    ``estimator_path`` is a joblib file holding an unfitted scikit-learn
    estimator built by the parent. The training data and the fold of each row
    are fixed when the executor is started (see ``sandbox.DataBundle``).
    """

    model_config = ConfigDict(frozen=True)

    trial_id: int = Field(ge=0)
    config: TrialConfig
    source: TrialSource
    work_dir: Path
    estimator_path: Path
    predict_kind: PredictKind
    timeout_s: float = Field(gt=0)
    memory_mb: int = Field(ge=64)
    disk_mb: int = Field(default=1024, ge=16)  # what the trial may write into its folder
    n_threads: int = Field(default=1, ge=1)


class TrialResult(BaseModel):
    """The outcome of a trial. A failed trial is data, ranked worst."""

    model_config = ConfigDict(frozen=True)

    trial_id: int
    config: TrialConfig
    source: TrialSource
    status: TrialStatus
    error: str | None = None
    failure: FailureKind | None = None
    predictions_path: Path | None = None
    train_predictions_path: Path | None = None  # rows: [position, prediction...], in-sample
    fit_time_s: float = 0.0  # the model's own fit + predict time, summed over folds
    wall_time_s: float = 0.0  # as seen by the parent, from submit to result
    started_at: datetime | None = None
    cv_score: float | None = None
    cv_std: float | None = None
    fold_scores: tuple[float, ...] = ()
    train_score: float | None = None  # the first fold's model on its own training rows

    @property
    def ok(self) -> bool:
        return self.status == "ok"
