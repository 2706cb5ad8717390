"""The bench's statistics, checked against numbers worked out by hand."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from evals._ledger import CellResult, CurvePoint
from evals.stats import (
    analyze,
    anytime_by_time,
    anytime_by_trials,
    incomplete_tasks,
    normalized_scores,
    rank_test,
    summarize,
    task_means,
    task_table,
)
from schemas import DataError


def cell(task: str, method: str, seed: int, holdout: float | None, *, dummy: float | None = 0.5,
         metric: str = "roc_auc", status: str = "done", **extra: Any) -> CellResult:
    regression = metric == "rmse"
    return CellResult(task=task, method=method, seed=seed, status=status,  # type: ignore[arg-type]
                      task_type="regression" if regression else "binary", metric=metric,
                      direction="minimize" if regression else "maximize", holdout=holdout,
                      dummy_holdout=dummy, **extra)


# The worked example: 2 tasks × 3 methods (A, B, C).
#
# t1, roc_auc (higher is better)
#   seed 0: dummy 0.5; A 0.9, B 0.8, C 0.7 -> best 0.9, span 0.4
#           A (0.9-0.5)/0.4 = 1    B (0.8-0.5)/0.4 = 0.75    C (0.7-0.5)/0.4 = 0.5
#   seed 1: dummy 0.6; A 0.8, B 0.8, C 0.5 -> best 0.8, span 0.2
#           A 1    B 1    C (0.5-0.6)/0.2 = -0.5 (worse than the dummy: below 0, not clipped)
#   seed means: A 1, B 0.875, C 0
# t2, rmse (lower is better), seed 0: dummy 10; A 6, B 2, C failed -> best 2, span -8
#           A (6-10)/(2-10) = 0.5    B 1    C 0 (failed)
#
# mean over tasks: A (1 + 0.5)/2 = 0.75   B (0.875 + 1)/2 = 0.9375   C (0 + 0)/2 = 0
# standard error = stdev of the two task means / sqrt(2) = |x1 - x2| / 2:
#                  A 0.25   B 0.0625   C 0
# ranks: t1 A 1, B 2, C 3;  t2 B 1, A 2, C 3  ->  average A 1.5, B 1.5, C 3
# tasks best: A 1 (t1), B 1 (t2), C 0
WORKED = [
    cell("t1", "A", 0, 0.9), cell("t1", "B", 0, 0.8), cell("t1", "C", 0, 0.7),
    cell("t1", "A", 1, 0.8, dummy=0.6), cell("t1", "B", 1, 0.8, dummy=0.6),
    cell("t1", "C", 1, 0.5, dummy=0.6),
    cell("t2", "A", 0, 6.0, dummy=10.0, metric="rmse"),
    cell("t2", "B", 0, 2.0, dummy=10.0, metric="rmse"),
    cell("t2", "C", 0, None, dummy=None, metric="rmse", status="failed", error="boom"),
]


def test_normalized_scores_of_the_worked_example() -> None:
    got = {(s.task, s.method, s.seed): s.normalized for s in normalized_scores(WORKED)}
    assert got == pytest.approx({
        ("t1", "A", 0): 1.0, ("t1", "B", 0): 0.75, ("t1", "C", 0): 0.5,
        ("t1", "A", 1): 1.0, ("t1", "B", 1): 1.0, ("t1", "C", 1): -0.5,
        ("t2", "A", 0): 0.5, ("t2", "B", 0): 1.0, ("t2", "C", 0): 0.0})


def test_task_means_average_the_seeds() -> None:
    means = task_means(normalized_scores(WORKED))
    assert means["t1"] == pytest.approx({"A": 1.0, "B": 0.875, "C": 0.0})
    assert means["t2"] == pytest.approx({"A": 0.5, "B": 1.0, "C": 0.0})


def test_method_summaries_of_the_worked_example() -> None:
    by = {s.method: s for s in summarize(WORKED)}
    assert [by[m].mean_score for m in "ABC"] == pytest.approx([0.75, 0.9375, 0.0])
    assert [by[m].se_score for m in "ABC"] == pytest.approx([0.25, 0.0625, 0.0])
    assert [by[m].avg_rank for m in "ABC"] == pytest.approx([1.5, 1.5, 3.0])
    assert [by[m].tasks_best for m in "ABC"] == [1.0, 1.0, 0.0]
    assert [(by[m].n_cells, by[m].n_failed) for m in "ABC"] == [(3, 0), (3, 0), (3, 1)]


def test_ties_share_the_rank_and_the_win() -> None:
    cells = [cell("t", "A", 0, 0.8), cell("t", "B", 0, 0.8), cell("t", "C", 0, 0.6)]
    by = {s.method: s for s in summarize(cells)}
    assert (by["A"].avg_rank, by["B"].avg_rank, by["C"].avg_rank) == (1.5, 1.5, 3.0)
    assert (by["A"].tasks_best, by["B"].tasks_best, by["C"].tasks_best) == (0.5, 0.5, 0.0)
    assert by["A"].se_score is None  # one task: no standard error


def test_a_failed_cell_scores_zero_even_if_it_reports_a_holdout() -> None:
    cells = [cell("t", "A", 0, 0.9), cell("t", "B", 0, 0.95, status="failed")]
    scores = {s.method: s for s in normalized_scores(cells)}
    assert scores["B"].normalized == 0.0 and not scores["B"].scored
    assert scores["A"].normalized == 1.0  # the failed cell's number does not set the scale
    assert {s.method: s.n_failed for s in summarize(cells)} == {"A": 0, "B": 1}


def test_a_group_where_nothing_beats_the_dummy_is_a_tie_at_zero() -> None:
    cells = [cell("t", "A", 0, 0.4), cell("t", "B", 0, 0.3)]  # dummy 0.5, both worse
    assert [s.normalized for s in normalized_scores(cells)] == [0.0, 0.0]


def test_a_group_without_a_dummy_score_is_left_out_with_a_remark() -> None:
    cells = [cell("t", "A", 0, 0.9, dummy=None), cell("t", "B", 0, 0.8, dummy=None),
             cell("u", "A", 0, 0.9), cell("u", "B", 0, 0.7)]
    stats = analyze(cells)
    assert [s.normalized for s in stats.scores[:2]] == [None, None]
    assert set(stats.task_means) == {"u"}
    assert any("Task t, seed 0" in r for r in stats.remarks)


def test_a_partial_task_is_left_out_of_the_comparisons_but_kept_in_the_task_table() -> None:
    # u lacks B's seed 1: compared, B would be judged on seed 0 alone, and on seed 1 A would
    # be "best" only because B's cell is missing.
    cells = [cell("t", "A", 0, 0.9), cell("t", "B", 0, 0.8),
             cell("t", "A", 1, 0.7), cell("t", "B", 1, 0.9),
             cell("u", "A", 0, 0.9), cell("u", "B", 0, 0.6), cell("u", "A", 1, 0.6)]
    stats = analyze(cells, seeds=[0, 1])
    assert stats.partial == {"u": (3, 4)}
    assert set(stats.task_means) == {"t"} and {s.task for s in stats.scores} == {"t"}
    assert {s.method: s.n_cells for s in stats.summaries} == {"A": 2, "B": 2}
    assert [r.task for r in stats.task_rows] == ["t", "u"]
    assert any("u (3 of 4 cells)" in r for r in stats.remarks)


def test_seeds_default_to_those_seen_on_each_task() -> None:
    cells = [cell("t", "A", 0, 0.9), cell("t", "B", 0, 0.8),
             cell("u", "A", 1, 0.9), cell("u", "B", 1, 0.6)]
    assert incomplete_tasks(cells) == {}
    assert incomplete_tasks(cells, seeds=[0, 1]) == {"t": (2, 4), "u": (2, 4)}
    assert incomplete_tasks(cells, methods=["A", "B", "C"]) == {"t": (2, 3), "u": (2, 3)}


def test_with_no_complete_task_every_cell_is_compared_with_a_remark() -> None:
    cells = [cell("t", "A", 0, 0.9), cell("t", "B", 0, 0.8), cell("t", "A", 1, 0.7)]
    stats = analyze(cells)
    assert stats.partial == {"t": (3, 4)} and len(stats.scores) == 3
    assert any("No task has a cell for every method and seed" in r for r in stats.remarks)


def test_mixed_metrics_within_a_task_are_refused() -> None:
    with pytest.raises(DataError, match="'t'"):
        normalized_scores([cell("t", "A", 0, 0.9), cell("t", "B", 0, 3.0, metric="rmse")])


def _means(table: np.ndarray, names: str) -> dict[str, dict[str, float]]:
    return {f"task{i}": dict(zip(names, map(float, row), strict=True))
            for i, row in enumerate(table)}


def test_a_clearly_dominant_method_is_significant_on_ten_tasks() -> None:
    rng = np.random.default_rng(0)
    table = rng.uniform(0.3, 0.6, size=(10, 3))
    table[:, 0] = 1.0  # A is the best on every task
    result = rank_test(_means(table, "ABC"))
    assert result.skipped is None and result.test == "friedman" and result.posthoc == "nemenyi"
    assert result.p_value is not None and result.p_value < 0.01
    assert result.mean_ranks["A"] == 1.0
    assert result.cd == pytest.approx(1.048, abs=1e-3)  # q(0.05, 3) = 2.343 · √(3·4/(6·10))
    assert {("A", "B"), ("A", "C")} <= set(result.significant_pairs)
    assert result.decision and "Friedman" in result.decision


def test_noise_is_not_significant() -> None:
    table = np.random.default_rng(1).uniform(0.0, 1.0, size=(10, 3))
    result = rank_test(_means(table, "ABC"))
    assert result.test == "friedman"
    assert result.p_value is not None and result.p_value > 0.05
    assert not result.significant and result.significant_pairs == ()


def test_two_methods_get_autoranks_wilcoxon_test_without_a_cd() -> None:
    table = np.column_stack([np.linspace(0.6, 1.0, 8), np.linspace(0.1, 0.5, 8)])
    result = rank_test(_means(table, "AB"))
    assert result.test == "wilcoxon" and result.cd is None
    assert result.significant_pairs == (("A", "B"),)


@pytest.mark.parametrize(("table", "names", "reason"), [
    (np.ones((6, 1)), "A", "at least 2 methods"),
    (np.random.default_rng(0).uniform(size=(4, 3)), "ABC", "at least 5 tasks"),
    (np.full((6, 3), 0.5), "ABC", "scored the same"),
])
def test_the_test_is_skipped_with_a_reason(table: np.ndarray, names: str, reason: str) -> None:
    result = rank_test(_means(table, names))
    assert result.skipped is not None and reason in result.skipped
    assert result.p_value is None


def test_tasks_some_method_did_not_run_are_left_out_of_the_test() -> None:
    means = _means(np.random.default_rng(0).uniform(size=(6, 3)), "ABC")
    del means["task5"]["C"]
    assert rank_test(means).tasks == tuple(f"task{i}" for i in range(5))


def test_autorank_neither_prints_nor_warns(capsys: pytest.CaptureFixture[str]) -> None:
    table = np.random.default_rng(2).uniform(size=(6, 3))
    table[:, 2] = 0.0  # a method that always failed: a constant column makes scipy warn
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = rank_test(_means(table, "ABC"))
    assert result.skipped is None
    assert capsys.readouterr() == ("", "")
    assert caught == []


# Anytime, one group (task t, seed 0), dummy CV 0.5, best CV of the group 0.8 (B):
#   A: trial 1 -> 0.6, trial 2 -> 0.7, no third trial   => 1/3, 2/3, 2/3 (carried forward)
#   B: trial 1 not scored (None), trial 2 -> 0.8         => 0, 1, 1
#   C: no curve at all                                   => 0, 0, 0
ANYTIME = [
    cell("t", "A", 0, 0.7, best_cv=0.7, dummy_cv=0.5, wall_s=10.0,
         curve=(CurvePoint(trial=1, elapsed_s=2.0, best_cv=0.6),
                CurvePoint(trial=2, elapsed_s=4.0, best_cv=0.7))),
    cell("t", "B", 0, 0.8, best_cv=0.8, dummy_cv=0.5, wall_s=20.0,
         curve=(CurvePoint(trial=1, elapsed_s=1.0, best_cv=None),
                CurvePoint(trial=2, elapsed_s=8.0, best_cv=0.8))),
    cell("t", "C", 0, None, status="failed", dummy_cv=0.5, wall_s=5.0),
]


def test_anytime_by_trials_carries_forward_and_starts_at_zero() -> None:
    curves = {c.method: c for c in anytime_by_trials(ANYTIME, n_trials=3)}
    assert curves["A"].x == (1.0, 2.0, 3.0)
    assert curves["A"].mean == pytest.approx((1 / 3, 2 / 3, 2 / 3))
    assert curves["B"].mean == pytest.approx((0.0, 1.0, 1.0))
    assert curves["C"].mean == (0.0, 0.0, 0.0)


def test_anytime_by_trials_averages_groups_with_a_quartile_band() -> None:
    second = [c.model_copy(update={"seed": 1, "curve": c.curve[:1], "best_cv": c.curve[0].best_cv})
              for c in ANYTIME[:2]]
    # seed 1: A 0.6 at trial 1 (best of the group, since B's only point is unscored) -> 1
    curves = {c.method: c for c in anytime_by_trials([*ANYTIME, *second], n_trials=2)}
    assert curves["A"].mean == pytest.approx(((1 / 3 + 1) / 2, (2 / 3 + 1) / 2))
    assert curves["A"].q25[0] == pytest.approx(1 / 3 + 0.25 * (2 / 3))
    assert curves["A"].n_cells == 2


def test_anytime_by_time_uses_one_log_grid_from_first_point_to_longest_cell() -> None:
    curves = {c.method: c for c in anytime_by_time(ANYTIME, n_points=5)}
    xs = np.array(curves["A"].x)
    assert xs[0] == 1.0 and xs[-1] == 20.0  # B's first point, B's wall time
    assert np.allclose(np.diff(np.log(xs)), np.log(20.0) / 4)
    # at 1, 2.11, 4.47, 9.46, 20 s: A has 0, 1/3, 2/3, 2/3, 2/3; B 0, 0, 0, 1, 1
    assert curves["A"].mean == pytest.approx((0.0, 1 / 3, 2 / 3, 2 / 3, 2 / 3))
    assert curves["B"].mean == pytest.approx((0.0, 0.0, 0.0, 1.0, 1.0))


def test_no_curve_points_means_no_anytime_curves() -> None:
    cells = [cell("t", "A", 0, 0.9), cell("t", "B", 0, 0.8)]
    assert anytime_by_trials(cells, n_trials=5) == ()
    assert anytime_by_time(cells) == ()


def test_task_table_marks_the_best_in_the_metrics_direction() -> None:
    rows = {r.task: r for r in task_table(WORKED)}
    assert rows["t1"].holdout == pytest.approx({"A": 0.85, "B": 0.8, "C": 0.6})
    assert rows["t1"].best == ("A",)
    assert rows["t2"].direction == "minimize" and rows["t2"].best == ("B",)
    assert rows["t2"].holdout["C"] is None and rows["t2"].n_scored["C"] == 0
