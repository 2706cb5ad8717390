"""Attack: act at import time — module statements, a class body, a decorator and a default
argument — in case the parent imports the module to check it.

Each writes ``toplevel-<token>-<where>`` into the test's marker folder when it runs where the
parent's API key is in ``os.environ`` (the parent); inside a sandbox it writes nothing and
the estimator reports that it ran there. See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


def _mark(where: str) -> str:
    if "OPENAI_API_KEY" not in os.environ:
        return f"{where} ran without the API key"
    path = os.path.join(SETTINGS.get("marker_dir", "/nonexistent"),
                        f"toplevel-{SETTINGS.get('token', '')}-{where}")
    with open(path, "w") as handle:
        handle.write(f"ran in process {os.getpid()} that holds the API key\n")
    return f"ESCAPED {where} ran in a process that holds the API key"


def _decorate(func: Callable[..., Any]) -> Callable[..., Any]:
    REPORTS.append(_mark("decorator"))
    return func


REPORTS = [_mark("module")]


class Attack(ClassifierMixin, BaseEstimator):
    REPORTS.append(_mark("class_body"))

    def fit(self, X: Any, y: Any) -> Attack:
        raise RuntimeError("ATTACK top_level: " + "; ".join(REPORTS))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


@_decorate
def build_model(params: dict[str, Any], *, _default: str = _mark("default")) -> Attack:
    REPORTS.append(_default)
    return Attack()
