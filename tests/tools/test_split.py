"""The holdout and folds: stratified, seeded, and honest about classes too small to split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas import ConfigError, DataError, TaskSpec
from tools.datasets import load_bundled
from tools.intake import prepare
from tools.split import make_split


def _y(name: str, target: str) -> np.ndarray:
    return prepare(TaskSpec(data_path=Path("x"), target=target), load_bundled(name)).y


def test_stratified_holdout_and_folds_keep_class_shares() -> None:
    y = _y("breast_cancer", "diagnosis")
    split = make_split(y, "binary", holdout_fraction=0.2, n_folds=5, seed=3)
    assert len(split.holdout_idx) == round(0.2 * len(y))
    assert len(split.train_idx) + len(split.holdout_idx) == len(y)
    assert not set(split.train_idx) & set(split.holdout_idx)
    assert np.all(np.diff(split.train_idx) > 0) and np.all(np.diff(split.holdout_idx) > 0)
    overall = y.mean()
    assert abs(y[split.holdout_idx].mean() - overall) < 0.01
    train_y = y[split.train_idx]
    assert split.folds.dtype == np.int64 and len(split.folds) == len(split.train_idx)
    assert sorted(set(split.folds)) == [0, 1, 2, 3, 4]
    for fold in range(5):
        assert abs(train_y[split.folds == fold].mean() - overall) < 0.02
    assert split.notices == ()


def test_same_inputs_same_split_other_seed_other_split() -> None:
    y = _y("iris", "species")
    a = make_split(y, "multiclass", holdout_fraction=0.2, n_folds=5, seed=0)
    b = make_split(y, "multiclass", holdout_fraction=0.2, n_folds=5, seed=0)
    c = make_split(y, "multiclass", holdout_fraction=0.2, n_folds=5, seed=1)
    np.testing.assert_array_equal(a.holdout_idx, b.holdout_idx)
    np.testing.assert_array_equal(a.folds, b.folds)
    assert not np.array_equal(a.holdout_idx, c.holdout_idx)
    assert np.bincount(y[a.holdout_idx]).tolist() == [10, 10, 10]


def test_regression_uses_plain_folds() -> None:
    y = _y("diabetes", "progression")
    split = make_split(y, "regression", holdout_fraction=0.25, n_folds=4, seed=0)
    assert len(split.holdout_idx) == round(0.25 * len(y))
    assert np.bincount(split.folds).tolist() == [83, 83, 83, 83]


def test_small_class_lowers_the_number_of_folds() -> None:
    y = np.array([0] * 40 + [1] * 40 + [2] * 4)
    split = make_split(y, "multiclass", holdout_fraction=0.2, n_folds=5, seed=0)
    assert split.n_folds == 3
    assert "from 5 to 3" in split.notices[0]
    assert set(split.folds) == {0, 1, 2}
    assert (y[split.holdout_idx] == 2).sum() == 1  # the rare class still appears in the holdout


def test_class_with_one_row_is_refused_by_name() -> None:
    y = np.array([0] * 30 + [1] * 30 + [2])
    with pytest.raises(DataError, match=r"class code\(s\) \[2\] have only 1 row"):
        make_split(y, "multiclass", holdout_fraction=0.2, n_folds=5, seed=0)


def test_bad_parameters() -> None:
    y = np.arange(50.0)
    with pytest.raises(ConfigError, match="'holdout_fraction' parameter must lie in"):
        make_split(y, "regression", holdout_fraction=0.95, n_folds=5, seed=0)
    with pytest.raises(ConfigError, match="'n_folds' parameter must be at least 2; got 1"):
        make_split(y, "regression", holdout_fraction=0.2, n_folds=1, seed=0)
    with pytest.raises(DataError, match="at least 6 are needed"):
        make_split(np.arange(5.0), "regression", holdout_fraction=0.2, n_folds=5, seed=0)
