"""The leaderboard: every trial of a run in one table, best first.

A failed trial is data, not an exception: it stays on the board, ranked below
every scored trial, with the kind of failure and the line of its error that
says what went wrong. The same ordering feeds the report (``tools.report``),
so the board and the report can never disagree about who won.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from schemas import ConfigError, Direction, TrialResult

logger = logging.getLogger(__name__)

LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "rank", "trial_id", "status", "source", "family", "cv_score", "cv_std",
    "fit_time_s", "wall_time_s", "failure", "error", "params",
)
_DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")
_MAX_ERROR_CHARS = 300


def check_direction(direction: str) -> None:
    """Reject a direction other than the two the metric table knows."""
    if direction not in _DIRECTIONS:
        raise ConfigError(
            f"The 'direction' parameter must be one of {list(_DIRECTIONS)}; "
            f"got {direction!r} instead."
        )


def is_scored(trial: TrialResult) -> bool:
    """True for a successful trial that carries a finite CV score."""
    return trial.ok and trial.cv_score is not None and math.isfinite(trial.cv_score)


def rank_trials(trials: Sequence[TrialResult], direction: Direction) -> list[TrialResult]:
    """Order trials best first: scored ones by CV score, then unscored, then failed.

    Ties keep the earlier trial first, so the order is stable across re-runs.
    """
    check_direction(direction)
    sign = -1.0 if direction == "maximize" else 1.0

    def key(trial: TrialResult) -> tuple[int, float, int]:
        if is_scored(trial):
            return (0, sign * float(trial.cv_score or 0.0), trial.trial_id)
        return (1 if trial.ok else 2, 0.0, trial.trial_id)

    return sorted(trials, key=key)


def error_summary(error: str | None) -> str:
    """The one line of an error worth showing.

    That is the first non-empty line, except for a Python traceback, whose
    header says nothing: there the last line (the exception itself) is kept.
    """
    if not error:
        return ""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


def params_json(trial: TrialResult) -> str:
    """The trial's parameters as compact, key-sorted JSON (one CSV cell)."""
    return json.dumps(trial.config.params, sort_keys=True, separators=(",", ":"), default=str)


def _optional(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def leaderboard_frame(trials: Sequence[TrialResult], direction: Direction) -> pd.DataFrame:
    """One row per trial, best first and failed trials last, ranked from 1."""
    rows = [
        {
            "rank": rank,
            "trial_id": t.trial_id,
            "status": t.status,
            "source": t.source,
            "family": t.config.family,
            "cv_score": _optional(t.cv_score) if t.ok else float("nan"),
            "cv_std": _optional(t.cv_std) if t.ok else float("nan"),
            "fit_time_s": float(t.fit_time_s),
            "wall_time_s": float(t.wall_time_s),
            "failure": t.failure or "",
            "error": error_summary(t.error),
            "params": params_json(t),
        }
        for rank, t in enumerate(rank_trials(trials, direction), start=1)
    ]
    frame = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    return frame.astype({"rank": "int64", "trial_id": "int64", "cv_score": "float64",
                         "cv_std": "float64", "fit_time_s": "float64", "wall_time_s": "float64"})


def write_leaderboard(path: Path, trials: Sequence[TrialResult], direction: Direction) -> Path:
    """Write the leaderboard as CSV (parent folders created) and return its path."""
    frame = leaderboard_frame(trials, direction)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    logger.info("wrote a leaderboard of %d trials to %s", len(frame), path)
    return path


@dataclass(frozen=True)
class FamilySummary:
    """One model family's trials: how many, how many failed, and its best scored trial."""

    family: str
    n_trials: int
    n_ok: int
    n_failed: int
    best: TrialResult | None


def family_summary(trials: Sequence[TrialResult], direction: Direction) -> list[FamilySummary]:
    """One entry per model family, the family with the best trial first.

    Families without any scored trial come last, with ``best`` set to None.
    """
    firsts: dict[str, TrialResult] = {}
    for t in rank_trials(trials, direction):
        firsts.setdefault(t.config.family, t)
    counts = Counter((t.config.family, t.ok) for t in trials)
    return [
        FamilySummary(family=family, n_trials=counts[family, True] + counts[family, False],
                      n_ok=counts[family, True], n_failed=counts[family, False],
                      best=first if is_scored(first) else None)
        for family, first in firsts.items()
    ]
