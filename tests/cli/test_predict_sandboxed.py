"""``mlpilot predict`` with a model that holds LLM-written code: it predicts in the sandbox.

The run folder's ``model.joblib`` is a sandboxed ``FittedModel`` whose pipeline (our
preprocessing, then a ``CodeModel``) was refitted by a real sandbox "refit" job. Every
``main`` call here runs in this process and checks that the proposal's module was never
imported in it, and that its top-level code (which drops a file into the current folder)
never ran here.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import sandbox._pool
from cli.main import main
from sandbox import SandboxPool, write_data_bundle
from schemas import TrialConfig, TrialSpec
from tools.code import check_code
from tools.code_model import code_module_name, code_pipeline
from tools.datasets import load_bundled
from tools.features import FeaturePrep
from tools.model import load_model, sandboxed_model

MARKER = "proposal-ran-here.txt"
KNN = f'''"""k nearest neighbours; importing the module leaves a file in the current folder."""
from pathlib import Path

Path({MARKER!r}).write_text("the proposal's module ran in this folder")

SPACE = {{"n_neighbors": {{"type": "int", "low": 1, "high": 30, "default": 5}}}}


def build_model(params):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=params["n_neighbors"])
'''
CLASSES = ("setosa", "versicolor", "virginica")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose model is the KNN proposal, refitted in a real sandbox worker."""
    root = tmp_path_factory.mktemp("sandboxed-run")
    table = load_bundled("iris")
    X = table.drop(columns="species")
    y = pd.Categorical(table["species"], categories=CLASSES).codes.astype(np.int64)
    prep = FeaturePrep().fit(X)
    Xt = prep.transform(X)
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    pipeline = code_pipeline(proposal, task_type="multiclass",
                             numeric_columns=prep.numeric_columns_,
                             categorical_columns=prep.categorical_columns_)
    bundle = write_data_bundle(root / "data", Xt, y, np.arange(len(y)) % 2, n_classes=3)
    job = root / "job"
    job.mkdir()
    joblib.dump((pipeline,), job / "estimator.joblib")
    Xt.head(5).to_parquet(job / "rows.parquet", index=False)
    spec = TrialSpec(trial_id=0, config=TrialConfig(family=proposal.family, params={}),
                     source="llm", work_dir=job / "out", estimator_path=job / "estimator.joblib",
                     predict_kind="proba", timeout_s=120, memory_mb=1024, kind="refit",
                     rows_path=job / "rows.parquet")
    with SandboxPool(bundle, scratch_dir=root / "scratch",
                     preload=("numpy", "pandas", "sklearn")) as pool:
        result = pool.run(spec)
    assert result.ok and result.fitted_path is not None, result.error
    model = sandboxed_model(result.fitted_path.read_bytes(), [1.0], prep,
                            task_type="multiclass", target="species", classes=CLASSES,
                            mlpilot_version="test")
    folder = root / "run"
    folder.mkdir()
    model.save(folder)
    assert code_module_name(KNN) not in sys.modules
    return folder


@pytest.fixture
def rows(tmp_path: Path) -> tuple[Path, pd.Series]:
    """Every fifth iris row, shuffled, without the target, as CSV; and the true labels."""
    table = load_bundled("iris").iloc[::5].sample(frac=1.0, random_state=0)
    path = tmp_path / "new.csv"
    table.drop(columns="species").to_csv(path, index=False)
    return path, table["species"].astype(str).reset_index(drop=True)


def _predict(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             tmp_path: Path, *args: str) -> tuple[int, str, str]:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    code = main(["predict", *args])
    captured = capsys.readouterr()
    assert code_module_name(KNN) not in sys.modules  # the parent never imported the proposal
    assert not (cwd / MARKER).exists()  # ... nor ran its code here
    return code, captured.out, captured.err


def test_predict_runs_a_code_model_in_the_sandbox(run_dir: Path, rows: tuple[Path, pd.Series],
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    path, truth = rows
    assert load_model(run_dir).contains_code
    code, out, err = _predict(capsys, monkeypatch, tmp_path, str(run_dir), str(path))
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["prediction", *(f"proba_{c}" for c in CLASSES)]
    assert len(frame) == len(truth)
    assert (frame["prediction"] == truth).mean() > 0.9
    np.testing.assert_allclose(frame.filter(like="proba_").sum(axis=1), 1.0, atol=1e-9)
    [notice] = [line for line in err.splitlines() if line.strip()]
    assert "LLM-written code" in notice and "inside the sandbox" in notice
    assert "isolation bwrap" in notice or "isolation process" in notice


def test_predict_with_process_isolation_says_so_and_writes_the_out_file(
        run_dir: Path, rows: tuple[Path, pd.Series], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path, truth = rows
    monkeypatch.setenv("MLPILOT_ISOLATION", "process")
    out_file = tmp_path / "predictions.csv"
    code, out, err = _predict(capsys, monkeypatch, tmp_path, str(run_dir), str(path),
                              "--out", str(out_file))
    assert code == 0, err
    assert "(isolation process)" in err
    assert f"wrote {len(truth)} predictions" in out
    assert (pd.read_csv(out_file)["prediction"] == truth).mean() > 0.9


def test_a_sandbox_that_cannot_be_had_is_one_line_and_exit_2(
        run_dir: Path, rows: tuple[Path, pd.Series], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLPILOT_ISOLATION", "bwrap")
    monkeypatch.setattr(sandbox._pool, "bwrap_available", lambda: False)
    code, out, err = _predict(capsys, monkeypatch, tmp_path, str(run_dir), str(rows[0]))
    assert code == 2 and out == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert "bubblewrap" in err


def test_a_model_that_fails_in_the_sandbox_is_one_line_and_exit_2(
        rows: tuple[Path, pd.Series], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    X = load_bundled("iris").drop(columns="species")
    broken = sandboxed_model(b"not a joblib file", [1.0], FeaturePrep().fit(X),
                             task_type="multiclass", target="species", classes=CLASSES,
                             mlpilot_version="test")
    folder = tmp_path / "run"
    folder.mkdir()
    broken.save(folder)
    code, out, err = _predict(capsys, monkeypatch, tmp_path, str(folder), str(rows[0]))
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2 and "LLM-written code" in lines[0], err  # the notice, the error
    assert lines[1].startswith("error: Prediction in the sandbox failed (exception): ")
    assert "Traceback" not in err
