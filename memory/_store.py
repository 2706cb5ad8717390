"""The ``RunStore`` protocol, and the rules every store shares."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from schemas import (
    MEMORY_RECORD_VERSION,
    ConfigError,
    DatasetProfile,
    MemoryRecord,
    Neighbor,
    TaskType,
)


@runtime_checkable
class RunStore(Protocol):
    """Past runs, found again by how similar their datasets are.

    ``add`` upserts by ``run_id``. ``similar`` returns up to ``k`` records of the
    same task type and meta-feature version as the query, nearest first (Euclidean
    distance of standardized meta-features, see ``memory._scaling``), never one
    whose fingerprint is ``exclude_fingerprint``. ``list`` returns all records,
    oldest first. A store that cannot be used raises ``StoreError``.
    """

    def add(self, *records: MemoryRecord) -> None: ...

    def similar(self, profile: DatasetProfile, task_type: TaskType, *, k: int = 5,
                exclude_fingerprint: str | None = None) -> tuple[Neighbor, ...]: ...

    def get(self, run_id: str) -> MemoryRecord | None: ...

    def list(self) -> tuple[MemoryRecord, ...]: ...


def check_k(k: int, owner: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"The 'k' parameter of {owner}.similar must be an integer >= 1. "
                          f"Got {k!r} instead.")


def _created_key(record: MemoryRecord) -> tuple[datetime, str]:
    created = record.created_at
    if created.tzinfo is None:  # naive times are taken as UTC
        created = created.replace(tzinfo=UTC)
    return created, record.run_id


def oldest_first(records: Iterable[MemoryRecord]) -> tuple[MemoryRecord, ...]:
    return tuple(sorted(records, key=_created_key))


def unique_by_run_id(records: Iterable[MemoryRecord]) -> list[MemoryRecord]:
    """One record per run id, the last one given winning (upsert order)."""
    return list({record.run_id: record for record in records}.values())


def nearest(candidates: Iterable[tuple[MemoryRecord, float]], k: int) -> tuple[Neighbor, ...]:
    """The ``k`` nearest candidates, ties broken by run id."""
    ranked = sorted(candidates, key=lambda pair: (pair[1], pair[0].run_id))
    return tuple(Neighbor(record=record, distance=distance) for record, distance in ranked[:k])


def json_object(text: str | None) -> dict[str, Any] | None:
    """``text`` parsed as a JSON object, or ``None`` when it is empty or anything else."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_record(text: str | None) -> MemoryRecord | None:
    """A stored record's JSON as a record; ``None`` when it does not parse or a newer
    mlpilot wrote it (its ``schema_version`` is above ours)."""
    data = json_object(text)
    if data is None:
        return None
    version = data.get("schema_version", MEMORY_RECORD_VERSION)
    if not isinstance(version, int) or version > MEMORY_RECORD_VERSION:
        return None
    try:
        return MemoryRecord.model_validate(data)
    except ValidationError:
        return None


def parse_records(texts: Iterable[str | None]) -> tuple[list[MemoryRecord], int]:
    """The records among stored JSON texts, and how many were skipped (``parse_record``)."""
    records: list[MemoryRecord] = []
    n_skipped = 0
    for text in texts:
        record = parse_record(text)
        if record is None:
            n_skipped += 1
        else:
            records.append(record)
    return records, n_skipped
