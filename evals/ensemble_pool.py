"""How many trials the final ensemble may draw from: the 10 best, or the 50 best (main).

Replays finished run folders (those of ``mlpilot run`` or of a bench's ``runs/``): the
same table, split, folds and trials. Greedy ensemble selection (``tools.ensemble``) runs
three times on the trials' out-of-fold predictions: over the ``pool 10`` best distinct
trials, over the ``pool 50`` best (main's default; with a bench's 30 trials, every
one), and with a single member (``best``, the best trial alone). Each trial any of the
three picked is refitted alone on all training rows; an ensemble's holdout prediction is
its weighted average of those, which is what the final model computes (its members are
fitted independently and their floored probabilities or values averaged linearly).
Scored once on the run's holdout. Code trials are left out (they refit only in a
sandbox).

    python -m evals.ensemble_pool RUNS_DIR [--match cars] [--out FILE]

Reported per task: the mean holdout score of each, how often ``pool 50`` was better,
level or worse than ``pool 10`` (runs where both chose the same ensemble are level), and
the same against the best trial alone; overall, the selection's median seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from evals._replay import by_task, level, load_run, replay_main
from tools.ensemble import EnsembleChoice, select_ensemble
from tools.metrics import is_better

POOLS = {"best": (1, 1), "pool 10": (10, 5), "pool 50": (50, 5)}  # (candidates, members)
MAIN = "pool 50"
PEERS = ("pool 10", "best")


def replay(run_dir: Path) -> dict[str, Any] | None:
    """The three final models of one run folder, scored on its holdout."""
    run = load_run(run_dir)
    p = run.prepared
    choices: dict[str, EnsembleChoice] = {}
    seconds: dict[str, float] = {}
    for name, (n_candidates, max_members) in POOLS.items():
        started = time.perf_counter()
        choice = select_ensemble(run.trials, metric=run.metric, direction=run.direction,
                                 y=p.train.y, folds=p.split.folds, n_classes=p.n_classes,
                                 n_candidates=n_candidates, max_members=max_members)
        seconds[name] = time.perf_counter() - started
        if choice is None:
            return None
        choices[name] = choice
    alone: dict[int, np.ndarray] = {}
    for choice in choices.values():
        for member in choice.members:
            if member.trial_id not in alone:
                alone[member.trial_id] = run.refit_predict([member], [1.0])
    row: dict[str, Any] = {"task": run.task_name, "seed": p.task.seed, "metric": run.metric,
                           "direction": run.direction,
                           "trials": len({t.config.key() for t in run.trials if t.ok})}
    for name, choice in choices.items():
        pred = combine([alone[m.trial_id] for m in choice.members], choice.weights)
        row |= {name: run.holdout_score(pred), f"cv {name}": choice.cv_score,
                f"members {name}": len(choice.members), f"seconds {name}": seconds[name],
                f"picks {name}": [[m.trial_id, w] for m, w in zip(choice.members,
                                                                   choice.weights,
                                                                   strict=True)]}
    for peer in PEERS:
        row[f"same as {peer}"] = row[f"picks {peer}"] == row[f"picks {MAIN}"]
    return row


def combine(preds: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """The weighted average of members' holdout predictions (weights sum to 1)."""
    return np.tensordot(np.asarray(weights, dtype=np.float64), np.stack(preds), axes=1)


def outcome(row: dict[str, Any], peer: str) -> str:
    """``better``, ``level`` or ``worse``: main's pool against ``peer`` on this run."""
    if row[f"same as {peer}"] or level(row[MAIN], row[peer]):
        return "level"
    return "better" if is_better(row[MAIN], row[peer], row["direction"]) else "worse"


def summarize(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No run folder with a scored catalog trial was found."
    lines = ["| task | metric | runs | pool 50 (mean) | pool 10 (mean) | best alone (mean) "
             "| pool 50 vs pool 10: better / level / worse | vs best alone | members (mean) |",
             "|---|---|---:|---:|---:|---:|---|---|---:|"]
    for task, group in by_task(rows).items():
        counts = [_counts(group, peer) for peer in PEERS]
        lines.append(
            f"| {task} | {group[0]['metric']} | {len(group)} "
            + "".join(f"| {np.mean([r[n] for r in group]):.5g} " for n in (MAIN, *PEERS))
            + "".join(f"| {b} / {lv} / {w} " for b, lv, w in counts)
            + f"| {np.mean([r['members ' + MAIN] for r in group]):.1f} |")
    lines.append("")
    for peer in PEERS:
        better, same, worse = _counts(rows, peer)
        p = binomtest(better, better + worse).pvalue if better + worse else 1.0
        lines.append(f"- {MAIN} against {peer}: better in {better}, level in {same}, worse in "
                     f"{worse} of {len(rows)} runs (sign test, ties left out: p = {p:.2g}).")
    times = ", ".join(f"{n} {np.median([r['seconds ' + n] for r in rows]):.3f} s "
                      f"(max {max(r['seconds ' + n] for r in rows):.2f})" for n in POOLS)
    lines.append(f"- Selection time per run, median: {times}.")
    return "\n".join(lines)


def _counts(rows: list[dict[str, Any]], peer: str) -> tuple[int, int, int]:
    found = [outcome(r, peer) for r in rows]
    return found.count("better"), found.count("level"), found.count("worse")


def _line(r: dict[str, Any]) -> str:
    return "  ".join(f"{n} {r[n]:.5g} ({r['members ' + n]})" for n in POOLS)


def main(argv: list[str] | None = None) -> int:
    return replay_main(argv, description=__doc__.splitlines()[0], replay=replay, line=_line,
                       summarize=summarize)


if __name__ == "__main__":
    raise SystemExit(main())
