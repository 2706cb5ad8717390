"""``mlpilot memory ...`` and the memory of ``mlpilot run``, as a user meets them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from memory import SEED_FILE, read_jsonl


@pytest.fixture
def memory_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPILOT_MEMORY")  # the default: the embedded store in the home


def _run(out: Path, *extra: str, data: str = "bundled:wine", target: str = "cultivar") -> int:
    return main(["run", data, "--target", target, "--trials", "3", "--folds", "3",
                 "--llm", "none", "--isolation", "process", "--out", str(out), *extra])


def test_the_shipped_seed_is_complete_and_reproducible() -> None:
    header, records, n_skipped = read_jsonl(SEED_FILE)
    assert n_skipped == 0 and header["command"].startswith("mlpilot memory seed ")
    assert {r.dataset for r in records} >= {"breast_cancer", "iris", "wine", "diabetes",
                                            "penguins", "digits"}
    assert all(r.source == "seed" and r.top_configs for r in records)


@pytest.mark.slow
def test_a_fresh_home_retrieves_from_the_shipped_seed(memory_on: None, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path / "run") == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    seeded = {r.run_id: r.dataset for r in read_jsonl(SEED_FILE)[1]}
    assert record["retrieved_runs"] and set(record["retrieved_runs"]) <= set(seeded)
    assert record["retrieved"][0]["dataset"] == "wine"  # its own seed run is the nearest
    assert record["trials_by_source"].get("memory", 0) >= 1
    assert "Run memory" in (tmp_path / "run" / "report.md").read_text()
    capsys.readouterr()
    assert main(["memory", "ls"]) == 0
    listing = capsys.readouterr().out
    assert f"{len(seeded) + 1} remembered runs" in listing and record["run_id"] in listing


@pytest.mark.slow
def test_export_import_and_show(memory_on: None, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "export", str(tmp_path / "all.jsonl")]) == 0
    _, records, _ = read_jsonl(tmp_path / "all.jsonl")
    assert len(records) == len(read_jsonl(SEED_FILE)[1])
    other = tmp_path / "team-store"
    assert main(["memory", "import", str(tmp_path / "all.jsonl"), "--memory", str(other)]) == 0
    capsys.readouterr()
    assert main(["memory", "show", records[0].run_id, "--memory", str(other)]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == records[0].run_id
    assert main(["memory", "show", "no-such-run", "--memory", str(other)]) == 2


def test_an_unreachable_memory_is_a_warning_not_a_failure(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLPILOT_MEMORY", "http://127.0.0.1:1")
    assert _run(tmp_path / "run") == 0
    assert "run memory is unavailable" in capsys.readouterr().err
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "completed" and record["retrieved"] == []


def test_a_corrupt_memory_is_a_warning_not_a_failure(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "memory"
    store.mkdir()
    (store / "chroma.sqlite3").write_bytes(b"not a database, " * 512)
    monkeypatch.setenv("MLPILOT_MEMORY", str(store))
    assert _run(tmp_path / "run") == 0
    assert "run memory is unavailable" in capsys.readouterr().err


def test_no_memory_neither_reads_nor_writes(memory_on: None, tmp_path: Path) -> None:
    assert _run(tmp_path / "run", "--no-memory") == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["retrieved"] == [] and "memory" not in record["trials_by_source"]
    request = json.loads((tmp_path / "run" / "request.json").read_text())
    assert request["memory"] is None


@pytest.mark.slow
def test_seed_writes_a_reproducible_file(tmp_path: Path) -> None:
    out = tmp_path / "seed.jsonl"
    assert main(["memory", "seed", "--datasets", "iris", "--trials", "2", "--out", str(out),
                 "--memory", "memory:"]) == 0
    header, records, _ = read_jsonl(out)
    assert header["command"].startswith("mlpilot memory seed --datasets iris --trials 2")
    assert [(r.dataset, r.source) for r in records] == [("iris", "seed")]


def test_bad_memory_usage_is_exit_2(tmp_path: Path) -> None:
    assert main(["memory", "import", str(tmp_path / "missing.jsonl"), "--memory", "memory:"]) == 2
    assert main(["memory", "seed", "--datasets", "nope", "--memory", "memory:"]) == 2
    assert main(["memory", "ls", "--memory", "ftp://x"]) == 2
