"""The final model: its refit, and what it predicts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from tools.datasets import load_bundled
from tools.features import FeaturePrep
from tools.model import PROBABILITY_FLOOR, fit_final_model


def test_a_library_warning_of_the_refit_is_one_log_line_not_terminal_output(
        caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder) -> None:
    table = load_bundled("iris")
    X, y = table.drop(columns="species"), table["species"].astype("category").cat.codes
    prep = FeaturePrep().fit(X)
    with caplog.at_level(logging.INFO, logger="tools.model"):
        model = fit_final_model([LogisticRegression(max_iter=1)], [1.0], prep, prep.transform(X),
                                y.to_numpy(), task_type="multiclass", target="species",
                                classes=("setosa", "versicolor", "virginica"),
                                mlpilot_version="test")
    assert model.pipelines[0].n_iter_[0] == 1  # it did stop early, so sklearn did warn
    assert len(recwarn) == 0
    [line] = [r.getMessage() for r in caplog.records if "ConvergenceWarning" in r.getMessage()]
    assert "\n" not in line


def test_a_classifier_never_returns_a_zero_probability_and_keeps_its_ranking() -> None:
    table = load_bundled("iris")
    X, y = table.drop(columns="species"), table["species"].astype("category").cat.codes
    prep = FeaturePrep().fit(X)
    forest = RandomForestClassifier(n_estimators=20, random_state=0)
    model = fit_final_model([forest], [1.0], prep, prep.transform(X), y.to_numpy(),
                            task_type="multiclass", target="species",
                            classes=("setosa", "versicolor", "virginica"),
                            mlpilot_version="test")
    raw = forest.predict_proba(prep.transform(X))
    assert (raw == 0).any()  # pure leaves: the forest alone does say 0
    proba = model.predict_proba(X)
    assert proba.min() >= PROBABILITY_FLOOR / 3
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, raw, atol=PROBABILITY_FLOOR)
    assert (proba.argmax(axis=1) == raw.argmax(axis=1)).all()


def test_a_regressor_predicts_its_values_unchanged() -> None:
    table = load_bundled("diabetes")
    X, y = table.drop(columns="progression"), table["progression"].to_numpy()
    prep = FeaturePrep().fit(X)
    linear = LinearRegression()
    model = fit_final_model([linear], [1.0], prep, prep.transform(X), y,
                            task_type="regression", target="progression", classes=None,
                            mlpilot_version="test")
    np.testing.assert_array_equal(model.predict(X), linear.predict(prep.transform(X)))
