"""What a person watching a run sees, on a terminal and in a log."""

from __future__ import annotations

import io

from rich.console import Console

from cli.console import RichObserver
from schemas import Budget, DatasetProfile, TaskSpec, TrialConfig, TrialResult

TASK = TaskSpec(data_path="data.csv", target="y", direction="maximize",
                budget=Budget(n_trials=3), n_workers=2)
PROFILE = DatasetProfile(n_rows=500, n_rows_dropped=0, target="y", task_type="binary",
                         columns=(), n_numeric=8, n_categorical=0, missing_fraction=0.0,
                         sampled_rows=500, meta_features=(), meta_feature_version=1)


def _trial(i: int, score: float | None) -> TrialResult:
    ok = score is not None
    return TrialResult(trial_id=i, config=TrialConfig(family=("knn", "linear", "svm")[i],
                                                      params={}),
                       source="bo", status="ok" if ok else "failed", cv_score=score,
                       error=None if ok else ("Traceback (most recent call last):\n  File "
                                              "\"x.py\", line 1\nValueError: boom\n"),
                       wall_time_s=1.5)


def _watch(console: Console) -> str:
    trials = [_trial(0, 0.81), _trial(1, None), _trial(2, 0.9)]
    with RichObserver(console) as observer:
        observer.on_search_start(TASK, PROFILE, n_families=7)
        observer.on_stage("planner: asking the LLM")  # before any trial, as in a real run
        best = None
        for t in trials:
            if t.cv_score is not None and (best is None or t.cv_score > (best.cv_score or 0)):
                best = t
            observer.on_trial(t, best)
        observer.on_stage("refitting the best configuration")
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_a_log_gets_one_line_per_trial_and_the_leaderboard_once() -> None:
    out = _watch(Console(file=io.StringIO(), force_terminal=False, width=100))
    lines = out.splitlines()
    assert "  [1/3] trial 0 knn (bo): cv 0.8100 in 1.5 s; best 0.8100 (knn)" in lines
    assert "  [2/3] trial 1 linear (bo): failed: ValueError: boom in 1.5 s; best 0.8100 (knn)" \
        in lines
    assert lines.index("• refitting the best configuration") < next(
        i for i, line in enumerate(lines) if line.startswith("leaderboard (CV)"))
    assert out.count("leaderboard (CV)") == 1 and "1 failed trial" in out
    assert all(line.startswith(("•", " ", "leaderboard", "┏", "┃", "┡", "│", "└"))
               for line in lines if line)  # a message never runs into a table's border


def test_a_terminal_keeps_the_live_leaderboard_through_stage_messages() -> None:
    out = _watch(Console(file=io.StringIO(), force_terminal=True, width=100,
                         color_system=None))
    assert "3/3" in out  # the live region was still drawn after the planner's message
    assert "[1/3]" not in out  # no per-trial lines on a terminal
    final = out[out.rindex("trials"):]
    assert "svm" in final and "0.9000" in final


def test_trials_stopped_at_the_deadline_are_not_called_failed() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=100)
    stopped = _trial(2, None).model_copy(update={"failure": "cancelled",
                                                 "error": "stopped at the time budget's deadline"})
    with RichObserver(console) as observer:
        observer.on_search_start(TASK, PROFILE, n_families=7)
        for t in (_trial(0, 0.8), _trial(1, None), stopped):
            observer.on_trial(t, None)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "1 failed trial; 1 stopped at the deadline" in out
    assert "trial 2 svm (bo): stopped at the deadline in 1.5 s" in out
