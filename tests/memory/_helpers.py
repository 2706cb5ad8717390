"""Records and profiles for the memory tests, and a worker that writes from another process."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from schemas import (
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    DatasetProfile,
    MemoryRecord,
    StoredConfig,
    TaskType,
    TrialConfig,
)

DIM = len(META_FEATURE_NAMES)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def random_meta(rng: np.random.Generator) -> tuple[float, ...]:
    """A plausible raw vector: mostly shares in [0, 1], a few log-scaled counts."""
    meta = rng.random(DIM)
    meta[:3] = rng.uniform(1.0, 5.0, size=3)
    return tuple(float(x) for x in meta)


Vector = Sequence[float] | np.ndarray


def make_record(run_id: str | None = None, *, meta: Vector | None = None,
                task_type: TaskType = "binary", fingerprint: str | None = None,
                seed: int = 0, minutes: int = 0, **fields: object) -> MemoryRecord:
    rng = np.random.default_rng(seed)
    run_id = run_id or f"run-{uuid.uuid4().hex[:10]}"
    values: dict[str, object] = {
        "run_id": run_id,
        "created_at": T0 + timedelta(minutes=minutes),
        "mlpilot_version": "0.1.0",
        "dataset": f"data-{run_id}",
        "fingerprint": fingerprint or f"fp-{run_id}",
        "task_type": task_type,
        "metric": "rmse" if task_type == "regression" else "roc_auc",
        "direction": "minimize" if task_type == "regression" else "maximize",
        "n_rows": 500,
        "n_features": 8,
        "meta_features": tuple(float(x) for x in meta) if meta is not None
        else random_meta(rng),
        "meta_feature_version": META_FEATURE_VERSION,
        "best_family": "random_forest",
        "best_score": 0.9,
        "top_configs": (StoredConfig(config=TrialConfig(family="random_forest",
                                                        params={"n_estimators": 200}),
                                     cv_score=0.9, normalized=0.8),),
        "n_trials": 20,
    }
    values.update(fields)
    return MemoryRecord.model_validate(values)


def make_profile(meta: Vector, *, task_type: TaskType = "binary",
                 version: int = META_FEATURE_VERSION) -> DatasetProfile:
    return DatasetProfile(n_rows=500, n_rows_dropped=0, target="y", task_type=task_type,
                          columns=(), n_numeric=8, n_categorical=0, missing_fraction=0.0,
                          sampled_rows=500, meta_features=tuple(float(x) for x in meta),
                          meta_feature_version=version)


def add_from_process(path: str, prefix: str, n_records: int) -> None:
    """Run in a spawned process: add records one by one to the embedded store at ``path``."""
    from memory import ChromaRunStore

    store = ChromaRunStore.embedded(Path(path))
    for i in range(n_records):
        store.add(make_record(f"{prefix}-{i}", seed=sum(map(ord, prefix)) * 1000 + i, minutes=i))
