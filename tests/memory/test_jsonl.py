"""Export/import as JSON lines, and seeding an empty store from the bundled file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import memory._jsonl
from memory import InMemoryRunStore, ensure_seeded, read_jsonl, write_jsonl
from schemas import StoreError
from tests.memory._helpers import make_record


def test_round_trip_keeps_header_and_records(tmp_path: Path) -> None:
    records = [make_record(f"run-{i}", seed=i, minutes=i) for i in range(3)]
    path = tmp_path / "export.jsonl"
    assert write_jsonl(path, records, header={"exported_by": "test"}) == 3
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"mlpilot_memory": 1, "exported_by": "test"}
    header, read, n_skipped = read_jsonl(path)
    assert header == first and read == records and n_skipped == 0
    assert [p.name for p in tmp_path.iterdir()] == ["export.jsonl"]  # no temp file left


def test_newer_and_broken_lines_are_skipped_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = make_record("good", seed=1)
    newer = make_record("newer", seed=2, schema_version=99)
    path = tmp_path / "mixed.jsonl"
    write_jsonl(path, [good, newer], header={})
    with path.open("a") as out:
        out.write("{truncated\n\n")
    with caplog.at_level(logging.WARNING, logger="memory"):
        _, records, n_skipped = read_jsonl(path)
    assert records == [good] and n_skipped == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 2 record(s) written by a newer mlpilot" in warnings[0]


@pytest.mark.parametrize("first_line", ["", "not json", "[1, 2]", '{"run_id": "x"}',
                                        '{"mlpilot_memory": "one"}'])
def test_a_file_without_a_header_is_a_store_error(tmp_path: Path, first_line: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(first_line + "\n" + make_record("x").model_dump_json() + "\n")
    with pytest.raises(StoreError, match="not an mlpilot memory file"):
        read_jsonl(path)


def test_a_missing_file_or_a_newer_format_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Cannot read"):
        read_jsonl(tmp_path / "missing.jsonl")
    (tmp_path / "future.jsonl").write_text('{"mlpilot_memory": 2}\n')
    with pytest.raises(StoreError, match="newer mlpilot"):
        read_jsonl(tmp_path / "future.jsonl")


def test_ensure_seeded_fills_an_empty_store_only(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seed = tmp_path / "seed_runs.jsonl"
    monkeypatch.setattr(memory._jsonl, "SEED_FILE", seed)
    store = InMemoryRunStore()
    assert ensure_seeded(store) == 0  # no seed file
    records = [make_record(f"seed-{i}", seed=i, source="seed") for i in range(4)]
    write_jsonl(seed, records, header={"kind": "seed"})
    assert ensure_seeded(store) == 4
    assert {r.run_id for r in store.list()} == {r.run_id for r in records}
    assert ensure_seeded(store) == 0
    other = InMemoryRunStore()
    other.add(make_record("mine"))
    assert ensure_seeded(other) == 0
    assert [r.run_id for r in other.list()] == ["mine"]


def test_the_seed_file_ships_with_the_package() -> None:
    assert memory._jsonl.SEED_FILE.parent == Path(memory.__file__).parent
    assert memory._jsonl.SEED_FILE.name == "seed_runs.jsonl"
