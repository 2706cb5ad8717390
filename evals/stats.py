"""The bench's statistics: normalized scores, per-method summaries, a rank test, anytime curves.

The protocol, for cells (task × method × seed) read from a bench ledger:

* **Normalized score.** All methods of one group (task, seed) share that seed's holdout
  split, so each cell is placed on the group's own scale with
  ``tools.metrics.normalized_score``: 0 is the dummy predictor's holdout score
  (``dummy_holdout``), 1 the best holdout score any method reached in the group. The score is
  not clipped: a method worse than the dummy scores below 0. A cell without a scored model
  (``status="failed"``, or no holdout score) scores 0, no better than the dummy, and is
  counted as failed. A group where no method beats the dummy has no scale: every cell scores
  0 there, a tie. A group without a dummy score cannot be normalized; its cells get no score
  (``None``) and are left out of every mean, with a remark saying so.
* **Complete tasks only.** While a bench is partial, a task some method has not run on
  every seed is left out of every comparison below (a partial task would compare methods on
  different seeds, against a best score a missing cell might have raised); the per-task
  table still shows it. While no task is complete, all cells are compared.
* **Per task** a method's score is the mean over its seeds. **Per method**: the mean over
  tasks, its standard error over tasks (sample standard deviation / √tasks; none with one
  task), the average rank over tasks (rank 1 best, ties averaged, ranked per task on the
  seed-mean score among the methods that ran the task), the number of tasks where the method
  is best (a tie of n methods gives each 1/n, so the column sums to the number of tasks),
  cells, failed cells, median and total wall seconds, and the LLM calls, tokens and cost
  summed over its cells.
* **Rank test.** The Friedman test with the Nemenyi post-hoc test (Demšar 2006), run by
  autorank with ``force_mode="nonparametric"`` and alpha 0.05 on the tasks × methods table
  of seed-mean normalized scores, using only the tasks every method ran. Two methods differ
  significantly when the Friedman test rejects and their average ranks differ by more than
  the critical difference (CD). autorank's limits decide when it runs: at least 2 methods and
  at least 5 tasks. With exactly 2 methods autorank (like scipy, whose Friedman test needs 3
  groups) uses the one-sided Wilcoxon signed-rank test instead, and there is no CD. The test
  is skipped, with the reason, when every method scored the same on every task (its
  statistic is undefined) or when the p-value comes out undefined.
* **Anytime curves.** Per group (task, seed), on the cross-validation scale: 0 is the dummy
  predictor's CV score (``dummy_cv``), 1 the best ``best_cv`` any method of the group
  reached. (a) Against finished trials 1..N: the incumbent after each trial, the last value
  carried forward when a cell finished fewer trials, 0 before the first scored trial.
  (b) Against wall time on one log-spaced grid from the earliest first curve point to the
  longest cell: the incumbent known at that time, carried forward after the cell ended.
  Per method: the mean over its cells (one per group) and the 25 % and 75 % quantiles.
* **Per-task table**: each method's mean holdout score over the seeds that gave a model, in
  the task's metric, with the best value marked.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import statistics
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from evals._ledger import CellResult, CurvePoint
from schemas import DataError, Direction
from tools.metrics import is_better, normalized_score

log = logging.getLogger(__name__)

__all__ = ["ALPHA", "MIN_TASKS", "AnytimeCurve", "BenchStats", "CellScore", "MethodSummary",
           "RankTest", "TaskRow", "analyze", "anytime_by_time", "anytime_by_trials",
           "incomplete_tasks", "normalized_scores", "rank_test", "summarize", "task_means",
           "task_table"]

ALPHA = 0.05
MIN_TASKS = 5  # autorank refuses fewer than five rows (paired measurements)
_TIME_POINTS = 60
_DIGITS = 12  # scores equal to 12 decimals are a tie (float noise is not a win)

Group = tuple[str, int]  # (task, seed)


@dataclass(frozen=True)
class CellScore:
    """One cell on its group's scale; ``normalized`` is None only where the group has no
    dummy score."""

    task: str
    method: str
    seed: int
    status: str
    scored: bool  # the cell gave a model with a finite holdout score
    holdout: float | None
    dummy_holdout: float | None  # the group's dummy holdout score (0 on the scale)
    best_holdout: float | None  # the group's best holdout score (1 on the scale)
    normalized: float | None


@dataclass(frozen=True)
class MethodSummary:
    """One method over the whole suite; scores are normalized, None where undefined."""

    method: str
    n_tasks: int
    mean_score: float | None
    se_score: float | None
    avg_rank: float | None
    tasks_best: float
    n_cells: int
    n_failed: int
    median_wall_s: float | None
    total_wall_s: float
    llm_calls: int
    llm_tokens: int
    llm_cost_usd: float


@dataclass(frozen=True)
class RankTest:
    """The omnibus rank test and its post-hoc comparisons, or why it was skipped."""

    methods: tuple[str, ...]
    tasks: tuple[str, ...]  # the tasks every method ran: the test's rows
    alpha: float = ALPHA
    test: str | None = None  # 'friedman' (k > 2) or 'wilcoxon' (k = 2), as autorank chose
    posthoc: str | None = None  # 'nemenyi' with the Friedman test
    p_value: float | None = None
    cd: float | None = None  # critical difference of average ranks (Nemenyi)
    mean_ranks: Mapping[str, float] = field(default_factory=dict)
    significant_pairs: tuple[tuple[str, str], ...] = ()  # (better, worse)
    decision: str | None = None  # autorank's own words (create_report)
    skipped: str | None = None
    raw: Any = field(default=None, repr=False, compare=False, metadata={"json": False})

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


@dataclass(frozen=True)
class AnytimeCurve:
    """One method's normalized incumbent along an axis (trials or seconds)."""

    method: str
    x: tuple[float, ...]
    mean: tuple[float, ...]
    q25: tuple[float, ...]
    q75: tuple[float, ...]
    n_cells: int


