"""Settings from the environment, and how a run turns them into its LLM's threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.main import _open_llm
from cli.settings import Settings
from tools import llm as llm_module


def test_the_llm_threads_are_automatic_unless_set(tmp_path: Path) -> None:
    home = {"MLPILOT_HOME": str(tmp_path)}
    assert Settings.from_env(home).llm_threads is None
    assert Settings.from_env({**home, "MLPILOT_LLM_THREADS": "3"}).llm_threads == 3


def test_a_run_opens_the_embedded_model_beside_its_workers(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(llm_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3},
                        raising=False)
    seen: list[int] = []

    def fake_open(name: str, **kwargs: Any) -> None:
        seen.append(kwargs["n_threads"])

    monkeypatch.setattr(llm_module, "open_llm", fake_open)
    _open_llm("local", Settings(home=tmp_path), seed=0, workers=1)
    _open_llm("local", Settings(home=tmp_path), seed=0, workers=3)
    _open_llm("local", Settings(home=tmp_path, llm_threads=4), seed=0, workers=3)
    assert seen == [3, 1, 4]  # MLPILOT_LLM_THREADS wins over the default
