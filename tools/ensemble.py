"""Greedy ensemble selection over the trials' out-of-fold predictions.

Forward selection with replacement: start from the best trial and keep adding
the candidate whose inclusion most improves the cross-validated score of the
averaged predictions, until nothing improves or the round limit is reached.
Weights are how often a trial was picked.

The candidates are the 50 best distinct trials: with the usual budgets, every trial.
A weaker trial often helps most, because its errors differ from the best ones'; over
the runs of the public benchmark, drawing from the 10 best only was the worse choice
(docs/benchmarks/ensemble-pool/). The cap bounds the selection's cost on long runs.

The selection reuses the predictions each trial already made on folds it never
trained on, so it costs no fit; its CV score is slightly optimistic (it was chosen on
the same folds), which is why the holdout, never used here, is what the run reports
as the final score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from schemas import Direction, TrialResult
from tools.leaderboard import is_scored, rank_trials
from tools.metrics import cv_fold_scores, is_better


@dataclass(frozen=True)
class EnsembleChoice:
    members: tuple[TrialResult, ...]
    weights: tuple[float, ...]
    cv_score: float
    # the weighted out-of-fold predictions of the members, one row per training row
    oof: np.ndarray = field(compare=False, repr=False, default_factory=lambda: np.empty(0))


def select_ensemble(trials: Sequence[TrialResult], *, metric: str, direction: Direction,
                    y: np.ndarray, folds: np.ndarray, n_classes: int | None,
                    n_candidates: int = 50, n_rounds: int = 20,
                    max_members: int = 5) -> EnsembleChoice | None:
    """Pick a weighted set of trials; None when no trial succeeded."""
    scored = [t for t in rank_trials(trials, direction) if is_scored(t) and t.predictions_path]
    candidates = _distinct(scored)[:n_candidates]
    if not candidates:
        return None
    preds = [np.load(t.predictions_path, allow_pickle=False)  # type: ignore[arg-type]
             for t in candidates]

    def cv(p: np.ndarray) -> float:
        return float(np.mean(cv_fold_scores(metric, y, p, folds, n_classes=n_classes)))

    picks = [0]
    total = preds[0].copy()
    best_score = cv(total)
    for _ in range(n_rounds - 1):
        used = set(picks)
        round_best: tuple[float, int] | None = None
        for i, p in enumerate(preds):
            if i not in used and len(used) >= max_members:
                continue
            s = cv((total + p) / (len(picks) + 1))
            if round_best is None or is_better(s, round_best[0], direction):
                round_best = (s, i)
        if round_best is None or not is_better(round_best[0], best_score, direction):
            break
        best_score, i = round_best
        picks.append(i)
        total += preds[i]
    counts = Counter(picks)
    order = sorted(counts, key=lambda i: (-counts[i], i))
    return EnsembleChoice(members=tuple(candidates[i] for i in order),
                          weights=tuple(counts[i] / len(picks) for i in order),
                          cv_score=best_score, oof=total / len(picks))


def _distinct(trials: list[TrialResult]) -> list[TrialResult]:
    """Drop repeated configurations (BO sometimes proposes the same point twice)."""
    seen: set[str] = set()
    out = []
    for t in trials:
        key = t.config.key()
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out