@dataclass(frozen=True)
class TaskRow:
    """Mean holdout score per method on one task, over the seeds that gave a model."""

    task: str
    metric: str
    direction: Direction
    holdout: Mapping[str, float | None]
    n_scored: Mapping[str, int]
    n_cells: Mapping[str, int]
    best: tuple[str, ...]


@dataclass(frozen=True)
class BenchStats:
    """Everything the report shows, computed once."""

    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    scores: tuple[CellScore, ...]
    task_means: Mapping[str, Mapping[str, float]]
    summaries: tuple[MethodSummary, ...]
    rank_test: RankTest
    anytime_trials: tuple[AnytimeCurve, ...]
    anytime_time: tuple[AnytimeCurve, ...]
    task_rows: tuple[TaskRow, ...]
    remarks: tuple[str, ...]  # data problems a reader should know about
    partial: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # task -> (cells, of)


def analyze(cells: Sequence[CellResult], *, methods: Sequence[str] | None = None,
            n_trials: int | None = None, seeds: Sequence[int] | None = None) -> BenchStats:
    """All statistics of a bench; ``methods`` fixes their order (default: first seen).

    The comparisons (scores, summaries, rank test, anytime curves) use only the tasks that are
    complete: every method has a cell for every seed (``seeds``, default: the seeds seen on
    that task). A partial task would be compared on fewer seeds for some methods, and against
    a best score that a missing cell might have raised. While no task is complete, all cells
    are compared. The per-task table always shows every task.
    """
    names = _methods(cells, methods)
    remarks: list[str] = []
    partial = incomplete_tasks(cells, methods=names, seeds=seeds)
    compared = [c for c in cells if c.task not in partial]
    if partial and compared:
        shown = ", ".join(f"{t} ({n} of {of} cells)" for t, (n, of) in partial.items())
        remarks.append(f"Left out of the scores, ranks, rank test and anytime curves until "
                       f"every method has run every seed: {shown}. The per-task table shows "
                       "them.")
    elif partial:
        remarks.append("No task has a cell for every method and seed yet, so the comparisons "
                       "use the cells there are.")
        compared = list(cells)
    scores = normalized_scores(compared, remarks=remarks)
    means = task_means(scores)
    return BenchStats(
        methods=names, tasks=tuple(dict.fromkeys(c.task for c in cells)), scores=tuple(scores),
        task_means=means, summaries=summarize(compared, scores, methods=names),
        rank_test=rank_test(means, methods=names),
        anytime_trials=anytime_by_trials(compared, n_trials=n_trials, methods=names,
                                         remarks=remarks),
        anytime_time=anytime_by_time(compared, methods=names),
        task_rows=task_table(cells, methods=names), remarks=tuple(dict.fromkeys(remarks)),
        partial=partial)


