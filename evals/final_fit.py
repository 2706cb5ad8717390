"""How to build the final model from the chosen trials: one refit on all training rows,
or the average of the K fold models that made the out-of-fold predictions.

Replays finished run folders (those of ``mlpilot run`` or of a bench's ``runs/``): the
same table, split, folds and trials, the same ensemble choice, then both ways of fitting
it, each scored once on the run's holdout.

- ``refit``: each member fitted once on all training rows (what a run did before).
- ``folds``: each member fitted K times, once per fold on the other folds' rows, and the
  K models averaged (K-fold bagging). With a seeded estimator these are the models whose
  out-of-fold predictions chose the ensemble, so the model deployed is the model validated.

    python -m evals.final_fit RUNS_DIR [--match breast_cancer] [--out FILE]

Reported per run: both holdout scores (a label metric at the 0.5 cut for both: the
decision threshold is another question, see ``evals.threshold``), both fit times; per
task, the mean of each and how often ``folds`` was better, level or worse.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from agents import holdout_rows
from evals._replay import by_task, level, load_run, replay_main, tally
from tools.ensemble import select_ensemble
from tools.metrics import is_better, score

logger = logging.getLogger(__name__)


def replay(run_dir: Path) -> dict[str, Any] | None:
    """Both final models of one run folder, scored on its holdout; None when it has none."""
    run = load_run(run_dir)
    p = run.prepared
    choice = select_ensemble(run.trials, metric=run.metric, direction=run.direction,
                             y=p.train.y, folds=p.split.folds, n_classes=p.n_classes,
                             max_members=5 if p.task.ensemble else 1)
    if choice is None:
        return None
    refit, refit_s = run.refit_score(choice.members, choice.weights)
    X_raw, y_hold = holdout_rows(p)
    t0 = time.monotonic()
    pred_folds = _fold_average(run.pipelines(choice.members), choice.weights, p.X_train,
                               p.train.y, p.split.folds, p.prep.transform(X_raw),
                               n_classes=p.n_classes)
    folds_s = time.monotonic() - t0
    folds = score(run.metric, y_hold, pred_folds, n_classes=p.n_classes)
    return {"run": run_dir.name, "task": run.task_name, "seed": p.task.seed,
            "metric": run.metric, "direction": run.direction, "members": len(choice.members),
            "refit": refit, "folds": folds, "refit_s": refit_s, "folds_s": folds_s,
            "folds_better": is_better(folds, refit, run.direction),
            "level": level(folds, refit)}


def _fold_average(pipelines: list[Any], weights: tuple[float, ...], X: Any, y: np.ndarray,
                  folds: np.ndarray, X_hold: Any, *, n_classes: int | None) -> np.ndarray:
    total: np.ndarray | None = None
    fold_ids = np.unique(folds[folds >= 0])
    weight_sum = float(sum(weights))
    for pipeline, weight in zip(pipelines, weights, strict=True):
        for k in fold_ids:
            fit_rows = folds != k
            model = clone(pipeline).fit(X.iloc[fit_rows], y[fit_rows])
            if n_classes is None:
                out = np.asarray(model.predict(X_hold), dtype=float)
            else:  # a fold may lack a class: place each column by the model's classes
                out = np.zeros((len(X_hold), n_classes))
                out[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X_hold)
            part = (weight / weight_sum / len(fold_ids)) * out
            total = part if total is None else total + part
    assert total is not None
    return total


def summarize(rows: list[dict[str, Any]]) -> str:
    lines = ["| task | metric | runs | refit (mean) | folds (mean) | folds better / level / worse "
             "| fit s refit | fit s folds |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for task, group in by_task(rows).items():
        better, same, worse = tally(group, "folds_better", "level")
        lines.append(
            f"| {task} | {group[0]['metric']} | {len(group)} "
            f"| {np.mean([r['refit'] for r in group]):.4f} "
            f"| {np.mean([r['folds'] for r in group]):.4f} "
            f"| {better} / {same} / {worse} "
            f"| {np.median([r['refit_s'] for r in group]):.2f} "
            f"| {np.median([r['folds_s'] for r in group]):.2f} |")
    better, same, worse = tally(rows, "folds_better", "level")
    lines.append(f"\nAll runs: folds better in {better}, level in {same}, worse in "
                 f"{worse} of {len(rows)}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return replay_main(argv, description=__doc__.splitlines()[0], replay=replay,
                       summarize=summarize,
                       line=lambda r: f"refit {r['refit']:.5g}  folds {r['folds']:.5g}")


if __name__ == "__main__":
    raise SystemExit(main())
