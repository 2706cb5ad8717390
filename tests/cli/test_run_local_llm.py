"""A real run with the embedded local model: its proposals are executed and accounted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

pytestmark = pytest.mark.slow


def test_local_model_plans_trials_that_run(tmp_path: Path, local_weights: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPILOT_LLM_MODEL_PATH", str(local_weights))
    out = tmp_path / "run"
    code = main(["run", "bundled:iris", "--target", "species", "--trials", "6", "--llm", "local",
                 "--out", str(out)])
    assert code == 0
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed" and record["n_trials"] == 6
    assert record["trials_by_source"].get("llm", 0) > 0, record["trials_by_source"]
    llm = record["llm"]
    assert llm["model"].startswith("local/qwen2.5-coder-0.5b-instruct")
    assert llm["n_calls"] >= 1 and llm["prompt_tokens"] > 0 and llm["completion_tokens"] > 0
    assert llm["time_s"] > 0 and "plan" in llm["median_latency_s"]
    assert record["search_time_s"] >= llm["time_s"]  # the LLM's time is part of the search
