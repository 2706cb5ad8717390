"""The decision threshold of a binary label metric, against the usual 0.5 cut.

For each bundled binary dataset and seed, one run scored by a label metric (F1 by
default) with ``--llm none`` and no memory, trials in-process. Two questions:

* The final model: its holdout probabilities are labelled twice, at 0.5 (the more
  probable class) and at the decision threshold the run chose on its out-of-fold
  predictions. Both scores come from the same model and the same holdout, which the
  threshold never saw.
* The search: a second run on the same split compares trials (and picks the ensemble)
  as mlpilot did before, each fold labelled at 0.5, where mlpilot now labels each fold
  at the threshold chosen on the other folds (``tools.metrics.cv_fold_scores``). Its
  final model gets a decision threshold too, so the two holdout scores differ only in
  how the search judged the trials.

    python -m evals.threshold [--datasets breast_cancer,fair,...] [--seeds 0,1,2]
                              [--metric f1] [--trials 10] [--positive-share 0.1] [--out DIR]

Each finished run leaves ``eval_row.json`` in its folder; rerunning with the same ``--out``
skips it.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents import execute_run, holdout_rows, prepare_data, read_trials
from agents._search import resolved
from evals._compare import finished_row, results_folder, save_row, write_results
from sandbox import DataBundle, InProcessExecutor
from schemas import Budget, TaskSpec
from tools import ensemble, scoring
from tools.datasets import BUNDLED, load_bundled
from tools.ensemble import select_ensemble
from tools.metrics import ThresholdRule, decision_threshold, fold_scores, score
from tools.model import load_model

logger = logging.getLogger(__name__)


@contextmanager
def _in_process(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
    yield InProcessExecutor(bundle)


@contextmanager
def _search_at_half() -> Iterator[None]:
    """Trials and ensembles compared with each fold labelled at 0.5, as before
    ``cv_fold_scores``: the control arm of the search comparison."""
    def at_half(metric: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray, *,
                n_classes: int | None) -> list[float]:
        return fold_scores(metric, y, pred, folds, n_classes=n_classes)

    saved = scoring.cv_fold_scores, ensemble.cv_fold_scores
    scoring.cv_fold_scores = ensemble.cv_fold_scores = at_half
    try:
        yield
    finally:
        scoring.cv_fold_scores, ensemble.cv_fold_scores = saved


def _holdout_of_search_at_half(task: TaskSpec, table: Any, run_dir: Path) -> float:
    if (done := finished_row(run_dir)) is not None:
        return float(done["holdout"])
    with _search_at_half():
        record = execute_run(task, table, run_dir=run_dir, make_executor=_in_process,
                             version="eval").record
    if record.holdout_score is None:
        raise RuntimeError(f"{run_dir}: the run fitted no model")
    return float(save_row(run_dir, {"holdout": record.holdout_score})["holdout"])


def rare_positives(table: pd.DataFrame, target: str, share: float, seed: int) -> pd.DataFrame:
    """``table`` with a random part of its positive rows (the second class in sorted order,
    as mlpilot codes it) left out, so that positives make up ``share`` of the rows: the
    imbalanced regime where labelling at 0.5 fails most. The seed picks the rows."""
    labels = sorted(table[target].dropna().unique())
    if len(labels) != 2 or not 0.0 < share < 1.0:
        raise ValueError(f"needs a binary target and 0 < share < 1; got {labels}, {share}")
    positive = table[target] == labels[1]
    n_keep = round(share / (1.0 - share) * int((~positive).sum()))
    if n_keep >= int(positive.sum()):
        return table
    kept = table[positive].sample(n=max(n_keep, 10), random_state=seed)
    return pd.concat([table[~positive], kept]).sort_index().reset_index(drop=True)


def run_one(dataset: str, seed: int, metric: str, n_trials: int, root: Path,
            positive_share: float | None = None) -> dict[str, Any]:
    tag = "" if positive_share is None else f"-pos{positive_share:g}"
    run_dir = root / f"{dataset}-s{seed}-{metric}{tag}"
    table = load_bundled(dataset)
    if positive_share is not None:
        table = rare_positives(table, BUNDLED[dataset].target, positive_share, seed)
    task = TaskSpec(data_path=Path(f"bundled:{dataset}"), target=BUNDLED[dataset].target,
                    metric=metric, seed=seed, budget=Budget(n_trials=n_trials))
    if (done := finished_row(run_dir)) is not None:
        if "at_one_se" not in done:  # a row from before the rule comparison
            done = save_row(run_dir, done | _at_rules(run_dir, task, table))
        return done
    search_at_half = _holdout_of_search_at_half(
        task, table, root / f"{dataset}-s{seed}-{metric}{tag}-at-half")
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
           "at_half": at_half, "at_threshold": at_threshold, "search_at_half": search_at_half}
    return save_row(run_dir, row | _at_rules(run_dir, task, table))


def _at_rules(run_dir: Path, task: TaskSpec, table: pd.DataFrame) -> dict[str, float]:
    """The run's final model on the holdout at the threshold of each rule of
    ``decision_threshold``, chosen on the same ensemble's out-of-fold predictions."""
    p = prepare_data(task, table)
    _, metric, direction = resolved(p.task)
    choice = select_ensemble(read_trials(run_dir), metric=metric, direction=direction,
                             y=p.train.y, folds=p.split.folds, n_classes=p.n_classes,
                             max_members=5 if p.task.ensemble else 1)
    if choice is None:
        raise RuntimeError(f"{run_dir}: no trial to replay")
    X_hold, y_hold = holdout_rows(p)
    proba = load_model(run_dir).predict_raw(X_hold)
    rules: tuple[ThresholdRule, ...] = ("best", "one_se")
    return {f"at_{rule}": score(metric, y_hold, proba, n_classes=2, threshold=decision_threshold(
                metric, p.train.y, choice.oof, p.split.folds, n_classes=2, rule=rule))
            for rule in rules}


