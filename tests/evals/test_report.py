"""The bench report: its files, its words for edge cases, and results.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from evals._ledger import CellResult, CurvePoint
from evals.report import write_report
from evals.stats import analyze

COMMAND = "mlpilot bench tiny --methods good,bo,random --seeds 2 --trials 4 --out bench"


def _cell(task: str, method: str, seed: int, skill: float, rng: np.random.Generator, *,
          failed: bool = False, curve: bool = True) -> CellResult:
    points, best, elapsed = [], None, 0.0
    for trial in range(1, 5 if curve else 1):
        elapsed += float(rng.uniform(0.5, 2.0))
        value = 0.5 + skill * (1 - 0.5 / trial) + float(rng.normal(0, 0.01))
        best = value if best is None else max(best, value)
        points.append(CurvePoint(trial=trial, elapsed_s=elapsed, best_cv=best))
    return CellResult(
        task=task, method=method, seed=seed, status="failed" if failed else "done",
        error="boom" if failed else None, task_type="binary", metric="roc_auc",
        direction="maximize", n_trials=len(points),
        holdout=None if failed else 0.5 + skill + float(rng.normal(0, 0.01)),
        dummy_holdout=0.5, best_cv=best, dummy_cv=0.5, wall_s=elapsed + 1.0,
        llm_calls=3 if method == "good" else 0, llm_tokens=900 if method == "good" else 0,
        llm_cost_usd=0.002 if method == "good" else 0.0, curve=tuple(points))


def _bench(methods: dict[str, float], n_tasks: int, seeds: int = 2,
           curve: bool = True) -> list[CellResult]:
    rng = np.random.default_rng(0)
    return [_cell(f"task{t}", m, s, skill, rng, curve=curve,
                  failed=(m == "random" and t == 0 and s == 0))
            for t in range(n_tasks) for s in range(seeds) for m, skill in methods.items()]


def _write(cells: list[CellResult], out: Path, methods: list[str], seeds: int = 2) -> Path:
    return write_report(cells, out, suite="tiny", command=COMMAND, n_trials=4,
                        time_budget_s=60.0, n_workers=1, seeds=list(range(seeds)),
                        methods=methods, notes=["Synthetic cells for a test."])


def _png(path: Path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 300


def test_a_full_report_has_every_part(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    cells = _bench({"good": 0.4, "bo": 0.3, "random": 0.2}, n_tasks=6)
    report = _write(cells, tmp_path, ["good", "bo", "random"])
    text = report.read_text()
    assert capsys.readouterr() == ("", "")  # autorank's prints stay inside
    assert report == tmp_path / "report.md"
    assert text.startswith("# Benchmark: tiny")
    assert f"```sh\n{COMMAND}\n```" in text
    assert "are significantly different (Friedman p = " in text
    assert "good better than random" in text
    assert "Synthetic cells for a test." in text
    assert "(1/2 seeds)" in text  # random failed one seed of task0
    for name in ("cd.png", "anytime_trials.png", "anytime_time.png"):
        assert f"(plots/{name})" in text
        _png(tmp_path / "plots" / name)
    headline = next(line for line in text.splitlines() if line.startswith("| good |"))
    assert "| 1 |" in headline and "| 0 / 12 |" in headline  # rank 1, no failed cell
    assert "nan" not in text


def test_results_json_round_trips(tmp_path: Path) -> None:
    cells = _bench({"good": 0.4, "bo": 0.3, "random": 0.2}, n_tasks=6)
    _write(cells, tmp_path, ["good", "bo", "random"])
    raw = (tmp_path / "results.json").read_text()
    results = json.loads(raw)
    assert json.dumps(results, indent=2, allow_nan=False) + "\n" == raw
    stats = analyze(cells, methods=["good", "bo", "random"], n_trials=4)
    assert results["settings"] == {"n_trials": 4, "time_budget_s": 60.0, "n_workers": 1,
                                   "seeds": [0, 1], "methods": ["good", "bo", "random"],
                                   "tasks": [f"task{t}" for t in range(6)]}
    assert [m["method"] for m in results["methods"]] == ["good", "bo", "random"]
    assert [m["mean_score"] for m in results["methods"]] == [s.mean_score
                                                              for s in stats.summaries]
    assert results["rank_test"]["p_value"] == stats.rank_test.p_value
    assert "raw" not in results["rank_test"]
    assert len(results["cells"]) == len(cells)
    failed = [c for c in results["cells"] if not c["scored"]]
    assert [(c["task"], c["method"], c["seed"], c["normalized"]) for c in failed] == [
        ("task0", "random", 0, 0.0)]
    assert results["plots"]["cd_kind"] == "autorank"
    assert set(results["machine"]) == {"cpu", "cores", "memory_gib", "os", "python", "mlpilot"}


def test_a_partial_bench_compares_the_complete_tasks_and_names_the_others(
        tmp_path: Path) -> None:
    methods = ["good", "bo", "random"]
    cells = _bench(dict.fromkeys(methods, 0.3), n_tasks=6)
    cells = [c for c in cells if not (c.task == "task5" and c.method == "bo" and c.seed == 1)]
    text = _write(cells, tmp_path, methods).read_text()
    assert "- **Tasks:** 6 (task0, task1, task2, task3, task4, task5), 5 complete and " \
           "compared (partial: task5); 35 cells" in text
    assert "| task5 (partial: 5 of 6 cells) | roc_auc ↑ |" in text
    assert "5 tasks)." in text  # the rank test's rows
    assert "Left out of the scores, ranks, rank test and anytime curves until every method " \
           "has run every seed: task5 (5 of 6 cells)." in text
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["partial"] == {"task5": {"cells": 5, "of": 6}}
    assert {c["task"] for c in results["cells"]} == {f"task{t}" for t in range(5)}


def test_one_method_one_task_one_seed_says_why_there_is_no_test(tmp_path: Path) -> None:
    cells = _bench({"good": 0.4}, n_tasks=1, seeds=1)
    text = _write(cells, tmp_path, ["good"], seeds=1).read_text()
    assert "Skipped: the test compares at least 2 methods; this bench has 1." in text
    assert not (tmp_path / "plots" / "cd.png").exists()
    _png(tmp_path / "plots" / "anytime_trials.png")
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["methods"][0]["se_score"] is None
    assert results["plots"]["cd"] is None


def test_two_methods_get_our_rank_plot_and_say_so(tmp_path: Path) -> None:
    cells = _bench({"good": 0.4, "bo": 0.2}, n_tasks=6, seeds=1)
    text = _write(cells, tmp_path, ["good", "bo"], seeds=1).read_text()
    assert "one-sided Wilcoxon signed-rank test" in text
    assert "drawn by mlpilot" in text
    _png(tmp_path / "plots" / "cd.png")


def test_without_curves_the_report_says_there_are_no_anytime_plots(tmp_path: Path) -> None:
    cells = _bench({"good": 0.4, "bo": 0.3, "random": 0.2}, n_tasks=2, curve=False)
    text = _write(cells, tmp_path, ["good", "bo", "random"]).read_text()
    assert "no anytime curves" in text
    assert "at least 5 tasks" in text
    assert not list((tmp_path / "plots").glob("*.png"))
