"""What only the chroma store does: lazy clients, several processes, broken stores, and
records written by a newer mlpilot."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memory import ChromaRunStore
from schemas import StoreError
from tests.memory._helpers import add_from_process, make_profile, make_record, random_meta


def _spawn(path: Path, prefix: str, n_records: int) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=add_from_process, args=(str(path), prefix, n_records))
    process.start()
    return process


def _join(*processes: multiprocessing.process.BaseProcess) -> None:
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0


def test_constructors_touch_nothing(tmp_path: Path) -> None:
    ChromaRunStore.embedded(tmp_path / "memory")
    ChromaRunStore.http("http://127.0.0.1:1")
    assert not (tmp_path / "memory").exists()


@pytest.mark.slow
def test_two_processes_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    _join(_spawn(path, "a", 25), _spawn(path, "b", 25))
    store = ChromaRunStore.embedded(path)
    ids = {r.run_id for r in store.list()}
    assert ids == {f"{p}-{i}" for p in "ab" for i in range(25)}
    query = make_profile(random_meta(np.random.default_rng(0)))
    assert len(store.similar(query, "binary", k=50)) == 50


@pytest.mark.slow
def test_a_reader_sees_what_another_process_wrote(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    store = ChromaRunStore.embedded(path)
    store.add(make_record("here-0", seed=1), make_record("here-1", seed=2))
    query = make_profile(random_meta(np.random.default_rng(0)))
    assert len(store.similar(query, "binary", k=50)) == 2
    _join(_spawn(path, "there", 10))
    assert len(store.list()) == 12
    assert len(store.similar(query, "binary", k=50)) == 12
    # the other process refitted at 4 and 8 records: this one queries with that standardizer
    probe = store.get("there-7")
    assert probe is not None
    nearest = store.similar(make_profile(probe.meta_features), "binary", k=1)
    assert nearest[0].record == probe and nearest[0].distance == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_a_write_waits_while_another_process_locks_the_database(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    store = ChromaRunStore.embedded(path)
    store.add(make_record("first", seed=1))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"db = sqlite3.connect({str(path / 'chroma.sqlite3')!r}, isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
        "time.sleep(1.5); db.execute('COMMIT')\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        store.add(make_record("second", seed=2))
    finally:
        holder.wait(timeout=30)
    assert [r.run_id for r in store.list()] == ["first", "second"]


def test_a_corrupt_folder_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    path.mkdir()
    (path / "chroma.sqlite3").write_bytes(np.random.default_rng(0).bytes(8192))
    store = ChromaRunStore.embedded(path)
    query = make_profile(random_meta(np.random.default_rng(0)))
    for use in (store.list, lambda: store.add(make_record("x")),
                lambda: store.similar(query, "binary"), lambda: store.get("x")):
        with pytest.raises(StoreError, match=str(path)) as caught:
            use()
        assert "\n" not in str(caught.value)


def test_a_folder_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "memory").write_text("not a folder")
    with pytest.raises(StoreError, match="memory"):
        ChromaRunStore.embedded(tmp_path / "memory").list()


def test_an_unreachable_server_is_a_store_error() -> None:
    store = ChromaRunStore.http("http://127.0.0.1:1")
    with pytest.raises(StoreError, match=r"http://127\.0\.0\.1:1") as caught:
        store.list()
    assert "\n" not in str(caught.value)
    with pytest.raises(StoreError):
        store.add(make_record("x"))


@pytest.mark.parametrize("url", ["http://", "ftp://host:8000", "http://host:port",
                                 "http://host:8000/some/path", "http://host:99999"])
def test_a_bad_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match="memory URL"):
        ChromaRunStore.http(url)


def test_records_of_a_newer_mlpilot_are_skipped_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ChromaRunStore.embedded(tmp_path / "memory")
    current = [make_record(f"now-{i}", seed=i, minutes=i) for i in range(3)]
    newer = [make_record(f"new-{i}", seed=10 + i, schema_version=99) for i in range(2)]
    store.add(*current, *newer)
    _inject_garbage(tmp_path / "memory", "garbled")
    with caplog.at_level(logging.WARNING, logger="memory"):
        assert store.list() == tuple(current)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 3 record(s) written by a newer mlpilot" in \
        warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="memory"):
        assert store.get("new-0") is None
        assert store.get("garbled") is None
        neighbors = store.similar(make_profile(newer[0].meta_features), "binary", k=10)
    assert {n.record.run_id for n in neighbors} == {r.run_id for r in current}
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 3


def _inject_garbage(path: Path, run_id: str) -> None:
    """A document that is not a record, with metadata that matches every binary query."""
    import chromadb
    from chromadb.config import Settings

    from memory import COLLECTION
    from schemas import META_FEATURE_NAMES

    client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    collection = client.get_collection(COLLECTION, embedding_function=None)
    collection.upsert(ids=[run_id], embeddings=np.zeros((1, len(META_FEATURE_NAMES)),
                                                        dtype=np.float32),
                      documents=["{not json"],
                      metadatas=[{"task_type": "binary", "fingerprint": "x",
                                  "meta_feature_version": 1, "schema_version": 1}])
