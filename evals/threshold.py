"""The decision threshold of a binary final model, against the usual 0.5 cut.

For each bundled binary dataset and seed, one run scored by a label metric (F1 by
default) with ``--llm none`` and no memory, trials in-process. The final model's holdout
probabilities are then labelled twice: at 0.5 (the more probable class) and at the
decision threshold the run chose on its out-of-fold predictions. Both scores come from
the same model and the same holdout, which the threshold never saw.

    python -m evals.threshold [--datasets breast_cancer,fair,...] [--seeds 0,1,2]
                              [--metric f1] [--trials 10] [--out DIR]

Each finished run leaves ``eval_row.json`` in its folder; rerunning with the same ``--out``
skips it.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from agents import execute_run, holdout_rows, prepare_data
from evals._compare import finished_row, save_row
from sandbox import DataBundle, InProcessExecutor
from schemas import Budget, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.metrics import score
from tools.model import load_model

logger = logging.getLogger(__name__)


@contextmanager
def _in_process(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
    yield InProcessExecutor(bundle)


def run_one(dataset: str, seed: int, metric: str, n_trials: int, root: Path) -> dict[str, Any]:
    run_dir = root / f"{dataset}-s{seed}-{metric}"
    if (done := finished_row(run_dir)) is not None:
        return done
    table = load_bundled(dataset)
    task = TaskSpec(data_path=Path(f"bundled:{dataset}"), target=BUNDLED[dataset].target,
                    metric=metric, seed=seed, budget=Budget(n_trials=n_trials))
    record = execute_run(task, table, run_dir=run_dir, make_executor=_in_process,
                         version="eval").record
    X_hold, y_hold = holdout_rows(prepare_data(task, table))
    proba = load_model(run_dir).predict_raw(X_hold)
    at_half = score(metric, y_hold, proba, n_classes=2)
    at_threshold = score(metric, y_hold, proba, n_classes=2,
                         threshold=record.decision_threshold)
    if record.holdout_score is not None and not np.isclose(record.holdout_score, at_threshold):
        raise RuntimeError(f"{run_dir}: the run's holdout score {record.holdout_score} is not "
                           f"the replayed {at_threshold}")
    row = {"dataset": dataset, "seed": seed, "metric": metric, "n_trials": record.n_trials,
           "positives": float(np.mean(y_hold == 1)), "threshold": record.decision_threshold,
           "at_half": at_half, "at_threshold": at_threshold}
    return save_row(run_dir, row)


def summarize(rows: list[dict[str, Any]]) -> str:
    lines = ["| dataset | positives | threshold (mean) | holdout at 0.5 | holdout at threshold "
             "| better / level / worse |", "|---|---:|---:|---:|---:|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == dataset]
        diff = np.array([r["at_threshold"] - r["at_half"] for r in group])
        lines.append(
            f"| {dataset} | {np.mean([r['positives'] for r in group]):.0%} "
            f"| {np.mean([r['threshold'] for r in group]):.3f} "
            f"| {np.mean([r['at_half'] for r in group]):.4f} "
            f"| {np.mean([r['at_threshold'] for r in group]):.4f} "
            f"| {(diff > 1e-12).sum()} / {(np.abs(diff) <= 1e-12).sum()} "
            f"/ {(diff < -1e-12).sum()} |")
    diff = np.array([r["at_threshold"] - r["at_half"] for r in rows])
    error = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    lines.append(f"\nAll runs: mean difference {diff.mean():+.4f} (standard error "
                 f"{error:.4f}) over {len(diff)} runs.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    binary = [name for name, spec in BUNDLED.items() if spec.task_type == "binary"]
    parser.add_argument("--datasets", default=",".join(binary), help="comma-separated")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--metric", default="f1", help="a label metric (default f1)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="folder for runs and results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = args.out or Path(tempfile.mkdtemp(prefix="mlpilot-threshold-"))
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for dataset in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run_one(dataset, seed, args.metric, args.trials, root)
            rows.append(row)
            print(json.dumps(row), flush=True)
    (root / "results.json").write_text(json.dumps(rows, indent=2))
    table = summarize(rows)
    (root / "results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
