"""What the real sandbox must contain: hangs, memory hogs, network, leftovers, secrets, writes."""

from __future__ import annotations

import signal
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import SandboxPool
from schemas import TrialSpec
from tests.sandbox import hostile
from tests.sandbox.conftest import SECRET, TESTS_DIR, SpecFactory, processes_with

pytestmark = pytest.mark.slow


@pytest.fixture(params=["process", "bwrap"])
def pool(request: pytest.FixtureRequest) -> SandboxPool:
    return request.getfixturevalue(f"{request.param}_pool")


def _good(make_spec: SpecFactory) -> TrialSpec:
    return make_spec(hostile.Sleep(seconds=0.0, n_folds=4), predict_kind="value")


def _assert_pool_goes_on(pool: SandboxPool, make_spec: SpecFactory) -> None:
    """Every slot (the broken one restarts) runs a good trial."""
    specs = [_good(make_spec) for _ in range(pool.n_workers)]
    with ThreadPoolExecutor(pool.n_workers) as threads:
        results = list(threads.map(pool.run, specs))
    assert all(r.ok for r in results), [r.error for r in results]


def _can_find_grandchildren(pool: SandboxPool) -> bool:
    """bwrap's pid namespace, or else the slot's pids cgroup, finds setsid'd grandchildren."""
    return pool.isolation_level == "bwrap" or pool._slots[0]._cgroup is not None


