"""Bad input ends with one line on stderr and exit code 2, and leaves no run behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=60), "b": rng.integers(0, 5, 60),
                       "y": rng.integers(0, 2, 60)})
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    return path


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.startswith("error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, err = _run(capsys, "run", str(tmp_path / "nope.csv"), "--target", "y", "--out", str(out))
    _assert_one_line_error(code, err, "nope.csv")
    assert not out.exists()


def test_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    code, err = _run(capsys, "run", str(path), "--target", "y")
    _assert_one_line_error(code, err)


def test_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(bytes(range(256)) * 10)
    code, err = _run(capsys, "run", str(path), "--target", "y")
    _assert_one_line_error(code, err)


def test_unknown_target(capsys: pytest.CaptureFixture[str], table: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, err = _run(capsys, "run", str(table), "--target", "yy", "--out", str(out))
    _assert_one_line_error(code, err, "yy")
    assert not out.exists()


def test_single_class_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": range(50), "y": ["x"] * 50}).to_csv(path, index=False)
    code, err = _run(capsys, "run", str(path), "--target", "y")
    _assert_one_line_error(code, err)


def test_target_entirely_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    pd.DataFrame({"a": range(50), "y": [np.nan] * 50}).to_csv(path, index=False)
    code, err = _run(capsys, "run", str(path), "--target", "y")
    _assert_one_line_error(code, err)


def test_fewer_rows_than_folds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 2.5, 3.1, 4.7]}).to_csv(path, index=False)
    code, err = _run(capsys, "run", str(path), "--target", "y")
    _assert_one_line_error(code, err)


def test_unknown_metric(capsys: pytest.CaptureFixture[str], table: Path) -> None:
    code, err = _run(capsys, "run", str(table), "--target", "y", "--metric", "awesomeness")
    _assert_one_line_error(code, err, "awesomeness")


def test_metric_unfit_for_task(capsys: pytest.CaptureFixture[str], table: Path) -> None:
    code, err = _run(capsys, "run", str(table), "--target", "y", "--metric", "rmse")
    _assert_one_line_error(code, err, "rmse")


def test_bad_budget(capsys: pytest.CaptureFixture[str], table: Path) -> None:
    code, err = _run(capsys, "run", str(table), "--target", "y", "--trials", "0")
    _assert_one_line_error(code, err, "--trials")


def test_unknown_llm_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str],
                                                     table: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, err = _run(capsys, "run", str(table), "--target", "y", "--llm", "nosuchprovider/x",
                     "--out", str(out))
    _assert_one_line_error(code, err, "nosuchprovider")
    assert not out.exists()


def test_a_provider_without_its_api_key_is_refused_before_anything_runs(
        capsys: pytest.CaptureFixture[str], table: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MLPILOT_LLM_API_KEY", raising=False)
    out = tmp_path / "run"
    code, err = _run(capsys, "run", str(table), "--target", "y", "--llm",
                     "openai/gpt-4o-mini", "--out", str(out))
    _assert_one_line_error(code, err, "needs an API key", "OPENAI_API_KEY")
    assert not out.exists()


def test_out_folder_not_empty(capsys: pytest.CaptureFixture[str], table: Path,
                              tmp_path: Path) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "run.json").write_text("{}")
    code, err = _run(capsys, "run", str(table), "--target", "y", "--out", str(out))
    _assert_one_line_error(code, err, "not empty")
    assert (out / "run.json").read_text() == "{}"


def test_predict_without_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               table: Path) -> None:
    code, err = _run(capsys, "predict", str(tmp_path / "norun"), str(table))
    _assert_one_line_error(code, err)


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2


@pytest.mark.parametrize(("flag", "value"), [("--folds", "100"), ("--time-budget", "nan"),
                                             ("--time-budget", "inf"), ("--trial-timeout", "inf"),
                                             ("--holdout", "0.95")])
def test_out_of_range_flags(capsys: pytest.CaptureFixture[str], table: Path, tmp_path: Path,
                            flag: str, value: str) -> None:
    out = tmp_path / "run"
    code, err = _run(capsys, "run", str(table), "--target", "y", flag, value, "--out", str(out))
    _assert_one_line_error(code, err, flag)
    assert not out.exists()


def test_unknown_isolation_setting(capsys: pytest.CaptureFixture[str], table: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPILOT_ISOLATION", "bwarp")
    code, err = _run(capsys, "run", str(table), "--target", "y")
    _assert_one_line_error(code, err, "MLPILOT_ISOLATION")


def test_predict_with_a_corrupt_model(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      table: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.joblib").write_bytes(b"not a pickle at all")
    code, err = _run(capsys, "predict", str(run_dir), str(table))
    _assert_one_line_error(code, err, "model")


def test_predict_out_is_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 table: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code, err = _run(capsys, "predict", str(run_dir), str(table), "--out", str(tmp_path))
    _assert_one_line_error(code, err, "--out")


@pytest.mark.parametrize(("argv", "needle"), [
    (("bench", "nosuch"), "nosuch"),
    (("bench", "smoke", "--methods", "tpe,smac"), "--methods"),
    (("bench", "smoke", "--seeds", "0"), "--seeds"),
    (("bench", "smoke", "--trials", "0"), "--trials"),
    (("bench", "smoke", "--methods", "mlpilot", "--llm", "none"), "needs an LLM"),
])
def test_bench_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                            argv: tuple[str, ...], needle: str) -> None:
    out = tmp_path / "bench"
    code, err = _run(capsys, *argv, "--out", str(out))
    _assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_bench_refuses_a_folder_run_with_another_budget(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    from evals._ledger import BenchSettings, Ledger

    out = tmp_path / "bench"
    Ledger(out, BenchSettings(n_trials=10))
    code, err = _run(capsys, "bench", "smoke", "--methods", "tpe", "--trials", "30",
                     "--out", str(out))
    _assert_one_line_error(code, err, "--trials 10")


def test_no_target_in_the_options_or_the_sentence(capsys: pytest.CaptureFixture[str],
                                                  table: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, err = _run(capsys, "run", str(table), "--task", "optimise F1 in ten minutes",
                     "--llm", "none", "--out", str(out))
    _assert_one_line_error(code, err, "Name the column to predict", "--target")
    assert not out.exists()
