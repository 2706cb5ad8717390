"""The search-space catalog: families, size guards, defaults, validation and repair."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from schemas import (
    TASK_TYPES,
    CategoricalParam,
    ConfigError,
    FamilySpace,
    IntParam,
    TaskType,
    TrialConfig,
)
from tools.catalog import (
    FAMILY_NAMES,
    catalog,
    default_config,
    get_family,
    validate_against,
    validate_config,
)

SCALED = {"linear", "knn", "svm", "mlp"}


def _rf(**params: Any) -> TrialConfig:
    base = dict(get_family("random_forest", "binary").default)
    base.update(params)
    return TrialConfig(family="random_forest", params=base)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_every_family_is_offered_for_every_task_type(task_type: TaskType) -> None:
    assert tuple(s.name for s in catalog(task_type)) == FAMILY_NAMES
    for space in catalog(task_type):
        assert task_type in space.task_types


def test_classification_and_regression_use_their_own_parameters() -> None:
    assert "C" in get_family("linear", "binary").params
    assert "alpha" in get_family("linear", "regression").params
    assert "class_weight" in get_family("random_forest", "multiclass").params
    assert "class_weight" not in get_family("random_forest", "regression").params
    assert "epsilon" in get_family("svm", "regression").params


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_preprocessing_choices_are_ordinary_params(task_type: TaskType) -> None:
    for space in catalog(task_type):
        assert set(space.params["num_impute"].choices) == {"median", "mean"}  # type: ignore[union-attr]
        assert set(space.params["cat_encode"].choices) == {"onehot", "ordinal"}  # type: ignore[union-attr]
        assert ("scale" in space.params) == (space.name in SCALED), space.name


def test_size_guards_leave_out_slow_families_on_big_data() -> None:
    assert "svm" in {s.name for s in catalog("binary", n_rows=5_000)}
    mid = {s.name for s in catalog("binary", n_rows=50_000)}
    assert "svm" not in mid and "knn" in mid
    big = {s.name for s in catalog("regression", n_rows=1_000_000)}
    assert big == set(FAMILY_NAMES) - {"svm", "knn"}


def test_defaults_are_what_an_expert_tries_first() -> None:
    rf = get_family("random_forest", "binary").default
    assert rf["n_estimators"] == 300 and rf["max_depth"] is None
    assert get_family("hist_gb", "regression").default["learning_rate"] == 0.1
    for task_type in TASK_TYPES:
        for space in catalog(task_type):
            config = default_config(space)
            assert validate_config(config, task_type) == config


def test_unknown_family_or_task_type_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"'family'.*random_forest.*got 'xgboost'"):
        get_family("xgboost", "binary")
    with pytest.raises(ConfigError, match=r"'task_type'.*got 'ranking'"):
        catalog("ranking")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'family'"):
        validate_config(TrialConfig(family="xgboost", params={}), "binary")


@pytest.mark.parametrize(("params", "pattern"), [
    ({"n_estimators": 5000}, r"'random_forest.n_estimators'.*int in \[50, 1000\].*got 5000"),
    ({"n_estimators": 12.5}, r"'random_forest.n_estimators'.*got 12.5"),
    ({"n_estimators": "300"}, r"'random_forest.n_estimators'.*got '300'"),
    ({"n_estimators": True}, r"'random_forest.n_estimators'.*got True"),
    ({"max_features": "all"}, r"'random_forest.max_features'.*one of \['sqrt'.*got 'all'"),
    ({"max_depth": 7}, r"'random_forest.max_depth'.*one of \[None, 4.*got 7"),
    ({"bootstrap": False}, r"'random_forest.bootstrap' parameter is unknown"),
])
def test_strict_validation_names_parameter_rule_and_value(params: dict[str, Any],
                                                          pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        validate_config(_rf(**params), "binary")


def test_strict_validation_reports_a_missing_parameter_with_its_default() -> None:
    params = dict(get_family("hist_gb", "binary").default)
    del params["learning_rate"]
    with pytest.raises(ConfigError, match=r"'hist_gb.learning_rate' parameter is missing.*0.1"):
        validate_config(TrialConfig(family="hist_gb", params=params), "binary")


def test_float_range_message_mentions_log_scale() -> None:
    params = {**get_family("linear", "binary").default, "C": 0.0}
    with pytest.raises(ConfigError, match=r"'linear.C'.*float in \[0.0001, 1000.0\] \(log"):
        validate_config(TrialConfig(family="linear", params=params), "binary")


def test_lossless_number_forms_are_accepted_in_strict_mode() -> None:
    config = validate_config(_rf(n_estimators=300.0, max_features=1, max_depth=8.0), "binary")
    assert config.params["n_estimators"] == 300 and type(config.params["n_estimators"]) is int
    assert config.params["max_features"] == 1.0 and type(config.params["max_features"]) is float
    assert config.params["max_depth"] == 8 and type(config.params["max_depth"]) is int
    linear = {**get_family("linear", "regression").default, "alpha": 3}
    fixed = validate_config(TrialConfig(family="linear", params=linear), "regression")
    assert fixed.params["alpha"] == 3.0 and type(fixed.params["alpha"]) is float


def test_repair_clamps_fills_drops_and_resets() -> None:
    messy = {"n_estimators": 100_000, "min_samples_leaf": 0, "max_features": "everything",
             "max_depth": "None", "class_weight": "Balanced", "bootstrap": False}
    fixed = validate_config(TrialConfig(family="random_forest", params=messy), "binary",
                            repair=True)
    assert fixed.params == {
        "num_impute": "median", "cat_encode": "ordinal",  # filled from the default
        "n_estimators": 1000, "min_samples_leaf": 1,  # clamped
        "max_features": "sqrt",  # invalid choice -> default
        "max_depth": None, "class_weight": "balanced",  # forgiving spellings
    }


def test_repair_parses_numbers_written_as_text_and_rounds_ints() -> None:
    params = {**get_family("hist_gb", "regression").default,
              "learning_rate": "0.05", "max_iter": 150.6, "l2_regularization": "lots"}
    fixed = validate_config(TrialConfig(family="hist_gb", params=params), "regression",
                            repair=True)
    assert fixed.params["learning_rate"] == 0.05
    assert fixed.params["max_iter"] == 151
    assert fixed.params["l2_regularization"] == get_family("hist_gb", "regression").default[
        "l2_regularization"]


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_anything_repaired_passes_strict_validation(task_type: TaskType) -> None:
    junk: list[Any] = [None, -1e9, 1e9, "x", True, 0.5, 7, float("nan"), "none"]
    for space in catalog(task_type):
        for i, value in enumerate(junk):
            params = {key: junk[(i + j) % len(junk)] for j, key in enumerate(space.params)}
            params["extra"] = value
            fixed = validate_config(TrialConfig(family=space.name, params=params), task_type,
                                    repair=True)
            assert validate_config(fixed, task_type) == fixed
            assert set(fixed.params) == set(space.params)


def test_categorical_choices_keep_their_types() -> None:
    batch = get_family("mlp", "binary").params["batch_size"]
    assert isinstance(batch, CategoricalParam)
    assert all(type(c) is int for c in batch.choices)


def test_validate_against_a_space_rejects_another_family() -> None:
    with pytest.raises(ConfigError, match=r"'family' parameter must be 'knn'; got 'random_forest'"):
        validate_against(_rf(), get_family("knn", "binary"))


def _param(spaces: tuple[FamilySpace, ...], family: str, name: str) -> IntParam:
    param = next(s for s in spaces if s.name == family).params[name]
    assert isinstance(param, IntParam)
    return param


def test_row_bound_ranges_fit_a_small_table_and_leave_a_large_one_alone() -> None:
    small = catalog("multiclass", n_rows=120)  # iris' training rows
    assert _param(small, "hist_gb", "min_samples_leaf").high == 30
    assert _param(small, "random_forest", "min_samples_leaf").high == 30
    assert _param(small, "knn", "n_neighbors").high == 60
    tiny = {s.name: s for s in catalog("binary", n_rows=10)}
    assert tiny["hist_gb"].params["min_samples_leaf"] == IntParam(low=2, high=3, log=True)
    assert tiny["hist_gb"].default["min_samples_leaf"] == 3  # the default of 20 is clamped
    assert tiny["knn"].default["n_neighbors"] == 5
    for space in tiny.values():  # every default is a valid point of its space
        assert validate_against(default_config(space), space) == default_config(space)
    assert catalog("regression", n_rows=10_000) == catalog("regression")


def test_the_largest_leaf_left_on_iris_still_splits() -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_iris(return_X_y=True)
    rows = np.random.default_rng(0).permutation(len(y))[:96]  # one CV fold's fit of 120 rows
    leaf = _param(catalog("multiclass", n_rows=120), "hist_gb", "min_samples_leaf").high
    model = HistGradientBoostingClassifier(min_samples_leaf=leaf, max_iter=20)
    proba = model.fit(x[rows], y[rows]).predict_proba(x)
    assert np.ptp(proba[:, 0]) > 0.5  # not the class shares for every row
    stuck = HistGradientBoostingClassifier(min_samples_leaf=49, max_iter=20)
    assert np.ptp(stuck.fit(x[rows], y[rows]).predict_proba(x)[:, 0]) < 1e-9
