"""``SandboxPool``: warm, isolated workers that run trials in parallel.

Each slot is one long-lived zygote (inside bubblewrap when it works here,
else a plain subprocess with a cleared environment) that forks a child per
trial. ``run`` may be called from several threads; each call takes a free
slot. See ``_slot`` for the parent side of a job and ``_zygote`` for the
worker side. A pool without a data bundle (``bundle=None``) loads no data and
runs "predict" jobs only.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

from sandbox._bundle import META_FILE, DataBundle
from sandbox._cgroup import SlotCgroup
from sandbox._harness import NO_BUNDLE
from sandbox._launch import bwrap_argv, bwrap_available, import_roots, sandbox_env, zygote_argv
from sandbox._outcome import failed_result
from sandbox._slot import Epoch, LaunchPlan, Slot, make_spawner
from schemas import ConfigError, IsolationLevel, SandboxError, TrialResult, TrialSpec

logger = logging.getLogger(__name__)

Isolation = Literal["auto", "bwrap", "process"]
_ISOLATIONS = ("auto", "bwrap", "process")
_warned_no_bwrap = False


DEFAULT_PRELOAD = ("numpy", "pandas", "sklearn", "torch")  # what warm workers import up front


class SandboxPool:
    """An ``Executor`` that runs each trial in a forked child of a warm, sandboxed worker.

    The constructor only stores its arguments; ``start()`` (or the first
    ``run()``, or ``with``) starts the workers, ``close()`` stops them.
    """

    def __init__(self, bundle: DataBundle | None, *, n_workers: int = 1,
                 isolation: Isolation = "auto", scratch_dir: Path,
                 preload: Sequence[str] = DEFAULT_PRELOAD,
                 extra_readonly_paths: Sequence[Path] = ()) -> None:
        self.bundle = bundle
        self.n_workers = n_workers
        self.isolation = isolation
        self.scratch_dir = scratch_dir
        self.preload = preload
        self.extra_readonly_paths = extra_readonly_paths
        self._lock = threading.Lock()
        self._epoch = Epoch()
        self._slots: list[Slot] = []
        self._free: queue.Queue[Slot] = queue.Queue()
        self._spawner: ThreadPoolExecutor | None = None
        self._finalizer: weakref.finalize | None = None
        self._level: IsolationLevel | None = None

    @property
    def isolation_level(self) -> IsolationLevel:
        """The isolation the workers get: "bwrap" or "process"."""
        if self._level is None:
            self._level = resolve_isolation(self.isolation)
        return self._level

    def start(self) -> None:
        """Start every worker and wait until each has loaded the libraries and the data."""
        with self._lock:
            if self._slots:
                return
            self._validate()
            level = self.isolation_level
            scratch = Path(self.scratch_dir).resolve()
            scratch.mkdir(parents=True, exist_ok=True)
            plan = self._plan(level, scratch)
            self._spawner, spawn = make_spawner()
            self._free = queue.Queue()
            for i in range(self.n_workers):
                slot_dir = scratch / f"slot-{i}"
                shutil.rmtree(slot_dir, ignore_errors=True)  # left by a killed run
                slot_dir.mkdir()
                slot_plan = plan if level == "process" else self._bwrap_plan(plan, slot_dir)
                cgroup = SlotCgroup.create(f"slot{i}")
                self._slots.append(Slot(i, slot_dir, slot_plan, cgroup, spawn, self._epoch))
            self._finalizer = weakref.finalize(self, _shutdown, list(self._slots), self._spawner)
            started = time.monotonic()
            try:
                for slot in self._slots:
                    slot.launch()
                for slot in self._slots:
                    slot.wait_ready()
            except BaseException:
                self._finalizer()
                self._slots = []
                raise
            for slot in self._slots:
                self._free.put(slot)
            logger.info("started sandbox workers: %d (%s) in %.1f s", self.n_workers, level,
                        time.monotonic() - started)

    def run(self, spec: TrialSpec) -> TrialResult:
        """Run one trial; a failing trial is a failed result, never an exception."""
        t0 = time.monotonic()
        started_at = datetime.now(UTC)
        if self.bundle is None and spec.kind != "predict":
            return failed_result(spec, "exception", NO_BUNDLE.format(kind=spec.kind),
                                 wall_time_s=time.monotonic() - t0, started_at=started_at)
        epoch = self._epoch.value
        if not self._slots:
            self.start()
        free = self._free  # close() leaves this queue to the calls still waiting on it
        slot = free.get()
        try:
            if self._epoch.value != epoch:
                return failed_result(spec, "cancelled", "the trial was cancelled before it "
                                     "started", wall_time_s=time.monotonic() - t0,
                                     started_at=started_at)
            return slot.run(spec, epoch, t0, started_at)
        finally:
            free.put(slot)

    def cancel_all(self) -> None:
        """Stop every running trial now; each ends failed with failure 'cancelled'.

        Calls waiting for a free slot at this moment are cancelled too. The
        workers start again on their next trial.
        """
        self._epoch.bump()
        for slot in list(self._slots):
            slot.cancel()

    def close(self) -> None:
        """Stop the workers, remove their cgroups and scratch folders."""
        with self._lock:
            if self._finalizer is not None:
                self._epoch.bump()
                self._finalizer()
            self._slots = []

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- configuration --------------------------------------------------------------------------

    def _validate(self) -> None:
        if self.isolation not in _ISOLATIONS:
            raise ConfigError(f"The 'isolation' parameter of SandboxPool must be one of "
                              f"{list(_ISOLATIONS)}; got {self.isolation!r} instead.")
        if isinstance(self.n_workers, bool) or not isinstance(self.n_workers, int) \
                or self.n_workers < 1:
            raise ConfigError(f"The 'n_workers' parameter of SandboxPool must be an int >= 1; "
                              f"got {self.n_workers!r} instead.")
        if self.bundle is not None and not (Path(self.bundle.path) / META_FILE).is_file():
            raise ConfigError(f"The 'bundle' parameter of SandboxPool must describe a data bundle "
                              f"written by write_data_bundle; got {str(self.bundle.path)!r}, "
                              f"which has no {META_FILE}, instead.")
        missing = [str(p) for p in self.extra_readonly_paths if not Path(p).exists()]
        if missing:
            raise ConfigError(f"The 'extra_readonly_paths' parameter of SandboxPool must name "
                              f"existing paths; got missing {missing} instead.")

    def _plan(self, level: IsolationLevel, scratch: Path) -> LaunchPlan:
        extra = [Path(p).resolve() for p in self.extra_readonly_paths]
        bundle = self.bundle
        config = {"bundle": None if bundle is None else {
                      "path": str(bundle.path), "n_rows": bundle.n_rows,
                      "n_folds": bundle.n_folds, "n_classes": bundle.n_classes},
                  "preload": list(self.preload), "sys_path": import_roots(extra),
                  "pidns": level == "bwrap"}
        return LaunchPlan(argv=zygote_argv(), env=sandbox_env(), config=config,
                          n_rows=None if bundle is None else bundle.n_rows,
                          n_classes=None if bundle is None else bundle.n_classes)

    def _bwrap_plan(self, plan: LaunchPlan, slot_dir: Path) -> LaunchPlan:
        readonly = [*([] if self.bundle is None else [Path(self.bundle.path).resolve()]),
                    *(Path(p).resolve() for p in self.extra_readonly_paths)]
        argv = bwrap_argv(readonly=readonly, writable=slot_dir, env=plan.env)
        return LaunchPlan(argv=argv, env={}, config=plan.config, n_rows=plan.n_rows,
                          n_classes=plan.n_classes)


def resolve_isolation(isolation: str) -> Literal["bwrap", "process"]:
    """The isolation a pool with this setting gets here: "bwrap" or "process".

    "auto" takes bubblewrap when it works here, else plain processes (with one
    warning per process). ``ConfigError`` for an unknown setting, ``SandboxError``
    for "bwrap" where bubblewrap cannot create a sandbox.
    """
    global _warned_no_bwrap
    if isolation not in _ISOLATIONS:
        raise ConfigError(f"The 'isolation' parameter of SandboxPool must be one of "
                          f"{list(_ISOLATIONS)}; got {isolation!r} instead.")
    if isolation == "process":
        return "process"
    if bwrap_available():
        return "bwrap"
    if isolation == "bwrap":
        raise SandboxError("The 'isolation' parameter of SandboxPool is 'bwrap' but "
                           "bubblewrap (bwrap) is not installed or cannot create a sandbox "
                           "here.")
    if not _warned_no_bwrap:
        _warned_no_bwrap = True
        logger.warning("bubblewrap (bwrap) is not available: trials run as plain "
                       "subprocesses, without filesystem and network isolation")
    return "process"


def _shutdown(slots: list[Slot], spawner: ThreadPoolExecutor) -> None:
    """Close every slot (also run when a pool is garbage-collected without close())."""
    for slot in slots:
        slot.close()
    spawner.shutdown(wait=False)
