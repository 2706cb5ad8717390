"""``ChromaRunStore``: the run memory in chromadb, in a folder or on a ``chroma run`` server.

One collection (``mlpilot-runs``, l2 space): ids are run ids, embeddings the
standardized meta-features (``memory._scaling``), documents the records' JSON,
metadatas the scalar fields that queries filter on. The collection's own
metadata keeps the standardizer (JSON) and a write generation.

A query first asks for the plain nearest neighbours (three times the
candidates it needs) and filters them itself; only when too few of them match
(another task type crowds the neighbourhood) does it ask chromadb to filter
with ``where``, which scans the matching records (0.3-0.7 s at 100k records).
The candidates are then ranked by exact distances from their raw vectors.

Several processes may share an embedded store. Writes and refits hold a file
lock in the folder. chromadb applies other processes' writes to a process's
vector index only when that process writes, so a process that sees a new write
generation makes a no-op write (deletes an id that does not exist) before it
queries. A server has one index, but it does not serialize clients: a refit
saves the new standardizer before it re-embeds, and a writer that finds the
standardizer changed under its write re-embeds its own records.

chromadb is imported on first use (it takes over a second). Every failure of
chromadb, sqlite, the folder or the connection becomes a ``StoreError`` that
names the store; records a newer mlpilot wrote are skipped with one warning.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

import numpy as np

from memory._scaling import (
    Standardizer,
    distances,
    needs_refit,
    raw_matrix,
    standardize,
)
from memory._store import (
    check_k,
    nearest,
    oldest_first,
    parse_records,
    unique_by_run_id,
)
from schemas import (
    ConfigError,
    DatasetProfile,
    MemoryRecord,
    Neighbor,
    StoreError,
    TaskType,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from filelock import BaseFileLock

logger = logging.getLogger(__name__)

T = TypeVar("T")

COLLECTION = "mlpilot-runs"
# Meta-feature vectors are dense and fairly random: the HNSW defaults (ef 100, M 16)
# lose some true neighbours (see evals/memory_latency.py).
HNSW: dict[str, Any] = {"space": "l2", "ef_construction": 200, "ef_search": 100,
                        "max_neighbors": 32}
LOCK_TIMEOUT_S = 60.0
RETRY_S = 10.0  # how long a "database is locked" error is retried

_SCALER_KEY = "mlpilot_scaler"
_GENERATION_KEY = "mlpilot_generation"
_NO_SUCH_ID = "mlpilot-catch-up-no-such-run"
_RETRYABLE = ("database is locked", "database table is locked", "database is busy",
              "unique constraint", "already exists")


PROBE_FACTOR = 3  # a query first asks for this many times the candidates, unfiltered


def _n_candidates(k: int) -> int:
    """How many HNSW candidates a query re-ranks exactly to return ``k``."""
    return k + max(k, 10)


@dataclass(frozen=True)
class _State:
    """What the collection's metadata keeps: the standardizer and the write generation."""

    scaler: Standardizer | None
    generation: int


