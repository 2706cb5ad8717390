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


@pytest.mark.parametrize(("argv", "code"), [
    (["--llm", "local"], "off"), (["--llm", "local", "--code", "auto"], "auto"),
    (["--llm", "local-1.5b"], "auto"), (["--llm", "openai/gpt-4o-mini", "--code", "on"], "on")])
def test_a_run_writes_code_by_default_except_with_the_embedded_small_model(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], code: str) -> None:
    import agents
    from cli import main as cli_main
    from schemas import ConfigError

    seen: list[Any] = []

    def fake_run(*args: Any, settings: Any, **kwargs: Any) -> None:
        seen.append(settings)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(cli_main, "_open_llm", lambda *a, **k: None)
    monkeypatch.setattr(agents, "execute_run", fake_run)
    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / "home"))
    argv = ["run", "bundled:iris", "--target", "species", "--no-memory",
            "--out", str(tmp_path / "run"), *argv]
    assert cli_main.main(argv) == 2
    assert [s.code for s in seen] == [code]
