"""The benchmark runner: every method on every task of a suite, several seeds, one budget.

A cell is one (task, method, seed). Every cell of a task and seed sees the same
holdout split, the same folds and the same feature preparation
(``agents.prepare_data``); the catalog methods run through the same graph, the
same sandbox harness and the same search-space catalog, and differ only in who
proposes the configurations:

==============  ==========================================================================
``mlpilot``        the full agent: LLM planner + run memory + TPE, family defaults first
``mlpilot-nollm``  run memory + TPE, family defaults first (``--llm none``)
``tpe-default``    TPE with the family defaults first, no memory: separates a good prior
                   from a good search
``tpe``            optuna's TPE alone: 10 random start-up trials, then the model
``gp``             optuna's GPSampler: 10 random start-up trials; it models the family
                   choice, each family's parameters are drawn at random (``tools.bo``)
``random``         uniform random configurations
``flaml``          the FLAML library's own AutoML on the same rows and folds, scored by our
                   harness on the same holdout (``evals._flaml``)
==============  ==========================================================================

The memory methods retrieve from the shipped seed records (``memory/seed_runs.jsonl``)
with the task's own dataset left out, and write nothing: cells never feed each
other, so their order does not matter. Finished cells go to the ledger
(``evals._ledger``); rerunning the same command skips them.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd
from filelock import FileLock, Timeout

from agents import (
    ExecutorFactory,
    MemoryUse,
    SearchSettings,
    default_code_mode,
    execute_run,
    prepare_data,
    read_trials,
)
from evals._ledger import BenchSettings, CellResult, CurvePoint, Ledger
from evals.suite import BenchTask, Suite, task_spec, task_table
from memory import SEED_FILE, InMemoryRunStore, read_jsonl
from schemas import (
    METRICS,
    ConfigError,
    Direction,
    MemoryRecord,
    TaskSpec,
    TrialResult,
)
from tools.leaderboard import is_scored
from tools.metrics import is_better

if TYPE_CHECKING:
    from tools.llm import LLMClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Method:
    """How one method searches: an LLM or not, the memory or not, and BO's settings."""

    name: str
    description: str
    llm: bool = False
    memory: bool = False
    settings: SearchSettings = field(default_factory=SearchSettings)
    external: bool = False  # not a catalog search through our graph (FLAML)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("mlpilot", "LLM planner + run memory + TPE, family defaults first",
           llm=True, memory=True),
    Method("mlpilot-nollm", "run memory + TPE, family defaults first", memory=True),
    Method("tpe-default", "TPE, family defaults first, no memory"),
    Method("tpe", "optuna TPE, 10 random start-up trials",
           settings=SearchSettings(sampler="tpe", defaults=False, n_startup_trials=10)),
    Method("gp", "optuna GPSampler, 10 random start-up trials",
           settings=SearchSettings(sampler="gp", defaults=False, n_startup_trials=10)),
    Method("random", "uniform random search",
           settings=SearchSettings(sampler="random", defaults=False)),
    Method("flaml", "FLAML AutoML: lgbm, random forest, extra trees (+ L1 logistic "
                    "regression for classification), its own search",
           external=True),
)}


