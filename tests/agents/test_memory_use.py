"""The memory inside a run: retrieved runs warm-start BO, every run is remembered, a broken
store costs the memory and never the run."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agents import MemoryUse, execute_run
from memory import InMemoryRunStore
from sandbox import DataBundle, InProcessExecutor
from schemas import (
    Budget,
    DatasetProfile,
    MemoryRecord,
    Neighbor,
    StoreError,
    TaskSpec,
    TaskType,
)
from tools.datasets import BUNDLED, load_bundled
from tools.llm_scripted import scripted_client


@contextmanager
def in_process(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
    yield InProcessExecutor(bundle)


def _run(name: str, n_trials: int, run_dir: Path, memory: MemoryUse | None, **kw: object):
    task = TaskSpec(data_path=Path(f"bundled:{name}"), target=BUNDLED[name].target,
                    budget=Budget(n_trials=n_trials), n_folds=3)
    return execute_run(task, load_bundled(name), run_dir=run_dir, make_executor=in_process,
                       version="test", memory=memory, **kw).record  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def remembered(tmp_path_factory: pytest.TempPathFactory) -> InMemoryRunStore:
    """A store holding one finished iris run."""
    store = InMemoryRunStore()
    _run("iris", 8, tmp_path_factory.mktemp("first") / "run", MemoryUse(store=store))
    return store


def test_a_finished_run_is_remembered_with_its_best_configurations(
        remembered: InMemoryRunStore) -> None:
    (record,) = remembered.list()
    assert record.dataset == "iris" and record.task_type == "multiclass"
    assert 1 <= len(record.top_configs) <= 5
    scores = [c.cv_score for c in record.top_configs]
    assert scores == sorted(scores)  # log loss: best (lowest) first
    assert record.best_family == record.top_configs[0].config.family
    assert record.best_normalized is not None and 0 < record.best_normalized <= 1
    assert len({c.config.key() for c in record.top_configs}) == len(record.top_configs)


def test_similar_past_runs_warm_start_the_search(remembered: InMemoryRunStore,
                                                 tmp_path: Path) -> None:
    store = InMemoryRunStore()
    store.add(*remembered.list())
    record = _run("wine", 6, tmp_path / "run", MemoryUse(store=store, location="memory:"))
    assert record.retrieved_runs == (remembered.list()[0].run_id,)
    assert record.retrieved[0].dataset == "iris" and record.retrieved[0].n_configs_used >= 1
    assert record.trials_by_source.get("memory", 0) == record.retrieved[0].n_configs_used
    ledger = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text()
              .splitlines()]
    assert ledger[0]["source"] == "memory"  # ahead of the family defaults
    assert len(store.list()) == 2  # this run is remembered too
    request = json.loads((tmp_path / "run" / "request.json").read_text())
    assert request["memory"] == "memory:"


def test_the_dataset_under_evaluation_is_left_out(remembered: InMemoryRunStore,
                                                  tmp_path: Path) -> None:
    store = InMemoryRunStore()
    store.add(*remembered.list())
    record = _run("iris", 3, tmp_path / "run",
                  MemoryUse(store=store, exclude_own_dataset=True, write=False))
    assert record.retrieved == () and "memory" not in record.trials_by_source
    assert len(store.list()) == 1


def test_the_planner_is_shown_the_retrieved_runs(remembered: InMemoryRunStore,
                                                 tmp_path: Path) -> None:
    from tools.llm_scripted import ScriptedLLM

    fake = ScriptedLLM(['{"proposals": [{"family": "knn", "params": {"n_neighbors": 5}, '
                        '"rationale": "x"}]}'] * 4)
    _run("wine", 3, tmp_path / "run", MemoryUse(store=remembered, write=False),
         llm=scripted_client(fake))
    prompt = fake.requests[0][-1]["content"]
    assert "## Similar past runs" in prompt and "- iris:" in prompt


class BrokenStore:
    """A store whose server went away."""

    def add(self, *records: MemoryRecord) -> None:
        raise StoreError("cannot reach http://127.0.0.1:1")

    def similar(self, profile: DatasetProfile, task_type: TaskType, *, k: int = 5,
                exclude_fingerprint: str | None = None) -> tuple[Neighbor, ...]:
        raise StoreError("cannot reach http://127.0.0.1:1")

    def get(self, run_id: str) -> MemoryRecord | None:
        raise StoreError("cannot reach http://127.0.0.1:1")

    def list(self) -> tuple[MemoryRecord, ...]:
        raise StoreError("cannot reach http://127.0.0.1:1")


def test_a_broken_store_costs_the_memory_not_the_run(tmp_path: Path) -> None:
    record = _run("iris", 3, tmp_path / "run", MemoryUse(store=BrokenStore()))
    assert record.status == "completed" and record.n_trials == 3
    assert any("run memory unavailable" in n for n in record.notices)
    assert any("run not remembered" in n for n in record.notices)


def test_the_opening_takes_one_point_per_neighbour_and_keeps_the_defaults(
        remembered: InMemoryRunStore, tmp_path: Path) -> None:
    from agents._memory import merge_queue, warm_start
    from schemas import Proposal
    from tools.catalog import DEFAULTS_ORDER, catalog, default_config

    (record,) = remembered.list()
    spaces = catalog("multiclass")
    near = Neighbor(record=record, distance=0.5)
    far = Neighbor(record=record.model_copy(update={"run_id": "other"}), distance=2.0)
    points = warm_start([near, far], spaces, n_warm=5)
    # one per neighbour: the second one's best is a duplicate, so its runner-up comes
    assert [run for _, run in points] == [record.run_id, "other"]
    assert points[0][0].config == record.top_configs[0].config
    defaults = [Proposal(config=default_config(s), source="default") for s in spaces]
    merged = merge_queue([p for p, _ in points], defaults)
    assert [p.source for p in merged[:4]] == ["memory", "default", "memory", "default"]
    covered = {p.config.family for p, _ in points}
    assert merged[1].config.family not in covered  # uncovered families open
    assert len(merged) == len(defaults) + len(points)
    # against the clock, the cheapest families open, a family's memory point first
    timed = merge_queue([p for p, _ in points], defaults, cheapest_first=True)
    assert sorted(map(id, timed)) == sorted(map(id, merged))
    order = {name: i for i, name in enumerate(DEFAULTS_ORDER)}
    ranks = [order[p.config.family] for p in timed]
    assert ranks == sorted(ranks)
    for a, b in itertools.pairwise(timed):
        if a.config.family == b.config.family:
            assert (a.source, b.source) != ("default", "memory")