def parse_url(url: str) -> tuple[str, int, bool]:
    """``http(s)://HOST[:PORT]`` as (host, port, ssl); the port defaults to 8000 (443)."""
    problem = (f"The memory URL must be http://HOST[:PORT] or https://HOST[:PORT]. "
               f"Got {url!r} instead.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise StoreError(f"{problem} ({exc})") from exc
    scheme = parts.scheme.lower()
    if (scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password):
        raise StoreError(problem)
    ssl = scheme == "https"
    return parts.hostname, port or (443 if ssl else 8000), ssl


class ChromaRunStore:
    """The chromadb run store; build it with ``embedded(path)`` or ``http(url)``.

    Constructors store the configuration only; the client starts on first use.
    """

    def __init__(self, *, path: Path | None = None, host: str | None = None, port: int = 8000,
                 ssl: bool = False, collection: str = COLLECTION) -> None:
        if (path is None) == (host is None):
            raise ConfigError("ChromaRunStore needs exactly one of 'path' (an embedded store) "
                              f"and 'host' (a server). Got path={path!r}, host={host!r} instead.")
        self._path = None if path is None else Path(path)
        self._host = host
        self._port = port
        self._ssl = ssl
        self._name = collection
        self._client: ClientAPI | None = None
        self._batch_size: int | None = None
        self._synced_generation: int | None = None  # embedded: index up to date with this
        self._lock: BaseFileLock | None = None

    @classmethod
    def embedded(cls, path: Path, *, collection: str = COLLECTION) -> ChromaRunStore:
        """A store in a folder (``chromadb.PersistentClient``)."""
        return cls(path=Path(path), collection=collection)

    @classmethod
    def http(cls, url: str, *, collection: str = COLLECTION) -> ChromaRunStore:
        """A store on a ``chroma run`` server, e.g. ``http://127.0.0.1:8000``."""
        host, port, ssl = parse_url(url)
        return cls(host=host, port=port, ssl=ssl, collection=collection)

    @property
    def location(self) -> str:
        if self._path is not None:
            return str(self._path)
        return f"{'https' if self._ssl else 'http'}://{self._host}:{self._port}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def __len__(self) -> int:
        collection = self._open()
        return self._call("counting records", collection.count)

    # -- the protocol ---------------------------------------------------------------------

    def add(self, *records: MemoryRecord) -> None:
        unique = unique_by_run_id(records)
        if not unique:
            return
        raw = raw_matrix([r.meta_features for r in unique], owner="meta_features of a record")
        self._connect()
        with self._write_lock():
            collection = self._open()
            state = self._state(collection)
            self._upsert(collection, unique, raw, state.scaler)
            if self._path is None:
                state = self._follow_refits(collection, unique, raw, state)
            n_records = self._call("counting records", collection.count)
            scaler = state.scaler
            if needs_refit(scaler, n_records):
                scaler = self._refit(collection, state, n_records)
            if self._path is not None:
                self._write_state(collection, _State(scaler, state.generation + 1))
                self._synced_generation = state.generation + 1

    def similar(self, profile: DatasetProfile, task_type: TaskType, *, k: int = 5,
                exclude_fingerprint: str | None = None) -> tuple[Neighbor, ...]:
        check_k(k, type(self).__name__)
        raw = raw_matrix([profile.meta_features], owner="meta_features of the query profile")
        collection = self._open()
        state = self._state(collection)
        self._catch_up(collection, state)
        embedding = standardize(state.scaler, raw)

        def wanted(record: MemoryRecord) -> bool:
            return (record.task_type == task_type
                    and record.meta_feature_version == profile.meta_feature_version
                    and record.fingerprint != exclude_fingerprint)

        # First the plain nearest neighbours, filtered here: chromadb's metadata filters
        # cost a scan of the matching records (0.3-0.7 s at 100k records).
        n_wanted, n_probe = _n_candidates(k), PROBE_FACTOR * _n_candidates(k)
        n_stored = self._call("counting records", collection.count)
        if n_stored <= n_probe:
            # a small store is read whole and ranked exactly: the approximate index may
            # miss a few records of a small graph (seen with two writers at once)
            documents = [d for page in self._pages(collection, ["documents"])
                         for d in page.get("documents") or []]
        else:
            probe = self._call("querying", partial(
                collection.query, query_embeddings=embedding, n_results=n_probe,
                include=["documents"]))
            documents = (probe.get("documents") or [[]])[0]
        found, n_skipped = parse_records(documents)
        records = [r for r in found if wanted(r)]
        if len(records) < n_wanted and n_stored > n_probe:
            # other task types or versions crowd this neighbourhood: let chromadb filter
            clauses: list[dict[str, Any]] = [
                {"task_type": task_type},
                {"meta_feature_version": profile.meta_feature_version}]
            if exclude_fingerprint is not None:
                clauses.append({"fingerprint": {"$ne": exclude_fingerprint}})
            result = self._call("querying", partial(
                collection.query, query_embeddings=embedding, n_results=n_wanted,
                where={"$and": clauses}, include=["documents"]))
            found, n_skipped = parse_records((result.get("documents") or [[]])[0])
            records = [r for r in found if wanted(r)]
        self._warn_skipped(n_skipped)
        dist = distances(state.scaler, profile.meta_features, [r.meta_features for r in records])
        return nearest(zip(records, (float(d) for d in dist), strict=True), k)

    def get(self, run_id: str) -> MemoryRecord | None:
        collection = self._open()
        result = self._call("reading a record", partial(
            collection.get, ids=[run_id], include=["documents"]))
        records = self._parse(result.get("documents") or [])
        return records[0] if records else None

    def list(self) -> tuple[MemoryRecord, ...]:
        collection = self._open()
        documents: list[str | None] = []
        for page in self._pages(collection, ["documents"]):
            documents.extend(page.get("documents") or [])
        return oldest_first(self._parse(documents))

    # -- chromadb -------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one chromadb call; retry a locked database briefly, wrap every failure."""
        deadline = time.monotonic() + RETRY_S
        delay = 0.05
        while True:
            try:
                return fn()
            except StoreError:
                raise
            except _store_failures() as exc:
                message = " ".join(str(exc).split()) or type(exc).__name__
                if any(m in message.lower() for m in _RETRYABLE) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(2 * delay, 1.0)
                    continue
                raise StoreError(f"Run memory at {self.location}: {what} failed: "
                                 f"{type(exc).__name__}: {message}") from exc

    def _connect(self) -> ClientAPI:
        if self._client is None:
            if self._path is not None:
                self._call("creating its folder", partial(self._path.mkdir, parents=True,
                                                          exist_ok=True))
            with self._write_lock():  # a new folder's first open creates its tables
                self._client = self._call("opening the store", self._new_client)
        return self._client

    def _new_client(self) -> ClientAPI:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self._path is not None:
            try:
                return chromadb.PersistentClient(path=str(self._path), settings=settings)
            except Exception:
                _forget_broken_system(str(self._path))
                raise
        assert self._host is not None
        return chromadb.HttpClient(host=self._host, port=self._port, ssl=self._ssl,
                                   settings=settings)

    def _open(self) -> Collection:
        """The collection, with its metadata as it is now (another writer may have refitted)."""
        client = self._connect()
        return self._call("opening the collection", partial(
            client.get_or_create_collection, self._name,
            configuration=cast(Any, {"hnsw": dict(HNSW)}),
            embedding_function=None))

    def _max_batch(self) -> int:
        if self._batch_size is None:
            self._batch_size = self._call("asking the batch size",
                                          self._connect().get_max_batch_size)
        return max(1, self._batch_size)

    def _pages(self, collection: Collection, include: Any) -> Iterator[Any]:
        batch = self._max_batch()
        offset = 0
        while True:
            page = self._call("reading records", partial(
                collection.get, limit=batch, offset=offset, include=include))
            yield page
            if len(page["ids"]) < batch:
                return
            offset += batch

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        import filelock

        if self._lock is None:  # one lock object per store: re-entrant, never self-blocking
            self._lock = filelock.FileLock(self._path / ".mlpilot-write.lock",
                                           timeout=LOCK_TIMEOUT_S)
        lock = self._lock
        try:
            lock.acquire()
        except filelock.Timeout as exc:
            raise StoreError(f"Run memory at {self.location}: another process has held its write "
                             f"lock for more than {LOCK_TIMEOUT_S:.0f} s.") from exc
        except OSError as exc:
            raise StoreError(f"Run memory at {self.location}: cannot take its write lock: "
                             f"{exc}") from exc
        try:
            yield
        finally:
            lock.release()

    # -- state, writes and refits ---------------------------------------------------------

    def _state(self, collection: Collection) -> _State:
        metadata = collection.metadata or {}
        text = metadata.get(_SCALER_KEY)
        try:
            scaler = Standardizer.from_json(text) if isinstance(text, str) and text else None
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"Run memory at {self.location}: the standardizer kept in the "
                             f"collection's metadata is unreadable ({exc}).") from exc
        generation = metadata.get(_GENERATION_KEY)
        return _State(scaler, generation if isinstance(generation, int) else 0)

    def _write_state(self, collection: Collection, state: _State) -> None:
        metadata = {_SCALER_KEY: state.scaler.to_json() if state.scaler else "",
                    _GENERATION_KEY: state.generation}
        self._call("saving the standardizer", partial(collection.modify, metadata=metadata))

    def _catch_up(self, collection: Collection, state: _State) -> None:
        """Embedded: make chromadb apply other processes' writes to this process's index."""
        if self._path is None or state.generation == self._synced_generation:
            return
        self._call("catching up with other writers", partial(collection.delete, ids=[_NO_SUCH_ID]))
        self._synced_generation = state.generation

    def _upsert(self, collection: Collection, records: Sequence[MemoryRecord], raw: np.ndarray,
                scaler: Standardizer | None) -> None:
        embeddings = standardize(scaler, raw)
        batch = self._max_batch()
        for start in range(0, len(records), batch):
            chunk = records[start:start + batch]
            self._call("writing records", partial(
                collection.upsert, ids=[r.run_id for r in chunk],
                embeddings=embeddings[start:start + batch],
                documents=[r.model_dump_json() for r in chunk],
                metadatas=[_metadata(r) for r in chunk]))

    def _follow_refits(self, collection: Collection, records: Sequence[MemoryRecord],
                       raw: np.ndarray, state: _State) -> _State:
        """Server: re-embed our records while another client's refit changed the standardizer."""
        for _ in range(3):
            current = self._state(self._open())
            if current.scaler == state.scaler:
                return current
            self._upsert(collection, records, raw, current.scaler)
            state = current
        return state

    def _refit(self, collection: Collection, state: _State, n_records: int) -> Standardizer:
        vectors = self._raw_vectors(collection)
        scaler = Standardizer.fit(list(vectors.values()), n_records=n_records)
        self._write_state(collection, _State(scaler, state.generation))
        if self._path is None:  # records another client wrote while we read
            late = {i for page in self._pages(collection, []) for i in page["ids"]} - set(vectors)
            if late:
                vectors.update(self._raw_vectors(collection, ids=sorted(late)))
        ids = list(vectors)
        embeddings = standardize(scaler, raw_matrix(list(vectors.values())))
        batch = self._max_batch()
        for start in range(0, len(ids), batch):
            self._call("re-embedding records", partial(
                collection.update, ids=ids[start:start + batch],
                embeddings=embeddings[start:start + batch]))
        logger.debug("run memory at %s: standardizer refitted on %d records", self.location,
                     len(ids))
        return scaler

    def _raw_vectors(self, collection: Collection,
                     ids: Sequence[str] | None = None) -> dict[str, tuple[float, ...]]:
        """Raw meta-features by run id, read from the stored JSON (unreadable ones left out)."""
        if ids is None:
            pages: Iterator[Any] = self._pages(collection, ["documents"])
        else:
            pages = iter([self._call("reading records", partial(
                collection.get, ids=list(ids), include=["documents"]))])
        vectors: dict[str, tuple[float, ...]] = {}
        for page in pages:
            for run_id, document in zip(page["ids"], page.get("documents") or [], strict=True):
                vector = _raw_vector(document)
                if vector is not None:
                    vectors[run_id] = vector
        return vectors

    def _parse(self, documents: Sequence[str | None]) -> tuple[MemoryRecord, ...]:
        records, n_skipped = parse_records(documents)
        self._warn_skipped(n_skipped)
        return tuple(records)

    def _warn_skipped(self, n_skipped: int) -> None:
        if n_skipped:
            logger.warning("Run memory at %s: skipped %d record(s) written by a newer mlpilot "
                           "or unreadable.", self.location, n_skipped)


