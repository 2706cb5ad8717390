"""Turn a validated ``TrialConfig`` into an unfitted scikit-learn pipeline.

The pipeline takes the prepared feature frame (float numeric columns with NaN,
object categorical columns with str or NaN) and ends in one estimator: every
classifier has ``predict_proba``, every regressor ``predict``. It pickles with
joblib and copes with categories it never saw (they encode as all zeros or -1).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y
from threadpoolctl import ThreadpoolController

from schemas import ConfigError, ParamValue, TaskType, TrialConfig
from tools.catalog import validate_config
from tools.mlp import TorchMLPClassifier, TorchMLPRegressor

MISSING_CATEGORY = "__missing__"  # missing categorical values become their own category
ONEHOT_MIN_FREQUENCY = 5  # rarer categories share one "infrequent" column
ONEHOT_MAX_CATEGORIES = 32  # at most this many columns per categorical feature
ORDINAL_MAX_CATEGORIES = 255  # hist_gb splits at most 255 categories natively
_DENSE_FAMILIES = frozenset({"hist_gb", "svm", "mlp"})  # estimators that want dense input
# families whose estimator parallelises through OpenMP/BLAS pools rather than an n_jobs argument
_POOL_LIMITED = frozenset({"linear", "hist_gb", "knn"})
PROBA_FLOOR = 1e-3  # the share of the class prior mixed into every predicted distribution

Params = dict[str, Any]  # a validated TrialConfig.params


def build_pipeline(config: TrialConfig, *, task_type: TaskType,
                   numeric_columns: Sequence[str], categorical_columns: Sequence[str],
                   seed: int, n_threads: int = 1) -> Pipeline:
    """Preprocessing (impute, encode, scale) then the family's estimator, unfitted.

    ``config`` is validated strictly first. ``seed`` goes to every estimator
    with a ``random_state``; ``n_threads`` to those with ``n_jobs``, to the MLP,
    and as a thread-pool limit around linear, hist_gb and knn (their OpenMP/BLAS
    pools otherwise take every core, and spin badly on a busy machine), which
    are then wrapped in ``ThreadLimitedClassifier``/``ThreadLimitedRegressor``.
    """
    config = validate_config(config, task_type)
    if not numeric_columns and not categorical_columns:
        raise ConfigError("The 'numeric_columns' and 'categorical_columns' parameters are both "
                          "empty; a pipeline needs at least one feature column.")
    if n_threads < 1:
        raise ConfigError(f"The 'n_threads' parameter must be >= 1; got {n_threads!r} instead.")
    params = config.params
    prep = _preprocessor(config.family, params, list(numeric_columns), list(categorical_columns))
    native = None
    if config.family == "hist_gb" and params["cat_encode"] == "ordinal" and categorical_columns:
        native = [False] * len(numeric_columns) + [True] * len(categorical_columns)
    build = _BUILDERS[config.family]
    classification = task_type != "regression"
    model = build(params, classification, seed, n_threads, native)
    if config.family in _POOL_LIMITED:
        limited: Any = ThreadLimitedClassifier if classification else ThreadLimitedRegressor
        model = limited(model, n_threads=n_threads)
    if classification:
        model = FlooredClassifier(model)
    return Pipeline([("prep", prep), ("model", model)])


def _scaler(kind: ParamValue) -> StandardScaler | RobustScaler:
    return StandardScaler() if kind == "standard" else RobustScaler()


def _preprocessor(family: str, params: Params, numeric: list[str],
                  categorical: list[str]) -> ColumnTransformer:
    scale = params.get("scale", "none")
    dense = family in _DENSE_FAMILIES
    parts: list[tuple[str, Pipeline, list[str]]] = []
    if numeric:
        # keep_empty_features keeps the column count fixed (hist_gb's categorical mask needs it)
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(
            strategy=str(params["num_impute"]), keep_empty_features=True))]
        if scale != "none":
            steps.append(("scale", _scaler(scale)))
        parts.append(("num", Pipeline(steps), numeric))
    if categorical:
        steps = [("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY))]
        if params["cat_encode"] == "onehot":
            steps.append(("encode", OneHotEncoder(
                handle_unknown="ignore", min_frequency=ONEHOT_MIN_FREQUENCY,
                max_categories=ONEHOT_MAX_CATEGORIES, sparse_output=not dense)))
        else:
            steps.append(("encode", OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                min_frequency=ONEHOT_MIN_FREQUENCY, max_categories=ORDINAL_MAX_CATEGORIES)))
            if scale != "none":  # codes on the same footing as scaled numbers (knn, svm, mlp)
                steps.append(("scale", _scaler(scale)))
        parts.append(("cat", Pipeline(steps), categorical))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0 if dense else 0.3)


def _linear(p: Params, cls: bool, seed: int, n_threads: int, native: Any) -> BaseEstimator:
    if cls:
        return LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=2000,
                                  random_state=seed)
    return Ridge(alpha=p["alpha"], random_state=seed)


def _forest(p: Params, cls: bool, seed: int, n_threads: int, extra: bool) -> BaseEstimator:
    kwargs: dict[str, Any] = dict(
        n_estimators=p["n_estimators"], max_depth=p["max_depth"],
        min_samples_leaf=p["min_samples_leaf"], max_features=p["max_features"],
        n_jobs=n_threads, random_state=seed)
    if cls:
        kind: Any = ExtraTreesClassifier if extra else RandomForestClassifier
        return kind(class_weight=p["class_weight"], **kwargs)
    kind = ExtraTreesRegressor if extra else RandomForestRegressor
    return kind(**kwargs)


def _hist_gb(p: Params, cls: bool, seed: int, n_threads: int, native: Any) -> BaseEstimator:
    kwargs: dict[str, Any] = dict(
        learning_rate=p["learning_rate"], max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"], categorical_features=native,
        random_state=seed)
    if cls:
        return HistGradientBoostingClassifier(**kwargs)
    return HistGradientBoostingRegressor(**kwargs)


def _knn(p: Params, cls: bool, seed: int, n_threads: int, native: Any) -> BaseEstimator:
    kind: Any = KNeighborsClassifier if cls else KNeighborsRegressor
    return kind(n_neighbors=p["n_neighbors"], weights=p["weights"], n_jobs=n_threads)


def _svm(p: Params, cls: bool, seed: int, n_threads: int, native: Any) -> BaseEstimator:
    if cls:
        return RelativeGammaSVC(C=p["C"], gamma=p["gamma"], class_weight=p["class_weight"],
                                random_state=seed)
    return RelativeGammaSVR(C=p["C"], gamma=p["gamma"], epsilon=p["epsilon"])


def _mlp(p: Params, cls: bool, seed: int, n_threads: int, native: Any) -> BaseEstimator:
    kind: Any = TorchMLPClassifier if cls else TorchMLPRegressor
    keys = ("hidden_size", "n_layers", "dropout", "learning_rate", "weight_decay",
            "batch_size", "max_epochs")
    return kind(**{k: p[k] for k in keys}, random_state=seed, n_threads=n_threads)


_BUILDERS: dict[str, Callable[[Params, bool, int, int, Any], BaseEstimator]] = {
    "linear": _linear,
    "random_forest": lambda p, c, s, t, _: _forest(p, c, s, t, extra=False),
    "extra_trees": lambda p, c, s, t, _: _forest(p, c, s, t, extra=True),
    "hist_gb": _hist_gb,
    "knn": _knn,
    "svm": _svm,
    "mlp": _mlp,
}


def scale_gamma(X: Any) -> float:
    """scikit-learn's ``gamma="scale"``: 1 / (n_features * Var(X)), sparse or dense."""
    if sp.issparse(X):
        mean = X.mean()
        var = float(X.multiply(X).mean() - mean * mean)
    else:
        var = float(np.var(X))
    return 1.0 / (X.shape[1] * var) if var > 0 else 1.0


