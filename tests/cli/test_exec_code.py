"""``mlpilot exec-code``: one code proposal, one sandboxed trial, its result as JSON on stdout.

The slow tests run the real sandbox pool (one worker start each); every in-process
``main`` call also checks that the parent never imported the proposal's module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agents import prepare_data
from cli.main import main
from schemas import TaskSpec, TrialResult, code_family, source_digest
from tools.code_model import code_module_name
from tools.datasets import load_bundled

KNN = '''"""k nearest neighbours with a tunable k."""
SPACE = {
    "n_neighbors": {"type": "int", "low": 1, "high": 50, "log": True, "default": 7},
    "weights": {"type": "categorical", "choices": ["uniform", "distance"], "default": "uniform"},
}


def build_model(params):
    from sklearn.neighbors import KNeighborsClassifier

    print("build_model got", sorted(params.items()))
    return KNeighborsClassifier(n_neighbors=params["n_neighbors"], weights=params["weights"])
'''

RAISES = '''
def build_model(params):
    raise RuntimeError("no model for you today")
'''

TORCH_MLP = '''"""A tiny torch MLP wrapped as a scikit-learn classifier."""
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

SPACE = {
    "hidden": {"type": "int", "low": 4, "high": 64, "default": 16},
    "epochs": {"type": "int", "low": 10, "high": 500, "log": True, "default": 150},
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True, "default": 0.03},
}


class TinyMLP(ClassifierMixin, BaseEstimator):
    def __init__(self, hidden=16, epochs=150, lr=0.03):
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr

    def fit(self, X, y):
        torch.manual_seed(0)
        self.classes_ = np.unique(y)
        inputs = torch.as_tensor(X, dtype=torch.float32)
        target = torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)
        self.net_ = nn.Sequential(nn.Linear(inputs.shape[1], self.hidden), nn.ReLU(),
                                  nn.Linear(self.hidden, len(self.classes_)))
        optimizer = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            optimizer.zero_grad()
            nn.functional.cross_entropy(self.net_(inputs), target).backward()
            optimizer.step()
        return self

    def predict_proba(self, X):
        with torch.no_grad():
            logits = self.net_(torch.as_tensor(X, dtype=torch.float32))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def build_model(params):
    return TinyMLP(hidden=params["hidden"], epochs=params["epochs"], lr=params["lr"])
'''


def _exec(capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str,
          *flags: str) -> tuple[int, str, str]:
    """Run ``mlpilot exec-code`` in this process on ``source`` and bundled iris."""
    path = tmp_path / "proposal_under_test.py"
    path.write_text(source)
    code = main(["exec-code", str(path), "--data", "bundled:iris", "--target", "species",
                 *flags])
    captured = capsys.readouterr()
    assert code_module_name(source) not in sys.modules  # the parent never ran the code
    return code, captured.out, captured.err


def _result(out: str) -> TrialResult:
    return TrialResult.model_validate(json.loads(out))  # stdout holds one JSON object only


def _dummy_accuracy() -> float:
    task = TaskSpec(data_path=Path("bundled:iris"), target="species", metric="accuracy")
    return prepare_data(task, load_bundled("iris")).check_context().dummy_cv_score


# -- bad input: exit 2, one line on stderr, no sandbox started ---------------------------------


def _assert_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_a_syntax_error_is_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    code, out, err = _exec(capsys, tmp_path, "def build_model(params:\n    return 1\n")
    _assert_usage_error(code, out, err, "syntax error at line 1")


def test_a_static_check_failure_is_exit_2(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    code, out, err = _exec(capsys, tmp_path, "def build_model(params, seed):\n    return 1\n")
    _assert_usage_error(code, out, err, "build_model must take one argument, params; it takes 2")


@pytest.mark.parametrize(("params", "needle"), [
    ("{n_neighbors: 3}", "'--params' parameter must be a JSON object"),
    ("[3]", "got a JSON list instead"),
    ('{"n_neighbors": 0}', "n_neighbors' parameter must be an int in [1, 50]"),
    ('{"k": 3}', "k' parameter is unknown"),
])
def test_bad_params_are_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, params: str,
                               needle: str) -> None:
    code, out, err = _exec(capsys, tmp_path, KNN, "--params", params)
    _assert_usage_error(code, out, err, needle)


def test_missing_file_and_bad_target_are_exit_2(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    code = main(["exec-code", str(tmp_path / "nope.py"), "--data", "bundled:iris",
                 "--target", "species"])
    captured = capsys.readouterr()
    _assert_usage_error(code, captured.out, captured.err, "nope.py")
    code, out, err = _exec(capsys, tmp_path, KNN, "--target", "colour")
    _assert_usage_error(code, out, err, "colour")


def test_a_non_empty_out_folder_is_refused(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    out_dir = tmp_path / "kept"
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("x")
    code, out, err = _exec(capsys, tmp_path, KNN, "--out", str(out_dir))
    _assert_usage_error(code, out, err, "is not empty")


# -- the real sandbox ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_knn_proposal_beats_the_dummy(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    code, out, _ = _exec(capsys, tmp_path, KNN, "--metric", "accuracy")
    assert code == 0
    result = _result(out)
    assert result.ok, result.error
    assert result.source == "llm" and result.config.family == code_family(source_digest(KNN))
    assert result.config.params == {"n_neighbors": 7, "weights": "uniform"}
    assert result.cv_score is not None and result.cv_score > max(0.85, _dummy_accuracy() + 0.3)
    assert len(result.fold_scores) == 5


@pytest.mark.slow
def test_params_override_a_default_and_out_keeps_the_trial(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    out_dir = tmp_path / "kept"
    code, out, _ = _exec(capsys, tmp_path, KNN, "--params", '{"n_neighbors": 3}',
                         "--out", str(out_dir), "--seed", "1")
    assert code == 0
    result = _result(out)
    assert result.ok, result.error
    assert result.config.params == {"n_neighbors": 3, "weights": "uniform"}
    assert "build_model got [('n_neighbors', 3), ('weights', 'uniform')]" in (
        out_dir / "output.log").read_text()
    assert (out_dir / "proposal.py").read_text() == KNN
    assert result.predictions_path == out_dir / "predictions.npy"
    assert result.predictions_path.is_file()


@pytest.mark.slow
def test_a_raising_build_model_is_a_failed_result(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    code, out, _ = _exec(capsys, tmp_path, RAISES)
    assert code == 0
    result = _result(out)
    assert result.status == "failed" and result.failure == "exception"
    assert result.error is not None
    assert "RuntimeError: no model for you today" in result.error
    assert "<proposal " in result.error and "line 3, in build_model" in result.error
    assert result.cv_score is None


@pytest.mark.slow
def test_a_torch_model_trains_and_scores(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    code, out, _ = _exec(capsys, tmp_path, TORCH_MLP, "--metric", "accuracy",
                         "--timeout", "120")
    assert code == 0
    result = _result(out)
    assert result.ok, result.error
    assert result.cv_score is not None and result.cv_score > 0.85
