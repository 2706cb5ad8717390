"""What the run memory keeps of a finished run, and what a query returns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._metric import Direction, TaskType
from schemas._space import TrialConfig

MEMORY_RECORD_VERSION = 1

RecordSource = Literal["run", "seed", "import"]


class StoredConfig(BaseModel):
    """One of a run's best configurations with its cross-validated score."""

    model_config = ConfigDict(frozen=True)

    config: TrialConfig
    cv_score: float
    # 0 = the dummy predictor's CV score on the same folds, 1 = the metric's ideal value
    normalized: float | None = None


class MemoryRecord(BaseModel):
    """A finished run as the memory stores it (the embedding is ``meta_features``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = MEMORY_RECORD_VERSION
    run_id: str
    created_at: datetime
    mlpilot_version: str
    source: RecordSource = "run"
    dataset: str  # a name for people: the file's stem or the bundled name
    fingerprint: str  # hash of the table's schema and content: the same table, the same value
    task_type: TaskType
    metric: str
    direction: Direction
    n_rows: int
    n_features: int
    meta_features: tuple[float, ...]  # raw, as in DatasetProfile (the store scales them)
    meta_feature_version: int
    best_family: str | None = None
    best_score: float | None = None
    best_normalized: float | None = None
    top_configs: tuple[StoredConfig, ...] = Field(default=())
    n_trials: int = 0


class Neighbor(BaseModel):
    """A stored run close to the query, with its distance (standardized meta-features)."""

    model_config = ConfigDict(frozen=True)

    record: MemoryRecord
    distance: float


class RetrievedRun(BaseModel):
    """What ``run.json`` says about a past run the memory brought into this one."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    dataset: str
    distance: float
    best_family: str | None = None
    n_configs_used: int = 0  # configurations enqueued as warm-start points (source memory)