def _metadata(record: MemoryRecord) -> dict[str, str | int | float | bool | None]:
    return {"task_type": record.task_type, "fingerprint": record.fingerprint,
            "meta_feature_version": record.meta_feature_version,
            "schema_version": record.schema_version, "metric": record.metric,
            "best_family": record.best_family or "",
            "created_at": record.created_at.isoformat()}


def _raw_vector(document: str | None) -> tuple[float, ...] | None:
    try:
        values = json.loads(document or "")["meta_features"]
        vector = tuple(float(x) for x in values)
    except (ValueError, TypeError, KeyError):
        return None
    return vector if all(np.isfinite(vector)) else None


def _forget_broken_system(identifier: str) -> None:
    """chromadb 1.5.9 caches a folder's system before starting it; when the start fails
    (a corrupt folder), the next client would get that broken system and fail with an
    AttributeError. Drop it, unless a working client in this process holds it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    if SharedSystemClient._identifier_to_refcount.get(identifier, 0) <= 0:
        SharedSystemClient._identifier_to_system.pop(identifier, None)


def _store_failures() -> tuple[type[BaseException], ...]:
    """What chromadb, sqlite, the folder and the connection raise when the store is broken."""
    import httpx
    from chromadb.errors import ChromaError

    return (ChromaError, ValueError, OSError, sqlite3.Error, httpx.HTTPError, RuntimeError)
