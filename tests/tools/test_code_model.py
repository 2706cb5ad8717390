"""CodeModel: built and saved without running the code; fitted, it runs it; pickled fitted,
it comes back from its own source in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tools.code import check_code
from tools.code_model import CodeModel, code_module_name, code_pipeline

ROOT = Path(__file__).resolve().parents[2]

WRAPPED = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

SPACE = {"C": {"type": "float", "low": 0.01, "high": 100.0, "log": True, "default": 1.0}}


class Wrapped(ClassifierMixin, BaseEstimator):  # defined here: its pickle needs this module
    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        if not (isinstance(X, np.ndarray) and X.dtype == np.float64 and np.isfinite(X).all()):
            raise TypeError(f"the contract promises clean float numbers; got {type(X)}")
        self.model_ = LogisticRegression(C=self.C, max_iter=1000).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


def build_model(params):
    return Wrapped(C=params["C"])
'''


def _data(n: int = 120) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n)
    X = pd.DataFrame({"a": a, "b": b, "color": color})
    X.loc[rng.random(n) < 0.1, "b"] = np.nan
    X.loc[rng.random(n) < 0.1, "color"] = np.nan
    y = (a + (color == "red") > 0.3).astype(np.int64) + (a > 1.2)
    return X, y


def _pipeline(source: str, task_type: str = "multiclass", params: dict | None = None) -> object:
    proposal = check_code(source, name="wrapped", task_type=task_type)  # type: ignore[arg-type]
    return code_pipeline(proposal, params, task_type=task_type,  # type: ignore[arg-type]
                         numeric_columns=["a", "b"], categorical_columns=["color"])


def test_building_saving_and_cloning_the_pipeline_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    source = f"open({str(marker)!r}, 'w').write('ran')\n" + WRAPPED
    pipeline = _pipeline(source, params={"C": 3.0})
    joblib.dump(pipeline, tmp_path / "estimator.joblib")
    loaded = clone(joblib.load(tmp_path / "estimator.joblib"))
    model = loaded.named_steps["model"].estimator  # inside the probability floor
    assert isinstance(model, CodeModel)
    assert model.params == {"C": 3.0} and model.task == "classifier" and model.source == source
    assert not marker.exists()
    assert code_module_name(source) not in sys.modules


def test_fit_runs_the_code_on_clean_dense_numbers() -> None:
    X, y = _data()
    pipeline = _pipeline(WRAPPED).fit(X, y)
    proba = pipeline.predict_proba(X)
    assert proba.shape == (len(y), 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(pipeline.classes_) == [0, 1, 2]
    assert (pipeline.predict(X) == y).mean() > 0.8
    module = sys.modules[code_module_name(WRAPPED)]
    assert type(pipeline.named_steps["model"].estimator_.model_) is module.Wrapped


@pytest.mark.slow  # a fresh interpreter imports scikit-learn: several seconds on a busy machine
def test_a_fitted_model_reloads_from_its_source_in_a_fresh_interpreter(tmp_path: Path) -> None:
    X, y = _data()
    pipeline = _pipeline(WRAPPED, params={"C": 0.5}).fit(X, y)
    joblib.dump(pipeline, tmp_path / "fitted.joblib")
    X.to_pickle(tmp_path / "X.pkl")
    script = ("import sys, joblib, numpy as np, pandas as pd\n"
              f"name = {code_module_name(WRAPPED)!r}\n"
              "assert name not in sys.modules\n"
              "model = joblib.load('fitted.joblib')\n"
              "assert name in sys.modules\n"
              "np.save('proba.npy', model.predict_proba(pd.read_pickle('X.pkl')))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), pipeline.predict_proba(X))


def test_build_model_must_return_an_estimator_for_the_task() -> None:
    X, y = _data()
    no_proba = ("from sklearn.svm import LinearSVC\n\n"
                "def build_model(params):\n    return LinearSVC()\n")
    with pytest.raises(TypeError, match=r"returned a sklearn\.svm\._classes\.LinearSVC, "
                                        r"which has no predict_proba"):
        _pipeline(no_proba).fit(X, y)
    nothing = "def build_model(params):\n    return None\n"
    with pytest.raises(TypeError, match="it returned None, which has no fit, predict"):
        _pipeline(nothing, task_type="regression").fit(X, y.astype(float))
    regressor = _pipeline(no_proba, task_type="regression").fit(X, y.astype(float))
    assert regressor.predict(X).shape == (len(y),)
    assert not hasattr(regressor, "predict_proba")


def test_a_code_model_clones_with_its_arguments() -> None:
    model = CodeModel(source=WRAPPED, params={"C": 2.0}, task="classifier")
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
