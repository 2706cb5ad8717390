"""The hostile-code battery: every attack of ``attacks/`` through ``mlpilot exec-code``.

Each attack is a complete code proposal run as a subprocess, at the isolation the machine
offers (``auto``: bubblewrap when present) and at ``process`` (a plain subprocess with
rlimits). It is contained when ``exec-code`` exits 0 with a failed ``TrialResult``
whose error carries the attack's own report and no ``ESCAPED``; nothing outside the trial
folder changed (the data file, the temp HOME, the marker folder, token-named files in the
repository, /tmp and /dev/shm); no process carrying the token is left after a grace period;
no secret shows in stdout, stderr or any file under ``--out``; neither listener heard a word.

Cases that only bubblewrap contains are expected to fail (not strictly) at ``process``; cases
that only a cgroup v1 pids/memory group contains are expected to fail where the sandbox
cannot make one; a case marked ``FINDING`` is a hole the sandbox has at every level (strict:
it must be unmarked once fixed). The report then shows which cases each level contains.
The pid-1 case is skipped without a pid namespace: pid 1 is then the host's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest

from sandbox import bwrap_available
from sandbox._cgroup import SlotCgroup
from tests.security.conftest import Run, World

pytestmark = pytest.mark.slow

NO_BWRAP = "not contained without bubblewrap"
NO_CGROUP = "not contained without a writable cgroup v1 pids/memory hierarchy"
NO_PIDNS = "without a pid namespace pid 1 is the host's: the attack never signals it"
MAX_STDOUT = 64 << 10
MAX_OUT_FILE = 512 << 20

Check = Callable[[World, Run], list[str]]


@dataclass(frozen=True)
class Attack:
    """One case of the battery: which module, with what settings and limits, checked how."""

    id: str
    module: str
    settings: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 20.0
    memory_mb: int = 1024
    reports: bool = True  # the trial's error must carry "ATTACK <module>:"
    needs_bwrap: bool = False
    needs_cgroup: bool = False
    needs_pidns: bool = False  # means nothing without a pid namespace of its own
    finding: str = ""  # a known hole: expected to fail at every level, strictly
    exit_codes: tuple[int, ...] = (0,)
    check: Check | None = None


def _stopped(*kinds: str) -> Check:
    """The trial ended with one of these failures, or the attack reports it was BLOCKED
    (a case must show that the attack ran: a module that fails to build proves nothing)."""
    def check(world: World, run: Run) -> list[str]:
        failure = (run.result or {}).get("failure")
        if failure in kinds or "BLOCKED" in run.error:
            return []
        return [f"the trial failed with {failure!r}, not one of {kinds}, and the attack does "
                f"not report being BLOCKED"]
    return check


def _disk_limited(world: World, run: Run) -> list[str]:
    """Killed by the sandbox's disk limit (RLIMIT_FSIZE alone caps each file, not how many)."""
    if (run.result or {}).get("failure") == "killed" and "disk limit" in run.error:
        return []
    return [f"the trial was not stopped by the disk limit: {run.error[:300]!r}"]


def _says(*words: str) -> Check:
    def check(world: World, run: Run) -> list[str]:
        return [f"the error does not say {w!r}" for w in words if w not in run.error]
    return check


def _both(first: Check, second: Check) -> Check:
    def check(world: World, run: Run) -> list[str]:
        return first(world, run) + second(world, run)
    return check


def _timed_out(world: World, run: Run) -> list[str]:
    failure = (run.result or {}).get("failure")
    wall = float((run.result or {}).get("wall_time_s") or 0.0)
    problems = [f"the trial failed with {failure!r}, not 'timeout'"] if failure != "timeout" \
        else []
    return problems + ([f"the trial ran {wall:.1f} s, not about 5"] if not 4.5 <= wall < 15
                       else [])


def _output_capped(world: World, run: Run) -> list[str]:
    problems = [f"stdout has {len(run.stdout)} characters"] if len(run.stdout) > MAX_STDOUT \
        else []
    files = [p for p in run.out_dir.rglob("*") if p.is_file()] if run.out_dir.exists() else []
    problems += [f"{p} has {p.stat().st_size >> 20} MiB" for p in files
                 if p.stat().st_size > MAX_OUT_FILE]
    return problems


def _refused_or_harmless(world: World, run: Run) -> list[str]:
    if run.returncode == 2:  # the static check refused the module: say why, in one line
        lines = run.stderr.strip().splitlines()
        return [] if len(lines) == 1 and "SPACE" in lines[0] else [f"stderr: {run.stderr!r}"]
    return _says("ATTACK space_trick:")(world, run)