def incomplete_tasks(cells: Sequence[CellResult], *, methods: Sequence[str] | None = None,
                     seeds: Sequence[int] | None = None) -> dict[str, tuple[int, int]]:
    """task -> (cells it has, cells it needs) for each task that lacks a cell of some method
    and seed; ``seeds`` default to the seeds seen on each task."""
    names = _methods(cells, methods)
    out: dict[str, tuple[int, int]] = {}
    for task in dict.fromkeys(c.task for c in cells):
        have = {(c.method, c.seed) for c in cells if c.task == task}
        wanted = set(seeds) if seeds is not None else {s for _, s in have}
        need = {(m, s) for m in names for s in wanted}
        if not need <= have:
            out[task] = (len(have & need), len(need))
    return out


# --- normalized scores ------------------------------------------------------------------------

def _scored(cell: CellResult) -> bool:
    return (cell.status == "done" and cell.holdout is not None
            and math.isfinite(cell.holdout))


def _groups(cells: Iterable[CellResult]) -> dict[Group, list[CellResult]]:
    groups: dict[Group, list[CellResult]] = defaultdict(list)
    for cell in cells:
        groups[cell.task, cell.seed].append(cell)
    return dict(groups)


def _direction(task: str, cells: Sequence[CellResult]) -> Direction:
    kinds = {(c.metric, c.direction) for c in cells}
    if len(kinds) > 1:
        raise DataError(f"The cells of task '{task}' must share one metric and direction; "
                        f"got {sorted(kinds)} instead.")
    return cells[0].direction


def _dummy(values: Iterable[float | None], what: str, group: Group) -> float | None:
    """The group's dummy score: every cell should report the same one."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return None
    if max(known) - min(known) > 1e-9 * max(1.0, abs(max(known))):
        log.warning("task %s seed %d: the cells disagree on %s (%s); using the median",
                    group[0], group[1], what, sorted(set(known)))
    return float(statistics.median(known))


def _reference(dummy: float | None, values: Iterable[float | None],
               direction: Direction) -> tuple[float, float] | None:
    """(0, 1) of a group's scale; best equals dummy where nothing beats the dummy."""
    if dummy is None:
        return None
    best = dummy
    for v in values:
        if v is not None and math.isfinite(v) and is_better(v, best, direction):
            best = v
    return dummy, best


def normalized_scores(cells: Sequence[CellResult], *,
                      remarks: list[str] | None = None) -> list[CellScore]:
    """Every cell on its (task, seed) group's holdout scale, in the cells' order."""
    by_cell: dict[tuple[str, str, int], CellScore] = {}
    for group, members in _groups(cells).items():
        direction = _direction(group[0], members)
        ref = _reference(_dummy((c.dummy_holdout for c in members), "dummy_holdout", group),
                         (c.holdout for c in members if _scored(c)), direction)
        if ref is None and remarks is not None:
            remarks.append(f"Task {group[0]}, seed {group[1]}: no cell reports the dummy's "
                           "holdout score, so its cells are left out of the normalized scores.")
        for c in members:
            ok = _scored(c)
            value: float | None = None
            if ref is not None:
                value = (normalized_score(float(c.holdout), dummy=ref[0], best=ref[1])
                         if ok and c.holdout is not None else 0.0)
            by_cell[c.key] = CellScore(
                task=c.task, method=c.method, seed=c.seed, status=c.status, scored=ok,
                holdout=c.holdout if ok else None, dummy_holdout=None if ref is None else ref[0],
                best_holdout=None if ref is None else ref[1], normalized=value)
    return [by_cell[c.key] for c in cells]


