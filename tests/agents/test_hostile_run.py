"""A whole run with the real sandbox survives trials that hang, eat memory or call out."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import agents._search
from agents import execute_run
from sandbox import DataBundle, SandboxPool, bwrap_available
from schemas import Budget, TaskSpec, TrialResult
from tests.sandbox import hostile
from tools.datasets import load_bundled

pytestmark = pytest.mark.slow

TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap (CI installs it)")
def test_run_finishes_with_the_remaining_trials(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        hostile_for = {1: hostile.Sleep(seconds=10_000, n_folds=1), 2: hostile.MemoryHog(),
                       3: hostile.ConnectBack(port=server.getsockname()[1])}
        real_build = agents._search.build_pipeline
        calls = iter(range(100))

        def build(*args: Any, **kwargs: Any) -> Any:
            n = next(calls)
            return hostile_for.get(n) or real_build(*args, **kwargs)

        monkeypatch.setattr(agents._search, "build_pipeline", build)

        @contextmanager
        def sandbox(bundle: DataBundle, scratch: Path) -> Iterator[SandboxPool]:
            with SandboxPool(bundle, n_workers=2, isolation="bwrap", scratch_dir=scratch,
                             extra_readonly_paths=[TESTS_DIR]) as pool:
                yield pool

        task = TaskSpec(data_path=Path("bundled:breast_cancer"), target="diagnosis",
                        budget=Budget(n_trials=7, trial_timeout_s=20, trial_memory_mb=512))
        record = execute_run(task, load_bundled("breast_cancer"), run_dir=tmp_path / "run",
                             make_executor=sandbox, version="test").record
        with pytest.raises(TimeoutError):
            server.accept()

    failed = {t.trial_id: t for t in _trials(tmp_path / "run") if not t.ok}
    assert failed[1].failure == "timeout"
    assert failed[2].failure in ("memory", "killed")
    assert failed[3].failure == "exception" and "connect failed" in (failed[3].error or "")
    assert set(failed) == {1, 2, 3}
    assert record.status == "completed" and record.n_trials == 7 and record.n_failed == 3
    assert record.isolation == "bwrap"
    assert record.holdout_score is not None and record.holdout_score > 0.95


def _trials(run_dir: Path) -> list[TrialResult]:
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return [TrialResult.model_validate_json(line) for line in lines]
