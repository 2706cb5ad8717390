"""The search-space catalog: every model family mlpilot tunes, as typed pydantic spaces.

One ``FamilySpace`` per family and task kind (classification or regression), with
its preprocessing choices as ordinary parameters, so that the LLM planner, the
memory and the BO engine all speak about the same points. ``validate_config``
is the single gate every proposal passes before it is built: in strict mode it
names what is wrong, with ``repair=True`` it turns an almost-right proposal
(out of range, missing or unknown keys) into a valid one.

A code proposal's trials have the family ``code_<digest>`` (``schemas.code_family``):
a valid family name that is never in the catalog; its space is the proposal's own
(``CodeProposal.space``, checked with ``validate_against``).

Conventions worth knowing when reading a configuration:

- ``max_depth=None`` (random_forest, extra_trees) means unlimited depth.
- svm ``gamma`` is *relative* to scikit-learn's ``gamma="scale"`` value
  ``1 / (n_features * Var(X))``: 1.0 is scikit-learn's default width on any
  data, which makes a good ``gamma`` transfer between datasets.
- svm regression standardizes the target, so ``epsilon`` is in units of its std.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import cache
from typing import Any

from schemas import (
    CategoricalParam,
    ConfigError,
    FamilySpace,
    FloatParam,
    IntParam,
    Param,
    ParamValue,
    TaskType,
    TrialConfig,
    is_code_family,
)

logger = logging.getLogger(__name__)

FAMILY_NAMES: tuple[str, ...] = (
    "linear", "random_forest", "extra_trees", "hist_gb", "knn", "svm", "mlp",
)
# The order the families' default configurations run in: fit cost that grows slowest with
# the table first. On 120k rows the forests' defaults (300 unpruned trees, 5 folds) take
# minutes each; queued before hist_gb they held both workers until a 90 s budget ran out.
DEFAULTS_ORDER: tuple[str, ...] = (
    "linear", "hist_gb", "random_forest", "extra_trees", "knn", "svm", "mlp",
)
_ALL_TASKS: tuple[TaskType, ...] = ("binary", "multiclass", "regression")
_CLS_TASKS: tuple[TaskType, ...] = ("binary", "multiclass")
SVM_MAX_ROWS = 10_000  # kernel SVMs scale quadratically; Platt scaling fits five more
KNN_MAX_ROWS = 100_000  # prediction cost grows with the training set
_INVALID: Any = object()  # marks a value that fails its rule
# parameters whose useful top grows with the table: top <= training rows // divisor
_ROW_BOUND = {"min_samples_leaf": 4, "n_neighbors": 2}


def _cat(*choices: ParamValue) -> CategoricalParam:
    return CategoricalParam(choices=choices)


def _prep(scaled: bool, encode_default: str) -> tuple[dict[str, Param], dict[str, ParamValue]]:
    """The preprocessing parameters shared by families (trees take no scaling)."""
    params: dict[str, Param] = {
        "num_impute": _cat("median", "mean"),
        "cat_encode": _cat("onehot", "ordinal"),
    }
    default: dict[str, ParamValue] = {"num_impute": "median", "cat_encode": encode_default}
    if scaled:
        params["scale"] = _cat("standard", "robust", "none")
        default["scale"] = "standard"
    return params, default


def _family(name: str, description: str, tasks: tuple[TaskType, ...], scaled: bool,
            encode_default: str, model: dict[str, tuple[Param, ParamValue]],
            max_rows: int | None = None) -> FamilySpace:
    params, default = _prep(scaled, encode_default)
    for key, (param, value) in model.items():
        params[key] = param
        default[key] = value
    return FamilySpace(name=name, description=description, task_types=tasks, params=params,
                       default=default, max_rows=max_rows)


def _forest(name: str, classification: bool) -> FamilySpace:
    kind = "extremely randomized trees" if name == "extra_trees" else "random forest"
    model: dict[str, tuple[Param, ParamValue]] = {
        "n_estimators": (IntParam(low=50, high=1000, log=True), 300),
        "max_depth": (_cat(None, 4, 8, 12, 16, 24, 32), None),
        "min_samples_leaf": (IntParam(low=1, high=50, log=True), 1),
        "max_features": (_cat("sqrt", "log2", 0.25, 0.5, 0.75, 1.0),
                         "sqrt" if classification else 1.0),
    }
    if classification:
        model["class_weight"] = (_cat(None, "balanced"), None)
    return _family(name, f"{kind} (scikit-learn); max_depth None = unlimited; robust default "
                   "for tabular data", _CLS_TASKS if classification else ("regression",),
                   False, "ordinal", model)


def _build(classification: bool) -> tuple[FamilySpace, ...]:
    tasks: tuple[TaskType, ...] = _CLS_TASKS if classification else ("regression",)
    cw: dict[str, tuple[Param, ParamValue]] = (
        {"class_weight": (_cat(None, "balanced"), None)} if classification else {})
    if classification:
        linear = _family("linear", "L2-regularized logistic regression (C: inverse strength)",
                         tasks, True, "onehot",
                         {"C": (FloatParam(low=1e-4, high=1e3, log=True), 1.0), **cw})
    else:
        linear = _family("linear", "ridge regression (alpha: L2 strength)", tasks, True,
                         "onehot", {"alpha": (FloatParam(low=1e-4, high=1e3, log=True), 1.0)})
    hist_gb = _family(
        "hist_gb", "histogram gradient boosting (scikit-learn, LightGBM-like); ordinal "
        "categories are split natively", tasks, False, "ordinal",
        {"learning_rate": (FloatParam(low=0.01, high=0.3, log=True), 0.1),
         "max_iter": (IntParam(low=50, high=1000, log=True), 200),
         "max_leaf_nodes": (IntParam(low=8, high=128, log=True), 31),
         "min_samples_leaf": (IntParam(low=2, high=200, log=True), 20),
         # no class_weight: scikit-learn 1.9 then bins every feature with weighted
         # quantiles, which made a fit on 364 rows x 30 features 20x slower (3.9 s, not 0.19)
         "l2_regularization": (FloatParam(low=1e-6, high=10.0, log=True), 1e-6)})
    knn = _family("knn", "k-nearest neighbours; needs scaled features", _ALL_TASKS, True,
                  "onehot", {"n_neighbors": (IntParam(low=2, high=100, log=True), 15),
                             "weights": (_cat("uniform", "distance"), "distance")},
                  max_rows=KNN_MAX_ROWS)
    svm_model: dict[str, tuple[Param, ParamValue]] = {
        "C": (FloatParam(low=1e-3, high=1e3, log=True), 1.0),
        "gamma": (FloatParam(low=1e-3, high=1e2, log=True), 1.0), **cw}
    if not classification:
        svm_model["epsilon"] = (FloatParam(low=0.01, high=1.0, log=True), 0.1)
    svm = _family("svm", "RBF-kernel SVM (Platt-scaled probabilities); gamma is relative to "
                  "scikit-learn's 'scale' value (1.0 = its default)", tasks, True, "onehot",
                  svm_model, max_rows=SVM_MAX_ROWS)
    mlp = _family(
        "mlp", "torch multilayer perceptron (AdamW, early stopping); CUDA when available",
        _ALL_TASKS, True, "onehot",
        {"hidden_size": (IntParam(low=16, high=1024, log=True), 256),
         "n_layers": (IntParam(low=1, high=4), 2),
         "dropout": (FloatParam(low=0.0, high=0.5), 0.1),
         "learning_rate": (FloatParam(low=1e-4, high=3e-2, log=True), 1e-3),
         "weight_decay": (FloatParam(low=1e-6, high=1e-1, log=True), 1e-4),
         "batch_size": (_cat(32, 64, 128, 256, 512), 128),
         "max_epochs": (IntParam(low=10, high=300, log=True), 100)})
    return (linear, _forest("random_forest", classification),
            _forest("extra_trees", classification), hist_gb, knn, svm, mlp)


@cache
def _spaces(classification: bool) -> tuple[FamilySpace, ...]:
    return _build(classification)


def _check_task_type(task_type: Any) -> None:
    if task_type not in _ALL_TASKS:
        raise ConfigError(f"The 'task_type' parameter must be one of {list(_ALL_TASKS)}; "
                          f"got {task_type!r} instead.")


def catalog(task_type: TaskType, *, n_rows: int | None = None) -> tuple[FamilySpace, ...]:
    """The families usable for ``task_type``; with ``n_rows`` (the training rows), those too
    slow are left out and the ranges that grow with the table fit it (``fit_rows``)."""
    _check_task_type(task_type)
    spaces = _spaces(task_type != "regression")
    if n_rows is None:
        return spaces
    return tuple(fit_rows(s, n_rows) for s in spaces
                 if s.max_rows is None or n_rows <= s.max_rows)


def fit_rows(space: FamilySpace, n_rows: int) -> FamilySpace:
    """``space`` with the top of each row-bound parameter lowered to what ``n_rows`` training
    rows can use (``_ROW_BOUND``); the default is clamped with it. Unchanged on larger tables.

    A leaf of more than a quarter of the rows leaves a tree almost nothing to split: on iris
    (120 training rows, 96 per fold), hist_gb's ``min_samples_leaf`` above 48 cannot split at
    all and predicts the class shares, and the catalog's range reached 200. k-NN cannot ask
    for more neighbours than a fold has rows.
    """
    params, default = dict(space.params), dict(space.default)
    for name, divisor in _ROW_BOUND.items():
        param = params.get(name)
        if not isinstance(param, IntParam):
            continue
        high = max(param.low + 1, min(param.high, n_rows // divisor))
        if high < param.high:
            params[name] = IntParam(low=param.low, high=high, log=param.log)
            default[name] = min(int(default[name]), high)  # type: ignore[arg-type]
    if params == space.params:
        return space
    return space.model_copy(update={"params": params, "default": default})


def get_family(name: str, task_type: TaskType) -> FamilySpace:
    """The space of one family for ``task_type`` (no size guard)."""
    for space in catalog(task_type):
        if space.name == name:
            return space
    if is_code_family(name):
        raise ConfigError(f"The family {name!r} is a code proposal's, not a catalog family; "
                          "its parameters are checked against the proposal's own space "
                          "(tools.code.code_params).")
    raise ConfigError(f"The 'family' parameter must be one of {list(FAMILY_NAMES)}; "
                      f"got {name!r} instead.")


def cheapest_first(spaces: Sequence[FamilySpace]) -> tuple[FamilySpace, ...]:
    """``spaces`` in ``DEFAULTS_ORDER`` (families it does not name last, in their order)."""
    rank = {name: i for i, name in enumerate(DEFAULTS_ORDER)}
    return tuple(sorted(spaces, key=lambda s: rank.get(s.name, len(rank))))


def default_config(family: FamilySpace) -> TrialConfig:
    """The family's expert first guess, as a configuration."""
    return TrialConfig(family=family.name, params=dict(family.default))


