"""Shared fixtures: every test keeps its state in a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("mlpilot-home")
    monkeypatch.setenv("MLPILOT_HOME", str(home))
    return home
