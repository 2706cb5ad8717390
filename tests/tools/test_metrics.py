"""Metrics agree with scikit-learn on known inputs, and the helpers around them behave."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from schemas import METRICS, ConfigError
from tools.metrics import (
    cv_fold_scores,
    decision_threshold,
    dummy_prediction,
    fold_scores,
    is_better,
    label_scores,
    normalized_score,
    score,
)

_RNG = np.random.default_rng(42)
_Y_BIN = _RNG.integers(0, 2, 200)
_P_BIN = np.clip(_Y_BIN * 0.3 + _RNG.random(200) * 0.7, 0, 1)
_PROBA_BIN = np.column_stack([1 - _P_BIN, _P_BIN])
_Y_MC = _RNG.integers(0, 3, 300)
_RAW = _RNG.random((300, 3)) + np.eye(3)[_Y_MC] * 0.8
_PROBA_MC = _RAW / _RAW.sum(axis=1, keepdims=True)
_Y_REG = _RNG.normal(10, 3, 150)
_P_REG = _Y_REG + _RNG.normal(0, 1, 150)


@pytest.mark.parametrize(("metric", "expected"), [
    ("roc_auc", skm.roc_auc_score(_Y_BIN, _P_BIN)),
    ("log_loss", skm.log_loss(_Y_BIN, _PROBA_BIN)),
    ("accuracy", skm.accuracy_score(_Y_BIN, _P_BIN > 0.5)),
    ("balanced_accuracy", skm.balanced_accuracy_score(_Y_BIN, _P_BIN > 0.5)),
    ("f1", skm.f1_score(_Y_BIN, _P_BIN > 0.5)),
    ("f1_macro", skm.f1_score(_Y_BIN, _P_BIN > 0.5, average="macro")),
    ("f1_weighted", skm.f1_score(_Y_BIN, _P_BIN > 0.5, average="weighted")),
])
def test_binary_metrics_match_sklearn(metric: str, expected: float) -> None:
    assert score(metric, _Y_BIN, _PROBA_BIN, n_classes=2) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("metric", "expected"), [
    ("roc_auc", skm.roc_auc_score(_Y_MC, _PROBA_MC, multi_class="ovr", average="macro")),
    ("log_loss", skm.log_loss(_Y_MC, _PROBA_MC)),
    ("accuracy", skm.accuracy_score(_Y_MC, _PROBA_MC.argmax(1))),
    ("balanced_accuracy", skm.balanced_accuracy_score(_Y_MC, _PROBA_MC.argmax(1))),
    ("f1_macro", skm.f1_score(_Y_MC, _PROBA_MC.argmax(1), average="macro")),
    ("f1_weighted", skm.f1_score(_Y_MC, _PROBA_MC.argmax(1), average="weighted")),
])
def test_multiclass_metrics_match_sklearn(metric: str, expected: float) -> None:
    assert score(metric, _Y_MC, _PROBA_MC, n_classes=3) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("metric", "expected"), [
    ("rmse", math.sqrt(skm.mean_squared_error(_Y_REG, _P_REG))),
    ("mae", skm.mean_absolute_error(_Y_REG, _P_REG)),
    ("r2", skm.r2_score(_Y_REG, _P_REG)),
])
def test_regression_metrics_match_sklearn(metric: str, expected: float) -> None:
    assert score(metric, _Y_REG, _P_REG, n_classes=None) == pytest.approx(expected, rel=1e-9)


def test_every_metric_is_computable() -> None:
    for name, info in METRICS.items():
        if "regression" in info.task_types:
            assert math.isfinite(score(name, _Y_REG, _P_REG, n_classes=None))
        else:
            assert math.isfinite(score(name, _Y_BIN, _PROBA_BIN, n_classes=2))


def test_log_loss_survives_zero_probabilities() -> None:
    y = np.array([0, 1, 2])
    proba = np.eye(3)[[1, 1, 2]]  # certain and wrong on the first row
    value = score("log_loss", y, proba, n_classes=3)
    assert math.isfinite(value) and value == pytest.approx(-math.log(1e-15) / 3, rel=1e-6)


def test_multiclass_auc_skips_a_class_missing_from_y_true() -> None:
    present = _Y_MC != 2
    y, proba = _Y_MC[present], _PROBA_MC[present]
    expected = np.mean([skm.roc_auc_score(y == c, proba[:, c]) for c in (0, 1)])
    assert score("roc_auc", y, proba, n_classes=3) == pytest.approx(expected)


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="'metric' parameter must be one of"):
        score("auc", _Y_BIN, _PROBA_BIN, n_classes=2)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        score("accuracy", _Y_BIN, _PROBA_BIN, n_classes=3)
    with pytest.raises(ValueError, match="NaN"):
        score("rmse", _Y_REG, np.full(150, np.nan), n_classes=None)
    with pytest.raises(ConfigError, match="'rmse' is for regression"):
        score("rmse", _Y_BIN, _PROBA_BIN, n_classes=2)


def test_fold_scores_score_each_fold_alone() -> None:
    folds = np.arange(150) % 3
    scores = fold_scores("mae", _Y_REG, _P_REG, folds, n_classes=None)
    assert scores == pytest.approx(
        [skm.mean_absolute_error(_Y_REG[folds == f], _P_REG[folds == f]) for f in range(3)])


def test_dummy_prediction_and_its_scores() -> None:
    y_train = np.array([0, 0, 0, 1, 2, 2])
    dummy = dummy_prediction(y_train, 4, task_type="multiclass", n_classes=4)
    assert dummy.shape == (4, 4)
    np.testing.assert_allclose(dummy[0], [0.5, 1 / 6, 1 / 3, 0.0])
    assert score("roc_auc", _Y_BIN, dummy_prediction(_Y_BIN, 200, task_type="binary",
                                                     n_classes=2), n_classes=2) == 0.5
    reg = dummy_prediction(_Y_REG, 150, task_type="regression", n_classes=None)
    assert reg.shape == (150,) and score("r2", _Y_REG, reg, n_classes=None) == pytest.approx(0.0)


def test_is_better_follows_the_direction() -> None:
    assert is_better(0.9, 0.8, "maximize") and not is_better(0.8, 0.9, "maximize")
    assert is_better(0.1, 0.2, "minimize") and not is_better(0.2, 0.2, "minimize")
    assert is_better(0.5, None, "minimize") and is_better(0.5, float("nan"), "maximize")
    assert not is_better(float("nan"), 0.5, "maximize")


def test_normalized_score_in_both_directions() -> None:
    assert normalized_score(0.75, dummy=0.5, best=1.0) == pytest.approx(0.5)
    assert normalized_score(0.5, dummy=0.7, best=0.3) == pytest.approx(0.5)
    assert normalized_score(0.7, dummy=0.7, best=0.3) == 0.0
    assert normalized_score(0.4, dummy=0.4, best=0.4) == 0.0


def test_a_threshold_labels_rows_from_the_positive_probability() -> None:
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.3, 0.35, 0.9])
    assert score("accuracy", y, p1, n_classes=2) == 0.75
    assert score("accuracy", y, p1, n_classes=2, threshold=0.32) == 1.0
    assert score("f1", y, p1, n_classes=2, threshold=0.05) == pytest.approx(2 / 3)
    assert score("roc_auc", y, p1, n_classes=2, threshold=0.32) == 1.0  # no labels involved


def _rare_positives(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10% positives, well ranked, but every probability below 0.5; four folds."""
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.1).astype(int)
    p1 = np.clip(0.08 + 0.25 * y + rng.normal(scale=0.08, size=n), 0, 1)
    return y, p1, np.arange(n) % 4


