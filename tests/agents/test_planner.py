"""The planner's view of the catalog: only what can matter on this data, defaults fill the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agents._context import Prepared, RunContext
from agents.planner import LLMPlanner, PlanRequest
from schemas import TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.llm_scripted import ScriptedLLM, scripted_client


def _prepared(name: str, tmp_path: Path) -> Prepared:
    task = TaskSpec(data_path=Path(f"bundled:{name}"), target=BUNDLED[name].target)
    ctx = RunContext(task=task, table=load_bundled(name), run_id="t", created_at=datetime.now(UTC),
                     run_dir=tmp_path, make_executor=None,  # type: ignore[arg-type]
                     version="test")
    return ctx.prepared


def _plan(p: Prepared, params: dict[str, object]) -> tuple[list[str], dict[str, object]]:
    reply = json.dumps({"proposals": [{"family": "random_forest", "params": params,
                                       "rationale": "few rows"}]})
    llm = ScriptedLLM([reply])
    planner = LLMPlanner(scripted_client(llm))
    result = planner.propose(PlanRequest(task=p.task, profile=p.profile, spaces=p.spaces,
                                         trials=(), n=2))
    assert len(result.proposals) == 1
    prompt = [m["content"] for m in llm.requests[0]]
    return prompt, dict(result.proposals[0].config.params)


def test_parameters_that_cannot_matter_are_hidden_and_filled_with_defaults(
        tmp_path: Path) -> None:
    p = _prepared("iris", tmp_path)  # no missing values, no categorical column
    prompt, params = _plan(p, {"n_estimators": 120, "max_depth": 8})
    assert not any("num_impute" in text or "cat_encode" in text for text in prompt)
    forest = next(s for s in p.spaces if s.name == "random_forest")
    assert params["n_estimators"] == 120 and params["max_depth"] == 8
    assert params["num_impute"] == forest.default["num_impute"]
    assert params["cat_encode"] == forest.default["cat_encode"]


def test_preprocessing_choices_are_shown_when_the_data_needs_them(tmp_path: Path) -> None:
    p = _prepared("penguins", tmp_path)  # missing values and categorical columns
    prompt, params = _plan(p, {"n_estimators": 120, "num_impute": "mean",
                               "cat_encode": "onehot"})
    assert any("num_impute" in text and "cat_encode" in text for text in prompt)
    assert params["num_impute"] == "mean" and params["cat_encode"] == "onehot"
