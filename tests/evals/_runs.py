"""Real run folders for the replay evals' tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.main import main as cli_main


def bundled_run(folder: Path, dataset: str, target: str, *, trials: int) -> dict[str, Any]:
    """A real ``mlpilot run`` on a bundled table (BO alone, no memory); its ``run.json``."""
    assert cli_main(["run", f"bundled:{dataset}", "--target", target, "--trials", str(trials),
                     "--llm", "none", "--no-memory", "--out", str(folder)]) == 0
    record: dict[str, Any] = json.loads((folder / "run.json").read_text())
    return record
