"""Paired comparisons of two methods run on the same datasets and seeds, and the
resumable rows of the evaluations that make them."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from schemas import Direction, TrialResult
from tools.metrics import is_better

ROW_FILE = "eval_row.json"  # what a finished evaluation run leaves in its folder


def finished_row(run_dir: Path) -> dict[str, Any] | None:
    """The row a finished evaluation run left in ``run_dir``; otherwise None, and a folder
    left by an unfinished run is removed so that the run starts over."""
    done = run_dir / ROW_FILE
    if done.is_file():
        row: dict[str, Any] = json.loads(done.read_text())
        return row
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return None


def results_folder(out: Path | None, prefix: str) -> Path:
    """``out``, or a new temporary folder named with ``prefix``; created either way."""
    root = out or Path(tempfile.mkdtemp(prefix=prefix))
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_grid(datasets: Sequence[str], seeds: Sequence[int], arms: Sequence[str],
             run: Callable[[str, int, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """``run(dataset, seed, arm)`` for every combination, in that nesting; each row is
    printed as JSON as it comes (a long eval shows its progress)."""
    rows = []
    for dataset in datasets:
        for seed in seeds:
            for arm in arms:
                rows.append(run(dataset, seed, arm))
                print(json.dumps(rows[-1]), flush=True)
    return rows


def write_results(root: Path, rows: Sequence[dict[str, Any]], table: str) -> None:
    """``results.json`` (the rows) and ``results.md`` (the table) in ``root``; print the
    table."""
    (root / "results.json").write_text(json.dumps(list(rows), indent=2))
    (root / "results.md").write_text(table + "\n")
    print(table)


def save_row(run_dir: Path, row: dict[str, Any]) -> dict[str, Any]:
    """Mark the run in ``run_dir`` finished, with ``row``; returns ``row``."""
    (run_dir / ROW_FILE).write_text(json.dumps(row))
    return row


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
