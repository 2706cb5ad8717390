"""The trial loop under a deadline: configurations that cannot finish are not started."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agents import prepare_data
from agents._search import SearchLoop
from sandbox import InProcessExecutor, write_data_bundle
from schemas import Budget, TaskSpec, TrialConfig, TrialResult
from tools.bo import OptunaSearch
from tools.datasets import load_bundled


def _loop(tmp_path: Path, families: tuple[str, ...],
          history: list[TrialResult]) -> tuple[SearchLoop, OptunaSearch]:
    task = TaskSpec(data_path=Path("bundled:breast_cancer"), target="diagnosis",
                    families=families, n_folds=3, budget=Budget(n_trials=6, time_budget_s=30))
    p = prepare_data(task, load_bundled("breast_cancer"))
    assert p.task.direction is not None
    bundle = write_data_bundle(tmp_path / "data", p.X_train, p.train.y, p.split.folds,
                               p.n_classes)
    search = OptunaSearch(p.spaces, direction=p.task.direction,
                          storage_path=tmp_path / "study.journal", seed=0, sampler="random")
    search.start()
    loop = SearchLoop(p.task, search=search, executor=InProcessExecutor(bundle),
                      data=p.search_data, trials_dir=tmp_path / "trials", history=history)
    return loop, search


def _took(family: str, seconds: float) -> TrialResult:
    return TrialResult(trial_id=99, config=TrialConfig(family=family, params={}), source="bo",
                       status="ok", cv_score=0.9, wall_time_s=seconds)


def test_a_family_too_slow_for_the_time_left_is_not_started(tmp_path: Path) -> None:
    loop, search = _loop(tmp_path, ("linear", "random_forest"),
                         [_took("random_forest", 3600.0), _took("linear", 0.01)])
    outcome = loop.run(deadline=time.monotonic() + 60, n_trials=6)
    assert len(outcome.trials) == 6
    assert {t.config.family for t in outcome.trials} == {"linear"}
    assert all(t.ok for t in outcome.trials)
    assert outcome.skipped["random_forest"] >= 1
    note = outcome.skipped_note()
    assert note is not None and "random_forest" in note
    assert outcome.stop_reason == "trial budget reached (6 trials)"
    # optuna was told the skipped ones failed, so the study holds no running trial
    states = {t.state.name for t in search.study.get_trials(deepcopy=False)}
    assert states == {"COMPLETE", "FAIL"}


def test_when_nothing_can_finish_the_round_ends_before_the_deadline(tmp_path: Path) -> None:
    loop, _ = _loop(tmp_path, ("random_forest",), [_took("random_forest", 3600.0)])
    start = time.monotonic()
    outcome = loop.run(deadline=start + 60, n_trials=6)
    assert time.monotonic() - start < 30
    assert outcome.trials == []
    assert outcome.stop_reason.startswith("time budget (30 s): no trial could finish")


@pytest.mark.parametrize("deadline", [None, "far"])
def test_a_family_that_fits_runs(tmp_path: Path, deadline: str | None) -> None:
    loop, _ = _loop(tmp_path, ("random_forest",), [_took("random_forest", 5.0)])
    until = None if deadline is None else time.monotonic() + 3600
    outcome = loop.run(deadline=until, n_trials=2)
    assert [t.config.family for t in outcome.trials] == ["random_forest"] * 2
    assert not outcome.skipped and outcome.skipped_note() is None
