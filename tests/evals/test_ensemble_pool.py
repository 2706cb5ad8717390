"""The ensemble-pool replay: its arithmetic, and a real run folder replayed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals import ensemble_pool
from tests.evals._runs import bundled_run


def test_an_ensemble_prediction_is_the_weighted_average_of_its_members() -> None:
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.5, 0.5], [0.6, 0.4]])
    out = ensemble_pool.combine([a, b], (0.75, 0.25))
    assert np.allclose(out, [[0.8, 0.2], [0.3, 0.7]])
    assert np.allclose(out.sum(axis=1), 1.0)


def test_the_same_picks_are_level_whatever_the_scores() -> None:
    row = {"direction": "minimize", "pool 50": 0.30, "pool 10": 0.40, "best": 0.20,
           "same as pool 10": True, "same as best": False}
    assert ensemble_pool.outcome(row, "pool 10") == "level"
    assert ensemble_pool.outcome(row, "best") == "worse"
    row["same as pool 10"] = False
    assert ensemble_pool.outcome(row, "pool 10") == "better"


@pytest.mark.slow
def test_a_real_run_is_replayed_and_main_pool_reproduces_its_holdout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    recorded = bundled_run(runs / "wine-s0", "wine", "cultivar", trials=12)
    capsys.readouterr()
    out = tmp_path / "rows.jsonl"
    assert ensemble_pool.main([str(runs), "--out", str(out)]) == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["run"] == "wine-s0" and row["metric"] == "log_loss"
    assert 1 < row["trials"] <= 12  # distinct configurations that finished
    # main's pool is what the run itself built: the same holdout, to the last digits
    assert row[ensemble_pool.MAIN] == pytest.approx(recorded["holdout_score"], rel=1e-9)
    assert row[f"picks {ensemble_pool.MAIN}"] == [[m["trial_id"], pytest.approx(m["weight"])]
                                                  for m in recorded["ensemble"]]
    assert row["members best"] == 1 and row["picks best"][0][1] == 1.0
    for name in ensemble_pool.POOLS:
        assert 0.0 < row[name] < np.log(3)
    summary = capsys.readouterr().out
    assert "| wine | log_loss | 1 |" in summary and "Selection time per run" in summary
