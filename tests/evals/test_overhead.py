"""The overhead benchmark: mlpilot's trial path against a plain optuna objective, one command."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest

from evals import overhead, overheads, planner_latency
from schemas import ConfigError, TrialConfig, is_code_family
from tools.catalog import catalog, default_config
from tools.code_model import load_code_module
from tools.pipeline import build_pipeline

# workers without torch start faster; the trials (linear, knn, svm) do not need it
LIGHT_PRELOAD = ("numpy", "pandas", "sklearn")


def _assert_comparison(result: dict[str, Any], n_trials: int) -> None:
    for key in ("mlpilot", "optuna_in_process"):
        summary = result[key]
        assert summary["n_trials"] == n_trials
        for field in ("median_wall_ms", "median_fit_ms", "median_overhead_ms", "pace_ms"):
            assert summary[field] > 0, (key, field, summary)
        assert summary["p90_overhead_ms"] >= summary["median_overhead_ms"]
    assert result["overhead_ratio"] is not None and math.isfinite(result["overhead_ratio"])
    assert result["overhead_difference_ms"] == pytest.approx(
        result["mlpilot"]["median_overhead_ms"] - result["optuna_in_process"]["median_overhead_ms"])
    assert result["wall_difference_ms"] == pytest.approx(
        result["mlpilot"]["median_wall_ms"] - result["optuna_in_process"]["median_wall_ms"])
    # the same configurations on the same folds: the same scores
    assert result["max_score_difference"] < 1e-9


def test_fixed_configs_are_distinct_and_start_from_the_defaults() -> None:
    spaces = [s for s in catalog("binary") if s.name in ("linear", "knn", "svm")]
    configs = overhead.fixed_configs(spaces, 10)
    assert configs[:3] == [default_config(s) for s in spaces]
    assert [c.family for c in configs] == [spaces[i % 3].name for i in range(10)]
    assert len({c.key() for c in configs}) == 10
    assert configs[3].params["C"] == pytest.approx(1.0 + overhead.NUDGE)  # linear, round 1
    assert configs[4].params["n_neighbors"] == 16  # knn, round 1
    with pytest.raises(ConfigError, match="'n' parameter"):
        overhead.fixed_configs(spaces, 0)


def test_mlpilot_and_optuna_run_the_same_configurations(tmp_path: Path) -> None:
    result = overhead.compare_with_optuna(4, isolation="process", preload=LIGHT_PRELOAD,
                                          families=("linear", "knn"))
    _assert_comparison(result, 4)
    assert result["isolation"] == "process"
    assert result["families"] == ["linear", "knn"] and result["n_warmup"] == 2
    text = overhead.optuna_table(result)
    assert "mlpilot (SearchLoop + sandbox) | 4 |" in text
    assert "optuna objective, in-process | 4 |" in text


def test_the_code_module_builds_the_catalogs_logistic_regression() -> None:
    linear = next(s for s in catalog("binary") if s.name == "linear")
    config = TrialConfig(family="linear", params={**default_config(linear).params, "C": 0.5})
    pipeline = build_pipeline(config, task_type="binary", numeric_columns=["x"],
                              categorical_columns=[], seed=3)
    ours = pipeline.named_steps["model"].estimator.estimator  # Floored(ThreadLimited(...))
    # our own module's text, run here on purpose to compare the estimators it builds
    module = load_code_module(overhead.linear_module(3))
    theirs = module.build_model({"C": 0.5})
    assert type(theirs) is type(ours)
    assert theirs.get_params() == ours.get_params()


def test_a_code_trial_against_a_catalog_trial() -> None:
    result = overhead.compare_code_with_catalog(2, isolation="process", preload=LIGHT_PRELOAD)
    assert result["isolation"] == "process" and result["n_rounds"] == 2
    assert result["n_warmup"] == 1 and result["family"] == "linear"
    for key in ("catalog", "code"):
        summary = result[key]
        assert summary["n_trials"] == 2
        for field in ("median_wall_ms", "median_fit_ms", "median_executor_overhead_ms"):
            assert summary[field] > 0, (key, field, summary)
        assert summary["p90_overhead_ms"] >= summary["median_overhead_ms"]
    assert result["code"]["median_check_ms"] > 0
    assert result["wall_ratio"] == pytest.approx(
        result["code"]["median_wall_ms"] / result["catalog"]["median_wall_ms"])
    assert result["wall_difference_ms"] == pytest.approx(
        result["code"]["median_wall_ms"] - result["catalog"]["median_wall_ms"])
    # the measured rounds take turns at going first, after the warm-up round
    assert [r["round"] for r in result["rounds"]] == [1, 2]
    assert [r["first"] for r in result["rounds"]] == ["code", "catalog"]
    for r in result["rounds"]:  # the code trials ran the module: scored from its predictions
        assert is_code_family(r["code"]["family"]) and r["code"]["family"].startswith("code_")
        assert r["code"]["family"] == result["code_family"]
        assert r["catalog"]["family"] == "linear"
        assert r["code"]["predictions"] and r["catalog"]["predictions"]
    assert result["rounds"][0]["C"] != result["rounds"][1]["C"]
    # the same model on the same folds with the same preprocessing: the same scores
    assert result["preprocessing_differences"] == {}
    assert result["max_score_difference"] < 1e-9
    json.dumps(result)  # what overheads.json holds
    text = overhead.code_table(result)
    assert "| catalog trial (build_pipeline) | 2 |" in text
    assert "| code trial (check_code + run_code_trial) | 2 |" in text
    assert "Largest CV-score difference between the two on the same C: 0." in text


def test_the_code_comparison_refuses_no_rounds() -> None:
    with pytest.raises(ConfigError, match="'n_rounds' parameter"):
        overhead.compare_code_with_catalog(0, isolation="process")


def test_compare_refuses_an_unknown_family() -> None:
    with pytest.raises(ConfigError, match="'families' parameter"):
        overhead.compare_with_optuna(1, isolation="process", families=("nope",))


@pytest.mark.slow
def test_comparison_with_the_default_isolation() -> None:
    result = overhead.compare_with_optuna(6)
    _assert_comparison(result, 6)
    assert result["isolation"] in ("bwrap", "process")


def test_overheads_command_writes_both_reports(tmp_path: Path) -> None:
    out = tmp_path / "report"
    code = overheads.main(["--out", str(out), "--trials", "1", "--isolation", "process",
                           "--preload", ",".join(LIGHT_PRELOAD), "--families", "linear",
                           "--records", "60", "--code-rounds", "1",
                           "--queries", "3", "--no-llm"])
    assert code == 0
    report = json.loads((out / overheads.JSON_FILE).read_text())
    assert report["against_optuna"]["mlpilot"]["n_trials"] == 1
    assert report["against_optuna"]["mlpilot"]["pace_ms"] is None  # one trial per round
    assert report["executors"]["sandbox"]["n_trials"] == 1
    assert [m["records"] for m in report["memory"]] == [60]
    assert report["planner"] == {"skipped": "--no-llm was given"}
    assert report["code_vs_catalog"]["code"]["n_trials"] == 1
    assert report["machine"]["cores"] >= 1
    text = (out / overheads.MD_FILE).read_text()
    assert "--no-llm" in report["command"] and report["command"] in text
    assert "## 1. Per-trial overhead" in text and "## 3. Memory retrieval latency" in text
    assert "| 60 | chroma (embedded) |" in text
    assert "Skipped: --no-llm was given." in text
    assert "## 5. A code trial against a catalog trial" in text
    assert "| code trial (check_code + run_code_trial) | 1 |" in text


def test_an_unusable_model_is_skipped_with_the_reason(tmp_path: Path) -> None:
    args = argparse.Namespace(no_llm=False, llm="no such model!", home=tmp_path, threads=1,
                              llm_datasets="iris", llm_calls=1, llm_batch=1)
    result = overheads.planner(args)
    assert result["skipped"].startswith("the model 'no such model!' cannot be loaded")


def test_the_overheads_command_refuses_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        overheads.main(["--out", str(tmp_path), "--records", "10,x", "--no-llm"])
    assert exc.value.code == 2
    assert not (tmp_path / overheads.JSON_FILE).exists()


def test_planner_latency_refuses_no_model() -> None:
    with pytest.raises(SystemExit) as exc:
        planner_latency.main(["--llm", "none"])
    assert exc.value.code == 2


def test_planner_table_states_failures_and_the_median() -> None:
    calls = [{"dataset": "iris", "call": i + 1, "seconds": s, "prompt_tokens": 900,
              "completion_tokens": 120, "valid_proposals": n, "ok": n > 0,
              "error": None if n else "invalid output twice"}
             for i, (s, n) in enumerate([(6.0, 4), (2.0, 0), (3.0, 3)])]
    text = planner_latency.table({"llm": "local", "model": "local/qwen", "n_threads": 2,
                                  "load_s": 0.4, "batch": 4, "calls": calls, "median_s": 3.0})
    assert "| iris | 2 | 2.0 | 900 | 120 | 0 (failed: invalid output twice) |" in text
    assert text.endswith("median 3.0 s per request of 4 configurations over 3 calls")
