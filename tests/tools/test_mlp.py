"""The torch MLP estimators: they learn, pickle without CUDA, and choose the device sensibly."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import log_loss, r2_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from schemas import ConfigError
from tools.mlp import TorchMLPClassifier, TorchMLPRegressor, resolve_device

FAST: dict[str, Any] = {"hidden_size": 64, "max_epochs": 30, "patience": 5, "random_state": 0}


def _scaled(loader: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = loader(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    cut = int(0.7 * len(X))
    scaler = StandardScaler().fit(X[:cut])
    return scaler.transform(X[:cut]), y[:cut], scaler.transform(X[cut:]), y[cut:]


def test_classifier_beats_the_dummy_clearly_on_breast_cancer() -> None:
    X, y, X_test, y_test = _scaled(load_breast_cancer)
    mlp = TorchMLPClassifier(**FAST).fit(X, y)
    dummy = DummyClassifier(strategy="prior").fit(X, y)
    assert mlp.score(X_test, y_test) > 0.93 > dummy.score(X_test, y_test) + 0.2
    assert log_loss(y_test, mlp.predict_proba(X_test)) < 0.5 * log_loss(
        y_test, dummy.predict_proba(X_test))
    np.testing.assert_array_equal(mlp.classes_, [0, 1])


def test_regressor_beats_the_dummy_clearly_on_diabetes() -> None:
    X, y, X_test, y_test = _scaled(load_diabetes)
    mlp = TorchMLPRegressor(random_state=0).fit(X, y)  # the catalog's default network
    dummy = DummyRegressor().fit(X, y)
    assert r2_score(y_test, mlp.predict(X_test)) > 0.35
    assert r2_score(y_test, dummy.predict(X_test)) < 0.01


def test_string_labels_and_multiclass_probabilities() -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    labels = np.array(["ant", "bee", "cat"])[np.argmax(X, axis=1)]
    mlp = TorchMLPClassifier(**FAST).fit(X, labels)
    assert list(mlp.classes_) == ["ant", "bee", "cat"]
    proba = mlp.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.mean(mlp.predict(X) == labels) > 0.9


def test_pickled_model_predicts_the_same_and_holds_no_tensors() -> None:
    X, y, X_test, _ = _scaled(load_breast_cancer)
    mlp = TorchMLPClassifier(**FAST).fit(X, y)
    loaded = pickle.loads(pickle.dumps(mlp))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), mlp.predict_proba(X_test))
    # plain numpy weights: the file loads on a machine without CUDA, whatever trained it
    assert all(isinstance(v, np.ndarray) for v in loaded.state_.values())


def test_same_seed_same_model_and_global_rng_untouched() -> None:
    X, y, X_test, _ = _scaled(load_diabetes)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    threads = torch.get_num_threads()
    a = TorchMLPRegressor(**FAST).fit(X, y).predict(X_test)
    b = TorchMLPRegressor(**FAST).fit(X, y).predict(X_test)
    c = TorchMLPRegressor(**{**FAST, "random_state": 1}).fit(X, y).predict(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == threads


def test_early_stopping_ends_before_max_epochs() -> None:
    X, y, _, _ = _scaled(load_breast_cancer)
    mlp = TorchMLPClassifier(hidden_size=64, max_epochs=300, patience=3, learning_rate=1e-2,
                             random_state=0).fit(X, y)
    assert mlp.n_epochs_ < 300
    assert mlp.best_validation_loss_ is not None


def test_tiny_data_trains_without_a_validation_split() -> None:
    X = np.arange(10, dtype=float).reshape(-1, 1)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    mlp = TorchMLPClassifier(max_epochs=5, random_state=0).fit(X, y)
    assert mlp.n_epochs_ == 5 and mlp.best_validation_loss_ is None


def test_sparse_input_is_densified() -> None:
    X, y, _, _ = _scaled(load_breast_cancer)
    dense = TorchMLPClassifier(**FAST).fit(X, y).predict_proba(X)
    sparse = TorchMLPClassifier(**FAST).fit(sp.csr_matrix(X), y).predict_proba(sp.csr_matrix(X))
    np.testing.assert_allclose(dense, sparse, rtol=1e-5, atol=1e-6)


def test_wrong_feature_count_and_bad_params_are_refused() -> None:
    X, y, _, _ = _scaled(load_breast_cancer)
    mlp = TorchMLPClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        mlp.predict(X[:, :5])
    with pytest.raises(ConfigError, match=r"'dropout' parameter of TorchMLPRegressor.*got 1.5"):
        TorchMLPRegressor(dropout=1.5).fit(X, y)


@pytest.mark.parametrize(("device", "cuda", "expected"), [
    ("auto", True, "cuda"), ("auto", False, "cpu"), ("cpu", True, "cpu"),
    ("cuda", True, "cuda"), ("cuda:1", True, "cuda:1"),
])
def test_device_choice(device: str, cuda: bool, expected: str) -> None:
    assert resolve_device(device, cuda) == expected


def test_cuda_is_refused_where_there_is_none_and_typos_are_named() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda", False)
    with pytest.raises(ConfigError, match=r"'device' parameter must be.*got 'gpu'"):
        resolve_device("gpu", True)


def test_auto_trains_on_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y, _, _ = _scaled(load_diabetes)
    assert TorchMLPRegressor(max_epochs=2, random_state=0).fit(X, y).device_ == "cpu"
    with pytest.raises(ConfigError, match="CUDA is not available"):
        TorchMLPRegressor(max_epochs=2, device="cuda").fit(X, y)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [
    TorchMLPClassifier(hidden_size=32, n_layers=1, max_epochs=6, learning_rate=2e-2,
                       random_state=0),
    TorchMLPRegressor(hidden_size=32, n_layers=1, max_epochs=6, learning_rate=2e-2,
                      random_state=0),
], ids=lambda e: type(e).__name__)
def test_follows_the_scikit_learn_estimator_contract(estimator: Any) -> None:
    check_estimator(estimator, on_skip=None)
