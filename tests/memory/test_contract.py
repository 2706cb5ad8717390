"""The RunStore contract, run against the in-memory store, an embedded chroma store and a
real ``chroma run`` server alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from memory import RunStore
from schemas import ConfigError, MemoryRecord, Neighbor
from tests.memory._helpers import DIM, Vector, make_profile, make_record, random_meta


def _expected_distances(fitted_on: Sequence[MemoryRecord], query: Vector,
                        records: Sequence[MemoryRecord]) -> dict[str, float]:
    """Euclidean distances after standardizing with the mean/std of ``fitted_on``."""
    raw = np.array([r.meta_features for r in fitted_on])
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std[std == 0] = 1.0
    scaled = (np.array([r.meta_features for r in records]) - mean) / std
    q = (np.asarray(query) - mean) / std
    return {r.run_id: float(np.linalg.norm(s - q)) for r, s in zip(records, scaled, strict=True)}


def _ids(neighbors: Sequence[Neighbor]) -> list[str]:
    return [n.record.run_id for n in neighbors]


def test_stores_satisfy_the_protocol(store: RunStore) -> None:
    assert isinstance(store, RunStore)


def test_empty_store_returns_nothing(store: RunStore) -> None:
    assert store.list() == ()
    assert store.get("no-such-run") is None
    assert store.similar(make_profile(random_meta(np.random.default_rng(0))), "binary") == ()


def test_add_get_list_round_trip(store: RunStore) -> None:
    records = [make_record(f"run-{i}", seed=i, minutes=10 - i) for i in range(4)]
    store.add(*records)
    for record in records:
        assert store.get(record.run_id) == record
    assert store.get("run-9") is None
    assert store.list() == tuple(reversed(records))  # oldest first


def test_add_upserts_by_run_id(store: RunStore) -> None:
    first = make_record("run-a", seed=1, dataset="first")
    second = make_record("run-a", seed=2, dataset="second")
    store.add(first)
    store.add(second)
    assert store.list() == (second,)
    store.add(first, make_record("run-b", seed=3), first)
    assert store.get("run-a") == first
    assert [r.run_id for r in store.list()] == ["run-a", "run-b"]


def test_similar_orders_by_standardized_distance(store: RunStore) -> None:
    records = [make_record(f"run-{i:02d}", seed=i, minutes=i) for i in range(12)]
    store.add(*records)  # one call: one fit, on all twelve
    query = random_meta(np.random.default_rng(99))
    neighbors = store.similar(make_profile(query), "binary", k=5)
    expected = _expected_distances(records, query, records)
    assert _ids(neighbors) == sorted(expected, key=expected.__getitem__)[:5]
    for neighbor in neighbors:
        assert neighbor.distance == pytest.approx(expected[neighbor.record.run_id], rel=1e-6)
        assert neighbor.record == store.get(neighbor.record.run_id)


def test_similar_filters_task_type_and_version(store: RunStore) -> None:
    rng = np.random.default_rng(5)
    binary = [make_record(f"bin-{i}", seed=i) for i in range(4)]
    regression = [make_record(f"reg-{i}", seed=10 + i, task_type="regression") for i in range(3)]
    other_version = make_record("old-0", seed=20, meta_feature_version=0)
    store.add(*binary, *regression, other_version)
    query = make_profile(random_meta(rng))
    assert sorted(_ids(store.similar(query, "binary", k=10))) == [r.run_id for r in binary]
    assert sorted(_ids(store.similar(query, "regression", k=10))) == \
        [r.run_id for r in regression]
    assert store.similar(query, "multiclass", k=10) == ()
    old_query = make_profile(random_meta(rng), version=0)
    assert _ids(store.similar(old_query, "binary", k=10)) == ["old-0"]


def test_similar_returns_at_most_k(store: RunStore) -> None:
    store.add(*(make_record(f"run-{i}", seed=i) for i in range(8)))
    query = make_profile(random_meta(np.random.default_rng(1)))
    assert len(store.similar(query, "binary", k=3)) == 3
    assert len(store.similar(query, "binary", k=1)) == 1
    assert len(store.similar(query, "binary", k=50)) == 8
    assert len(store.similar(query, "binary")) == 5
    with pytest.raises(ConfigError, match="'k' parameter"):
        store.similar(query, "binary", k=0)


def test_similar_honours_exclude_fingerprint(store: RunStore) -> None:
    meta = random_meta(np.random.default_rng(3))
    same_table = [make_record(f"same-{i}", meta=meta, fingerprint="fp-under-test", seed=i)
                  for i in range(3)]
    others = [make_record(f"other-{i}", seed=10 + i) for i in range(4)]
    store.add(*same_table, *others)
    profile = make_profile(meta)
    assert set(_ids(store.similar(profile, "binary", k=3))) == {r.run_id for r in same_table}
    left_out = store.similar(profile, "binary", k=10, exclude_fingerprint="fp-under-test")
    assert sorted(_ids(left_out)) == [r.run_id for r in others]
    assert len(store.similar(profile, "binary", k=10, exclude_fingerprint="fp-other")) == 7


def test_refit_follows_the_doubling_rule(store: RunStore) -> None:
    records = [make_record(f"run-{i:02d}", seed=i, minutes=i) for i in range(6)]
    query = random_meta(np.random.default_rng(42))

    def distances_now() -> dict[str, float]:
        return {n.record.run_id: n.distance
                for n in store.similar(make_profile(query), "binary", k=10)}

    store.add(records[0])  # one record: no standardizer yet (identity)
    identity = float(np.linalg.norm(np.subtract(records[0].meta_features, query)))
    assert distances_now() == {"run-00": pytest.approx(identity)}
    store.add(*records[1:3])  # three records: fitted on all three after the add
    assert distances_now() == pytest.approx(_expected_distances(records[:3], query, records[:3]))
    store.add(*records[3:5])  # five < 2 * 3: the same standardizer
    assert distances_now() == pytest.approx(_expected_distances(records[:3], query, records[:5]))
    store.add(records[5])  # six = 2 * 3: refitted on all six, every record re-embedded
    assert distances_now() == pytest.approx(_expected_distances(records, query, records))


def test_nearest_neighbour_of_a_stored_vector_is_itself_across_refits(store: RunStore) -> None:
    records = [make_record(f"run-{i:02d}", seed=i, minutes=i) for i in range(18)]
    for n_added, record in enumerate(records, start=1):
        store.add(record)
        if n_added in (2, 3, 4, 8, 9, 16, 18):  # around the refits at 2, 4, 8 and 16
            for probe in records[:n_added]:
                nearest = store.similar(make_profile(probe.meta_features), "binary", k=1)
                assert _ids(nearest) == [probe.run_id]
                assert nearest[0].distance == pytest.approx(0.0, abs=1e-9)


def test_meta_features_must_be_finite(store: RunStore) -> None:
    meta = [0.5] * DIM
    meta[3] = float("nan")
    with pytest.raises(ConfigError, match="frac_numeric"):
        store.add(make_record("bad", meta=meta))
    with pytest.raises(ConfigError, match="frac_numeric"):
        store.similar(make_profile(meta), "binary")
    assert store.list() == ()


def test_a_rare_task_type_is_found_among_many_closer_records(store: RunStore) -> None:
    rng = np.random.default_rng(8)
    center = np.asarray(random_meta(rng))
    crowd = [make_record(f"reg-{i:02d}", meta=center + rng.normal(0, 0.01, DIM), seed=i,
                         task_type="regression") for i in range(60)]
    rare = [make_record(f"bin-{i}", meta=center + rng.normal(0, 1.0, DIM), seed=100 + i)
            for i in range(3)]
    store.add(*crowd, *rare)
    neighbors = store.similar(make_profile(center), "binary", k=2)
    expected = _expected_distances([*crowd, *rare], center, rare)
    assert _ids(neighbors) == sorted(expected, key=expected.__getitem__)[:2]
