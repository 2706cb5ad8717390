"""Intake: the task type, metric and direction it resolves, and every table it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from schemas import METRICS, ConfigError, DataError, TaskSpec
from tools.datasets import load_bundled
from tools.intake import infer_task_type, prepare, resolve_metric


def _task(target: str, **kw: Any) -> TaskSpec:
    return TaskSpec(data_path=Path("data.csv"), target=target, **kw)


# --------------------------------------------------------------------------- metrics
@pytest.mark.parametrize(("name", "task_type", "expected"), [
    (None, "binary", "roc_auc"), (None, "multiclass", "log_loss"), (None, "regression", "rmse"),
    ("AUC", "binary", "roc_auc"), ("Log-Loss", "multiclass", "log_loss"),
    (" accuracy ", "multiclass", "accuracy"), ("macro_f1", "multiclass", "f1_macro"),
    ("R_Squared", "regression", "r2"),
])
def test_resolve_metric(name: str | None, task_type: Any, expected: str) -> None:
    info = resolve_metric(name, task_type)
    assert info.name == expected
    assert info.direction == METRICS[expected].direction


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"'metric' parameter must be one of \[.*'accuracy'.*\];"
                                          r" got 'acuracy' instead. Did you mean 'accuracy'\?"):
        resolve_metric("acuracy", "binary")


def test_metric_unfit_for_task_names_the_task_type() -> None:
    with pytest.raises(ConfigError, match="'rmse' does not fit a binary task"):
        resolve_metric("rmse", "binary")
    with pytest.raises(ConfigError, match="'f1' does not fit a multiclass task"):
        resolve_metric("f1", "multiclass")


# ------------------------------------------------------------------- task inference
@pytest.mark.parametrize(("values", "expected"), [
    ([True, False] * 30, "binary"),
    (["yes", "no", "no"] * 20, "binary"),
    ([0, 1, 1] * 20, "binary"),
    ([0.5, 2.5] * 30, "binary"),
    (["a", "b", "c"] * 20, "multiclass"),
    (pd.Categorical(["x", "y", "z", "w"] * 15), "multiclass"),
    ([1, 2, 3] * 20, "multiclass"),
    ([1, 2, 3] * 5, "regression"),  # too few rows per value to be sure these are classes
    (list(range(60)), "regression"),
    ([0.1 * i for i in range(60)], "regression"),
    ([1.5, 2.5, 3.5] * 20, "regression"),
    (["1.5", "2.25", "3", "4.5"] * 15, "regression"),
])
def test_infer_task_type(values: Any, expected: str) -> None:
    assert infer_task_type(pd.Series(values, name="y")) == expected


def test_bundled_datasets_are_inferred_correctly() -> None:
    assert prepare(_task("diagnosis"), load_bundled("breast_cancer")).task.task_type == "binary"
    assert prepare(_task("species"), load_bundled("iris")).task.task_type == "multiclass"
    assert prepare(_task("progression"), load_bundled("diabetes")).task.task_type == "regression"


def test_integer_classes_come_with_a_notice() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "quality": rng.integers(3, 8, 200)})
    data = prepare(_task("quality"), df)
    assert data.task.task_type == "multiclass"
    assert data.classes == (3, 4, 5, 6, 7)
    assert any("task_type='regression'" in n for n in data.notices)
    forced = prepare(_task("quality", task_type="regression"), df)
    assert forced.task.task_type == "regression" and forced.classes is None
    assert forced.y.dtype == np.float64


# ---------------------------------------------------------------------- encoding
def test_binary_target_is_encoded_in_sorted_label_order() -> None:
    data = prepare(_task("diagnosis"), load_bundled("breast_cancer"))
    assert data.classes == ("benign", "malignant")
    assert data.y.dtype == np.int64
    assert int(data.y.sum()) == 212  # malignant tumours, the positive class
    assert data.task.metric == "roc_auc" and data.task.direction == "maximize"
    assert "diagnosis" not in data.X.columns


def test_regression_target_and_metric() -> None:
    data = prepare(_task("progression", metric="MAE"), load_bundled("diabetes"))
    assert data.task.metric == "mae" and data.task.direction == "minimize"
    assert data.y.dtype == np.float64 and data.classes is None


def test_numeric_labels_become_plain_python_scalars() -> None:
    df = pd.DataFrame({"x": range(40), "y": [1.0, 2.0, np.nan, 4.0] * 10})
    data = prepare(_task("y", task_type="multiclass"), df)
    assert data.classes == (1, 2, 4)
    assert all(type(c) is int for c in data.classes)
    assert data.n_rows_dropped == 10


def test_missing_targets_are_dropped_and_counted() -> None:
    df = load_bundled("penguins")
    df.loc[[0, 5, 9], "species"] = np.nan
    df.loc[7, "species"] = "   "
    data = prepare(_task("species"), df)
    assert data.n_rows_dropped == 4
    assert len(data.X) == len(data.y) == 340
    assert list(data.X.index) == list(range(340))
    assert any("dropped 4 of 344 rows" in n for n in data.notices)


def test_direction_is_fixed_by_the_metric() -> None:
    data = prepare(_task("species", metric="accuracy", direction="minimize"), load_bundled("iris"))
    assert data.task.direction == "maximize"
    assert any("always maximized" in n for n in data.notices)


# ------------------------------------------------------------------------- errors
def test_unknown_target_suggests_close_names() -> None:
    with pytest.raises(DataError, match=r"'Specis' is not in the data. Did you mean 'species'\?"):
        prepare(_task("Specis"), load_bundled("iris"))


def test_all_missing_target() -> None:
    df = load_bundled("iris")
    df["species"] = np.nan
    with pytest.raises(DataError, match="has no values: every one of its 150 rows is missing"):
        prepare(_task("species"), df)


def test_single_class() -> None:
    df = load_bundled("iris")
    df["species"] = "setosa"
    with pytest.raises(DataError, match=r"single value \('setosa'\); there is nothing to predict"):
        prepare(_task("species"), df)


def test_single_numeric_value_is_shown_as_a_plain_number() -> None:
    df = load_bundled("iris")
    df["species"] = 2
    with pytest.raises(DataError, match=r"single value \(2\); there is nothing to predict"):
        prepare(_task("species"), df)


def test_class_with_one_row_is_named() -> None:
    df = load_bundled("iris")
    df.loc[3, "species"] = "hybrid"
    with pytest.raises(DataError, match=r"class\(es\) \['hybrid'\] of target 'species' have only"):
        prepare(_task("species"), df)


def test_binary_with_three_classes() -> None:
    with pytest.raises(ConfigError, match="'binary' but the target 'species' has 3 classes"):
        prepare(_task("species", task_type="binary"), load_bundled("iris"))


def test_regression_on_strings() -> None:
    with pytest.raises(ConfigError, match="'regression' but the target 'species' is not numeric"):
        prepare(_task("species", task_type="regression"), load_bundled("iris"))


def test_no_feature_column() -> None:
    df = pd.DataFrame({"y": [0, 1] * 20})
    with pytest.raises(DataError, match="no feature column besides the target 'y'"):
        prepare(_task("y"), df)


def test_too_few_rows_says_how_many_are_needed() -> None:
    df = load_bundled("iris").head(100).iloc[[0, 1, 2, 3, 50, 51, 52, 53]]
    with pytest.raises(DataError, match="has 8 rows with a target; at least 13 are needed for "
                                        "5-fold cross-validation after a 20% holdout"):
        prepare(_task("species"), df)
    assert prepare(_task("species", n_folds=2, holdout_fraction=0.5), df).y.shape == (8,)


def test_metric_unfit_for_inferred_task() -> None:
    with pytest.raises(ConfigError, match="'r2' does not fit a multiclass task"):
        prepare(_task("species", metric="r2"), load_bundled("iris"))


def test_a_target_of_formatted_amounts_is_a_number_to_predict() -> None:
    rng = np.random.default_rng(0)
    price = rng.normal(250_000, 40_000, 120).round()
    df = pd.DataFrame({"rooms": rng.integers(1, 6, 120),
                       "price": [f"${v:,.0f}" for v in price]})
    data = prepare(TaskSpec(data_path=Path("houses.csv"), target="price"), df)
    assert data.task.task_type == "regression" and data.task.metric == "rmse"
    np.testing.assert_allclose(data.y, price)
    assert any("read the target 'price' as numbers" in n for n in data.notices)
    plain = prepare(TaskSpec(data_path=Path("h.csv"), target="price"),
                    df.assign(price=price.astype(str)))
    assert plain.task.task_type == "regression" and not plain.notices


def test_a_target_written_with_decimal_commas_is_a_number_to_predict() -> None:
    rng = np.random.default_rng(1)
    value = rng.normal(1500, 300, 100).round(2)
    df = pd.DataFrame({"x": rng.normal(size=100),
                       "wert": [f"{v:.2f} €".replace(".", ",") for v in value]})
    data = prepare(TaskSpec(data_path=Path("w.csv"), target="wert"), df)
    assert data.task.task_type == "regression"
    np.testing.assert_allclose(data.y, value)


def test_target_classes_that_differ_only_in_case_get_a_notice() -> None:
    df = pd.DataFrame({"x": np.arange(60.0), "t": ["yes", "Yes ", " no"] * 20})
    data = prepare(TaskSpec(data_path=Path("t.csv"), target="t"), df)
    assert data.classes == ("Yes", "no", "yes")  # stripped, kept apart
    assert any("differ only in letter case are kept apart: 'Yes'/'yes'" in n
               for n in data.notices)


def test_missing_markers_in_a_numeric_target_are_missing_values() -> None:
    rng = np.random.default_rng(2)
    value = rng.normal(100, 10, 90).round(1)
    text = [str(v) for v in value]
    text[::10] = ["unknown"] * 9
    text[1] = "n/a"
    df = pd.DataFrame({"x": rng.normal(size=90), "price": text})
    data = prepare(TaskSpec(data_path=Path("p.csv"), target="price"), df)
    assert data.task.task_type == "regression" and data.n_rows_dropped == 10
    assert any("treated ['n/a', 'unknown'] in the target 'price' as missing" in n
               for n in data.notices)
    # a class may be called 'unknown': a target of words keeps it
    words = prepare(TaskSpec(data_path=Path("w.csv"), target="kind"),
                    df.assign(kind=["cat", "dog", "unknown"] * 30))
    assert words.classes == ("cat", "dog", "unknown") and words.n_rows_dropped == 0
