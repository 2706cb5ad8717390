"""The dataset profile: every field filled, a finite meta-feature vector, fast on big tables."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from schemas import META_FEATURE_NAMES, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.features import FeaturePrep
from tools.intake import PreparedData, prepare
from tools.profile import profile_dataset


def _prepared(df: pd.DataFrame, target: str) -> tuple[PreparedData, FeaturePrep]:
    data = prepare(TaskSpec(data_path=Path("x"), target=target), df)
    return data, FeaturePrep().fit(data.X)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_vector_has_the_documented_length_and_is_finite(name: str) -> None:
    data, prep = _prepared(load_bundled(name), BUNDLED[name].target)
    profile = profile_dataset(data, prep)
    assert len(profile.meta_features) == len(META_FEATURE_NAMES)
    assert all(math.isfinite(v) for v in profile.meta_features)
    meta = profile.meta_feature_dict()
    assert meta[f"is_{BUNDLED[name].task_type}"] == 1.0
    assert 0.0 <= meta["landmark_linear"] <= 1.0


def test_classification_profile_fields() -> None:
    data, prep = _prepared(load_bundled("penguins"), "species")
    profile = profile_dataset(data, prep)
    meta = profile.meta_feature_dict()
    assert profile.n_rows == 344 and profile.task_type == "multiclass"
    assert profile.class_counts == {"Adelie": 152, "Chinstrap": 68, "Gentoo": 124}
    assert profile.n_classes == 3 and profile.target_mean is None
    assert (profile.n_numeric, profile.n_categorical) == (5, 2)
    assert meta["frac_categorical"] == pytest.approx(2 / 7)
    assert meta["log_classes"] == pytest.approx(math.log10(3))
    assert meta["minority_ratio"] == pytest.approx(68 / 152)
    assert meta["log_mean_cardinality"] == pytest.approx(math.log10(1 + 2.5))
    assert profile.missing_fraction == pytest.approx(19 / (344 * 7))
    assert meta["frac_cols_missing"] == pytest.approx(5 / 7)
    assert meta["landmark_linear"] > 0.9  # penguins are easy to tell apart


def test_regression_profile_fields() -> None:
    data, prep = _prepared(load_bundled("diabetes"), "progression")
    profile = profile_dataset(data, prep)
    meta = profile.meta_feature_dict()
    assert profile.class_counts is None and profile.n_classes is None
    assert profile.target_mean == pytest.approx(float(np.mean(data.y)))
    assert profile.target_std == pytest.approx(float(np.std(data.y)))
    assert profile.target_skew is not None
    assert meta["target_skew"] == pytest.approx(profile.target_skew / 10)
    assert meta["log_classes"] == 0.0 and meta["class_entropy"] == 0.0
    assert 0.3 < meta["landmark_linear"] < 0.7  # a linear model explains about half


def test_dropped_and_date_columns_are_counted() -> None:
    df = load_bundled("iris")
    df["row_id"] = np.arange(150)
    df["seen"] = pd.date_range("2020-01-01", periods=150).strftime("%Y-%m-%d")
    df["blank"] = np.nan
    data, prep = _prepared(df, "species")
    profile = profile_dataset(data, prep)
    meta = profile.meta_feature_dict()
    assert meta["frac_dropped"] == pytest.approx(2 / 7)
    assert meta["frac_datetime"] == pytest.approx(1 / 7)
    assert meta["log_features"] == pytest.approx(math.log10(5))
    assert any("row_id" in n for n in profile.notices)


def test_profile_is_deterministic() -> None:
    data, prep = _prepared(load_bundled("breast_cancer"), "diagnosis")
    assert profile_dataset(data, prep) == profile_dataset(data, prep)


def _big_table(n: int = 100_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {f"num_{i}": rng.lognormal(0, 1, n) for i in range(36)}
    for i in range(8):
        cols[f"cat_{i}"] = rng.choice(np.array(["red", "green", "blue", "grey", None]), n)
    for i in range(5):
        cols[f"count_{i}"] = rng.integers(0, 50, n)
    cols["signup"] = (pd.Timestamp("2015-01-01")
                      + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")).strftime("%Y-%m-%d")
    df = pd.DataFrame(cols)
    df["churned"] = rng.choice(["yes", "no"], n, p=[0.2, 0.8])
    return df


@pytest.mark.slow
def test_profile_of_a_100k_by_50_table_is_fast() -> None:
    data, prep = _prepared(_big_table(), "churned")
    profile_dataset(data, prep)  # warm up imports and caches
    start = time.perf_counter()
    profile = profile_dataset(data, prep)
    elapsed = time.perf_counter() - start
    assert profile.sampled_rows == 20_000 and profile.n_rows == 100_000
    assert all(math.isfinite(v) for v in profile.meta_features)
    assert elapsed < 1.5, f"profiling took {elapsed:.2f} s"
