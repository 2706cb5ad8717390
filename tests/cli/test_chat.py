"""``mlpilot chat`` driven through a real terminal (a pty), with the real sandbox."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from tools.datasets import load_bundled

pytestmark = pytest.mark.slow


def _spawn(tmp_path: Path) -> pexpect.spawn:
    env = {**os.environ, "MLPILOT_LLM": "none", "COLUMNS": "120", "TERM": "dumb"}
    return pexpect.spawn(sys.executable, ["-m", "cli", "chat"], cwd=str(tmp_path), env=env,
                         encoding="utf-8", timeout=300, dimensions=(50, 120))


def test_request_confirm_run_and_follow_ups(tmp_path: Path) -> None:
    chat = _spawn(tmp_path)
    chat.expect("you> ")
    chat.sendline("classify species on bundled:iris with 6 trials, optimise accuracy")
    chat.expect(r"I understood: predict .*species.* in bundled:iris")
    chat.expect("accuracy")
    chat.expect(r"Go ahead\? \[Y/n\]")
    chat.sendline("y")
    chat.expect("Done.")
    chat.expect("you> ")
    chat.sendline("why did it win?")
    chat.expect("CV")
    chat.expect("you> ")
    chat.sendline("export the model to out/model.joblib")
    chat.expect("Exported the model")
    chat.expect("you> ")
    chat.sendline("quit")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0
    assert (tmp_path / "out" / "model.joblib").is_file()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "run.json").is_file()


def test_saying_no_trains_nothing_and_missing_target_is_asked(tmp_path: Path) -> None:
    load_bundled("penguins").to_csv(tmp_path / "birds.csv", index=False)
    chat = _spawn(tmp_path)
    chat.expect("you> ")
    chat.sendline("use birds.csv, 3 trials")
    chat.expect("Which column should I predict")
    chat.sendline("species")
    chat.expect(r"Go ahead\? \[Y/n\]")
    chat.sendline("n")
    chat.expect("nothing was trained")
    chat.expect("you> ")
    chat.sendline("quit")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
