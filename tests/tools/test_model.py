"""The final model's refit: what it tells the person running it."""

from __future__ import annotations

import logging

import pytest
from sklearn.linear_model import LogisticRegression

from tools.datasets import load_bundled
from tools.features import FeaturePrep
from tools.model import fit_final_model


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
