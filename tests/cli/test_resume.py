"""A run killed with SIGKILL in the middle is finished by ``mlpilot resume``, real sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N_TRIALS = 10


def _mlpilot(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _ledger_ids(run_dir: Path) -> list[int]:
    path = run_dir / "trials.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["trial_id"] for line in path.read_text().splitlines() if line]


def test_sigkill_then_resume_finishes_with_distinct_trials(tmp_path: Path) -> None:
    env = {**os.environ, "MLPILOT_LLM": "none"}
    out = tmp_path / "run"
    proc = _mlpilot("run", "bundled:wine", "--target", "cultivar", "--trials", str(N_TRIALS),
                    "--workers", "2", "--out", str(out), env=env)
    deadline = time.monotonic() + 240
    while len(_ledger_ids(out)) < 4:
        assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "run.json").exists()
    n_before = len(_ledger_ids(out))
    assert 4 <= n_before < N_TRIALS

    resumed = _mlpilot("resume", str(out), env=env)
    output = resumed.communicate(timeout=600)[0].decode()
    assert resumed.returncode == 0, output[-3000:]
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["n_trials"] == N_TRIALS
    assert record["n_failed"] == 0  # every family's default works on wine, also after a kill
    ids = _ledger_ids(out)
    assert sorted(ids) == list(range(N_TRIALS)), ids  # none lost, none repeated
    board = (out / "leaderboard.csv").read_text().splitlines()
    assert len(board) == N_TRIALS + 1


def test_resume_refuses_a_finished_or_foreign_folder(tmp_path: Path) -> None:
    env = {**os.environ, "MLPILOT_LLM": "none"}
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _mlpilot("resume", str(empty), env=env)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 2 and "no run to resume" in output
