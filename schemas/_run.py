"""The record of one run: what ``run.json`` holds and what the memory stores."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas._agent import Verdict
from schemas._code import CodeEntry
from schemas._llm import LLMUsage
from schemas._memory import RetrievedRun
from schemas._metric import Direction, TaskType
from schemas._task import TaskSpec
from schemas._trial import TrialResult

IsolationLevel = Literal["bwrap", "process", "in-process"]

RUN_RECORD_VERSION = 1


class EnsembleMember(BaseModel):
    """One trial of the final model and its weight in the average of predictions."""

    model_config = ConfigDict(frozen=True)

    trial_id: int
    family: str
    weight: float


class RunRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int = RUN_RECORD_VERSION
    run_id: str
    mlpilot_version: str
    status: Literal["completed", "failed"]
    created_at: datetime
    task: TaskSpec
    task_type: TaskType
    metric: str
    direction: Direction
    n_rows: int
    n_holdout: int
    best: TrialResult | None
    ensemble: tuple[EnsembleMember, ...] = ()
    ensemble_cv_score: float | None = None  # chosen on the same folds: slightly optimistic
    # binary task, label metric: the positive-class probability from which the final model
    # says "positive", chosen on out-of-fold predictions (None: the more probable class)
    decision_threshold: float | None = None
    holdout_score: float | None
    dummy_holdout_score: float | None
    n_trials: int
    n_failed: int  # every trial that gave no score, those stopped at the deadline included
    n_cancelled: int = 0  # of n_failed: running when the time budget ended, stopped unfinished
    trials_by_source: dict[str, int]
    retrieved_runs: tuple[str, ...] = ()  # ids of ``retrieved``, nearest first
    retrieved: tuple[RetrievedRun, ...] = ()  # past runs the memory brought in
    llm: LLMUsage = LLMUsage()
    llm_handover: str | None = None  # why BO ran alone from some point on (None: it never did)
    verdicts: tuple[Verdict, ...] = ()
    code_proposals: tuple[CodeEntry, ...] = ()  # modules the LLM wrote, in the order written
    isolation: IsolationLevel
    startup_time_s: float = 0.0  # intake, profile and sandbox start, before the time budget
    search_time_s: float
    finalize_time_s: float
    total_time_s: float
    stop_reason: str
    notices: tuple[str, ...] = ()
