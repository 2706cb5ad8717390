"""Code rounds: the LLM writes a model as code, the critic repairs a broken one, the run goes on.

The LLM is the scripted fake (same client, validation and accounting as a real
model); the modules run through the in-process executor, which shares the
sandbox's harness.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agents import HybridRule, PolicyState, SearchSettings, SilentObserver, execute_run, resume_run
from agents._policy import RoundKind, after_round, code_asked, wants_code
from agents.coder import CodeAnswer, RawCodeParam, assemble_module
from sandbox import DataBundle, InProcessExecutor
from schemas import Budget, TaskSpec, TrialConfig, TrialResult
from tools.code import check_code
from tools.code_model import code_module_name
from tools.datasets import load_bundled
from tools.llm_scripted import scripted_client
from tools.model import load_model

RULE = HybridRule(llm_batch=2, bo_trials_per_cycle=2, max_invalid=2, patience=5,
                  max_code_proposals=1)


@contextmanager
def in_process(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
    yield InProcessExecutor(bundle)


def _code(name: str, body: str, imports: list[str],
          params: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"name": name, "rationale": "a test module", "imports": imports,
                       "params": params or [], "body": body})


RIDGE = _code("ridge", 'return Ridge(alpha=params["alpha"])',
              ["from sklearn.linear_model import Ridge"],
              [{"name": "alpha", "type": "float", "low": 0.01, "high": 100.0, "log": True,
                "default": 0.1}])
# reads a parameter it never declares: refused by the static check, never run
UNDECLARED = _code("ridge", 'return Ridge(alpha=params["alpha"])',
                   ["from sklearn.linear_model import Ridge"])
# passes the static check and fails inside the trial (an unknown keyword argument)
CRASHES = _code("ridge_bad", "return Ridge(alphas=2.0)", ["from sklearn.linear_model import Ridge"])
CATALOG = json.dumps({"proposals": [{"family": "knn", "params": {"n_neighbors": 3},
                                     "rationale": "few rows"}]})


def _router(write: list[str], repair: list[str]) -> Any:
    """A scripted reply that answers by the kind of request (write, repair, plan, critic)."""
    def reply(messages: list[dict[str, Any]]) -> str:
        text = str(messages[-1]["content"])
        if "write a new model as Python code" in text:
            return write.pop(0) if write else RIDGE
        if "repair a model written as Python code" in text:
            return repair.pop(0) if repair else RIDGE
        if "review one trial" in text:
            return json.dumps({"diagnosis": "too small", "action": "drop", "repair": None})
        return CATALOG
    return reply


def _task(n_trials: int, families: tuple[str, ...] | None = ("knn",)) -> TaskSpec:
    return TaskSpec(data_path=Path("bundled:diabetes"), target="progression", metric="rmse",
                    budget=Budget(n_trials=n_trials), n_folds=3, families=families,
                    ensemble=False)


def _ledger(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def test_a_broken_module_is_repaired_and_the_winning_code_model_stays_sandboxed(
        tmp_path: Path) -> None:
    write, repair = [UNDECLARED], [CRASHES, RIDGE]
    llm = scripted_client([_router(write, repair)] * 40)
    run_dir = tmp_path / "run"
    result = execute_run(_task(9), load_bundled("diabetes"), run_dir=run_dir,
                         make_executor=in_process, version="test", llm=llm, rule=RULE,
                         settings=SearchSettings(code="on"))
    record = result.record
    assert record.status == "completed" and record.n_trials == 9
    code = [t for t in _ledger(run_dir) if t["config"]["family"].startswith("code_")]
    assert [(t["source"], t["status"], t["failure"]) for t in code] == [
        ("llm", "failed", "rejected"), ("repair", "failed", "exception"),
        ("repair", "ok", None)]
    assert "does not declare 'alpha'" in code[0]["error"]
    assert "alphas" in code[1]["error"]
    entries = record.code_proposals
    assert [(e.origin, e.attempt) for e in entries] == [("llm", 0), ("repair", 1), ("repair", 2)]
    assert entries[1].parent == entries[0].family and entries[2].parent == entries[1].family
    assert entries[0].rejected is not None and entries[2].rejected is None
    for entry in entries:  # every module is kept, and the report links it
        assert (run_dir / entry.path).read_text().startswith('"""')
    report = (run_dir / "report.md").read_text()
    assert "## Models written as code" in report and f"]({entries[2].path})" in report
    repaired = [v for v in record.verdicts if v.code_repair is not None]
    assert [v.code_repair.attempt for v in repaired if v.code_repair] == [1, 2]
    # the repaired ridge beats a knn-only catalog on diabetes, so the final model holds code
    assert record.best is not None and record.best.config.family == entries[2].family
    model = load_model(run_dir)
    assert model.contains_code and model.pipelines == ()
    assert "refitted inside the sandbox" in report
    assert record.holdout_score is not None and record.dummy_holdout_score is not None
    assert record.holdout_score < record.dummy_holdout_score


