"""The graph with a scripted LLM: proposals run, garbage ends on BO, the record says why."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agents import HybridRule, SearchSettings, SilentObserver, execute_run, resume_run
from sandbox import DataBundle, InProcessExecutor
from schemas import Budget, TaskSpec, TrialResult
from tools.datasets import load_bundled
from tools.llm_scripted import HANG, ScriptedLLM, scripted_client

RULE = HybridRule(llm_batch=2, bo_trials_per_cycle=2, max_invalid=2, patience=3)


@contextmanager
def in_process(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
    yield InProcessExecutor(bundle)


def _task(n_trials: int) -> TaskSpec:
    return TaskSpec(data_path=Path("bundled:iris"), target="species", metric="accuracy",
                    budget=Budget(n_trials=n_trials), n_folds=3)


def _proposals(*items: tuple[str, dict[str, object]]) -> str:
    return json.dumps({"proposals": [{"family": f, "params": p, "rationale": "because"}
                                     for f, p in items]})


GOOD = _proposals(("linear", {"C": 3.0, "num_impute": "median", "cat_encode": "onehot",
                              "scale": "standard", "class_weight": None}),
                  ("knn", {"n_neighbors": 7, "weights": "uniform", "num_impute": "median",
                           "cat_encode": "onehot", "scale": "standard"}))


def test_llm_proposals_are_run_and_accounted(tmp_path: Path) -> None:
    llm = scripted_client([GOOD, _proposals(("random_forest", {"n_estimators": 60}))] * 3)
    result = execute_run(_task(8), load_bundled("iris"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test", llm=llm, rule=RULE)
    record = result.record
    assert record.status == "completed" and record.n_trials == 8
    assert record.trials_by_source["llm"] >= 3
    assert record.llm.n_calls >= 2 and record.llm.prompt_tokens > 0
    assert record.llm.time_s >= 0
    assert len(record.verdicts) == 8
    ledger = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text()
              .splitlines()]
    first_llm = next(t for t in ledger if t["source"] == "llm")
    # the opening BO round (2 trials) ran while the planner wrote its first batch
    assert [t["source"] for t in ledger[:2]] == ["default", "default"]
    assert first_llm["trial_id"] == 2
    assert first_llm["config"]["params"]["C"] == 3.0
    assert "The planner and the verifier" in (tmp_path / "run" / "report.md").read_text()


def _ledger_length(run_dir: Path) -> int:
    path = run_dir / "trials.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_the_planner_thinks_while_a_bo_round_trains(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    seen_by_planner: list[int] = []

    def slow_planner(messages: list[dict[str, object]]) -> str:
        # Answers only once the opening round's 2 trials are in the ledger: a planner
        # that held up the trials would wait here for ever (and the test time out).
        deadline = time.monotonic() + 60
        while _ledger_length(run_dir) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        seen_by_planner.append(_ledger_length(run_dir))
        return GOOD

    llm = scripted_client([slow_planner, GOOD, GOOD, GOOD])
    result = execute_run(_task(6), load_bundled("iris"), run_dir=run_dir,
                         make_executor=in_process, version="test", llm=llm, rule=RULE)
    assert seen_by_planner == [2]
    ledger = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert [t["source"] for t in ledger[:4]] == ["default", "default", "llm", "llm"]
    assert result.record.trials_by_source["llm"] >= 2


def test_an_llm_that_never_answers_cannot_outlast_the_time_budget(tmp_path: Path) -> None:
    # The client would wait 120 s for each answer; the run's budget is 3 s, and every
    # request (the planner's, overlapping the opening round, and any later) ends with it.
    llm = scripted_client([HANG] * 8, timeout_s=120, max_retries=0)
    task = TaskSpec(data_path=Path("bundled:iris"), target="species", metric="accuracy",
                    budget=Budget(n_trials=100, time_budget_s=3), n_folds=3)
    started = time.monotonic()
    result = execute_run(task, load_bundled("iris"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test", llm=llm, rule=RULE)
    record = result.record
    assert record.status == "completed" and record.n_trials >= 2
    assert record.search_time_s < 3 + 2.0
    assert time.monotonic() - started < 30
    assert record.llm.n_calls >= 1 and record.llm.n_failed == record.llm.n_calls


def test_without_plan_ahead_the_llm_opens_the_run(tmp_path: Path) -> None:
    llm = scripted_client([GOOD] * 4)
    execute_run(_task(4), load_bundled("iris"), run_dir=tmp_path / "run",
                make_executor=in_process, version="test", llm=llm, rule=RULE,
                settings=SearchSettings(plan_ahead=False))
    ledger = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text()
              .splitlines()]
    assert [t["source"] for t in ledger] == ["llm", "llm", "default", "default"]


def test_a_proposal_the_bo_round_already_ran_is_not_run_twice(tmp_path: Path) -> None:
    # The planner, asked before the opening round, proposes the linear default
    # that this round then runs: the LLM round keeps only the new configuration.
    linear_default = {"C": 1.0, "num_impute": "median", "cat_encode": "onehot",
                      "scale": "standard", "class_weight": None}
    knn = {"n_neighbors": 7, "weights": "uniform", "num_impute": "median",
           "cat_encode": "onehot", "scale": "standard"}
    llm = scripted_client([_proposals(("linear", linear_default), ("knn", knn))] + [GOOD] * 4)
    result = execute_run(_task(5), load_bundled("iris"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test", llm=llm, rule=RULE)
    ledger = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text()
              .splitlines()]
    keys = [json.dumps(t["config"], sort_keys=True) for t in ledger]
    assert len(keys) == len(set(keys)) == 5
    assert ledger[0]["config"]["family"] == "linear" and ledger[0]["source"] == "default"
    assert next(t["config"]["family"] for t in ledger if t["source"] == "llm") == "knn"
    assert result.record.n_trials == 5


class _CrashOnTrial(SilentObserver):
    """Raises once, when trial ``at`` is in the ledger: a crash in the middle of a round."""

    def __init__(self, at: int) -> None:
        self.at, self.crashed = at, False

    def on_trial(self, result: TrialResult, best: TrialResult | None) -> None:
        if result.trial_id == self.at and not self.crashed:
            self.crashed = True
            raise RuntimeError("simulated crash")


def test_a_run_killed_while_the_planner_thinks_resumes_with_the_same_question(
        tmp_path: Path) -> None:
    fake = ScriptedLLM([GOOD, _proposals(("random_forest", {"n_estimators": 60})),
                        _proposals(("extra_trees", {"n_estimators": 70}))])
    llm = scripted_client(fake, cache_dir=tmp_path / "cache")
    run_dir, table = tmp_path / "run", load_bundled("iris")
    with pytest.raises(RuntimeError, match="simulated crash"):
        execute_run(_task(6), table, run_dir=run_dir, make_executor=in_process,
                    version="test", llm=llm, rule=RULE, observer=_CrashOnTrial(at=1))
    assert len(fake.requests) == 1  # asked during the opening round, answered, then the crash
    record = resume_run(run_dir, table, make_executor=in_process, version="test", llm=llm,
                        rule=RULE).record
    ledger = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert record.status == "completed" and [t["trial_id"] for t in ledger] == list(range(6))
    # the LLM round asked again with the trials of before the opening round: the same
    # messages, so the cache answered and the provider saw that question once
    assert fake.requests.count(fake.requests[0]) == 1
    assert [t["config"]["family"] for t in ledger if t["source"] == "llm"][:2] == [
        "linear", "knn"]


@pytest.mark.parametrize("reply", [
    "this is not json at all",
    '{"proposals": [{"family": "gradient_magic", "params": {}, "rationale": "x"}]}',
    '{"proposals": "nope"}',
])
def test_garbage_from_the_llm_ends_on_bo_and_says_why(tmp_path: Path, reply: str) -> None:
    llm = scripted_client([reply] * 20)
    result = execute_run(_task(8), load_bundled("iris"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test", llm=llm, rule=RULE)
    record = result.record
    assert record.status == "completed" and record.n_trials == 8
    assert "llm" not in record.trials_by_source
    assert record.llm_handover is not None and "no valid proposal" in record.llm_handover
    assert "(the last: " in record.llm_handover  # the user learns what went wrong


def test_out_of_range_values_are_clamped_not_trusted(tmp_path: Path) -> None:
    wild = _proposals(("linear", {"C": 1e9, "scale": "quantum"}),
                      ("knn", {"n_neighbors": -4}))
    llm = scripted_client([wild] + [GOOD] * 5)
    result = execute_run(_task(4), load_bundled("iris"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test", llm=llm, rule=RULE)
    ledger = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text()
              .splitlines()]
    llm_trials = [t for t in ledger if t["source"] == "llm"]
    assert result.record.n_trials == 4
    linear = next(t for t in llm_trials if t["config"]["family"] == "linear")
    assert linear["config"]["params"]["C"] == 1000.0  # clamped to the catalog's range
    assert linear["config"]["params"]["scale"] == "standard"  # unknown value -> default
    knn = next(t for t in llm_trials if t["config"]["family"] == "knn")
    assert knn["config"]["params"]["n_neighbors"] == 2


def test_without_llm_the_record_says_bo_ran_alone(tmp_path: Path) -> None:
    result = execute_run(_task(3), load_bundled("iris"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test")
    assert result.record.llm_handover == "no LLM configured"
    assert result.record.llm.n_calls == 0
    assert set(result.record.trials_by_source) <= {"default", "bo"}
