"""``InMemoryRunStore``: the exact, brute-force store (numpy), for tests and one-off runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memory._scaling import Standardizer, needs_refit, raw_matrix, standardize
from memory._store import check_k, nearest, oldest_first, unique_by_run_id
from schemas import DatasetProfile, MemoryRecord, Neighbor, TaskType


@dataclass(frozen=True)
class _Index:
    """Arrays over the records in dict order."""

    records: tuple[MemoryRecord, ...]
    scaled: np.ndarray
    task_types: np.ndarray
    versions: np.ndarray
    fingerprints: np.ndarray


class InMemoryRunStore:
    """Keeps records in a dict; ``similar`` scores every candidate exactly.

    Same semantics as ``ChromaRunStore``, including the refit rule of the
    standardizer (``scaler``), so both return the same neighbours.
    """

    def __init__(self) -> None:
        self._records: dict[str, MemoryRecord] = {}
        self.scaler: Standardizer | None = None
        self._index: _Index | None = None  # rebuilt lazily after a change

    @property
    def location(self) -> str:
        return "memory:"

    def __len__(self) -> int:
        return len(self._records)

    def add(self, *records: MemoryRecord) -> None:
        unique = unique_by_run_id(records)
        raw_matrix([r.meta_features for r in unique], owner="meta_features of a record")
        for record in unique:
            self._records[record.run_id] = record
        if needs_refit(self.scaler, len(self._records)):
            self.scaler = Standardizer.fit([r.meta_features for r in self._records.values()],
                                           n_records=len(self._records))
        self._index = None

    def similar(self, profile: DatasetProfile, task_type: TaskType, *, k: int = 5,
                exclude_fingerprint: str | None = None) -> tuple[Neighbor, ...]:
        check_k(k, type(self).__name__)
        query = standardize(self.scaler, raw_matrix(
            [profile.meta_features], owner="meta_features of the query profile"))[0]
        if not self._records:
            return ()
        index = self._arrays()
        mask = (index.task_types == task_type) & (index.versions == profile.meta_feature_version)
        if exclude_fingerprint is not None:
            mask &= index.fingerprints != exclude_fingerprint
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return ()
        dist = np.linalg.norm(index.scaled[rows] - query, axis=1)
        n_keep = min(rows.size, k + 8)  # a margin, so that ties are broken by run id
        keep = np.argpartition(dist, n_keep - 1)[:n_keep] if n_keep < rows.size else \
            np.arange(rows.size)
        return nearest(((index.records[rows[i]], float(dist[i])) for i in keep), k)

    def get(self, run_id: str) -> MemoryRecord | None:
        return self._records.get(run_id)

    def list(self) -> tuple[MemoryRecord, ...]:
        return oldest_first(self._records.values())

    def _arrays(self) -> _Index:
        if self._index is None:
            records = tuple(self._records.values())
            scaled = standardize(self.scaler, raw_matrix([r.meta_features for r in records]))
            self._index = _Index(records=records, scaled=scaled,
                                 task_types=np.array([r.task_type for r in records], dtype=object),
                                 versions=np.array([r.meta_feature_version for r in records]),
                                 fingerprints=np.array([r.fingerprint for r in records],
                                                       dtype=object))
        return self._index