def parse_methods(text: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``, each a known method, in the order given, no repeats."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in METHODS]
    if not names or unknown:
        raise ConfigError(f"The '--methods' parameter must list methods among "
                          f"{list(METHODS)}; got {text!r} instead.")
    return names


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"3"`` -> seeds 0, 1, 2; ``"0,5,7"`` -> those seeds."""
    try:
        if "," not in text:
            n = int(text)
            if n < 1:
                raise ValueError
            return tuple(range(n))
        seeds = tuple(dict.fromkeys(int(s) for s in text.split(",") if s.strip()))
        if not seeds or min(seeds) < 0:
            raise ValueError
        return seeds
    except ValueError:
        raise ConfigError(f"The '--seeds' parameter must be a count (3: seeds 0, 1, 2) or a "
                          f"list of seeds >= 0 (0,5,7); got {text!r} instead.") from None


class LLMOpener(Protocol):
    def __call__(self, seed: int) -> LLMClient | None: ...


class Progress(Protocol):
    def on_cell(self, cell: CellResult, *, done: int, total: int, elapsed_s: float,
                left_s: float | None) -> None: ...


@dataclass
class BenchEnv:
    """The real parts a bench runs with (the CLI wires them)."""

    make_executor: ExecutorFactory
    open_llm: LLMOpener | None  # None: no LLM configured; methods that need one fail
    llm_name: str
    cache_dir: Path  # Parquet copies of the suite's tables
    version: str
    seed_records: Sequence[MemoryRecord] = ()
    progress: Progress | None = None
    run_flaml: Callable[..., CellResult] | None = None


def load_seed_records(path: Path = SEED_FILE) -> list[MemoryRecord]:
    _, records, _ = read_jsonl(path)
    return records


@dataclass
class _Clock:
    """Seconds per finished cell, by method, for the time-left estimate."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def left(self, todo: Sequence[tuple[BenchTask, str, int]]) -> float | None:
        every = [s for values in self.seconds.values() for s in values]
        if not every:
            return None
        overall = sum(every) / len(every)
        return sum(_mean(self.seconds.get(method)) or overall for _, method, _ in todo)


def run_bench(suite: Suite, methods: Sequence[str], seeds: Sequence[int], *,
              settings: BenchSettings, out: Path, env: BenchEnv) -> Ledger:
    """Run every missing cell of suite × methods × seeds into the ledger in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / ".bench.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"Another bench is running in '{out}'; wait for it, or choose a new "
                          "'--out'.") from None
    try:
        return _run_cells(suite, methods, seeds, settings=settings, out=out, env=env)
    finally:
        lock.release()


def _run_cells(suite: Suite, methods: Sequence[str], seeds: Sequence[int], *,
               settings: BenchSettings, out: Path, env: BenchEnv) -> Ledger:
    ledger = Ledger(out, settings)
    cells = [(task, method, seed) for task in suite.tasks for seed in seeds
             for method in methods]
    todo = [c for c in cells if (c[0].name, c[1], c[2]) not in ledger]
    n_done = len(cells) - len(todo)
    if n_done:
        log.info("%d of %d cells already in the ledger; running the other %d",
                 n_done, len(cells), len(todo))
    clock = _Clock()
    start = time.monotonic()
    for i, (task, method, seed) in enumerate(todo):
        cell = run_cell(task, METHODS[method], seed, settings=settings, root=out, env=env)
        ledger.add(cell)
        clock.seconds[method].append(cell.wall_s)
        if env.progress is not None:
            env.progress.on_cell(cell, done=n_done + i + 1, total=len(cells),
                                 elapsed_s=time.monotonic() - start,
                                 left_s=clock.left(todo[i + 1:]))
    return ledger


def run_cell(task: BenchTask, method: Method, seed: int, *, settings: BenchSettings,
             root: Path, env: BenchEnv) -> CellResult:
    """One method on one task with one seed; a method that breaks is a failed cell."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    run_dir = root / "runs" / f"{task.name}-{method.name}-s{seed}"
    if run_dir.exists():  # a cell killed midway starts again from scratch
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    spec = task_spec(task, seed=seed, n_trials=settings.n_trials,
                     time_budget_s=settings.time_budget_s, n_workers=settings.n_workers)
    table = task_table(task, env.cache_dir)
    try:
        if method.external:
            if env.run_flaml is None:
                raise ConfigError("FLAML is not available to this bench.")
            cell = env.run_flaml(spec, table, work_dir=run_dir, task_name=task.name,
                                 method=method.name)
            return cell.model_copy(update={"run_dir": str(run_dir.relative_to(root))})
        return _catalog_cell(task, method, spec, table, run_dir, root, env, started, t0)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        log.warning("cell %s/%s/seed %d failed: %s: %s", task.name, method.name, seed,
                    type(exc).__name__, exc)
        return CellResult(task=task.name, method=method.name, seed=seed, status="failed",
                          error=_one_line(f"{type(exc).__name__}: {exc}"),
                          task_type=task.task_type, metric=task.metric,
                          direction=_direction(task), wall_s=time.monotonic() - t0,
                          run_dir=str(run_dir.relative_to(root)))


def _settings(method: Method, llm_name: str) -> SearchSettings:
    """The method's search settings; the full agent writes code as ``mlpilot run`` would."""
    if not method.llm:
        return method.settings
    return method.settings.model_copy(update={"code": default_code_mode(llm_name)})


def _catalog_cell(task: BenchTask, method: Method, spec: TaskSpec, table: pd.DataFrame,
                  run_dir: Path, root: Path, env: BenchEnv, started: datetime,
                  t0: float) -> CellResult:
    llm = None
    if method.llm:
        if env.open_llm is None:
            raise ConfigError("The method 'mlpilot' needs an LLM; this bench has '--llm none'.")
        llm = env.open_llm(spec.seed)
    memory = None
    if method.memory:
        store = InMemoryRunStore()
        others = [r for r in env.seed_records if r.dataset != task.dataset]
        if others:
            store.add(*others)
        memory = MemoryUse(store=store, location="memory:", exclude_own_dataset=True,
                           write=False)
    record = execute_run(spec, table, run_dir=run_dir / "run", make_executor=env.make_executor,
                         version=env.version, llm=llm,
                         llm_name=env.llm_name if method.llm else "none", memory=memory,
                         settings=_settings(method, env.llm_name)).record
    dummy_cv = prepare_data(spec, table).check_context().dummy_cv_score
    trials = read_trials(run_dir / "run")
    return CellResult(
        task=task.name, method=method.name, seed=spec.seed,
        status="done" if record.status == "completed" else "failed",
        error=None if record.status == "completed" else _one_line(record.stop_reason),
        task_type=record.task_type, metric=record.metric, direction=record.direction,
        n_trials=record.n_trials, holdout=record.holdout_score,
        dummy_holdout=record.dummy_holdout_score,
        best_cv=None if record.best is None else record.best.cv_score, dummy_cv=dummy_cv,
        best_family=None if record.best is None else record.best.config.family,
        wall_s=time.monotonic() - t0, llm_calls=record.llm.n_calls,
        llm_tokens=record.llm.prompt_tokens + record.llm.completion_tokens,
        llm_cost_usd=record.llm.cost_usd, llm_time_s=record.llm.time_s,
        trials_by_source=dict(record.trials_by_source),
        curve=anytime_curve(trials, record.direction, started),
        run_dir=str(run_dir.relative_to(root)))


def anytime_curve(trials: Sequence[TrialResult], direction: Direction,
                  started: datetime) -> tuple[CurvePoint, ...]:
    """The incumbent's CV score after each finished trial, in the order trials finished."""
    def finished_at(t: TrialResult) -> float:
        begin = t.started_at or started
        return (begin - started).total_seconds() + t.wall_time_s

    points: list[CurvePoint] = []
    best: float | None = None
    for n, trial in enumerate(sorted(trials, key=finished_at), 1):
        if is_scored(trial) and trial.cv_score is not None and is_better(
                trial.cv_score, best, direction):
            best = trial.cv_score
        points.append(CurvePoint(trial=n, elapsed_s=max(0.0, finished_at(trial)), best_cv=best))
    return tuple(points)


def _direction(task: BenchTask) -> Direction:
    return METRICS[task.metric].direction


def _mean(values: Sequence[float] | None) -> float | None:
    return sum(values) / len(values) if values else None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