def test_a_module_that_still_fails_after_two_repairs_is_rejected(tmp_path: Path) -> None:
    write, repair = [CRASHES], [UNDECLARED, CRASHES.replace("2.0", "3.0")]
    llm = scripted_client([_router(write, repair)] * 40)
    run_dir = tmp_path / "run"
    result = execute_run(_task(8), load_bundled("diabetes"), run_dir=run_dir,
                         make_executor=in_process, version="test", llm=llm,
                         rule=HybridRule(llm_batch=2, bo_trials_per_cycle=2, patience=5,
                                         max_code_proposals=1),
                         settings=SearchSettings(code="on"))
    record = result.record
    assert record.status == "completed" and record.n_trials == 8
    assert [e.attempt for e in record.code_proposals] == [0, 1, 2]
    last = next(v for v in record.verdicts if v.trial_id == _code_ids(run_dir)[-1])
    assert last.code_repair is None and "after 2 repairs" in (last.critic or "")
    assert not load_model(run_dir).contains_code  # the catalog's best won
    assert record.best is not None and not record.best.config.family.startswith("code_")


def test_code_off_never_asks_for_code(tmp_path: Path) -> None:
    llm = scripted_client([_router([], [])] * 40)
    result = execute_run(_task(6), load_bundled("diabetes"), run_dir=tmp_path / "run",
                         make_executor=in_process, version="test", llm=llm, rule=RULE,
                         settings=SearchSettings(code="off"))
    assert result.record.code_proposals == ()
    assert not (tmp_path / "run" / "code").exists()


def _code_ids(run_dir: Path) -> list[int]:
    return [t["trial_id"] for t in _ledger(run_dir) if t["config"]["family"].startswith("code_")]


# -- the rule ----------------------------------------------------------------------------------


def _trial(score: float | None, trial_id: int = 0) -> TrialResult:
    return TrialResult(trial_id=trial_id, config=TrialConfig(family="knn", params={}),
                       source="bo", status="ok" if score is not None else "failed",
                       cv_score=score, failure=None if score is not None else "exception")


def test_auto_asks_for_code_only_after_the_best_score_stalls() -> None:
    rule = HybridRule(code_stall_rounds=2, max_code_proposals=1)
    policy = PolicyState(llm_active=True, next_round="llm")
    assert not wants_code(policy, rule, "auto")
    best = 0.5
    kinds: tuple[RoundKind, ...] = ("llm", "bo")
    for kind in kinds:  # two rounds without a better score
        policy = after_round(policy, rule, kind=kind, n_valid_proposals=1,
                             new_trials=[_trial(0.4)], best_before=best, direction="maximize")
    assert policy.next_round == "llm" and policy.n_rounds_without_gain == 2
    assert wants_code(policy, rule, "auto") and not wants_code(policy, rule, "off")
    asked = code_asked(policy)
    assert not wants_code(asked, rule, "auto")  # at most max_code_proposals modules
    improved = after_round(policy, rule, kind="bo", n_valid_proposals=0,
                           new_trials=[_trial(0.9)], best_before=best, direction="maximize")
    assert improved.n_rounds_without_gain == 0


def test_on_asks_for_code_from_the_second_llm_round() -> None:
    rule = HybridRule()
    first = PolicyState(llm_active=True, next_round="llm")
    assert not wants_code(first, rule, "on")
    later = first.model_copy(update={"n_llm_rounds": 1})
    assert wants_code(later, rule, "on")
    handed_over = later.model_copy(update={"llm_active": False})
    assert not wants_code(handed_over, rule, "on")


# -- the module text ---------------------------------------------------------------------------


def test_rules_repair_the_declared_parameters_and_stray_brackets() -> None:
    answer = CodeAnswer(
        name="svc", rationale="margins", imports=["from sklearn.svm import SVC"],
        params=[RawCodeParam(name="C", type="float", low=100.0, high=0.01, log=True,
                             default=500.0),
                RawCodeParam(name="kernel", type="categorical", choices=["rbf", "linear"],
                             default="poly"),
                RawCodeParam(name="degree", type="int", low=None, high=3, default=1)],
        body='return SVC(C=params["C"], kernel=params["kernel"], probability=True)}')
    source = assemble_module(answer)
    proposal = check_code(source, name="svc", task_type="binary")
    assert set(proposal.space.params) == {"C", "kernel"}  # no usable range: dropped
    assert proposal.space.default == {"C": 100.0, "kernel": "rbf"}  # clamped; a real choice
    assert source.rstrip().endswith("probability=True)")