def summarize(rows: list[dict[str, Any]]) -> str:
    """Two tables: the final model at 0.5 against its threshold, and the search at 0.5
    against the search at the other folds' thresholds (both final models thresholded)."""
    final = _paired(rows, "at_half", "at_threshold",
                    "| dataset | positives | threshold (mean) | holdout at 0.5 "
                    "| holdout at threshold | better / level / worse |",
                    lambda group: [f"{np.mean([r['positives'] for r in group]):.0%}",
                                   f"{np.mean([r['threshold'] for r in group]):.3f}"])
    search = _paired([r for r in rows if "search_at_half" in r], "search_at_half",
                     "at_threshold",
                     "| dataset | search at 0.5 | search at the other folds' thresholds "
                     "| better / level / worse |", lambda group: [])
    rules = _paired([r for r in rows if "at_one_se" in r], "at_best", "at_one_se",
                    "| dataset | threshold with the best mean fold score | the one nearest 0.5 "
                    "within one standard error | better / level / worse |", lambda group: [])
    return ("The final model, labelled at 0.5 and at its decision threshold:\n\n" + final
            + "\n\nThe search, judging trials at 0.5 and at the other folds' thresholds "
            "(holdout of each run's thresholded final model):\n\n" + search
            + "\n\nThe threshold rule, on the same final models:\n\n" + rules)


def _paired(rows: list[dict[str, Any]], before: str, after: str, head: str,
            extra: Any) -> str:
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == dataset]
        diff = np.array([r[after] - r[before] for r in group])
        cells = [dataset, *extra(group), f"{np.mean([r[before] for r in group]):.4f}",
                 f"{np.mean([r[after] for r in group]):.4f}",
                 f"{(diff > 1e-12).sum()} / {(np.abs(diff) <= 1e-12).sum()} "
                 f"/ {(diff < -1e-12).sum()}"]
        lines.append("| " + " | ".join(cells) + " |")
    diff = np.array([r[after] - r[before] for r in rows])
    if len(diff) == 0:
        return "\n".join(lines)
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
    parser.add_argument("--positive-share", type=float, default=None,
                        help="leave out positive rows at random until they are this share "
                             "of each table (e.g. 0.1: the imbalanced regime)")
    parser.add_argument("--out", type=Path, default=None, help="folder for runs and results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = results_folder(args.out, "mlpilot-threshold-")
    rows = []
    for dataset in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run_one(dataset, seed, args.metric, args.trials, root, args.positive_share)
            rows.append(row)
            print(json.dumps(row), flush=True)
    write_results(root, rows, summarize(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
