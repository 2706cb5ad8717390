"""The task a user asks for: data, target, task type, metric and budget."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from schemas._metric import Direction, TaskType


class Budget(BaseModel):
    """Every loop has a budget exit: trials, wall seconds, per-trial limits."""

    model_config = ConfigDict(frozen=True)

    n_trials: int = Field(default=30, ge=1)
    time_budget_s: float | None = Field(default=None, gt=0)
    trial_timeout_s: float = Field(default=600.0, gt=0)
    trial_memory_mb: int = Field(default=4096, ge=256)


class TaskSpec(BaseModel):
    """What to learn, how to score it and how much to spend.

    ``task_type``, ``metric`` and ``direction`` may be left empty by intake;
    ``tools.intake.prepare`` fills them from the data and the metric table.
    """

    model_config = ConfigDict(frozen=True)

    data_path: Path
    target: str
    task_type: TaskType | None = None
    metric: str | None = None
    direction: Direction | None = None
    budget: Budget = Budget()
    seed: int = 0
    n_folds: int = Field(default=5, ge=2, le=20)
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    n_workers: int = Field(default=1, ge=1)
    ensemble: bool = True  # final model: greedy ensemble of the best trials, or the best alone
    families: tuple[str, ...] | None = None  # search only these catalog families (None: all)
    description: str | None = None
