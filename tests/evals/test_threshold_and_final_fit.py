"""The threshold, final-fit and ensemble-choice evaluations, run small on a real table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import ensemble_choice, final_fit, threshold

pytestmark = pytest.mark.slow


def test_the_threshold_eval_scores_one_model_two_ways_and_resumes(tmp_path: Path) -> None:
    assert threshold.main(["--datasets", "fair", "--seeds", "0", "--trials", "2",
                           "--out", str(tmp_path)]) == 0
    [row] = json.loads((tmp_path / "results.json").read_text())
    assert row["dataset"] == "fair" and row["n_trials"] == 2
    assert 0.0 < row["threshold"] < 1.0
    assert row["at_threshold"] >= row["at_half"] - 0.05  # chosen on folds, not the holdout
    assert 0.0 < row["search_at_half"] <= 1.0  # the control run of the search comparison
    summary = (tmp_path / "results.md").read_text()
    assert summary.count("| fair |") == 3 and "search at 0.5" in summary
    assert row["at_best"] == pytest.approx(row["at_threshold"])  # the replay is exact
    assert 0.0 < row["at_one_se"] <= 1.0 and "one standard error" in summary
    (tmp_path / "fair-s0-f1" / "study.journal").unlink()  # a rerun reads the row, runs nothing
    assert threshold.main(["--datasets", "fair", "--seeds", "0", "--trials", "2",
                           "--out", str(tmp_path)]) == 0


def test_the_final_fit_eval_replays_a_run_folder(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert threshold.main(["--datasets", "breast_cancer", "--seeds", "1", "--trials", "2",
                           "--out", str(runs)]) == 0
    capsys.readouterr()
    out = tmp_path / "rows.jsonl"
    assert final_fit.main([str(runs), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["run"] for r in rows] == ["breast_cancer-s1-f1", "breast_cancer-s1-f1-at-half"]
    for row in rows:
        assert row["task"] == "breast_cancer" and row["metric"] == "f1"
        assert 0.8 < row["refit"] <= 1.0 and 0.8 < row["folds"] <= 1.0
    assert "| breast_cancer | f1 | 2 |" in capsys.readouterr().out
    capsys.readouterr()
    out = tmp_path / "ensemble.jsonl"  # the same run folders, the other question
    assert ensemble_choice.main([str(runs), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert row["members"] >= 1 and row["best_cv"] <= row["ensemble_cv"] + 1e-12
        assert row["single"] or (0.8 < row["ensemble"] <= 1.0 and 0.8 < row["best"] <= 1.0)
    assert "| breast_cancer | f1 | " in capsys.readouterr().out
