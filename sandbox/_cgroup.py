"""Per-slot cgroup v1 memory and pids groups, where the host lets us create them.

A memory cgroup limits what a trial really uses (resident memory), which
``RLIMIT_AS`` cannot do well for libraries that reserve large address spaces
(torch). The pids group bounds fork bombs (``RLIMIT_NPROC`` does not bind
root) and lists every process of the slot, so a kill misses none of them.
When the hierarchy is absent or read-only, the pool goes on without it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PIDS_MAX = 2048
_counter = itertools.count()


class SlotCgroup:
    """A memory and a pids cgroup holding one worker slot's processes."""

    def __init__(self, memory: Path, pids: Path) -> None:
        self.memory = memory
        self.pids = pids

    @classmethod
    def create(cls, label: str) -> SlotCgroup | None:
        """Make both groups under this process's own ones; None if that is not possible."""
        name = f"mlpilot-{os.getpid()}-{next(_counter)}-{label}"
        made: list[Path] = []
        try:
            memory = _own_group("memory") / name
            pids = _own_group("pids") / name
            for path in (memory, pids):
                path.mkdir()
                made.append(path)
            (pids / "pids.max").write_text(str(PIDS_MAX))
        except (OSError, LookupError) as exc:
            for path in made:
                _rmdir(path)
            logger.debug("no cgroup for the sandbox slot: %s", exc)
            return None
        return cls(memory, pids)

    def procs_files(self) -> tuple[Path, Path]:
        return self.memory / "cgroup.procs", self.pids / "cgroup.procs"

    def usage(self) -> int:
        return int((self.memory / "memory.usage_in_bytes").read_text())

    def set_memory_limit(self, limit: int) -> None:
        """Cap the slot's memory (and memory+swap, where swap accounting exists) at ``limit``."""
        memsw = self.memory / "memory.memsw.limit_in_bytes"
        current = int((self.memory / "memory.limit_in_bytes").read_text())
        # memsw must stay >= the plain limit, so the order of the writes depends on the direction
        names = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        if limit > current:
            names.reverse()
        for name in names:
            if name == memsw.name and not memsw.exists():
                continue
            try:
                (self.memory / name).write_text(str(limit))
            except OSError as exc:
                logger.debug("cannot set %s to %d: %s", name, limit, exc)

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this group so far."""
        try:
            text = (self.memory / "memory.oom_control").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def kill_all(self, keep: frozenset[int] = frozenset(), timeout_s: float = 5.0) -> None:
        """SIGKILL every process of the slot except ``keep`` until none is left.

        This catches what ``killpg`` misses: a grandchild that called ``setsid``.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pids = {pid for pid in (_read_pids(self.pids / "cgroup.procs")
                                    | _read_pids(self.memory / "cgroup.procs")) - keep
                    if _alive(pid)}
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        logger.warning("processes of %s survived SIGKILL for %.0f s", self.pids, timeout_s)

    def remove(self) -> None:
        self.kill_all()
        for path in (self.memory, self.pids):
            _rmdir(path)


def _own_group(controller: str) -> Path:
    """The folder of this process's own cgroup for a v1 controller."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            if (folder / "cgroup.procs").exists():
                return folder
    raise LookupError(f"no cgroup v1 {controller} hierarchy")


def _alive(pid: int) -> bool:
    """False for a process that is gone or a zombie (dead, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _read_pids(path: Path) -> set[int]:
    try:
        return {int(x) for x in path.read_text().split()}
    except OSError:
        return set()


def _rmdir(path: Path) -> None:
    """Remove an empty cgroup; its processes may take a moment to vanish after SIGKILL."""
    for _ in range(100):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    logger.warning("could not remove cgroup %s", path)