def task_means(scores: Sequence[CellScore]) -> dict[str, dict[str, float]]:
    """task -> method -> mean normalized score over the method's seeds (scored or failed)."""
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in scores:
        if s.normalized is not None:
            acc[s.task][s.method].append(s.normalized)
    return {task: {m: statistics.fmean(v) for m, v in by_method.items()}
            for task, by_method in acc.items()}


# --- per-method summary -----------------------------------------------------------------------

def _ranks(means: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """task -> method -> rank among the methods that ran the task (1 best, ties averaged)."""
    out: dict[str, dict[str, float]] = {}
    for task, by_method in means.items():
        names = list(by_method)
        values = np.array([-round(by_method[m], _DIGITS) for m in names])
        out[task] = dict(zip(names, (float(r) for r in rankdata(values, method="average")),
                             strict=True))
    return out


def summarize(cells: Sequence[CellResult], scores: Sequence[CellScore] | None = None, *,
              methods: Sequence[str] | None = None) -> tuple[MethodSummary, ...]:
    """One summary per method, in ``methods`` order (default: first seen)."""
    scores = normalized_scores(cells) if scores is None else scores
    means = task_means(scores)
    ranks = _ranks(means)
    best: dict[str, float] = defaultdict(float)
    for by_rank in ranks.values():
        top = [m for m, r in by_rank.items() if r == min(by_rank.values())]
        for m in top:
            best[m] += 1.0 / len(top)
    out = []
    for name in _methods(cells, methods):
        mine = [c for c in cells if c.method == name]
        per_task = [by_method[name] for by_method in means.values() if name in by_method]
        my_ranks = [r[name] for r in ranks.values() if name in r]
        walls = [c.wall_s for c in mine]
        out.append(MethodSummary(
            method=name, n_tasks=len(per_task),
            mean_score=statistics.fmean(per_task) if per_task else None,
            se_score=(statistics.stdev(per_task) / math.sqrt(len(per_task))
                      if len(per_task) > 1 else None),
            avg_rank=statistics.fmean(my_ranks) if my_ranks else None,
            tasks_best=best.get(name, 0.0), n_cells=len(mine),
            n_failed=sum(not _scored(c) for c in mine),
            median_wall_s=statistics.median(walls) if walls else None,
            total_wall_s=float(sum(walls)), llm_calls=sum(c.llm_calls for c in mine),
            llm_tokens=sum(c.llm_tokens for c in mine),
            llm_cost_usd=float(sum(c.llm_cost_usd for c in mine))))
    return tuple(out)


def _methods(cells: Sequence[CellResult], methods: Sequence[str] | None) -> tuple[str, ...]:
    seen = list(dict.fromkeys(c.method for c in cells))
    if methods is None:
        return tuple(seen)
    return tuple(dict.fromkeys([*methods, *(m for m in seen if m not in methods)]))


# --- rank test --------------------------------------------------------------------------------

def rank_test(means: Mapping[str, Mapping[str, float]], *, methods: Sequence[str] | None = None,
              alpha: float = ALPHA) -> RankTest:
    """The Friedman/Nemenyi test (Wilcoxon for two methods) on tasks × methods of seed-mean
    normalized scores, via autorank; tasks some method did not run are left out."""
    names = tuple(m for m in (methods or _all_methods(means))
                  if any(m in by_method for by_method in means.values()))
    tasks = tuple(t for t, by_method in means.items() if all(m in by_method for m in names))
    base = RankTest(methods=names, tasks=tasks, alpha=alpha)
    if len(names) < 2:
        return _skip(base, f"the test compares at least 2 methods; this bench has {len(names)}")
    if len(tasks) < MIN_TASKS:
        return _skip(base, f"the test needs at least {MIN_TASKS} tasks that every method ran; "
                           f"this bench has {len(tasks)}")
    table = np.array([[means[t][m] for m in names] for t in tasks])
    if np.ptp(np.round(table, _DIGITS), axis=1).max() == 0:
        return _skip(base, "every method scored the same on every task, so ranks cannot "
                           "differ")
    result, printed, caught = _run_autorank(table, names, tasks, alpha)
    for line in (*printed, *caught):
        log.debug("autorank: %s", line)
    p = float(result.pvalue)
    if not math.isfinite(p):
        return _skip(base, f"autorank's {result.omnibus} test gave no p-value (ties throughout)")
    ranks = {str(m): float(r) for m, r in result.rankdf["meanrank"].items()}
    cd = None if result.cd is None else float(result.cd)
    return RankTest(methods=names, tasks=tasks, alpha=alpha, test=str(result.omnibus),
                    posthoc=None if result.posthoc is None else str(result.posthoc),
                    p_value=p, cd=cd, mean_ranks={m: ranks[m] for m in names},
                    significant_pairs=_pairs(ranks, cd, p < alpha),
                    decision=_decision(result), raw=result)


def _all_methods(means: Mapping[str, Mapping[str, float]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for by_method in means.values() for m in by_method))


def _skip(base: RankTest, reason: str) -> RankTest:
    log.info("rank test skipped: %s", reason)
    return RankTest(methods=base.methods, tasks=base.tasks, alpha=base.alpha, skipped=reason)


def _run_autorank(table: np.ndarray, names: Sequence[str], tasks: Sequence[str],
                  alpha: float) -> tuple[Any, list[str], list[str]]:
    """autorank's result, with what it printed and warned captured instead of shown."""
    import pandas as pd
    from autorank import autorank

    data = pd.DataFrame(table, columns=list(names), index=list(tasks))
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            result = autorank(data, alpha=alpha, verbose=False, order="descending",
                              force_mode="nonparametric")
    return result, out.getvalue().splitlines(), [str(w.message) for w in caught]


def _decision(result: Any) -> str | None:
    """autorank's verbal report of the test, or None if it cannot write one."""
    from autorank import create_report

    out = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore")
            create_report(result, decimal_places=3)
    except Exception as exc:  # a third-party report writer: its failure must not cost the bench
        log.warning("autorank could not describe the test: %s", exc)
        return None
    text = " ".join(line.strip() for line in out.getvalue().splitlines() if line.strip())
    return text or None


def _pairs(ranks: Mapping[str, float], cd: float | None,
           rejected: bool) -> tuple[tuple[str, str], ...]:
    """(better, worse) pairs that differ significantly: with a CD, rank gaps above it, and
    only once the omnibus test rejected; without one (Wilcoxon), the one pair if it rejected."""
    if not rejected:
        return ()
    order = sorted(ranks, key=lambda m: ranks[m])
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    if cd is None:
        return tuple(p for p in pairs if ranks[p[0]] < ranks[p[1]])
    return tuple(p for p in pairs if ranks[p[1]] - ranks[p[0]] > cd)


# --- anytime curves ---------------------------------------------------------------------------

def _cv_reference(group: Group, members: Sequence[CellResult]) -> tuple[float, float] | None:
    direction = members[0].direction
    values: list[float | None] = [c.best_cv for c in members]
    values += [p.best_cv for c in members for p in c.curve]
    return _reference(_dummy((c.dummy_cv for c in members), "dummy_cv", group), values,
                      direction)


def _incumbents(cell: CellResult, by: str) -> list[tuple[float, float | None]]:
    """(trial count or seconds, best CV so far) along the cell's curve, in axis order."""
    def key(p: CurvePoint) -> float:
        return float(p.trial) if by == "trials" else p.elapsed_s

    best: float | None = None
    out = []
    for p in sorted(cell.curve, key=key):
        if p.best_cv is not None and math.isfinite(p.best_cv) and is_better(
                p.best_cv, best, cell.direction):
            best = p.best_cv
        out.append((key(p), best))
    return out


def _normalized_path(cell: CellResult, ref: tuple[float, float], xs: np.ndarray,
                     by: str) -> np.ndarray:
    """The cell's normalized incumbent at each x (trial count or seconds); 0 before any."""
    values = np.zeros(len(xs))
    for at, best in _incumbents(cell, by):
        if best is not None:
            values[xs >= at] = normalized_score(best, dummy=ref[0], best=ref[1])
    return values


def _curves(cells: Sequence[CellResult], xs: np.ndarray, by: str, names: Sequence[str],
            remarks: list[str] | None) -> tuple[AnytimeCurve, ...]:
    paths: dict[str, list[np.ndarray]] = defaultdict(list)
    for group, members in _groups(cells).items():
        ref = _cv_reference(group, members)
        if ref is None:
            if remarks is not None:
                remarks.append(f"Task {group[0]}, seed {group[1]}: no cell reports the dummy's "
                               "CV score, so the group is left out of the anytime curves.")
            continue
        for c in members:
            paths[c.method].append(_normalized_path(c, ref, xs, by))
    out = []
    for name in names:
        if not paths.get(name):
            continue
        stack = np.vstack(paths[name])
        out.append(AnytimeCurve(
            method=name, x=tuple(float(x) for x in xs),
            mean=tuple(float(v) for v in stack.mean(axis=0)),
            q25=tuple(float(v) for v in np.percentile(stack, 25, axis=0)),
            q75=tuple(float(v) for v in np.percentile(stack, 75, axis=0)), n_cells=len(stack)))
    return tuple(out)


def _has_curve(cells: Sequence[CellResult]) -> bool:
    return any(p.best_cv is not None for c in cells for p in c.curve)


def anytime_by_trials(cells: Sequence[CellResult], *, n_trials: int | None = None,
                      methods: Sequence[str] | None = None,
                      remarks: list[str] | None = None) -> tuple[AnytimeCurve, ...]:
    """Per method, the normalized CV incumbent after trials 1..N (N: ``n_trials``, or the most
    trials any curve reached); empty when no cell recorded a scored curve point."""
    if not _has_curve(cells):
        return ()
    last = max((p.trial for c in cells for p in c.curve), default=1)
    xs = np.arange(1, max(n_trials or 0, last) + 1, dtype=float)
    return _curves(cells, xs, "trials", _methods(cells, methods), remarks)


def anytime_by_time(cells: Sequence[CellResult], *, methods: Sequence[str] | None = None,
                    n_points: int = _TIME_POINTS) -> tuple[AnytimeCurve, ...]:
    """Per method, the normalized CV incumbent on a log-spaced grid of seconds from the
    earliest first curve point to the longest cell; empty when no cell has a scored point."""
    if not _has_curve(cells):
        return ()
    firsts = [min(p.elapsed_s for p in c.curve) for c in cells if c.curve]
    start = max(min(firsts), 1e-3)
    stop = max([start, *(c.wall_s for c in cells), *(p.elapsed_s for c in cells for p in c.curve)])
    xs = np.geomspace(start, stop, n_points) if stop > start else np.array([start])
    xs[-1] = stop  # geomspace may land a hair below the end; the end must hold every cell
    return _curves(cells, xs, "time", _methods(cells, methods), None)


# --- per-task table ---------------------------------------------------------------------------

def task_table(cells: Sequence[CellResult], *,
               methods: Sequence[str] | None = None) -> tuple[TaskRow, ...]:
    """Per task, each method's mean holdout score over its scored seeds; the best marked."""
    names = _methods(cells, methods)
    rows = []
    for task in dict.fromkeys(c.task for c in cells):
        mine = [c for c in cells if c.task == task]
        direction = _direction(task, mine)
        holdout: dict[str, float | None] = {}
        n_scored: dict[str, int] = {}
        n_cells: dict[str, int] = {}
        for name in names:
            theirs = [c for c in mine if c.method == name]
            if not theirs:
                continue
            values = [float(c.holdout) for c in theirs if _scored(c) and c.holdout is not None]
            holdout[name] = statistics.fmean(values) if values else None
            n_scored[name], n_cells[name] = len(values), len(theirs)
        known = {m: round(v, _DIGITS) for m, v in holdout.items() if v is not None}
        top: float | None = None
        for v in known.values():
            if is_better(v, top, direction):
                top = v
        rows.append(TaskRow(task=task, metric=mine[0].metric, direction=direction,
                            holdout=holdout, n_scored=n_scored, n_cells=n_cells,
                            best=tuple(m for m, v in known.items() if v == top)))
    return tuple(rows)
