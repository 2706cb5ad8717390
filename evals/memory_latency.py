"""How fast the run memory answers, and how often chroma's HNSW finds the true neighbours.

Fills an embedded ``ChromaRunStore`` (in a temp folder) and its exact peer, the
``InMemoryRunStore``, with synthetic runs: plausible meta-feature vectors of
``records / runs_per_dataset`` datasets (each dataset a few runs with nearly the
same vector and one fingerprint; three task types). Then times ``similar(k=5)``
for new datasets, and leave-one-dataset-out (``exclude_fingerprint``) for stored
ones, and reports recall@5: the share of the exact 5 nearest that chroma returns.

    python -m evals.memory_latency [--records 100000] [--queries 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from memory import ChromaRunStore, InMemoryRunStore, RunStore
from memory._chroma import HNSW
from schemas import (
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    TASK_TYPES,
    DatasetProfile,
    MemoryRecord,
    StoredConfig,
    TaskType,
    TrialConfig,
)

K = 5
FAMILIES = ("random_forest", "hist_gradient_boosting", "logistic_regression", "extra_trees")


def synthetic_meta(rng: np.random.Generator, task_types: Sequence[TaskType]) -> np.ndarray:
    """One plausible raw meta-feature vector per task type given (see META_FEATURES)."""
    n = len(task_types)
    col = {name: i for i, name in enumerate(META_FEATURE_NAMES)}
    meta = np.zeros((n, len(META_FEATURE_NAMES)))
    log_rows, log_features = rng.uniform(2.0, 6.0, n), rng.uniform(0.3, 3.0, n)
    numeric = rng.beta(2.0, 1.0, n)
    meta[:, col["log_rows"]] = log_rows
    meta[:, col["log_features"]] = log_features
    meta[:, col["log_rows_per_feature"]] = log_rows - log_features
    meta[:, col["frac_numeric"]] = numeric
    meta[:, col["frac_categorical"]] = 1.0 - numeric
    meta[:, col["frac_datetime"]] = rng.beta(0.3, 8.0, n)
    meta[:, col["frac_dropped"]] = rng.beta(0.5, 6.0, n)
    meta[:, col["missing_cells"]] = rng.beta(0.4, 8.0, n)
    meta[:, col["frac_cols_missing"]] = rng.beta(0.6, 2.0, n)
    meta[:, col["log_mean_cardinality"]] = rng.uniform(0.0, 2.5, n) * (numeric < 1.0)
    meta[:, col["mean_abs_skew"]] = rng.beta(1.5, 6.0, n)
    meta[:, col["mean_abs_corr"]] = rng.beta(1.5, 5.0, n)
    for i, task in enumerate(task_types):
        if task == "regression":
            meta[i, col["is_regression"]] = 1.0
            meta[i, col["target_skew"]] = np.clip(rng.normal(0.1, 0.3), -1.0, 1.0)
            meta[i, col["target_log_cv"]] = rng.uniform(0.0, 1.5)
        else:
            n_classes = 2 if task == "binary" else int(rng.integers(3, 30))
            meta[i, col["is_binary" if task == "binary" else "is_multiclass"]] = 1.0
            meta[i, col["log_classes"]] = np.log10(n_classes)
            meta[i, col["class_entropy"]] = rng.uniform(0.3, 1.0)
            meta[i, col["minority_ratio"]] = rng.beta(1.2, 2.0)
    for name in ("landmark_stump", "landmark_linear", "landmark_nb"):
        meta[:, col[name]] = rng.beta(4.0, 2.0, n)
    return meta


def synthetic_records(n_records: int, runs_per_dataset: int,
                      seed: int) -> tuple[list[MemoryRecord], np.ndarray, list[TaskType]]:
    """Records, and the datasets' vectors and task types (a dataset's runs are rows i*r..)."""
    rng = np.random.default_rng(seed)
    n_datasets = -(-n_records // runs_per_dataset)
    tasks: list[TaskType] = [TASK_TYPES[i] for i in rng.integers(0, 3, n_datasets)]
    datasets = synthetic_meta(rng, tasks)
    fingerprints = [f"{x:016x}" for x in rng.integers(2**63, size=n_datasets)]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for i in range(n_records):
        d = i // runs_per_dataset
        task = tasks[d]
        meta = datasets[d] + rng.normal(0.0, 1e-3, datasets.shape[1])  # profiles vary a little
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
        score = float(rng.uniform(0.5, 1.0))
        records.append(MemoryRecord(
            run_id=f"run-{i:07d}", created_at=t0 + timedelta(seconds=i), mlpilot_version="0.1.0",
            source="seed", dataset=f"dataset-{d}", fingerprint=fingerprints[d], task_type=task,
            metric="rmse" if task == "regression" else "roc_auc",
            direction="minimize" if task == "regression" else "maximize",
            n_rows=int(10 ** meta[0]), n_features=max(1, int(10 ** meta[1])),
            meta_features=tuple(float(x) for x in meta), meta_feature_version=META_FEATURE_VERSION,
            best_family=family, best_score=score, best_normalized=score,
            top_configs=(StoredConfig(config=TrialConfig(family=family, params={
                "n_estimators": int(rng.integers(50, 500)), "max_depth": int(rng.integers(2, 12))}),
                cv_score=score),), n_trials=30))
    return records, datasets, tasks


def profile(meta: Sequence[float], task_type: TaskType) -> DatasetProfile:
    return DatasetProfile(n_rows=1000, n_rows_dropped=0, target="y", task_type=task_type,
                          columns=(), n_numeric=1, n_categorical=0, missing_fraction=0.0,
                          sampled_rows=1000, meta_features=tuple(float(x) for x in meta))


def fill(store: RunStore, records: Sequence[MemoryRecord], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        store.add(*records[i:i + batch])
        print(f"  {type(store).__name__}: {min(i + batch, len(records))} records, "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return time.perf_counter() - start


def time_queries(store: RunStore, queries: Sequence[tuple[DatasetProfile, TaskType, str | None]]
                 ) -> tuple[list[float], list[list[str]]]:
    store.similar(*queries[0][:2], k=K)  # warm up (chroma loads its index)
    times, answers = [], []
    for query, task_type, exclude in queries:
        start = time.perf_counter()
        neighbors = store.similar(query, task_type, k=K, exclude_fingerprint=exclude)
        times.append(1000 * (time.perf_counter() - start))
        answers.append([n.record.run_id for n in neighbors])
    return times, answers


def _ms(times: Sequence[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def measure(n_records: int, n_queries: int, *, runs_per_dataset: int = 5, batch: int = 5000,
            seed: int = 0) -> dict[str, Any]:
    records, datasets, tasks = synthetic_records(n_records, runs_per_dataset, seed)
    rng = np.random.default_rng(seed + 1)
    new_tasks: list[TaskType] = [TASK_TYPES[i] for i in rng.integers(0, 3, n_queries)]
    fresh = [(profile(m, t), t, None) for m, t in
             zip(synthetic_meta(rng, new_tasks), new_tasks, strict=True)]
    stored = rng.choice(len(datasets), size=n_queries, replace=False)
    lodo = [(profile(datasets[d], tasks[d]), tasks[d],
             records[int(d) * runs_per_dataset].fingerprint) for d in stored]
    result: dict[str, Any] = {"records": n_records, "queries": n_queries, "k": K,
                              "runs_per_dataset": runs_per_dataset, "hnsw": HNSW, "stores": {}}
    answers: dict[str, dict[str, list[list[str]]]] = {}
    with tempfile.TemporaryDirectory(prefix="mlpilot-memory-latency-") as tmp:
        stores: dict[str, RunStore] = {"chroma (embedded)": ChromaRunStore.embedded(Path(tmp)),
                                       "in-memory (exact)": InMemoryRunStore()}
        for name, store in stores.items():
            fill_s = fill(store, records, batch)
            fresh_ms, fresh_ids = time_queries(store, fresh)
            lodo_ms, lodo_ids = time_queries(store, lodo)
            answers[name] = {"fresh": fresh_ids, "lodo": lodo_ids}
            result["stores"][name] = {"fill_s": fill_s, "similar": _ms(fresh_ms),
                                      "similar_exclude": _ms(lodo_ms)}
    chroma, exact = answers["chroma (embedded)"], answers["in-memory (exact)"]
    result["recall_at_5"] = {
        kind: float(np.mean([len(set(a) & set(b)) / max(1, len(b))
                             for a, b in zip(chroma[kind], exact[kind], strict=True)]))
        for kind in ("fresh", "lodo")}
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['records']} records, {result['queries']} queries per column, "
             f"k={result['k']}; HNSW {json.dumps(result['hnsw'])}", "",
             "| store | fill s | similar median ms | p95 ms | with exclude_fingerprint "
             "median ms | p95 ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, row in result["stores"].items():
        lines.append(f"| {name} | {row['fill_s']:.1f} | {row['similar']['median_ms']:.2f} | "
                     f"{row['similar']['p95_ms']:.2f} | "
                     f"{row['similar_exclude']['median_ms']:.2f} | "
                     f"{row['similar_exclude']['p95_ms']:.2f} |")
    recall = result["recall_at_5"]
    lines += ["", f"recall@5 of chroma against the exact answer: {recall['fresh']:.3f} "
                  f"(new datasets), {recall['lodo']:.3f} (leave-one-dataset-out)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.memory_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--runs-per-dataset", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5000, help="records per add() call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    n_datasets = -(-args.records // args.runs_per_dataset)
    if args.records < 1 or args.queries < 1 or args.queries > n_datasets:
        parser.error("need --records >= 1 and 1 <= --queries <= the number of datasets")
    result = measure(args.records, args.queries, runs_per_dataset=args.runs_per_dataset,
                     batch=args.batch, seed=args.seed)
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
