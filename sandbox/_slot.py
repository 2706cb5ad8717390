"""One worker slot: a warm zygote process, its scratch folder, its cgroup, and one job at a time.

The parent side of the protocol lives here: start the zygote, hand it a job,
wait for the answer with the trial's deadline, and when the deadline passes
or the pool is cancelled, kill the whole slot. A killed or crashed zygote is
started again lazily, on the slot's next job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox._cgroup import SlotCgroup
from sandbox._harness import (
    ESTIMATOR_FILE,
    FITTED_FILE,
    LOG_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
    ROWS_FILE,
    TRAIN_PREDICTIONS_FILE,
)
from sandbox._outcome import failed_result, job_shape, read_report, result_from_report
from schemas import FailureKind, SandboxError, TrialResult, TrialSpec

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 180.0
_MIB = 1 << 20
DISK_POLL_S = 0.25  # how often a running trial's folder is measured
_MAX_ENTRIES = 100_000  # a folder with more files than this counts as over its disk limit
_MAX_LINE = 1 << 20
_OUTPUTS = (PREDICTIONS_FILE, TRAIN_PREDICTIONS_FILE, FITTED_FILE, RESULT_FILE, LOG_FILE)
# only a refit writes a fitted file: a predict job may read its input from that very path
_NOT_REFIT_OUTPUTS = tuple(name for name in _OUTPUTS if name != FITTED_FILE)
_CGROUP_WRAPPER = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"'


@dataclass(frozen=True)
class LaunchPlan:
    """How every slot of a pool starts its zygote."""

    argv: list[str]
    env: dict[str, str]
    config: dict[str, Any]  # the zygote's first stdin line
    n_rows: int | None  # the data bundle's (None: a pool without one, for "predict" jobs)
    n_classes: int | None


class Epoch:
    """A counter that ``cancel_all`` bumps; a job that saw an older value is cancelled."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.value += 1


class _LineReader:
    """JSON lines from the zygote's stdout, with a deadline."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def read(self, deadline: float) -> dict[str, Any] | None:
        """The next message; None when the zygote is gone; TimeoutError at the deadline."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(math.ceil(remaining * 1000)):
                raise TimeoutError
            chunk = os.read(self._fd, 65536)
            if not chunk or len(self._buffer) > _MAX_LINE:
                return None
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None


