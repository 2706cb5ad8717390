"""Pipelines built from configurations: they fit, predict, pickle and survive new categories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import check_estimator

from schemas import TASK_TYPES, ConfigError, FamilySpace, TaskType, TrialConfig
from tests.tools._search_data import dataset, split
from tools.bo import OptunaSearch
from tools.catalog import FAMILY_NAMES, catalog, default_config, get_family, validate_config
from tools.pipeline import (
    RelativeGammaSVC,
    RelativeGammaSVR,
    ThreadLimitedClassifier,
    build_pipeline,
    scale_gamma,
)


def _build(config: TrialConfig, task_type: TaskType, seed: int = 0, n_threads: int = 1,
           numeric: list[str] | None = None, categorical: list[str] | None = None) -> Pipeline:
    _, _, num, cat = dataset(task_type)
    return build_pipeline(config, task_type=task_type,
                          numeric_columns=num if numeric is None else numeric,
                          categorical_columns=cat if categorical is None else categorical,
                          seed=seed, n_threads=n_threads)


def _quality(task_type: TaskType, y: np.ndarray, out: np.ndarray) -> float:
    if task_type == "regression":
        return float(r2_score(y, out))
    if task_type == "binary":
        return float(roc_auc_score(y, out[:, 1]))
    return float(roc_auc_score(y, out, multi_class="ovr"))


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_every_default_fits_and_beats_chance(task_type: TaskType, family: str) -> None:
    X, y, _, _ = dataset(task_type)
    X_train, y_train, X_test, y_test = split(X, y)
    pipe = _build(default_config(get_family(family, task_type)), task_type)
    pipe.fit(X_train, y_train)
    if task_type == "regression":
        out = pipe.predict(X_test)
        assert out.shape == (len(X_test),)
        assert _quality(task_type, y_test, out) > 0.25  # the dummy scores 0
    else:
        proba = pipe.predict_proba(X_test)
        assert proba.shape == (len(X_test), len(np.unique(y)))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert _quality(task_type, y_test, proba) > 0.9  # the dummy scores 0.5


def test_unseen_and_missing_categories_at_predict_time() -> None:
    X, y, _, _ = dataset("binary")
    for family in ("linear", "hist_gb", "mlp"):
        pipe = _build(default_config(get_family(family, "binary")), "binary").fit(X, y)
        new = X.iloc[:5].copy()
        new["colour"] = pd.Series(["purple", np.nan, "red", "never-seen", np.nan],
                                  index=new.index, dtype=object)
        new["size"] = np.nan
        proba = pipe.predict_proba(new)
        assert proba.shape == (5, 2) and np.all(np.isfinite(proba))


def test_joblib_round_trip_predicts_the_same(tmp_path: Path) -> None:
    X, y, _, _ = dataset("multiclass")
    for family in ("svm", "mlp", "random_forest"):
        pipe = _build(default_config(get_family(family, "multiclass")), "multiclass").fit(X, y)
        path = tmp_path / f"{family}.joblib"
        joblib.dump(pipe, path)
        np.testing.assert_array_equal(joblib.load(path).predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("encode", ["onehot", "ordinal"])
def test_either_column_list_may_be_empty(encode: str) -> None:
    X, y, num, cat = dataset("regression")
    config = TrialConfig(family="knn", params={**get_family("knn", "regression").default,
                                               "cat_encode": encode})
    only_num = _build(config, "regression", categorical=[]).fit(X[num], y)
    assert only_num.predict(X[num]).shape == (len(X),)
    only_cat = _build(config, "regression", numeric=[]).fit(X[cat], y)
    assert only_cat.predict(X[cat]).shape == (len(X),)
    with pytest.raises(ConfigError, match="'numeric_columns' and 'categorical_columns'"):
        _build(config, "regression", numeric=[], categorical=[])


def test_invalid_config_is_refused_before_building() -> None:
    bad = TrialConfig(family="knn", params={**get_family("knn", "binary").default,
                                            "n_neighbors": 0})
    with pytest.raises(ConfigError, match=r"'knn.n_neighbors'.*got 0"):
        _build(bad, "binary")


def test_seed_and_threads_reach_the_estimator() -> None:
    rf = _build(default_config(get_family("random_forest", "binary")), "binary", seed=7,
                n_threads=2)[-1].estimator  # inside the probability floor
    assert rf.random_state == 7 and rf.n_jobs == 2
    mlp = _build(default_config(get_family("mlp", "regression")), "regression", seed=3,
                 n_threads=2)[-1]
    assert mlp.random_state == 3 and mlp.n_threads == 2
    with pytest.raises(ConfigError, match="'n_threads'"):
        _build(default_config(get_family("linear", "binary")), "binary", n_threads=0)


def test_hist_gb_splits_ordinal_categories_natively() -> None:
    space = get_family("hist_gb", "binary")
    X, y, num, cat = dataset("binary")
    native = _build(default_config(space), "binary")
    hgb = native[-1].estimator.estimator  # floor > thread limit > HistGradientBoosting
    assert list(hgb.categorical_features) == [False] * len(num) + [True] * len(cat)
    native.fit(X, y)
    assert native[-1].estimator_.estimator_.is_categorical_.sum() == len(cat)
    onehot = TrialConfig(family="hist_gb", params={**space.default, "cat_encode": "onehot"})
    assert _build(onehot, "binary")[-1].estimator.estimator.categorical_features is None


def test_high_cardinality_columns_stay_small() -> None:
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"x": rng.normal(size=2000),
                      "code": pd.Series([f"c{i}" for i in rng.randint(0, 900, 2000)],
                                        dtype=object)})
    y = (X["x"] > 0).astype(np.int64).to_numpy()
    config = default_config(get_family("linear", "binary"))
    pipe = build_pipeline(config, task_type="binary", numeric_columns=["x"],
                          categorical_columns=["code"], seed=0).fit(X, y)
    assert pipe[0].transform(X).shape[1] <= 1 + 32


def test_svm_gamma_is_relative_to_the_scale_heuristic() -> None:
    X = np.random.RandomState(0).normal(size=(120, 4)) * 3.0
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    svm = RelativeGammaSVC(gamma=1.0, random_state=0).fit(X, y)
    reference = SVC(gamma="scale").fit(X, y)
    assert svm.gamma_ == pytest.approx(reference._gamma)
    assert RelativeGammaSVC(gamma=0.5, random_state=0).fit(X, y).gamma_ == pytest.approx(
        0.5 * scale_gamma(X))


def _sampled_configs(spaces: tuple[FamilySpace, ...], n: int,
                     tmp_path: Path) -> list[TrialConfig]:
    search = OptunaSearch(spaces, direction="maximize", storage_path=tmp_path / "s.log",
                          sampler="random", seed=1)
    search.start()
    configs = []
    for _ in range(n):
        number, config, _ = search.ask()
        search.tell(number, 0.0)
        configs.append(config)
    return configs


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_random_configs_of_every_family_build(task_type: TaskType, tmp_path: Path) -> None:
    for config in _sampled_configs(catalog(task_type), 30, tmp_path):
        assert validate_config(config, task_type) == config
        _build(config, task_type)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_random_configs_of_fast_families_fit(task_type: TaskType, tmp_path: Path) -> None:
    fast = tuple(s for s in catalog(task_type) if s.name in ("linear", "knn", "svm"))
    X, y, _, _ = dataset(task_type)
    X_train, y_train, X_test, _ = split(X.iloc[:300], y[:300])
    for config in _sampled_configs(fast, 15, tmp_path):
        pipe = _build(config, task_type).fit(X_train, y_train)
        out = pipe.predict(X_test) if task_type == "regression" else pipe.predict_proba(X_test)
        assert np.all(np.isfinite(out)), config.key()


@pytest.mark.slow
@pytest.mark.parametrize(("estimator", "expected_failures"), [
    (RelativeGammaSVR(), {}),
    (ThreadLimitedClassifier(LogisticRegression()), {}),  # the regressor shares its code
], ids=lambda e: type(e).__name__)
def test_wrappers_follow_the_scikit_learn_estimator_contract(
        estimator: BaseEstimator, expected_failures: dict[str, str]) -> None:
    check_estimator(estimator, expected_failed_checks=expected_failures, on_skip=None)


def test_a_classifier_never_says_zero_and_keeps_its_ranking() -> None:
    from sklearn.tree import DecisionTreeClassifier

    from tools.pipeline import PROBA_FLOOR, FlooredClassifier

    X = np.arange(40, dtype=float).reshape(-1, 1)
    y = np.array([0] * 10 + [1] * 10 + [2] * 20)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    floored = FlooredClassifier(DecisionTreeClassifier(random_state=0)).fit(X, y)
    raw, proba = tree.predict_proba(X), floored.predict_proba(X)
    assert raw.min() == 0.0  # a deep tree is certain
    assert np.allclose(proba, (1 - PROBA_FLOOR) * raw + PROBA_FLOOR * np.array([0.25, 0.25, 0.5]))
    assert np.allclose(proba.sum(axis=1), 1.0) and proba.min() > 0
    assert (floored.predict(X) == tree.predict(X)).all()
    assert list(floored.classes_) == [0, 1, 2]


def test_every_catalog_classifier_is_floored() -> None:
    from tools.pipeline import FlooredClassifier

    for family in ("linear", "random_forest", "hist_gb", "knn"):
        pipeline = build_pipeline(default_config(get_family(family, "binary")),
                                  task_type="binary", numeric_columns=["a"],
                                  categorical_columns=[], seed=0)
        assert isinstance(pipeline[-1], FlooredClassifier), family
    regressor = build_pipeline(default_config(get_family("linear", "regression")),
                               task_type="regression", numeric_columns=["a"],
                               categorical_columns=[], seed=0)
    assert not isinstance(regressor[-1], FlooredClassifier)


class _SeesPools(LogisticRegression):
    """Records the OpenMP/BLAS thread counts it sees while it fits."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _SeesPools:
        from threadpoolctl import threadpool_info

        self.seen_ = sorted({info["num_threads"] for info in threadpool_info()})
        return super().fit(X, y, sample_weight)


def test_thread_limited_models_fit_under_the_limit_and_restore_it() -> None:
    from threadpoolctl import threadpool_info

    before = sorted({info["num_threads"] for info in threadpool_info()})
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    for _ in range(2):  # the second fit reuses the process's controller
        model = ThreadLimitedClassifier(_SeesPools(), n_threads=1).fit(X, y)
        assert model.estimator_.seen_ == [1]
    assert sorted({info["num_threads"] for info in threadpool_info()}) == before