def validate_config(config: TrialConfig, task_type: TaskType, *,
                    repair: bool = False) -> TrialConfig:
    """Check (or, with ``repair``, fix) a configuration against the catalog.

    Lossless normalisations happen in both modes: an int for a float parameter,
    an integral float (300.0) for an int parameter, a number equal to a numeric
    choice (1 for 1.0). Strict mode raises ``ConfigError`` on anything else;
    repair mode clamps numbers into range, rounds non-integral ints, fills
    missing parameters from the default, drops unknown ones and replaces
    invalid values with the default.
    """
    return validate_against(config, get_family(config.family, task_type), repair=repair)


def validate_against(config: TrialConfig, space: FamilySpace, *,
                     repair: bool = False) -> TrialConfig:
    """``validate_config`` against one given space (the BO engine holds its own spaces)."""
    if config.family != space.name:
        raise ConfigError(f"The 'family' parameter must be {space.name!r}; "
                          f"got {config.family!r} instead.")
    unknown = sorted(set(config.params) - set(space.params))
    if unknown and not repair:
        raise ConfigError(f"The '{space.name}.{unknown[0]}' parameter is unknown; the "
                          f"parameters of {space.name!r} are {list(space.params)}.")
    if unknown:
        logger.info("repair %s: dropped unknown parameters %s", space.name, unknown)
    params: dict[str, ParamValue] = {}
    for key, param in space.params.items():
        label = f"{space.name}.{key}"
        if key not in config.params:
            if not repair:
                raise ConfigError(f"The '{label}' parameter is missing; it must be set "
                                  f"(its default is {space.default[key]!r}).")
            logger.info("repair %s: missing, set to default %r", label, space.default[key])
            params[key] = space.default[key]
            continue
        params[key] = _check_value(label, param, config.params[key], space.default[key], repair)
    return TrialConfig(family=space.name, params=params)


