"""``CodeModel``: a code proposal as the last step of a trial's pipeline.

Building a ``CodeModel`` (and its pipeline, ``code_pipeline``) in the parent is safe:
it stores the module text, the parameter values and the task, nothing else, and an
unfitted one pickles as just those. The code runs when the model is *fitted*: ``fit``
executes the module under the private name ``mlpilot_code_<digest>`` (registered in
``sys.modules``, so the classes it defines pickle), calls ``build_model(params)``, checks
the estimator it returns and fits it. ``fit`` runs inside the sandbox only; code in the
parent process must never call it.

WARNING — loading a *fitted* ``CodeModel`` executes the proposal's code: its pickle
re-creates the module from the stored text before it restores the fitted estimator. A
fitted ``CodeModel`` (or a pipeline or saved model holding one) may only be loaded inside
the sandbox, never by ``joblib.load``/``pickle.load`` in the parent process.
"""

from __future__ import annotations

import hashlib
import linecache
import pickle
import sys
import types
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted

from schemas import CodeProposal, ConfigError, TaskType, source_digest
from tools.code import ENTRY_POINT, code_params
from tools.pipeline import FlooredClassifier, _preprocessor

CodeTask = Literal["classifier", "regressor"]
MODULE_PREFIX = "mlpilot_code_"
# the preprocessing of a scaled catalog family: the code sees dense, clean, scaled numbers
CODE_PREPROCESSING: dict[str, Any] = {"num_impute": "median", "cat_encode": "onehot",
                                      "scale": "standard"}
_TASKS = ("classifier", "regressor")
_CONSTRUCTOR = ("source", "params", "task")
_loaded: dict[str, types.ModuleType] = {}  # full sha256 of the source -> its module


def code_module_name(source: str) -> str:
    """The name the module of ``source`` gets in ``sys.modules``: ``mlpilot_code_<digest>``."""
    return f"{MODULE_PREFIX}{source_digest(source)}"


def load_code_module(source: str) -> types.ModuleType:
    """Execute a code proposal's module, once per process, and return it.

    THIS RUNS THE PROPOSAL'S CODE: call it inside the sandbox only. The module is
    registered as ``mlpilot_code_<digest>`` so that pickle finds the classes it
    defines; its lines show in tracebacks (file ``<proposal DIGEST>``).
    """
    full = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    name = code_module_name(source)
    module = _loaded.get(full)
    if module is not None and sys.modules.get(name) is module:
        return module
    filename = f"<proposal {source_digest(source)}>"
    code = compile(source, filename, "exec", dont_inherit=True)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _loaded[full] = module
    return module


class CodeModel(BaseEstimator):
    """An estimator built by a code proposal's ``build_model(params)``, fitted in the sandbox.

    ``source`` is the module text, ``params`` the values ``build_model`` receives (checked
    by ``tools.code.code_params``), ``task`` ``"classifier"`` or ``"regressor"``. The
    features it gets are a dense float matrix (see ``CODE_PREPROCESSING``); classifier
    labels are the class codes 0..K-1. After ``fit``: ``model_`` (the fitted estimator),
    ``n_features_in_`` and, for a classifier, ``classes_``.

    See the module docstring: fitting and unpickling a fitted one run the code.
    """

    def __init__(self, source: str, params: dict[str, Any], task: CodeTask) -> None:
        self.source = source
        self.params = params
        self.task = task

    def fit(self, X: Any, y: Any) -> CodeModel:
        """Run the module, build the estimator and fit it (inside the sandbox only)."""
        if self.task not in _TASKS:
            raise ValueError(f"The 'task' parameter of CodeModel must be one of {list(_TASKS)};"
                             f" got {self.task!r} instead.")
        module = load_code_module(self.source)
        build = getattr(module, ENTRY_POINT, None)
        if not callable(build):
            raise TypeError(f"The code proposal's {ENTRY_POINT} is not a function once its "
                            f"module has run; it is {type(build).__name__}.")
        model = build(dict(self.params or {}))
        _check_estimator(model, self.task)
        X = _matrix(X)
        y = np.asarray(y)
        model.fit(X, y)
        self.model_ = model
        self.n_features_in_ = X.shape[1]
        if self.task == "classifier":
            classes = getattr(model, "classes_", None)
            self.classes_ = np.unique(y) if classes is None else np.asarray(classes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(_matrix(X)))

    def _is_classifier(self) -> bool:
        return self.task == "classifier"

    @available_if(_is_classifier)
    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict_proba(_matrix(X)))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        if self.task == "regressor":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        else:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        return tags

    def __reduce__(self) -> tuple[Any, ...]:
        """Unfitted: the constructor's arguments only (loading runs nothing). Fitted: the
        arguments and the fitted state, restored by ``restore_fitted`` (which runs the code)."""
        args = (self.source, self.params, self.task)
        state = {k: v for k, v in self.__dict__.items() if k not in _CONSTRUCTOR}
        if "model_" not in state:
            return (type(self), args, state or None)
        return (restore_fitted, (type(self), *args,
                                 pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)))


def restore_fitted(cls: type[CodeModel], source: str, params: dict[str, Any], task: CodeTask,
                   state: bytes) -> CodeModel:
    """Unpickle a fitted ``CodeModel``: re-create its module (RUNS THE CODE), then its state."""
    load_code_module(source)
    model = cls(source, params, task)
    model.__dict__.update(pickle.loads(state))
    return model


def code_pipeline(proposal: CodeProposal, params: dict[str, Any] | None = None, *,
                  task_type: TaskType, numeric_columns: Sequence[str],
                  categorical_columns: Sequence[str]) -> Pipeline:
    """Preprocessing (median imputation, one-hot encoding, standard scaling, dense output)
    then a ``CodeModel`` of ``proposal``; unfitted, and nothing of the code runs.

    ``params`` is checked against the proposal's space and completed from its defaults.
    """
    if not numeric_columns and not categorical_columns:
        raise ConfigError("The 'numeric_columns' and 'categorical_columns' parameters are both "
                          "empty; a pipeline needs at least one feature column.")
    values = code_params(proposal, params)
    prep = _preprocessor("code", CODE_PREPROCESSING, list(numeric_columns),
                         list(categorical_columns))
    prep.set_params(sparse_threshold=0.0)
    if categorical_columns:
        prep.set_params(cat__encode__sparse_output=False)
    task: CodeTask = "regressor" if task_type == "regression" else "classifier"
    model: Any = CodeModel(source=proposal.source, params=values, task=task)
    if task == "classifier":
        model = FlooredClassifier(model)  # as every catalog classifier (tools.pipeline)
    return Pipeline([("prep", prep), ("model", model)])


def _check_estimator(model: Any, task: str) -> None:
    needed = ("fit", "predict", "predict_proba") if task == "classifier" else ("fit", "predict")
    missing = [name for name in needed if not callable(getattr(model, name, None))]
    if missing:
        what = "a classifier" if task == "classifier" else "a regressor"
        raise TypeError(f"{ENTRY_POINT} must return an unfitted estimator with "
                        f"{', '.join(needed)} ({what}); it returned {_describe(model)}, which "
                        f"has no {', '.join(missing)}.")


def _describe(value: Any) -> str:
    kind = type(value)
    return "None" if value is None else f"a {kind.__module__}.{kind.__qualname__}"


def _matrix(X: Any) -> np.ndarray:
    """The features as a dense float64 matrix (the contract's promise to the code)."""
    return np.ascontiguousarray(check_array(X, dtype=np.float64))