def _wait_gone(token: str, timeout_s: float = 3.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_with(token)


def test_a_hanging_trial_is_killed_at_its_timeout_with_its_grandchildren(
        pool: SandboxPool, make_spec: SpecFactory) -> None:
    token = f"mlpilot-daemon-{uuid.uuid4().hex}"
    spec = make_spec(hostile.LeaveDaemon(token=token), timeout_s=2.0)
    result = pool.run(spec)
    assert result.status == "failed" and result.failure == "timeout"
    assert "time limit of 2 s" in (result.error or "")
    assert 2.0 <= result.wall_time_s < 6.0
    assert "the daemon started" in (spec.work_dir / "output.log").read_text()
    if _can_find_grandchildren(pool):
        assert _wait_gone(token) == []
    _assert_pool_goes_on(pool, make_spec)


def test_a_memory_hog_fails_alone(pool: SandboxPool, make_spec: SpecFactory) -> None:
    result = pool.run(make_spec(hostile.MemoryHog(), memory_mb=300, timeout_s=60))
    assert result.status == "failed" and result.failure in ("memory", "killed"), result.error
    _assert_pool_goes_on(pool, make_spec)


def test_a_trial_that_fills_its_folder_is_stopped_at_its_disk_limit(
        pool: SandboxPool, make_spec: SpecFactory) -> None:
    spec = make_spec(hostile.DiskFiller(), disk_mb=32, timeout_s=60)
    result = pool.run(spec)
    assert result.status == "failed" and result.failure == "killed", result.error
    assert "disk limit of 32 MiB" in (result.error or "")
    assert not list(spec.work_dir.glob("fill-*"))  # the junk was not moved out either
    _assert_pool_goes_on(pool, make_spec)


@pytest.mark.parametrize(("estimator", "failure", "words"), [
    (hostile.ExitsHard(code=3), "exception", "exited with code 3"),
    (hostile.ExitsHard(sig=signal.SIGSEGV), "killed", "signal SIGSEGV"),
])
def test_a_trial_that_dies_without_a_report(pool: SandboxPool, make_spec: SpecFactory,
                                            estimator: object, failure: str, words: str) -> None:
    result = pool.run(make_spec(estimator))
    assert result.failure == failure and words in (result.error or ""), result.error
    assert "about to leave" in (result.error or "")  # the tail of the trial's output
    assert pool.run(_good(make_spec)).ok


def test_the_parent_environment_is_not_visible(pool: SandboxPool,
                                               make_spec: SpecFactory) -> None:
    result = pool.run(make_spec(hostile.EnvSpy()))
    assert "secret=None" in (result.error or "")
    assert SECRET not in (result.error or "")


def test_a_setsid_grandchild_is_gone_after_a_finished_trial(pool: SandboxPool,
                                                            make_spec: SpecFactory) -> None:
    if not _can_find_grandchildren(pool):
        pytest.skip("without bwrap a setsid grandchild can only be found through a writable "
                    "cgroup v1 pids hierarchy, which this host lacks")
    token = f"mlpilot-daemon-{uuid.uuid4().hex}"
    spec = make_spec(hostile.LeaveDaemon(token=token, hang=False), predict_kind="value")
    result = pool.run(spec)
    assert result.ok, result.error
    assert "the daemon started" in (spec.work_dir / "output.log").read_text()
    assert _wait_gone(token, timeout_s=1.0) == []


def test_cancel_all_stops_running_and_waiting_trials(bwrap_pool: SandboxPool,
                                                     make_spec: SpecFactory) -> None:
    pool = bwrap_pool
    tokens = [f"mlpilot-daemon-{uuid.uuid4().hex}" for _ in range(pool.n_workers + 1)]
    specs = [make_spec(hostile.LeaveDaemon(token=t), timeout_s=60) for t in tokens]
    with ThreadPoolExecutor(len(specs)) as threads:
        futures = [threads.submit(pool.run, s) for s in specs]
        deadline = time.monotonic() + 30
        while (sum(bool(processes_with(t)) for t in tokens) < pool.n_workers
               and time.monotonic() < deadline):
            time.sleep(0.05)
        n_started = sum(bool(processes_with(t)) for t in tokens)
        pool.cancel_all()
        results = [f.result(timeout=10) for f in futures]
    assert n_started == pool.n_workers, [(s.work_dir / "output.log").read_text() for s in specs]
    assert [r.failure for r in results] == ["cancelled"] * len(specs)
    for token in tokens:
        assert _wait_gone(token) == []
    _assert_pool_goes_on(pool, make_spec)


def test_output_is_kept_in_a_capped_log_and_its_tail_reported(pool: SandboxPool,
                                                               make_spec: SpecFactory) -> None:
    spec = make_spec(hostile.PrintsALot())
    result = pool.run(spec)
    assert result.failure == "exception" and "failed after printing" in (result.error or "")
    log = (spec.work_dir / "output.log").read_text()
    assert "progress line 199" in log and "last words on stderr" in log


def test_the_child_runs_with_the_trials_thread_count(pool: SandboxPool,
                                                     make_spec: SpecFactory) -> None:
    result = pool.run(make_spec(hostile.ShowThreads(), n_threads=2))
    assert "threads=[2]" in (result.error or "") and "omp_env=2" in (result.error or "")


def test_no_network_inside_bwrap(bwrap_pool: SandboxPool, make_spec: SpecFactory) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        port = server.getsockname()[1]
        result = bwrap_pool.run(make_spec(hostile.ConnectBack(port=port)))
        assert "connect failed" in (result.error or ""), result.error
        with pytest.raises(TimeoutError):
            server.accept()


def test_bwrap_trials_cannot_write_outside_their_folder(bwrap_pool: SandboxPool,
                                                        make_spec: SpecFactory,
                                                        tmp_path: Path) -> None:
    assert bwrap_pool.bundle is not None
    readonly = [bwrap_pool.bundle.path / "evil.txt", TESTS_DIR / "sandbox" / "evil.txt",
                Path("/usr/evil.txt"), Path("/evil.txt")]
    invisible = [tmp_path / "evil.txt",
                 Path(bwrap_pool._slots[1].slot_dir) / "evil.txt"]
    result = bwrap_pool.run(make_spec(hostile.WriteOutside(
        paths=tuple(str(p) for p in readonly + invisible))))
    error = result.error or ""
    for path in readonly:
        assert f"DENIED {path}" in error, error
    for path in [*readonly, *invisible]:
        assert not path.exists(), path


def test_two_trials_run_in_parallel(bwrap_pool: SandboxPool, make_spec: SpecFactory) -> None:
    pool = bwrap_pool
    _assert_pool_goes_on(pool, make_spec)  # both workers warm
    specs = [make_spec(hostile.Sleep(seconds=1.0, n_folds=4), predict_kind="value")
             for _ in range(2)]
    start = time.monotonic()
    with ThreadPoolExecutor(2) as threads:
        results = list(threads.map(pool.run, specs))
    elapsed = time.monotonic() - start
    assert all(r.ok for r in results)
    assert elapsed < 1.7, elapsed


def test_trials_do_not_see_each_others_files(bwrap_pool: SandboxPool,
                                             make_spec: SpecFactory) -> None:
    pool = bwrap_pool
    litter = [make_spec(hostile.WriteOutside(paths=("../stray.txt", "left-behind.txt")))
              for _ in range(pool.n_workers)]
    with ThreadPoolExecutor(pool.n_workers) as threads:
        for result in threads.map(pool.run, litter):
            assert "WROTE ../stray.txt" in (result.error or ""), result.error
    spies = [make_spec(hostile.LookAround()) for _ in range(pool.n_workers)]
    with ThreadPoolExecutor(pool.n_workers) as threads:
        results = list(threads.map(pool.run, spies))
    for spec, result in zip(spies, results, strict=True):
        expected = (f"here=['estimator.joblib', 'output.log'] above=['{spec.trial_id}'] "
                    f"cwd={spec.trial_id}")
        assert expected in (result.error or ""), result.error
    leftovers = [p for p in Path(pool.scratch_dir).rglob("*") if p.is_file()
                 and p.suffix != ".log"]
    assert leftovers == []