def test_the_decision_threshold_is_chosen_on_folds_for_label_metrics_only() -> None:
    n = 2000
    y, p1, folds = _rare_positives(n)
    t = decision_threshold("f1", y, p1, folds, n_classes=2)
    assert t is not None and 0.1 < t < 0.4
    assert np.mean(fold_scores("f1", y, p1, folds, n_classes=2, threshold=t)) > 0.5
    assert np.mean(fold_scores("f1", y, p1, folds, n_classes=2)) < 0.1
    for metric in ("roc_auc", "log_loss"):
        assert decision_threshold(metric, y, p1, folds, n_classes=2) is None
    three = np.tile([0.2, 0.3, 0.5], (n, 1))
    assert decision_threshold("accuracy", y, three, folds, n_classes=3) is None


def test_separable_predictions_keep_the_threshold_nearest_one_half() -> None:
    y = np.array([0, 1] * 50)
    p1 = np.where(y == 1, 0.9, 0.1)
    assert decision_threshold("accuracy", y, p1, np.arange(100) % 5, n_classes=2) == 0.5


@pytest.mark.filterwarnings("ignore:y_pred contains classes:UserWarning",
                            "ignore:A single label was found:UserWarning")
@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1", "f1_macro",
                                    "f1_weighted"])
def test_label_scores_at_many_thresholds_equal_the_score_at_each(metric: str) -> None:
    rng = np.random.default_rng(3)
    for case in range(60):
        n = int(rng.integers(1, 30))
        # some folds hold one class only; rounding makes ties at the thresholds
        y = rng.integers(0, 2, n) if case % 4 else np.full(n, case % 8 // 4)
        p1 = np.round(rng.random(n), 1)
        cuts = np.unique(np.concatenate([p1, [0.0, 0.5, 1.0, 1.5]]))
        fast = label_scores(metric, y, p1, cuts)
        slow = [score(metric, y, p1, n_classes=2, threshold=float(t)) for t in cuts]
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="label_scores takes"):
        label_scores("roc_auc", y, p1, cuts)