@pytest.mark.parametrize("body", [
    "from sklearn.svm import SVC\nreturn SVC()",
    "def build_model(params):\n    from sklearn.svm import SVC\n    return SVC()",
    "from sklearn.svm import SVC\nreturn make_pipeline(SVC(C=1.0, kernel='rbf('",  # cut short
    "from sklearn.svm import SVC\nreturn SVC(probability=True)}",  # the JSON's brace
])
def test_a_body_a_whole_function_or_unbalanced_brackets_make_a_module(body: str) -> None:
    source = assemble_module(CodeAnswer(name="svc", body=body))
    assert check_code(source, name="svc", task_type="binary").space.params == {}


class _CrashOnCode(SilentObserver):
    """Raises once, right after the first code trial is in the ledger: a crash mid-round."""

    def __init__(self) -> None:
        self.crashed = False

    def on_trial(self, result: TrialResult, best: TrialResult | None) -> None:
        if result.config.family.startswith("code_") and not self.crashed:
            self.crashed = True
            raise RuntimeError("simulated crash")


def test_a_run_killed_in_a_code_round_resumes_without_repeating_a_trial(tmp_path: Path) -> None:
    write, repair = [UNDECLARED], [RIDGE]
    llm = scripted_client([_router(write, repair)] * 40)
    run_dir = tmp_path / "run"
    table = load_bundled("diabetes")
    with pytest.raises(RuntimeError, match="simulated crash"):
        execute_run(_task(8), table, run_dir=run_dir, make_executor=in_process,
                    version="test", llm=llm, rule=RULE, observer=_CrashOnCode(),
                    settings=SearchSettings(code="on"))
    assert not (run_dir / "run.json").exists()
    record = resume_run(run_dir, table, make_executor=in_process, version="test", llm=llm,
                        rule=RULE).record
    ids = [t["trial_id"] for t in _ledger(run_dir)]
    assert record.status == "completed" and ids == list(range(8))  # none lost, none repeated
    assert [(e.origin, e.attempt) for e in record.code_proposals] == [("llm", 0), ("repair", 1)]
    assert len({e.family for e in record.code_proposals}) == 2


def test_a_repair_that_changes_nothing_is_rejected_without_a_trial(tmp_path: Path) -> None:
    write, repair = [CRASHES], [CRASHES.replace("a test module", "now with a new rationale")]
    llm = scripted_client([_router(write, repair)] * 40)
    run_dir = tmp_path / "run"
    record = execute_run(_task(6), load_bundled("diabetes"), run_dir=run_dir,
                         make_executor=in_process, version="test", llm=llm, rule=RULE,
                         settings=SearchSettings(code="on")).record
    assert record.status == "completed" and record.n_trials == 6
    assert [e.attempt for e in record.code_proposals] == [0]  # the echo never ran
    verdict = next(v for v in record.verdicts if v.trial_id == _code_ids(run_dir)[0])
    assert verdict.code_repair is None and "changed nothing" in (verdict.critic or "")


@pytest.mark.slow
def test_a_winning_code_model_is_refitted_and_applied_in_the_real_sandbox(
        tmp_path: Path) -> None:
    from cli.main import executor_factory
    from cli.main import main as cli_main

    llm = scripted_client([_router([RIDGE], [])] * 40)
    run_dir = tmp_path / "run"
    table = load_bundled("diabetes")
    record = execute_run(_task(6), table, run_dir=run_dir,
                         make_executor=executor_factory(1, "auto"), version="test", llm=llm,
                         rule=RULE, settings=SearchSettings(code="on")).record
    assert record.status == "completed"
    assert record.best is not None and record.best.config.family.startswith("code_")
    assert load_model(run_dir).contains_code and (run_dir / "final" / "fitted.joblib").is_file()
    rows = tmp_path / "rows.csv"
    table.drop(columns=["progression"]).head(12).to_csv(rows, index=False)
    out = tmp_path / "pred.csv"
    assert cli_main(["predict", str(run_dir), str(rows), "--out", str(out)]) == 0
    values = [float(line) for line in out.read_text().splitlines()[1:]]
    assert len(values) == 12 and all(25 < v < 350 for v in values)  # the target's range
    winner = next(e for e in record.code_proposals if e.family == record.best.config.family)
    module = code_module_name((run_dir / winner.path).read_text())
    assert module not in sys.modules  # neither the refit nor predict ran the code here