class Slot:
    """A zygote and the folder its trials work in; used by one job at a time."""

    def __init__(self, index: int, slot_dir: Path, plan: LaunchPlan, cgroup: SlotCgroup | None,
                 spawn: Callable[[Callable[[], subprocess.Popen[bytes]]], subprocess.Popen[bytes]],
                 epoch: Epoch) -> None:
        self.index = index
        self.slot_dir = slot_dir
        self.log_path = slot_dir.with_name(slot_dir.name + ".log")
        self._plan = plan
        self._cgroup = cgroup
        self._spawn = spawn
        self._epoch = epoch
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: _LineReader | None = None
        self._busy = False
        self._cancelled = False
        self._standby_pid: int | None = None  # the zygote's pre-forked child
        self._baseline_bytes = 0  # the slot's memory use when idle and warm

    # -- process lifetime -------------------------------------------------------------------

    def launch(self) -> None:
        """Start the zygote without waiting for it (slots of a pool start side by side)."""
        argv = self._plan.argv
        if self._cgroup is not None:
            argv = ["/bin/sh", "-c", _CGROUP_WRAPPER, "sh",
                    *map(str, self._cgroup.procs_files()), *argv]
        with open(self.log_path, "wb") as log:
            def popen() -> subprocess.Popen[bytes]:
                return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=log, env=self._plan.env, cwd=self.slot_dir,
                                        start_new_session=True, close_fds=True)
            proc = self._spawn(popen)
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self._reader = _LineReader(proc.stdout.fileno())
        try:
            proc.stdin.write((json.dumps(self._plan.config) + "\n").encode())
            proc.stdin.flush()
        except OSError:
            pass  # the zygote died at once; wait_ready reports why

    def wait_ready(self) -> None:
        """Block until the zygote has loaded everything; SandboxError if it cannot."""
        assert self._reader is not None
        try:
            message = self._reader.read(time.monotonic() + STARTUP_TIMEOUT_S)
        except TimeoutError:
            message = {"event": f"no answer within {STARTUP_TIMEOUT_S:.0f} s"}
        if message is None or message.get("event") != "ready":
            self.kill()
            reason = _last_line(self.log_path) or str((message or {}).get("event", "it exited"))
            raise SandboxError(f"The sandbox worker {self.index} could not start: {reason}")
        self._standby_pid = message.get("standby_pid")
        if self._cgroup is not None:
            self._baseline_bytes = self._cgroup.usage()

    def ensure_running(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is not None:
                logger.info("restarting sandbox worker %d", self.index)
                self.kill()
            self.launch()
            self.wait_ready()

    def kill(self) -> None:
        """Kill the zygote and everything under it; bwrap takes its pid namespace down."""
        with self._lock:
            proc, self._proc, self._reader = self._proc, None, None
        if proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
        if self._cgroup is not None:
            self._cgroup.kill_all()
        if proc is not None:
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()

    def cancel(self) -> None:
        """Stop the running job now; it ends failed with failure 'cancelled'."""
        with self._lock:
            if not self._busy:
                return
            self._cancelled = True
            if self._proc is not None and self._proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def close(self) -> None:
        self.cancel()
        self.kill()
        if self._cgroup is not None:
            self._cgroup.remove()
        shutil.rmtree(self.slot_dir, ignore_errors=True)

    # -- one job ------------------------------------------------------------------------------

    def run(self, spec: TrialSpec, epoch: int, t0: float, started_at: datetime) -> TrialResult:
        """Run one trial on this slot; only a broken sandbox raises (SandboxError)."""
        with self._lock:
            self._busy, self._cancelled = True, False
        try:
            return self._run(spec, epoch, t0, started_at)
        finally:
            with self._lock:
                self._busy = False
            _clear_dir(self.slot_dir)

    def _run(self, spec: TrialSpec, epoch: int, t0: float, started_at: datetime) -> TrialResult:
        def fail(failure: FailureKind, error: str) -> TrialResult:
            return failed_result(spec, failure, error, wall_time_s=time.monotonic() - t0,
                                 started_at=started_at)

        try:
            self.ensure_running()
        except SandboxError:
            if self._cancelled:  # cancel_all killed the worker while it was starting
                return fail("cancelled", "the trial was cancelled before it started")
            raise
        try:
            shape = job_shape(spec, self._plan.n_rows, self._plan.n_classes)
        except (OSError, ValueError) as exc:
            return fail("exception", f"cannot read the rows to predict: {exc}")
        trial_dir = self.slot_dir / str(spec.trial_id)
        try:
            _prepare_trial_dir(trial_dir, spec)
        except OSError as exc:
            return fail("exception", f"cannot copy the job's files into the sandbox: {exc}")
        oom_before = self._prepare_cgroup(spec)
        with self._lock:
            if self._epoch.value != epoch or self._cancelled:
                return fail("cancelled", "the trial was cancelled before it started")
            proc, reader = self._proc, self._reader
        assert proc is not None and proc.stdin is not None and reader is not None
        try:
            proc.stdin.write((json.dumps(self._job(spec, trial_dir, shape)) + "\n").encode())
            proc.stdin.flush()
            message = _await_answer(reader, trial_dir, spec)
        except OSError:
            message = None
        if message is None or message.get("event") != "done":
            self.kill()
        else:
            self._standby_pid = message.get("standby_pid")
            if self._cgroup is not None and not self._plan.config["pidns"]:
                # No pid namespace to sweep: kill what the trial left in the slot's cgroup.
                # The finished child is already SIGKILLed by the zygote; waiting for its
                # teardown here would only add latency.
                spare = {proc.pid, self._standby_pid or 0, message.get("child_pid") or 0}
                self._cgroup.kill_all(keep=frozenset(spare))
        _move_outputs(trial_dir, spec.work_dir,
                      _OUTPUTS if spec.kind == "refit" else _NOT_REFIT_OUTPUTS)
        if message is not None and message.get("event") == "disk":
            shutil.rmtree(trial_dir, ignore_errors=True)  # give the space back now
        oom = self._cgroup is not None and self._cgroup.oom_kills() > oom_before
        return self._outcome(spec, shape, message, oom, t0, started_at)

    def _outcome(self, spec: TrialSpec, shape: tuple[int, int | None],
                 message: dict[str, Any] | None, oom: bool, t0: float,
                 started_at: datetime) -> TrialResult:
        """Classify how the job ended, from the zygote's answer and the cgroup."""
        wall = time.monotonic() - t0
        report = read_report(spec.work_dir / RESULT_FILE)
        if message is not None and message.get("event") == "done" and report is not None:
            return result_from_report(spec, report, n_rows=shape[0], n_classes=shape[1],
                                      wall_time_s=wall, started_at=started_at)
        failure, reason = _classify(message, oom, self._cancelled, spec)
        log_tail = _tail_text(spec.work_dir / LOG_FILE, 1500)
        error = f"{reason}\n{log_tail}" if log_tail else reason
        return failed_result(spec, failure, error, wall_time_s=wall, started_at=started_at)

    def _prepare_cgroup(self, spec: TrialSpec) -> int:
        if self._cgroup is None:
            return 0
        # A fixed baseline (not the current usage): page cache the trials left behind is
        # reclaimable and must not raise the next trial's allowance.
        self._cgroup.set_memory_limit(self._baseline_bytes + spec.memory_mb * _MIB)
        return self._cgroup.oom_kills()

    def _job(self, spec: TrialSpec, trial_dir: Path,
             shape: tuple[int, int | None]) -> dict[str, Any]:
        n_rows, n_classes = shape
        n_cells = n_rows * max(n_classes or 1, 1)
        fsize_mb = max(256, 2 * math.ceil(n_cells * 8 / _MIB) + 16)
        if spec.kind != "cv":  # a fitted model, and one block of predictions per member
            fsize_mb = max(fsize_mb, spec.disk_mb)
        if self._cgroup is not None:  # RSS is limited by the cgroup; RLIMIT_AS is a backstop
            as_extra_mb = 2 * spec.memory_mb + 4096
        else:
            as_extra_mb = spec.memory_mb + 512 + 64 * spec.n_threads
        return {"trial_dir": str(trial_dir), "predict_kind": spec.predict_kind,
                "kind": spec.kind, "n_classes": n_classes,
                "n_threads": spec.n_threads, "as_extra_mb": as_extra_mb,
                "cpu_s": math.ceil(spec.timeout_s * max(spec.n_threads, os.cpu_count() or 1)) + 10,
                "fsize_mb": fsize_mb}


def _await_answer(reader: _LineReader, trial_dir: Path, spec: TrialSpec) -> dict[str, Any] | None:
    """The zygote's answer, or a timeout or disk event of ours: while the trial runs, its
    folder is measured every ``DISK_POLL_S`` (RLIMIT_FSIZE caps one file, not how many)."""
    deadline = time.monotonic() + spec.timeout_s
    limit = spec.disk_mb * _MIB
    while True:
        try:
            return reader.read(min(deadline, time.monotonic() + DISK_POLL_S))
        except TimeoutError:
            if time.monotonic() >= deadline:
                return {"event": "timeout"}
            if folder_bytes(trial_dir, limit) > limit:
                return {"event": "disk"}


def folder_bytes(path: Path, limit: int) -> int:
    """The disk space a folder's files take (allocated blocks, links not followed); the
    count stops early once it passes ``limit`` or meets more than ``_MAX_ENTRIES`` entries."""
    total, seen = 0, 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += stat.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            if total > limit or seen > _MAX_ENTRIES:
                return limit + 1
    return total


def _classify(message: dict[str, Any] | None, oom: bool, cancelled: bool,
              spec: TrialSpec) -> tuple[FailureKind, str]:
    if cancelled:
        return "cancelled", "the trial was cancelled"
    if oom:
        return "memory", "the trial was killed for exceeding its memory limit"
    if message is None:
        return "killed", "the sandbox worker died during the trial"
    if message.get("event") == "timeout":
        return "timeout", f"the trial exceeded its time limit of {spec.timeout_s:g} s"
    if message.get("event") == "disk":
        return "killed", (f"the trial was killed for writing more than its disk limit of "
                          f"{spec.disk_mb} MiB into its folder")
    sig = message.get("signal")
    if isinstance(sig, int):
        if sig == signal.SIGXCPU:
            return "timeout", "the trial exceeded its CPU time limit"
        return "killed", f"the trial process was killed by signal {_signal_name(sig)}"
    return "exception", (f"the trial process exited with code {message.get('exit_code')} "
                         f"without a valid result")


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _prepare_trial_dir(trial_dir: Path, spec: TrialSpec) -> None:
    """A fresh trial folder with the estimator (and a code proposal's modules) copied in,
    and the rows to predict of a "refit" or "predict" job."""
    shutil.rmtree(trial_dir, ignore_errors=True)
    trial_dir.mkdir()
    shutil.copyfile(spec.estimator_path, trial_dir / ESTIMATOR_FILE)
    if spec.rows_path is not None:
        shutil.copyfile(spec.rows_path, trial_dir / ROWS_FILE)
    for module in spec.estimator_path.parent.glob("*.py"):
        if module.is_file():
            shutil.copyfile(module, trial_dir / module.name)


def _move_outputs(trial_dir: Path, work_dir: Path, names: tuple[str, ...]) -> None:
    """Move the job's output files (regular files only, never links) to its work folder."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = work_dir / name
        target.unlink(missing_ok=True)
        source = trial_dir / name
        if not _is_regular(source):
            continue
        shutil.move(source, target)


def _is_regular(path: Path) -> bool:
    try:
        return path.lstat().st_mode & 0o170000 == 0o100000
    except OSError:
        return False


def _clear_dir(path: Path) -> None:
    """Empty the slot folder, whatever the trial left there."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _tail_text(path: Path, n_chars: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - n_chars))
            return handle.read().decode(errors="replace").strip()
    except OSError:
        return ""


def _last_line(path: Path) -> str:
    lines = _tail_text(path, 4000).splitlines()
    return lines[-1].strip() if lines else ""


def make_spawner() -> tuple[ThreadPoolExecutor, Callable[..., subprocess.Popen[bytes]]]:
    """One long-lived thread that starts every zygote.

    bwrap's ``--die-with-parent`` fires when the *thread* that forked it ends;
    starting zygotes from the callers' short-lived threads would kill them.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlpilot-sandbox-spawn")

    def spawn(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        return executor.submit(popen).result()

    return executor, spawn
