"""The paired comparison the evals print, and the rows that let an eval resume."""

from __future__ import annotations

from pathlib import Path

from evals._compare import best_after, finished_row, paired_table, save_row
from schemas import TrialConfig, TrialResult


def _row(dataset: str, seed: int, method: str, score: float | None,
         direction: str = "minimize") -> dict[str, object]:
    return {"dataset": dataset, "seed": seed, "method": method, "direction": direction,
            "best": score}


def test_the_tally_counts_wins_by_direction_and_ignores_unpaired_seeds() -> None:
    rows = [_row("iris", 0, "a", 0.10), _row("iris", 0, "b", 0.20),
            _row("iris", 1, "a", 0.30), _row("iris", 1, "b", 0.30),
            _row("iris", 2, "a", 0.50),  # no partner: left out
            _row("bc", 0, "a", 0.90, "maximize"), _row("bc", 0, "b", 0.95, "maximize")]
    table = paired_table(rows, "a", "b", ("best",)).splitlines()
    assert "| iris | 2 | 0.2000 / 0.2500 | 1-1-0 |" in table
    assert "| bc | 1 | 0.9000 / 0.9500 | 0-0-1 |" in table
    assert table[-1] == "| all |  |  | 1-1-1 |"


def test_best_after_follows_trial_order_and_skips_failures() -> None:
    config = TrialConfig(family="linear", params={})

    def trial(i: int, score: float | None) -> TrialResult:
        ok = score is not None
        return TrialResult(trial_id=i, config=config, source="bo",
                           status="ok" if ok else "failed", cv_score=score,
                           fold_scores=(score,) * 3 if ok else (), fit_time_s=0.1,
                           trial_dir=Path("."), error=None if ok else "boom")

    trials = [trial(2, 0.1), trial(0, 0.5), trial(1, None)]
    assert best_after(trials, 2, "minimize") == 0.5
    assert best_after(trials, 3, "minimize") == 0.1
    assert best_after(trials, 1, "maximize") == 0.5


def test_a_finished_run_is_read_back_and_an_unfinished_one_cleared(tmp_path: Path) -> None:
    run_dir = tmp_path / "iris-s0-none"
    run_dir.mkdir()
    (run_dir / "trials.jsonl").write_text("half a run")
    assert finished_row(run_dir) is None and not run_dir.exists()
    run_dir.mkdir()
    assert save_row(run_dir, {"holdout": 0.5}) == {"holdout": 0.5}
    assert finished_row(run_dir) == {"holdout": 0.5}
    assert finished_row(tmp_path / "never-started") is None


def test_the_plan_ahead_summary_pairs_the_arms_by_dataset_and_seed() -> None:
    from evals.plan_ahead import summary

    def row(dataset: str, seed: int, arm: str, search_s: float,
            holdout: float | None) -> dict[str, object]:
        return {"dataset": dataset, "seed": seed, "arm": arm, "search_s": search_s,
                "holdout": holdout}

    rows = [row("iris", 0, "serial", 100.0, 0.10), row("iris", 0, "ahead", 50.0, 0.12),
            row("bc", 0, "serial", 40.0, 0.98), row("bc", 0, "ahead", 80.0, None),
            row("wine", 0, "ahead", 10.0, 0.05)]  # no serial run: left out
    lines = summary(rows).splitlines()
    assert "| iris | 0 | 50 / 100 | 0.50 | +0.0200 |" in lines
    assert "| bc | 0 | 80 / 40 | 2.00 | n/a |" in lines
    assert not any(line.startswith("| wine") for line in lines)
    assert lines[-1].endswith("geometric mean over 2 pairs: 1.00.")


def test_the_code_rounds_table_says_what_the_modules_did() -> None:
    from evals._agent_runs import markdown

    base = {"dataset": "iris", "seed": 0, "metric": "log_loss", "holdout": 0.1,
            "search_s": 100.0, "llm_s": 60.0, "llm_calls": 4, "by_source": {"llm": 5, "bo": 5}}
    rows = [base | {"arm": "auto", "code_written": 2, "code_ran": 1, "code_best": False,
                    "code_in_final": True},
            base | {"arm": "off", "code_written": 0, "code_ran": 0, "code_best": False,
                    "code_in_final": False}]
    lines = markdown(rows, code=True).splitlines()
    assert "modules written / ran | a module won |" in lines[0]
    assert "| 2 / 1 | in the ensemble | bo 5, llm 5 |" in lines[2]
    assert "| 0 / 0 | no | bo 5, llm 5 |" in lines[3]
    assert "modules" not in markdown(rows)  # the plan-ahead table keeps its columns
