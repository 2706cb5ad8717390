"""Shared fixtures: every test keeps its state in a temp folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("mlpilot-home")
    monkeypatch.setenv("MLPILOT_HOME", str(home))
    # the embedded LLM is the default of a real run; tests that want it ask for it
    monkeypatch.setenv("MLPILOT_LLM", "none")
    # so is the run memory (an embedded chroma store seeded on first use); tests of the
    # memory turn it on
    monkeypatch.setenv("MLPILOT_MEMORY", "off")
    return home


@pytest.fixture(scope="session")
def local_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled 0.5B weights, joined once per test session (point MLPILOT_LLM_MODEL_PATH
    here so that each test's fresh home does not join its own copy)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36)")
    from tools.llm_local import ensure_weights

    return ensure_weights(tmp_path_factory.mktemp("llm-weights"))
