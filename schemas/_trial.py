"""What crosses the sandbox boundary: a job to run (a trial, a refit, a prediction) and its result.

The executor never scores. A "cv" job fits the estimator on each
cross-validation fold and writes out-of-fold predictions; ``tools.scoring``
computes the scores from those predictions in the parent process. A "refit"
job fits estimators on all training rows and a "predict" job applies fitted
ones: both predict the rows of a Parquet file, so that a model holding
LLM-written code is fitted, loaded and used only inside the sandbox.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas._metric import PredictKind
from schemas._space import TrialConfig

TrialSource = Literal["default", "bo", "llm", "memory", "repair"]
TrialStatus = Literal["ok", "failed"]
# "rejected": a code proposal refused by the static check (``tools.code.check_code``); it
# never ran, and no executor produces it
FailureKind = Literal["exception", "timeout", "memory", "killed", "invalid_output", "cancelled",
                      "rejected"]
JobKind = Literal["cv", "refit", "predict"]


class TrialSpec(BaseModel):
    """One unit of work for an ``Executor``.

    The training data and the fold of each row are fixed when the executor is
    started (see ``sandbox.DataBundle``). What ``estimator_path`` (a joblib file)
    holds and what the job writes depend on ``kind``:

    - "cv": an unfitted scikit-learn estimator built by the parent; it is fitted
      on each fold and predicts the fold's held-out rows.
    - "refit": a tuple of unfitted estimators; each is fitted on all rows of the
      data bundle, the tuple of fitted ones is written (``fitted.joblib``) and
      each predicts the rows of ``rows_path``.
    - "predict": a tuple of fitted estimators (the bytes of a refit's
      ``fitted.joblib``); each predicts the rows of ``rows_path``. No data
      bundle is needed; ``n_classes`` gives the class count of "proba"
      predictions (the other kinds take it from the bundle).

    ``rows_path`` is a Parquet file of feature rows, already transformed by the
    feature preparation; it is required by "refit" and "predict", and must be
    None for "cv".
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
    kind: JobKind = "cv"
    rows_path: Path | None = None
    n_classes: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _check_kind(self) -> TrialSpec:
        if self.kind == "cv" and self.rows_path is not None:
            raise ValueError(f"The 'rows_path' parameter must be None for a 'cv' job; "
                             f"got {str(self.rows_path)!r} instead.")
        if self.kind != "cv" and self.rows_path is None:
            raise ValueError(f"The 'rows_path' parameter is required for a {self.kind!r} job "
                             f"(the rows to predict); got None instead.")
        if self.kind == "predict" and self.predict_kind == "proba" and self.n_classes is None:
            raise ValueError("The 'n_classes' parameter is required for a 'predict' job with "
                             "predict_kind 'proba'; got None instead.")
        return self


class TrialResult(BaseModel):
    """The outcome of a trial. A failed trial is data, ranked worst."""

    model_config = ConfigDict(frozen=True)

    trial_id: int
    config: TrialConfig
    source: TrialSource
    status: TrialStatus
    error: str | None = None
    failure: FailureKind | None = None
    predictions_path: Path | None = None  # "refit"/"predict": one prediction block per member
    fitted_path: Path | None = None  # "refit": the fitted estimators; load only in the sandbox
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