def test_cv_fold_scores_label_each_fold_at_the_threshold_of_the_other_folds() -> None:
    n = 1200
    y, p1, folds = _rare_positives(n)
    tuned = cv_fold_scores("f1", y, p1, folds, n_classes=2)
    assert np.mean(tuned) > 0.5 > np.mean(fold_scores("f1", y, p1, folds, n_classes=2))
    for f in range(4):
        others = np.where(folds == f, -1, folds)
        t = decision_threshold("f1", y, p1, others, n_classes=2)
        assert tuned[f] == score("f1", y[folds == f], p1[folds == f], n_classes=2, threshold=t)
    # a fold whose own labels disagree with the others' is not rescued by them
    flipped = np.where(folds == 0, 1 - y, y)
    assert cv_fold_scores("f1", flipped, p1, folds, n_classes=2)[0] < 0.2
    # in-sample tuning of that fold alone would find a better cut than the others' choice
    own = decision_threshold("f1", flipped[folds == 0], p1[folds == 0],
                             np.zeros(n // 4, dtype=int), n_classes=2)
    assert own is not None
    assert score("f1", flipped[folds == 0], p1[folds == 0], n_classes=2, threshold=own) > 0.5
    # metrics without a threshold, and multiclass, are scored as fold_scores does
    assert cv_fold_scores("roc_auc", y, p1, folds, n_classes=2) == fold_scores(
        "roc_auc", y, p1, folds, n_classes=2)
    assert cv_fold_scores("accuracy", _Y_MC, _PROBA_MC, np.arange(300) % 3, n_classes=3) == \
        fold_scores("accuracy", _Y_MC, _PROBA_MC, np.arange(300) % 3, n_classes=3)


def test_the_one_standard_error_rule_keeps_the_cut_nearest_one_half_among_near_ties() -> None:
    rng = np.random.default_rng(4)
    n = 400
    y = (rng.random(n) < 0.3).astype(int)
    p1 = np.clip(0.3 + 0.25 * y + rng.normal(scale=0.2, size=n), 0, 1)  # overlapping classes
    folds = np.arange(n) % 5
    best = decision_threshold("accuracy", y, p1, folds, n_classes=2)
    one_se = decision_threshold("accuracy", y, p1, folds, n_classes=2, rule="one_se")
    assert best is not None and one_se is not None
    assert abs(one_se - 0.5) <= abs(best - 0.5)
    cuts = np.array([best, one_se])
    per_fold = np.array([label_scores("accuracy", y[folds == f], p1[folds == f], cuts)
                         for f in range(5)])
    error = per_fold[:, 0].std(ddof=1) / np.sqrt(5)
    assert per_fold[:, 1].mean() >= per_fold[:, 0].mean() - error  # within one error
    # a clear optimum far from 0.5 is kept by both rules
    rare = (rng.random(2000) < 0.1).astype(int)
    low = np.clip(0.08 + 0.25 * rare + rng.normal(scale=0.05, size=2000), 0, 1)
    far = decision_threshold("f1", rare, low, np.arange(2000) % 5, n_classes=2, rule="one_se")
    assert far is not None and far < 0.35
