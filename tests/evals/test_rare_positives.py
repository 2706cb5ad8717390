"""The threshold eval's imbalanced regime: positives left out at random, the rest kept."""

from __future__ import annotations

import pandas as pd
import pytest

from evals.threshold import rare_positives
from tools.datasets import load_bundled


def test_rare_positives_keeps_every_negative_and_the_asked_share_of_positives() -> None:
    table = load_bundled("breast_cancer")
    labels = sorted(table["diagnosis"].unique())
    rare = rare_positives(table, "diagnosis", 0.1, seed=0)
    negatives = table[table["diagnosis"] == labels[0]]
    assert (rare["diagnosis"] == labels[0]).sum() == len(negatives)
    assert (rare["diagnosis"] == labels[1]).mean() == pytest.approx(0.1, abs=0.005)
    # the rows kept are the table's own, and another seed keeps other positives
    assert len(pd.merge(rare, table, how="inner")) == len(rare)
    other = rare_positives(table, "diagnosis", 0.1, seed=1)
    assert not rare.equals(other)
    assert rare_positives(table, "diagnosis", 0.9, seed=0) is table  # too few to leave out
    with pytest.raises(ValueError, match="binary target"):
        rare_positives(load_bundled("iris"), "species", 0.1, seed=0)
