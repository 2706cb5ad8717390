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

import argparse
import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from agents import holdout_rows, prepare_data, read_request, read_trials
from agents._search import resolved
from schemas import is_code_family
from tools.ensemble import select_ensemble
from tools.io import load_table
from tools.metrics import is_better, score
from tools.model import fit_final_model
from tools.pipeline import build_pipeline

logger = logging.getLogger(__name__)


def replay(run_dir: Path) -> dict[str, Any] | None:
    """Both final models of one run folder, scored on its holdout; None when it has none."""
    request = read_request(run_dir)
    task = request.task
    p = prepare_data(task, load_table(task.data_path))
    task_type, metric, direction = resolved(p.task)
    trials = [t for t in read_trials(run_dir) if not is_code_family(t.config.family)]
    choice = select_ensemble(trials, metric=metric, direction=direction, y=p.train.y,
                             folds=p.split.folds, n_classes=p.n_classes,
                             max_members=5 if p.task.ensemble else 1)
    if choice is None:
        return None
    numeric, categorical = p.prep.numeric_columns_, p.prep.categorical_columns_

    def pipelines() -> list[Any]:
        return [build_pipeline(t.config, task_type=task_type, numeric_columns=numeric,
                               categorical_columns=categorical, seed=p.task.seed)
                for t in choice.members]

    X_raw, y_hold = holdout_rows(p)
    X_hold = p.prep.transform(X_raw)
    t0 = time.monotonic()
    refit = fit_final_model(pipelines(), choice.weights, p.prep, p.X_train, p.train.y,
                            task_type=task_type, target=p.task.target,
                            classes=p.data.classes, mlpilot_version="eval")
    pred_refit = refit.predict_raw(X_raw)
    refit_s = time.monotonic() - t0
    t0 = time.monotonic()
    pred_folds = _fold_average(pipelines(), choice.weights, p.X_train, p.train.y,
                               p.split.folds, X_hold, n_classes=p.n_classes)
    folds_s = time.monotonic() - t0
    scores = {name: score(metric, y_hold, pred, n_classes=p.n_classes)
              for name, pred in (("refit", pred_refit), ("folds", pred_folds))}
    return {"run": run_dir.name, "task": str(task.data_path).removeprefix("bundled:"),
            "seed": task.seed, "metric": metric, "direction": direction,
            "members": len(choice.members),
            **scores, "refit_s": refit_s, "folds_s": folds_s,
            "folds_better": is_better(scores["folds"], scores["refit"], direction),
            "level": bool(np.isclose(scores["folds"], scores["refit"], rtol=0, atol=1e-12))}


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
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    lines = ["| task | metric | runs | refit (mean) | folds (mean) | folds better / level / worse "
             "| fit s refit | fit s folds |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for task, group in sorted(by_task.items()):
        better = sum(r["folds_better"] and not r["level"] for r in group)
        level = sum(r["level"] for r in group)
        lines.append(
            f"| {task} | {group[0]['metric']} | {len(group)} "
            f"| {np.mean([r['refit'] for r in group]):.4f} "
            f"| {np.mean([r['folds'] for r in group]):.4f} "
            f"| {better} / {level} / {len(group) - better - level} "
            f"| {np.median([r['refit_s'] for r in group]):.2f} "
            f"| {np.median([r['folds_s'] for r in group]):.2f} |")
    better = sum(r["folds_better"] and not r["level"] for r in rows)
    level = sum(r["level"] for r in rows)
    lines.append(f"\nAll runs: folds better in {better}, level in {level}, worse in "
                 f"{len(rows) - better - level} of {len(rows)}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="a folder of run folders (a bench's runs/)")
    parser.add_argument("--match", default="", help="only run folders whose name holds this")
    parser.add_argument("--out", type=Path, default=None, help="JSONL of the rows (resumable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    done: dict[str, dict[str, Any]] = {}
    if args.out is not None and args.out.is_file():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done[row["run"]] = row
    rows = []
    for cell in sorted(args.runs.iterdir()):
        run_dir = cell / "run" if (cell / "run").is_dir() else cell
        if args.match not in cell.name or not (run_dir / "request.json").is_file():
            continue
        if cell.name in done:
            rows.append(done[cell.name])
            continue
        row = replay(run_dir)
        if row is None:
            continue
        row["run"] = cell.name
        rows.append(row)
        print(f"{cell.name}: refit {row['refit']:.5g}  folds {row['folds']:.5g}", flush=True)
        if args.out is not None:
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    print(summarize(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
