"""The probability-floor replay: the floors' arithmetic, and a real run folder replayed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals import proba_floor
from tests.evals._runs import bundled_run


def test_each_floor_keeps_a_distribution_and_bounds_the_worst_row() -> None:
    proba = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    prior = np.array([0.5, 0.25, 0.25])
    assert np.array_equal(proba_floor.floored(proba, prior, "none"), proba)
    for name in proba_floor.FLOORS:
        out = proba_floor.floored(proba, prior, name)
        assert np.allclose(out.sum(axis=1), 1.0)
        assert (np.argsort(out, axis=1) == np.argsort(proba, axis=1)).all() or name == "none"
    assert proba_floor.floored(proba, prior, "uniform")[0, 1] == pytest.approx(1e-4 / 3)
    main_floor = proba_floor.floored(proba, prior, proba_floor.MAIN)[0, 1]
    assert main_floor == pytest.approx((1 - 1e-4) * 1e-3 * 0.25 + 1e-4 / 3)


@pytest.mark.slow
def test_a_log_loss_run_is_replayed_under_every_floor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    recorded = bundled_run(runs / "iris-s0", "iris", "species", trials=6)["holdout_score"]
    bundled_run(runs / "diabetes-s0", "diabetes", "progression", trials=2)
    capsys.readouterr()
    out = tmp_path / "rows.jsonl"
    assert proba_floor.main([str(runs), "--out", str(out)]) == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]  # diabetes: no log loss
    assert row["run"] == "iris-s0" and row["metric"] == "log_loss"
    # the run's trials already hold the classifier floor, so its own final model is `prior 1e-3`
    assert row["holdout prior 1e-3"] == pytest.approx(recorded, rel=1e-6)
    for name in proba_floor.FLOORS:
        assert 0.0 < row[f"holdout {name}"] < np.log(3) and 0.0 < row[f"cv {name}"] < np.log(3)
    assert "| iris | 1 |" in capsys.readouterr().out
