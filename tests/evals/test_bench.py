"""The bench runner: methods, seeds, the ledger, a failing cell, and the real smoke suite."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evals._ledger import CELLS_FILE, BenchSettings, CellResult, Ledger, read_cells
from evals.bench import (
    METHODS,
    BenchEnv,
    anytime_curve,
    parse_methods,
    parse_seeds,
    run_bench,
)
from evals.suite import load_suite
from schemas import ConfigError, LLMError, TrialConfig, TrialResult


def test_methods_are_parsed_in_order_without_repeats() -> None:
    assert parse_methods("tpe, random,tpe") == ("tpe", "random")
    assert set(METHODS) == {"mlpilot", "mlpilot-nollm", "tpe-default", "tpe", "gp", "random",
                            "flaml"}
    for bad in ("", "tpe,smac", ",,"):
        with pytest.raises(ConfigError, match="--methods"):
            parse_methods(bad)


def test_seeds_are_a_count_or_a_list() -> None:
    assert parse_seeds("3") == (0, 1, 2)
    assert parse_seeds("0,5,7,5") == (0, 5, 7)
    for bad in ("0", "-1", "a", "1,-2", ","):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def _cell(task: str = "iris", method: str = "tpe", seed: int = 0, **update: object) -> CellResult:
    fields: dict[str, object] = {
        "task": task, "method": method, "seed": seed, "status": "done",
        "task_type": "multiclass", "metric": "log_loss", "direction": "minimize",
        "holdout": 0.1, "dummy_holdout": 1.1, **update}
    return CellResult.model_validate(fields)


def test_the_ledger_keeps_finished_cells_and_skips_a_cut_line(tmp_path: Path) -> None:
    settings = BenchSettings(n_trials=10)
    ledger = Ledger(tmp_path, settings)
    ledger.add(_cell(seed=0))
    ledger.add(_cell(seed=1))
    with (tmp_path / CELLS_FILE).open("a") as fh:
        fh.write(_cell(seed=2).model_dump_json()[:40])  # a kill in the middle of a write
    again = Ledger(tmp_path, settings)
    assert len(again) == 2
    assert ("iris", "tpe", 1) in again and ("iris", "tpe", 2) not in again
    newer = _cell(seed=3).model_dump(mode="json") | {"version": 99}
    with (tmp_path / CELLS_FILE).open("a") as fh:
        fh.write("\n" + json.dumps(newer) + "\n")
    assert {c.seed for c in read_cells(tmp_path)} == {0, 1}


def test_the_ledger_refuses_other_budgets(tmp_path: Path) -> None:
    Ledger(tmp_path, BenchSettings(n_trials=10))
    with pytest.raises(ConfigError, match="--trials 10"):
        Ledger(tmp_path, BenchSettings(n_trials=30))


def test_the_anytime_curve_follows_the_order_trials_finished() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def trial(i: int, begin_s: float, wall_s: float, cv: float | None) -> TrialResult:
        return TrialResult(trial_id=i, config=TrialConfig(family="knn", params={}),
                           source="bo", status="ok" if cv is not None else "failed",
                           started_at=start + timedelta(seconds=begin_s), wall_time_s=wall_s,
                           cv_score=cv)

    trials = [trial(0, 1.0, 5.0, 0.5), trial(1, 1.0, 1.0, 0.7), trial(2, 6.5, 1.0, None),
              trial(3, 7.0, 1.0, 0.2)]
    curve = anytime_curve(trials, "minimize", start)
    assert [p.elapsed_s for p in curve] == [2.0, 6.0, 7.5, 8.0]
    assert [p.best_cv for p in curve] == [0.7, 0.5, 0.5, 0.2]
    assert [p.trial for p in curve] == [1, 2, 3, 4]


def test_a_method_that_breaks_is_a_failed_cell_and_the_bench_goes_on(tmp_path: Path) -> None:
    def broken_llm(seed: int) -> None:
        raise LLMError("the model server went away")

    suite = load_suite("smoke").model_copy(update={"tasks": load_suite("smoke").tasks[:1]})
    env = BenchEnv(make_executor=None,  # type: ignore[arg-type]  # never reached
                   open_llm=broken_llm, llm_name="broken", cache_dir=tmp_path / "cache",
                   version="test")
    ledger = run_bench(suite, ["mlpilot"], [0, 1], settings=BenchSettings(n_trials=2),
                       out=tmp_path / "bench", env=env)
    assert [c.status for c in ledger.cells] == ["failed", "failed"]
    assert all(c.error == "LLMError: the model server went away" for c in ledger.cells)


# -- the real thing: the CLI, the sandbox, the suite ------------------------------------------

BenchStarter = Callable[..., subprocess.Popen[bytes]]



@pytest.fixture
def bench() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``mlpilot bench`` in a session of its own; whatever is left is killed at the end
    (a test that fails or times out must not leave a bench running)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "bench", *args],
                                env=dict(os.environ), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 18 cells of 10 sandboxed trials: 6 minutes on a quiet 2-core machine
def test_the_smoke_suite_runs_and_reports(tmp_path: Path, bench: BenchStarter) -> None:
    out = tmp_path / "bench"
    proc = bench("smoke", "--methods", "mlpilot-nollm,random,tpe", "--seeds", "2",
                 "--trials", "10", "--out", str(out))
    output = proc.communicate(timeout=1500)[0].decode()
    assert proc.returncode == 0, output[-3000:]
    cells = read_cells(out)
    assert len(cells) == 3 * 3 * 2
    assert all(c.status == "done" and c.holdout is not None for c in cells), [
        (c.key, c.error) for c in cells if c.status != "done"]
    assert all(c.n_trials == 10 and len(c.curve) == 10 for c in cells)
    assert {c.trials_by_source.get("bo", 0) for c in cells if c.method == "tpe"} == {10}
    assert all(c.trials_by_source.get("default", 0) > 0 for c in cells
               if c.method == "mlpilot-nollm")
    results = json.loads((out / "results.json").read_text())
    assert results
    report = (out / "report.md").read_text()
    assert "mlpilot bench smoke --methods mlpilot-nollm,random,tpe --seeds 2" in report
    assert (out / "plots" / "anytime_trials.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_killed_bench_finishes_only_the_missing_cells(tmp_path: Path,
                                                       bench: BenchStarter) -> None:
    out = tmp_path / "bench"
    args = ("smoke", "--methods", "random,tpe", "--seeds", "1", "--trials", "3",
            "--out", str(out))
    proc = bench(*args)
    deadline = time.monotonic() + 600
    while len(read_cells(out)) < 2:
        assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
        assert time.monotonic() < deadline, "the bench made no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = {c.key: c for c in read_cells(out)}
    assert 2 <= len(before) < 6

    again = bench(*args)
    output = again.communicate(timeout=900)[0].decode()
    assert again.returncode == 0, output[-3000:]
    after = {c.key: c for c in read_cells(out)}
    assert len(after) == 6
    assert all(after[key] == cell for key, cell in before.items())  # not run again
    lines = (out / CELLS_FILE).read_text().splitlines()
    assert len([line for line in lines if line.strip()]) == 6  # each cell written once
    assert f"[{len(before) + 1}/6]" in output and "[1/6]" not in output


def test_report_only_reports_the_finished_cells_and_runs_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    out = tmp_path / "bench"
    ledger = Ledger(out, BenchSettings(n_trials=10))
    for seed in (0, 1):
        ledger.add(_cell(method="tpe", seed=seed, holdout=0.2))
        ledger.add(_cell(method="random", seed=seed, holdout=0.3))
    # MLPILOT_LLM is 'none' in tests: reporting on an LLM method must not need the LLM
    code = main(["bench", "smoke", "--methods", "tpe,random,mlpilot", "--seeds", "2",
                 "--trials", "10", "--out", str(out), "--report-only"])
    assert code == 0, capsys.readouterr().err
    assert len(read_cells(out)) == 4  # nothing ran
    assert not (out / "runs").exists()
    report = (out / "report.md").read_text()
    assert "Partial results: 4 of 18 cells are finished" in report
    # the command a person reruns to finish the bench, not the report-only one
    assert "mlpilot bench smoke --methods tpe,random,mlpilot --seeds 2 --trials 10 --out" in report
    assert "--report-only" not in report

    # a folder without a bench: a usage error, and nothing is written
    assert main(["bench", "smoke", "--out", str(tmp_path / "none"), "--report-only",
                 "--methods", "tpe"]) == 2
    assert not (tmp_path / "none").exists()


def test_the_full_agent_writes_code_as_mlpilot_run_would() -> None:
    from evals.bench import _settings

    assert _settings(METHODS["mlpilot"], "local").code == "off"
    assert _settings(METHODS["mlpilot"], "openai/gpt-4o-mini").code == "auto"
    assert _settings(METHODS["gp"], "local") is METHODS["gp"].settings
