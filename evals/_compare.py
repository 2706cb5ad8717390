"""Paired comparisons of two methods run on the same datasets and seeds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from schemas import Direction, TrialResult
from tools.metrics import is_better


def best_after(trials: Sequence[TrialResult], n: int, direction: Direction) -> float | None:
    """The best CV score among the first ``n`` trials (by trial id)."""
    best: float | None = None
    for t in sorted(trials, key=lambda t: t.trial_id)[:n]:
        if t.ok and t.cv_score is not None and is_better(t.cv_score, best, direction):
            best = t.cv_score
    return best


def paired_table(rows: Sequence[dict[str, Any]], a: str, b: str,
                 fields: Sequence[str]) -> str:
    """A markdown table: per dataset, the mean of each field over the seeds both methods
    ran, and how often ``a`` was better, level or worse than ``b`` on the same seed."""
    head = ["dataset", "seeds"]
    for field in fields:
        head += [f"{field} ({a} / {b})", f"{a} better-level-worse"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_key = {(r["dataset"], r["seed"], r["method"]): r for r in rows}
    totals = {f: [0, 0, 0] for f in fields}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        seeds = sorted({r["seed"] for r in rows if r["dataset"] == dataset
                        and (dataset, r["seed"], a) in by_key
                        and (dataset, r["seed"], b) in by_key})
        if not seeds:
            continue
        pairs = [(by_key[dataset, s, a], by_key[dataset, s, b]) for s in seeds]
        cells = [dataset, str(len(seeds))]
        for field in fields:
            cells.append(f"{_mean([x[field] for x, _ in pairs])} / "
                         f"{_mean([y[field] for _, y in pairs])}")
            wins = _wins(pairs, field)
            totals[field] = [t + w for t, w in zip(totals[field], wins, strict=True)]
            cells.append("-".join(map(str, wins)))
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["all", ""]
    for field in fields:
        cells += ["", "-".join(map(str, totals[field]))]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.fmean(known):.4f}" if known else "n/a"


def _wins(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
          field: str) -> tuple[int, int, int]:
    better = level = worse = 0
    for x, y in pairs:
        u, v = x[field], y[field]
        if u is None or v is None or abs(u - v) < 1e-12:
            level += 1
        elif is_better(u, v, x["direction"]):
            better += 1
        else:
            worse += 1
    return better, level, worse
