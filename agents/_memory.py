"""The run memory inside a run: past runs in before planning, this run out at the end.

Retrieval happens once, after profiling. The nearest past runs of the same task
type (standardized meta-features, see ``memory``) give two things:

- warm-start points: the best configuration of each neighbour, nearest first,
  up to ``n_warm``, each adapted to this run's catalog (unknown families
  dropped, values clamped, missing parameters filled) and queued for the first
  BO round with source ``memory``, taking turns with the family defaults;
- evidence for the planner: a few lines per neighbour (its size, best family,
  best configurations and how far they got between the dummy and a perfect score).

A store that fails (unreachable server, corrupt folder) costs the run its memory,
never the run: a warning, a notice in the record, and the search goes on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agents._answers import RawProposal, to_config
from agents._describe import describe_config, shown_spaces
from schemas import (
    DatasetProfile,
    FamilySpace,
    MemoryRecord,
    Neighbor,
    Proposal,
    RecordSource,
    RetrievedRun,
    RunRecord,
    StoredConfig,
    StoreError,
    TaskSpec,
    TrialResult,
    is_code_family,
)
from tools.catalog import DEFAULTS_ORDER
from tools.leaderboard import is_scored, rank_trials
from tools.metrics import ideal_score, normalized_score

if TYPE_CHECKING:
    from memory import RunStore

log = logging.getLogger(__name__)

N_TOP_CONFIGS = 5  # configurations a record keeps


@dataclasses.dataclass(frozen=True)
class MemoryUse:
    """How a run uses the memory: the store and the retrieval settings."""

    store: RunStore
    location: str = "memory:"  # where the store lives, for the run's request and record
    k: int = 5  # neighbours retrieved
    n_warm: int = 5  # configurations queued as warm-start points
    exclude_own_dataset: bool = False  # leave-one-dataset-out, for honest evaluations
    write: bool = True  # add this run's record at the end


@dataclasses.dataclass(frozen=True)
class Retrieval:
    proposals: tuple[Proposal, ...] = ()
    runs: tuple[RetrievedRun, ...] = ()
    evidence: str = "none"  # for the planner's prompt
    notice: str | None = None  # why there is no memory in this run, if it failed


def retrieve(use: MemoryUse, *, profile: DatasetProfile, spaces: Sequence[FamilySpace],
             fingerprint: str) -> Retrieval:
    """The nearest past runs, as warm-start proposals and planner evidence."""
    exclude = fingerprint if use.exclude_own_dataset else None
    try:
        neighbors = use.store.similar(profile, profile.task_type, k=use.k,
                                      exclude_fingerprint=exclude)
    except StoreError as exc:
        log.warning("the run memory is unavailable, going on without it: %s", exc)
        return Retrieval(notice=f"run memory unavailable: {exc}")
    proposals = warm_start(neighbors, spaces, use.n_warm)
    used = {run_id: sum(1 for _, r in proposals if r == run_id)
            for run_id in (n.record.run_id for n in neighbors)}
    runs = tuple(RetrievedRun(run_id=n.record.run_id, dataset=n.record.dataset,
                              distance=n.distance, best_family=n.record.best_family,
                              n_configs_used=used[n.record.run_id]) for n in neighbors)
    return Retrieval(proposals=tuple(p for p, _ in proposals), runs=runs,
                     evidence=describe_neighbors(neighbors, shown_spaces(spaces, profile)))


def warm_start(neighbors: Sequence[Neighbor], spaces: Sequence[FamilySpace],
               n_warm: int) -> list[tuple[Proposal, str]]:
    """One configuration per neighbour, nearest first, each with the run it came from.

    A neighbour gives its best configuration that is valid here and new (a family
    left out of this catalog, say SVM on a big table, passes to its next best).
    One per neighbour, not a neighbour's whole top list: a single past dataset's
    favourites are usually one family in several variants, a poor hedge.
    """
    out: list[tuple[Proposal, str]] = []
    seen: set[str] = set()
    for n in neighbors:
        if len(out) >= n_warm:
            break
        for rank, stored in enumerate(n.record.top_configs):
            config = to_config(_raw(stored), spaces)
            if config is None or config.key() in seen:
                continue
            seen.add(config.key())
            out.append((Proposal(config=config, source="memory",
                                 rationale=f"rank {rank + 1} on {n.record.dataset} "
                                           f"(distance {n.distance:.2f})"),
                        n.record.run_id))
            break
    return out


def merge_queue(memory: Sequence[Proposal], queue: Sequence[Proposal], *,
                cheapest_first: bool = False) -> list[Proposal]:
    """The first BO round's order: memory and family defaults taking turns.

    Defaults of families no memory point covers go first, so the opening
    trials span as many families as they can; the memory's points add tuned
    evidence without pushing every default out of the opening.

    ``cheapest_first`` (a run against the clock): the families' usual cost to fit
    (``tools.catalog.DEFAULTS_ORDER``) orders the opening instead, a family's memory points
    before its default, so that a slow family cannot hold the workers before the cheap
    ones have given a model.
    """
    if cheapest_first:
        rank = {name: i for i, name in enumerate(DEFAULTS_ORDER)}
        return sorted([*memory, *queue],
                      key=lambda p: (rank.get(p.config.family, len(rank)), p.source != "memory"))
    covered = {p.config.family for p in memory}
    rest = ([p for p in queue if p.config.family not in covered]
            + [p for p in queue if p.config.family in covered])
    merged: list[Proposal] = []
    for i in range(max(len(memory), len(rest))):
        merged += [*memory[i:i + 1], *rest[i:i + 1]]
    return merged


def describe_neighbors(neighbors: Sequence[Neighbor], shown: Sequence[FamilySpace] = (), *,
                       n_runs: int = 3, per_run: int = 1) -> str:
    """A few lines per past run for the planner: what it was and what won there.

    Short on purpose (prompt tokens are a local model's latency): the nearest
    ``n_runs`` runs, their ``per_run`` best configurations, parameters the planner
    does not see on this data (``shown``) left out.
    """
    if not neighbors:
        return "none"
    keep = {s.name: set(s.params) for s in shown}
    lines = []
    for n in neighbors[:n_runs]:
        r = n.record
        lines.append(f"- {r.dataset}: {r.n_rows} rows, {r.n_features} features, {r.metric}; "
                     f"distance {n.distance:.2f}")
        for stored in r.top_configs[:per_run]:
            share = ("" if stored.normalized is None
                     else f", {stored.normalized:.0%} of the way from dummy to perfect")
            config = describe_config(stored.config, keep.get(stored.config.family))
            lines.append(f"  - {config}: {stored.cv_score:.4f}{share}")
    return "\n".join(lines)


def memory_record(record: RunRecord, *, profile: DatasetProfile, trials: Sequence[TrialResult],
                  dataset: str, fingerprint: str, dummy_cv_score: float,
                  source: RecordSource = "run") -> MemoryRecord:
    """What the memory keeps of a finished run: its profile and its best configurations."""
    ideal = ideal_score(record.direction)
    top: list[StoredConfig] = []
    seen: set[str] = set()
    for t in rank_trials(trials, record.direction):
        if len(top) >= N_TOP_CONFIGS or not is_scored(t):
            break
        if t.config.key() in seen or is_code_family(t.config.family):
            continue  # a code proposal's module is this run's own: nothing to warm-start
        seen.add(t.config.key())
        assert t.cv_score is not None
        top.append(StoredConfig(config=t.config, cv_score=t.cv_score,
                                normalized=normalized_score(t.cv_score, dummy=dummy_cv_score,
                                                            best=ideal)))
    return MemoryRecord(
        run_id=record.run_id, created_at=record.created_at,
        mlpilot_version=record.mlpilot_version, source=source, dataset=dataset,
        fingerprint=fingerprint, task_type=record.task_type, metric=record.metric,
        direction=record.direction, n_rows=profile.n_rows,
        n_features=profile.n_numeric + profile.n_categorical,
        meta_features=profile.meta_features, meta_feature_version=profile.meta_feature_version,
        best_family=top[0].config.family if top else None,
        best_score=top[0].cv_score if top else None,
        best_normalized=top[0].normalized if top else None,
        top_configs=tuple(top), n_trials=record.n_trials)


def remember(use: MemoryUse, record: MemoryRecord) -> str | None:
    """Add the record; a failing store is a warning (returned), not a failed run."""
    if not use.write or not record.top_configs:
        return None
    try:
        use.store.add(record)
    except StoreError as exc:
        log.warning("this run could not be added to the run memory: %s", exc)
        return f"run not remembered: {exc}"
    return None


def dataset_name(task: TaskSpec) -> str:
    """A name for people: ``bundled:iris`` -> ``iris``, ``data/churn.csv.gz`` -> ``churn``."""
    text = str(task.data_path)
    if text.startswith("bundled:"):
        return text.removeprefix("bundled:")
    name = task.data_path.name
    for suffix in (".gz", ".bz2", ".xz", ".zip", ".csv", ".tsv", ".txt", ".parquet", ".pq"):
        name = name.removesuffix(suffix)
    return name or text


def _raw(stored: StoredConfig) -> RawProposal:
    return RawProposal(family=stored.config.family, params=dict(stored.config.params))
