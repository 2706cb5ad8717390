"""The graph with a scripted LLM: proposals run, garbage ends on BO, the record says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agents import HybridRule, execute_run
from sandbox import DataBundle, InProcessExecutor
from schemas import Budget, TaskSpec
from tools.datasets import load_bundled
from tools.llm_scripted import scripted_client

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
    assert first_llm["trial_id"] == 0  # the LLM's first batch warm-starts the study
    assert first_llm["config"]["params"]["C"] == 3.0
    assert "The planner and the verifier" in (tmp_path / "run" / "report.md").read_text()


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