def _check_value(label: str, param: Param, value: Any, default: ParamValue,
                 repair: bool) -> ParamValue:
    if isinstance(param, CategoricalParam):
        fixed = _match_choice(param, value, loose=repair)
        rule = f"one of {list(param.choices)}"
    else:
        fixed = _number(param, value, repair)
        kind = "a float" if isinstance(param, FloatParam) else "an int"
        scale = " (log scale)" if param.log else ""
        rule = f"{kind} in [{param.low}, {param.high}]{scale}"
    if fixed is not _INVALID:
        return fixed
    if not repair:
        raise ConfigError(f"The '{label}' parameter must be {rule}; got {value!r} instead.")
    logger.info("repair %s: %r is not %s, set to default %r", label, value, rule, default)
    return default


def _match_choice(param: CategoricalParam, value: Any, loose: bool) -> Any:
    if param.contains(value):
        return value
    choice: Any
    for choice in param.choices:
        if _is_number(value) and _is_number(choice) and float(value) == float(choice):
            return choice
    if loose and isinstance(value, str):
        text = value.strip().lower()
        for choice in param.choices:
            if (choice is None and text in ("none", "null")) or (
                    isinstance(choice, str) and choice.lower() == text):
                return choice
    return _INVALID


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(param: FloatParam | IntParam, value: Any, repair: bool) -> Any:
    if repair and isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return _INVALID
    if not _is_number(value) or not math.isfinite(value):
        return _INVALID
    if isinstance(param, IntParam):
        if float(value).is_integer():
            value = int(value)
        elif repair:
            value = round(value)
        else:
            return _INVALID
    else:
        value = float(value)
    if param.low <= value <= param.high:
        return value
    return min(max(value, param.low), param.high) if repair else _INVALID
