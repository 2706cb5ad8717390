"""SandboxPool configuration, start-up failures, and the path without cgroups."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import sandbox._pool
import sandbox._slot
from sandbox import DataBundle, InProcessExecutor, SandboxPool, bwrap_available
from sandbox._cgroup import SlotCgroup
from schemas import ConfigError, SandboxError
from tests.sandbox import hostile
from tests.sandbox.conftest import PRELOAD, TESTS_DIR, SpecFactory, processes_with


def test_constructor_touches_nothing(bundle: DataBundle, tmp_path: Path) -> None:
    SandboxPool(bundle, scratch_dir=tmp_path / "scratch", isolation="bogus")  # type: ignore[arg-type]
    assert not (tmp_path / "scratch").exists()


def test_unknown_isolation_is_a_config_error(bundle: DataBundle, tmp_path: Path) -> None:
    pool = SandboxPool(bundle, scratch_dir=tmp_path, isolation="docker")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'isolation' parameter .* got 'docker' instead"):
        pool.start()


def test_bad_worker_count_is_a_config_error(bundle: DataBundle, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'n_workers' parameter of SandboxPool must be an int"):
        SandboxPool(bundle, scratch_dir=tmp_path, n_workers=0, isolation="process").start()


def test_missing_extra_path_is_a_config_error(bundle: DataBundle, tmp_path: Path) -> None:
    pool = SandboxPool(bundle, scratch_dir=tmp_path, isolation="process",
                       extra_readonly_paths=[tmp_path / "nope"])
    with pytest.raises(ConfigError, match="'extra_readonly_paths'"):
        pool.start()


def test_bwrap_required_but_missing_is_a_sandbox_error(bundle: DataBundle, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox._pool, "bwrap_available", lambda: False)
    with pytest.raises(SandboxError, match="bubblewrap"):
        SandboxPool(bundle, scratch_dir=tmp_path, isolation="bwrap").start()


def test_auto_falls_back_to_process_with_one_warning(bundle: DataBundle, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sandbox._pool, "bwrap_available", lambda: False)
    monkeypatch.setattr(sandbox._pool, "_warned_no_bwrap", False)
    with caplog.at_level(logging.WARNING, logger="sandbox"):
        levels = [SandboxPool(bundle, scratch_dir=tmp_path).isolation_level for _ in range(2)]
    assert levels == ["process", "process"]
    assert sum("bubblewrap" in r.message for r in caplog.records) == 1


def test_isolation_levels(bundle: DataBundle, tmp_path: Path) -> None:
    assert InProcessExecutor(bundle).isolation_level == "in-process"
    assert SandboxPool(bundle, scratch_dir=tmp_path, isolation="process").isolation_level \
        == "process"
    expected = "bwrap" if bwrap_available() else "process"
    assert SandboxPool(bundle, scratch_dir=tmp_path).isolation_level == expected


def test_a_bundle_that_was_never_written_is_a_config_error(tmp_path: Path) -> None:
    missing = DataBundle(path=tmp_path / "no-such-bundle", n_rows=10, n_folds=2, n_classes=2)
    with pytest.raises(ConfigError, match="'bundle' parameter of SandboxPool"):
        SandboxPool(missing, scratch_dir=tmp_path / "scratch", isolation="process").start()


def test_a_worker_that_cannot_start_is_a_one_line_sandbox_error(
        bundle: DataBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crash = "import sys; sys.stderr.write('boom: no interpreter here\\n'); sys.exit(3)"
    monkeypatch.setattr(sandbox._pool, "zygote_argv", lambda: [sys.executable, "-c", crash])
    pool = SandboxPool(bundle, scratch_dir=tmp_path / "scratch", isolation="process")
    with pytest.raises(SandboxError, match="could not start: boom: no interpreter here") as info:
        pool.start()
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "scratch").glob("slot-*/"))


@pytest.mark.slow
def test_without_cgroups_limits_still_hold_and_close_kills_everything(
        bundle: DataBundle, tmp_path: Path, make_spec: SpecFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The path of hosts without a writable cgroup v1 (CI runners with cgroup v2).

    RLIMIT_AS stops a memory hog; under bwrap, close() still takes a running
    trial and its setsid'd grandchild down with the pid namespace.
    """
    monkeypatch.setattr(SlotCgroup, "create", classmethod(lambda cls, label: None))
    pool = SandboxPool(bundle, scratch_dir=tmp_path / "scratch", preload=PRELOAD,
                       extra_readonly_paths=[TESTS_DIR])
    with pool:
        slot_dirs = [s.slot_dir for s in pool._slots]
        hog = pool.run(make_spec(hostile.MemoryHog(), memory_mb=300))
        assert hog.failure == "memory" and "MemoryError" in (hog.error or ""), hog.error
        good = pool.run(make_spec(hostile.Sleep(seconds=0.0, n_folds=4), predict_kind="value"))
        assert good.ok, good.error
        if pool.isolation_level == "bwrap":
            token = f"mlpilot-daemon-{uuid.uuid4().hex}"
            with ThreadPoolExecutor(1) as threads:
                future = threads.submit(pool.run, make_spec(hostile.LeaveDaemon(token=token)))
                deadline = time.monotonic() + 30
                while not processes_with(token) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert processes_with(token), "the daemon never started"
                pool.close()
                assert future.result(timeout=10).failure == "cancelled"
            time.sleep(0.2)
            assert processes_with(token) == []
    assert not any(d.exists() for d in slot_dirs)
