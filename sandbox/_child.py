"""The forked child's side: wait for a job, confine itself to it, run the harness.

Everything here runs in the child between the fork and ``os._exit``: its own
process group, death with the zygote, no protocol pipes, output to a capped
log file in the trial folder, rlimits, and the trial's thread count.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
FINISHED = b"F"
_MIB = 1 << 20


def serve_one(job_r: int, done_w: int, close_fds: Sequence[int], data: Any,
              controller: Any) -> None:
    """Run as a standby child: block until the job arrives, run it, say ``FINISHED``."""
    os.setpgid(0, 0)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the zygote's protocol input is not ours to read
    os.close(null)
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    job = _read_job(job_r)
    os.close(job_r)
    trial_dir = Path(job["trial_dir"])
    _confine(job, trial_dir)
    _limit_threads(controller, job["n_threads"])
    from sandbox._harness import ESTIMATOR_FILE, ROWS_FILE, run_trial

    kind = job.get("kind", "cv")
    run_trial(data, trial_dir / ESTIMATOR_FILE, trial_dir, job["predict_kind"], kind=kind,
              rows_path=None if kind == "cv" else trial_dir / ROWS_FILE,
              n_classes=job.get("n_classes"))
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(done_w, FINISHED)


def _read_job(fd: int) -> dict[str, Any]:
    import json

    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:
        os._exit(0)  # the zygote closed our pipe without a job: it is shutting down
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result


def _confine(job: dict[str, Any], trial_dir: Path) -> None:
    log = os.open(trial_dir / "output.log",
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails, not the process
    os.chdir(trial_dir)
    threads = str(job["n_threads"])
    os.environ.update({"HOME": str(trial_dir), "TMPDIR": str(trial_dir),
                       "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                       "OPENBLAS_NUM_THREADS": threads})
    sys.path.insert(0, str(trial_dir))  # a code proposal's module lies next to its estimator
    _set_limits(job)


def _set_limits(job: dict[str, Any]) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = job["fsize_mb"] * _MIB
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    cpu = int(job["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if job.get("as_extra_mb"):
        limit = (vm_mb() + job["as_extra_mb"]) * _MIB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _limit_threads(controller: Any, n_threads: int) -> None:
    if controller is not None:
        controller.limit(limits=n_threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n_threads)


def vm_mb() -> int:
    """This process's virtual memory size in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) // 1024
    return 0


def prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
