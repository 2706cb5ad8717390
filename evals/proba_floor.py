"""Class-probability floors, measured: one final model's log loss with each floor.

Replays finished run folders of classification tasks (a bench's ``runs/``). The run's final
ensemble (greedy selection on the trials' out-of-fold predictions, as a run builds it) is
refitted on all training rows with every floor taken off, and its holdout probabilities ``P``
are scored under each floor below; so are its out-of-fold probabilities (the CV side: what a
floor costs on rows the members never trained on, and what the search sees).

- ``none``: ``P`` as it is (scoring clips at 1e-15, as scikit-learn clips at machine epsilon);
- ``uniform``: ``(1 - 1e-4) P + 1e-4 / K``, the final model's own floor
  (``tools.model.PROBABILITY_FLOOR``) alone;
- ``prior 1e-3``: each classifier's floor (``tools.pipeline.PROBA_FLOOR``,
  ``(1 - f) P + f * prior``, prior = the training rows' class shares) and then the final
  model's: what ``mlpilot run`` builds;
- ``prior 1e-2``: the same with ten times the classifier floor.

All members are fitted on the same rows, so they share one prior, and a floor applied to each
member equals the floor applied to their weighted average: one refit serves every floor. The
out-of-fold side uses the whole training part's prior for every fold (each fold's own prior
differs from it by a row or two). Meant for run folders whose trials ran without the
classifier floor (the public bench's pinned code): on later runs the trials' out-of-fold
predictions already hold it, and ``none`` is then not what it says.

    python -m evals.proba_floor RUNS_DIR [--match seattle] [--out FILE]

Reported per task: the mean holdout and CV log loss under each floor, and how often
``prior 1e-3`` beat ``none`` on the holdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from agents import holdout_rows
from evals._replay import by_task, level, load_run, replay_main, tally
from tools.ensemble import select_ensemble
from tools.metrics import cv_fold_scores, score
from tools.model import PROBABILITY_FLOOR, fit_final_model
from tools.pipeline import PROBA_FLOOR

# name -> (classifier floor toward the prior, final model's floor toward the uniform)
FLOORS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "uniform": (0.0, PROBABILITY_FLOOR),
    "prior 1e-3": (PROBA_FLOOR, PROBABILITY_FLOOR),
    "prior 1e-2": (1e-2, PROBABILITY_FLOOR),
}
MAIN = "prior 1e-3"


def floored(proba: np.ndarray, prior: np.ndarray, name: str) -> np.ndarray:
    """``proba`` under the floor ``name`` of ``FLOORS``."""
    to_prior, to_uniform = FLOORS[name]
    mixed = (1.0 - to_prior) * proba + to_prior * prior
    return (1.0 - to_uniform) * mixed + to_uniform / proba.shape[1]


def replay(run_dir: Path) -> dict[str, Any] | None:
    """One run folder's final model under every floor; None unless it scores log loss."""
    run = load_run(run_dir)
    if run.metric != "log_loss":
        return None
    p = run.prepared
    choice = select_ensemble(run.trials, metric=run.metric, direction=run.direction,
                             y=p.train.y, folds=p.split.folds, n_classes=p.n_classes)
    if choice is None:
        return None
    pipelines = run.pipelines(choice.members)
    for pipeline in pipelines:
        pipeline.set_params(model__floor=0.0)  # the classifier floor comes back below
    model = fit_final_model(pipelines, choice.weights, p.prep, p.X_train, p.train.y,
                            task_type=run.task_type, target=p.task.target,
                            classes=p.data.classes, mlpilot_version="eval")
    X_raw, y_hold = holdout_rows(p)
    Xt = model.prep.transform(X_raw)
    n_classes = len(p.data.classes or ())
    # the members' weighted average by hand: ``predict_raw`` would add the uniform floor
    holdout = np.zeros((len(Xt), n_classes))
    for pipe, weight in zip(model.pipelines, model.weights, strict=True):
        holdout += weight * np.asarray(pipe.predict_proba(Xt), dtype=np.float64)
    counts = np.bincount(np.asarray(p.train.y, dtype=np.int64), minlength=n_classes)
    prior = counts / counts.sum()
    row: dict[str, Any] = {"task": run.task_name, "seed": p.task.seed, "metric": run.metric,
                           "members": len(choice.members)}
    for name in FLOORS:
        row[f"holdout {name}"] = score(run.metric, y_hold, floored(holdout, prior, name),
                                       n_classes=p.n_classes)
        row[f"cv {name}"] = float(np.mean(cv_fold_scores(
            run.metric, p.train.y, floored(choice.oof, prior, name), p.split.folds,
            n_classes=p.n_classes)))
    p_true = holdout[np.arange(len(y_hold)), np.asarray(y_hold, dtype=np.int64)]
    row["worst row none"] = float(np.max(-np.log(np.clip(p_true, 1e-15, 1.0))))
    row["floor better"] = row[f"holdout {MAIN}"] < row["holdout none"]
    row["level"] = level(row[f"holdout {MAIN}"], row["holdout none"])
    return row


def summarize(rows: list[dict[str, Any]]) -> str:
    names = list(FLOORS)
    lines = ["| task | runs | " + " | ".join(f"holdout {n}" for n in names) + " | "
             + " | ".join(f"CV {n}" for n in names) + f" | {MAIN} better / level / worse "
             "than none (holdout) |",
             "|---|---:|" + "---:|" * (2 * len(names)) + "---|"]
    for task, group in by_task(rows).items():
        better, same, worse = tally(group, "floor better", "level")
        lines.append(f"| {task} | {len(group)} | "
                     + " | ".join(f"{np.mean([r[f'holdout {n}'] for r in group]):.4f}"
                                  for n in names) + " | "
                     + " | ".join(f"{np.mean([r[f'cv {n}'] for r in group]):.4f}"
                                  for n in names)
                     + f" | {better} / {same} / {worse} |")
    better, same, worse = tally(rows, "floor better", "level")
    sign = ("" if better + worse == 0 else
            f" (sign test, ties left out: p = {binomtest(better, better + worse).pvalue:.2g})")
    worst = [r["worst row none"] for r in rows]
    lines.append(f"\nHoldout log loss with `{MAIN}` against `none`: better in {better}, level "
                 f"in {same}, worse in {worse} of {len(rows)} runs{sign}. Without a floor the "
                 f"costliest holdout row cost a median {np.median(worst) if worst else 0:.2f} "
                 f"nats (largest {max(worst, default=0):.2f}); in "
                 f"{sum(w > 10 for w in worst)} runs one row cost more than 10 nats.")
    if rows:
        means = ", ".join(f"{n} {np.mean([r[f'holdout {n}'] for r in rows]):.4f}" for n in names)
        change = np.median([r[f"holdout {n}"] - r["holdout none"] for r in rows for n in (MAIN,)])
        lines.append(f"Mean holdout log loss over all {len(rows)} runs: {means}. Median change "
                     f"of `{MAIN}` against `none`: {change:+.5f}.")
    return "\n".join(lines)


def _line(r: dict[str, Any]) -> str:
    return "  ".join(f"{n} {r[f'holdout {n}']:.4f}" for n in FLOORS)


def main(argv: list[str] | None = None) -> int:
    return replay_main(argv, description=__doc__.splitlines()[0], replay=replay, line=_line,
                       summarize=summarize)


if __name__ == "__main__":
    raise SystemExit(main())