ATTACKS = [
    Attack("network", "connect_back", needs_bwrap=True),
    Attack("dns", "resolve_name", needs_bwrap=True),
    Attack("environment", "read_environment", needs_bwrap=True),
    Attack("home", "read_home", needs_bwrap=True),
    Attack("holdout", "read_holdout", needs_bwrap=True),
    Attack("write_outside", "write_outside", needs_bwrap=True),
    Attack("fork_bomb", "fork_bomb", reports=False, needs_cgroup=True,
           check=_stopped("killed", "memory", "timeout")),
    Attack("memory_bomb", "memory_bomb", memory_mb=256, reports=False,
           check=_stopped("memory", "killed")),
    Attack("memory_bomb_4_processes", "memory_bomb", {"n_processes": 4}, memory_mb=256,
           reports=False, needs_cgroup=True, check=_stopped("memory", "killed")),
    Attack("fill_disk", "fill_disk", reports=False, check=_disk_limited),
    Attack("busy_loop", "busy_loop", timeout_s=5, reports=False, check=_timed_out),
    Attack("setsid_daemon", "leave_daemon", needs_bwrap=True, check=_says("STARTED daemon")),
    Attack("kill_parent", "signal_parent", {"target": "parent"}, reports=False,
           check=_stopped("killed")),
    Attack("kill_group", "signal_parent", {"target": "group"}, reports=False,
           check=_stopped("killed")),
    Attack("kill_pid1", "signal_parent", {"target": "pid1"}, needs_pidns=True,
           check=_says("SENT SIGTERM and SIGKILL to pid 1")),
    Attack("kill_exec_code", "signal_parent", {"target": "exec_code"}, needs_bwrap=True),
    Attack("print_flood", "print_flood", reports=False,
           check=_both(_stopped("killed", "timeout"), _output_capped)),
    Attack("import_time", "top_level", check=_says("ran without the API key")),
    Attack("space_literal", "space_trick", reports=False, exit_codes=(0, 2),
           check=_refused_or_harmless),
]


@cache
def _cgroup_available() -> bool:
    """Whether the sandbox can make its per-slot cgroups here (root on a cgroup v1 host)."""
    group = SlotCgroup.create("battery-probe")
    if group is None:
        return False
    group.remove()
    return True


def _expect(request: pytest.FixtureRequest, level: str, attack: Attack) -> None:
    """Mark the case by what this machine's level can contain (decided here, not at
    collection, so that collecting the module starts no bwrap and makes no cgroup)."""
    contained_by_bwrap = level == "auto" and bwrap_available()
    if attack.needs_pidns and not contained_by_bwrap:
        pytest.skip(NO_PIDNS)
    if attack.finding:
        request.applymarker(pytest.mark.xfail(strict=True, reason=attack.finding))
    if attack.needs_bwrap and not contained_by_bwrap:
        request.applymarker(pytest.mark.xfail(strict=False, reason=NO_BWRAP))
    if attack.needs_cgroup and not _cgroup_available():
        request.applymarker(pytest.mark.xfail(strict=False, reason=NO_CGROUP))


def _problems(world: World, run: Run, attack: Attack) -> list[str]:
    """Everything that says the attack was not contained."""
    problems = []
    if run.returncode not in attack.exit_codes:
        problems.append(f"exec-code exited {run.returncode}, not {attack.exit_codes}")
    if run.returncode == 0:
        if run.result is None:
            problems.append("stdout is not one JSON object")
        elif run.result.get("status") != "failed":
            problems.append(f"the trial's status is {run.result.get('status')!r}, not failed")
    if "ESCAPED" in run.error:
        problems.append("the attack says it ESCAPED")
    if attack.reports and f"ATTACK {attack.module}:" not in run.error:
        problems.append("the error does not carry the attack's report")
    left = world.leftovers()  # first: a leftover could still write into the snapshot folders
    if left:
        problems.append(f"processes left behind: {left}")
    after = world.snapshot()
    changed = sorted(k for k in set(world.before) | set(after) if world.before.get(k)
                     != after.get(k))
    if changed:
        problems.append(f"files changed outside the trial folder: {changed}")
    escapes = world.escapes()
    if escapes:
        problems.append(f"files written outside the trial folder: {escapes}")
    problems += world.leaks(run)
    if world.tcp.n_connections or world.udp.received:
        problems.append(f"the listeners heard {world.tcp.n_connections} connection(s) and "
                        f"{len(world.udp.received)} datagram(s): {world.tcp.received[:1]}"
                        f"{world.udp.received[:1]}")
    if attack.check is not None and run.returncode in attack.exit_codes:
        problems += attack.check(world, run)
    return problems


@pytest.mark.timeout(150)
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
@pytest.mark.parametrize("level", ["auto", "process"])
def test_the_attack_is_contained(request: pytest.FixtureRequest, world: World, level: str,
                                 attack: Attack) -> None:
    _expect(request, level, attack)
    run = world.run(attack.module, isolation=level, timeout_s=attack.timeout_s,
                    memory_mb=attack.memory_mb, **attack.settings)
    problems = _problems(world, run, attack)
    assert problems == [], "\n".join([*problems, run.describe()])