class _SparseOK(BaseEstimator):
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class RelativeGammaSVC(ClassifierMixin, _SparseOK):
    """RBF SVC whose ``gamma`` multiplies the "scale" value, with Platt-scaled probabilities.

    Probabilities come from ``CalibratedClassifierCV(ensemble=False)`` (the
    replacement scikit-learn names for ``SVC(probability=True)``).
    """

    def __init__(self, C: float = 1.0, gamma: float = 1.0, class_weight: Any = None,
                 random_state: int | None = None) -> None:
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> RelativeGammaSVC:
        X, y = check_X_y(X, y, accept_sparse="csr")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_folds = min(5, int(np.bincount(codes).min()))
        if len(self.classes_) < 2 or n_folds < 2:
            raise ValueError(f"RelativeGammaSVC needs at least 2 classes with 2 rows each; got "
                             f"{len(self.classes_)} class(es), the smallest with "
                             f"{np.bincount(codes).min()} row(s).")
        self.gamma_ = self.gamma * scale_gamma(X)
        svc = SVC(C=self.C, gamma=self.gamma_, class_weight=self.class_weight,
                  random_state=self.random_state)
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
        self.model_.fit(X, y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict_proba(check_array(X, accept_sparse="csr")))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class RelativeGammaSVR(RegressorMixin, _SparseOK):
    """RBF SVR on a standardized target; ``gamma`` multiplies the "scale" value."""

    def __init__(self, C: float = 1.0, gamma: float = 1.0, epsilon: float = 0.1) -> None:
        self.C = C
        self.gamma = gamma
        self.epsilon = epsilon

    def fit(self, X: Any, y: Any) -> RelativeGammaSVR:
        X, y = check_X_y(X, y, accept_sparse="csr", y_numeric=True)
        self.y_mean_ = float(np.mean(y))
        std = float(np.std(y))
        self.y_std_ = std if std > 0 else 1.0
        self.gamma_ = self.gamma * scale_gamma(X)
        self.model_ = SVR(C=self.C, gamma=self.gamma_, epsilon=self.epsilon)
        self.model_.fit(X, (y - self.y_mean_) / self.y_std_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        out = self.model_.predict(check_array(X, accept_sparse="csr"))
        return np.asarray(out) * self.y_std_ + self.y_mean_


_controller: tuple[tuple[int, int], ThreadpoolController] | None = None


def _pools() -> ThreadpoolController:
    """A controller of this process's OpenMP/BLAS pools, made again only when the process
    or its imported modules changed: finding the libraries costs 5-8 ms a time, and a
    trial sets its limits about ten times (each fold's fit and predictions). A new import
    (or a forked child) may bring a library the old controller does not know."""
    global _controller
    key = (os.getpid(), len(sys.modules))
    if _controller is None or _controller[0] != key:
        _controller = (key, ThreadpoolController())
    return _controller[1]


class _ThreadLimited(MetaEstimatorMixin, _SparseOK):
    """Fits and predicts the wrapped estimator under a limit of ``n_threads`` pool threads."""

    def __init__(self, estimator: Any, n_threads: int = 1) -> None:
        self.estimator = estimator
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any) -> _ThreadLimited:
        with _pools().limit(limits=self.n_threads):
            self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    @property
    def n_features_in_(self) -> int:
        check_is_fitted(self, "estimator_")
        return int(self.estimator_.n_features_in_)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        with _pools().limit(limits=self.n_threads):
            return np.asarray(self.estimator_.predict(X))


