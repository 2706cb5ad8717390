"""The final model as a greedy ensemble of the best trials, against the best trial alone.

Replays finished run folders (those of ``mlpilot run`` or of a bench's ``runs/``): the
same table, split, folds and trials. ``ensemble`` is what a run builds by default
(greedy selection with replacement on the trials' out-of-fold predictions, up to five
members); ``best`` is the best trial by CV score alone (``--no-ensemble``). Both are
refitted on all training rows and scored once on the run's holdout, with the same
probability floor; a label metric is read at the 0.5 cut for both (the decision
threshold is another question, see ``evals.threshold``). Code trials are left out
(they refit only in a sandbox); so are runs whose ensemble is the best trial alone,
where the two cannot differ (they are counted).

    python -m evals.ensemble_choice RUNS_DIR [--match cars] [--out FILE]

Reported per task: the mean holdout score of each, how often the ensemble was better,
level or worse, and the mean number of members.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from evals._replay import by_task, level, load_run, replay_main, tally
from tools.ensemble import select_ensemble
from tools.metrics import is_better


def replay(run_dir: Path) -> dict[str, Any] | None:
    """Both final models of one run folder, scored on its holdout; None when it has none."""
    run = load_run(run_dir)
    p = run.prepared
    picks = {n: select_ensemble(run.trials, metric=run.metric, direction=run.direction,
                                y=p.train.y, folds=p.split.folds, n_classes=p.n_classes,
                                max_members=n) for n in (5, 1)}
    ensemble, best = picks[5], picks[1]
    if ensemble is None or best is None:
        return None
    row: dict[str, Any] = {"run": run_dir.name, "task": run.task_name, "seed": p.task.seed,
                           "metric": run.metric, "direction": run.direction,
                           "members": len(ensemble.members),
                           "ensemble_cv": ensemble.cv_score, "best_cv": best.cv_score}
    if len(ensemble.members) == 1:  # nothing to compare: the same model both ways
        return row | {"single": True}
    row["ensemble"], _ = run.refit_score(ensemble.members, ensemble.weights)
    row["best"], _ = run.refit_score(best.members, best.weights)
    return row | {"single": False,
                  "ensemble_better": is_better(row["ensemble"], row["best"], run.direction),
                  "level": level(row["ensemble"], row["best"])}


def summarize(rows: list[dict[str, Any]]) -> str:
    lines = ["| task | metric | runs compared (alone) | ensemble (mean) | best alone (mean) "
             "| ensemble better / level / worse | members (mean) |",
             "|---|---|---:|---:|---:|---|---:|"]
    compared_all: list[dict[str, Any]] = []
    for task, group in by_task(rows).items():
        compared = [r for r in group if not r["single"]]
        compared_all += compared
        if not compared:
            lines.append(f"| {task} | {group[0]['metric']} | 0 ({len(group)}) | | | | 1 |")
            continue
        better, same, worse = tally(compared, "ensemble_better", "level")
        lines.append(
            f"| {task} | {group[0]['metric']} | {len(compared)} "
            f"({len(group) - len(compared)}) "
            f"| {np.mean([r['ensemble'] for r in compared]):.5g} "
            f"| {np.mean([r['best'] for r in compared]):.5g} "
            f"| {better} / {same} / {worse} "
            f"| {np.mean([r['members'] for r in compared]):.1f} |")
    better, same, worse = tally(compared_all, "ensemble_better", "level")
    sign = ("" if better + worse == 0 else
            f" (sign test, ties left out: p = {binomtest(better, better + worse).pvalue:.2g})")
    lines.append(f"\nRuns whose ensemble had several members: the ensemble was better in "
                 f"{better}, level in {same}, worse in {worse} of {len(compared_all)}{sign}; "
                 f"{len(rows) - len(compared_all)} runs chose the best trial alone.")
    return "\n".join(lines)


def _line(r: dict[str, Any]) -> str:
    if r["single"]:
        return "one member: nothing to compare"
    return f"ensemble of {r['members']} {r['ensemble']:.5g}  best alone {r['best']:.5g}"


def main(argv: list[str] | None = None) -> int:
    return replay_main(argv, description=__doc__.splitlines()[0], replay=replay, line=_line,
                       summarize=summarize)


if __name__ == "__main__":
    raise SystemExit(main())