class ThreadLimitedClassifier(ClassifierMixin, _ThreadLimited):
    """A classifier run with at most ``n_threads`` OpenMP/BLAS threads."""

    @property
    def classes_(self) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        with _pools().limit(limits=self.n_threads):
            return np.asarray(self.estimator_.predict_proba(X))


class FlooredClassifier(ClassifierMixin, MetaEstimatorMixin, _SparseOK):
    """A classifier whose probabilities never reach 0: ``(1 - floor) * p + floor * prior``,
    ``prior`` being the class frequencies of its training rows.

    Forests and deep trees often say 0 for a class; one such row of the holdout that
    turns out to be that class costs log(1e15) = 34.5 nats of log loss, more than a whole
    small holdout's worth (seen: CV log loss 0.055, holdout 1.28 on iris). With the floor
    the worst row costs about log(1 / (floor * prior)) (8 nats for three even classes) and a
    confident right row 0.001; ranks within a class, hence ROC AUC, are unchanged. Every
    classifier of the catalog is wrapped, so cross-validation scores what the final model
    will predict.
    """

    def __init__(self, estimator: Any, floor: float = PROBA_FLOOR) -> None:
        self.estimator = estimator
        self.floor = floor

    def fit(self, X: Any, y: Any) -> FlooredClassifier:
        self.estimator_ = clone(self.estimator).fit(X, y)
        classes = np.asarray(self.estimator_.classes_)
        counts = np.array([np.count_nonzero(np.asarray(y) == c) for c in classes], dtype=float)
        self.prior_ = counts / counts.sum()
        return self

    @property
    def classes_(self) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.classes_)

    @property
    def n_features_in_(self) -> int:
        check_is_fitted(self, "estimator_")
        return int(self.estimator_.n_features_in_)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        proba = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        return (1.0 - self.floor) * proba + self.floor * self.prior_

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class ThreadLimitedRegressor(RegressorMixin, _ThreadLimited):
    """A regressor run with at most ``n_threads`` OpenMP/BLAS threads."""
