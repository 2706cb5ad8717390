"""FLAML's own AutoML as the outside peer of ``mlpilot bench`` (the ``flaml`` method).

FLAML gets exactly what every mlpilot method gets: the rows, holdout split, CV folds
and feature preparation of ``agents.prepare_data``, the same trial budget, one
thread and the same seed. It searches with its own estimators and its own search
(CFO), refits its best configuration on all training rows, and our harness scores
that model once on the holdout, like every other method's final model.

FLAML runs in-process, not in the sandbox: it is a trusted library, not code an
LLM wrote. So this module is the boundary where a failing FLAML fit becomes a
failed cell (``status="failed"``) instead of an exception.

FLAML 2.7.0 imports ``xgboost`` at import time even when no xgboost estimator is
used; the ``xgboost-cpu`` package provides that module without the large NCCL
wheel that ``xgboost`` pulls in. The search itself leaves xgboost out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents import Prepared, holdout_rows, prepare_data
from evals._ledger import CellResult, CurvePoint
from schemas import METRICS, ConfigError, Direction, TaskSpec, TaskType
from tools.metrics import dummy_prediction, score
from tools.scoring import dummy_cv_score

log = logging.getLogger(__name__)

__all__ = ["FLAML_ESTIMATORS", "LOG_FILE", "PREDICTIONS_FILE", "flaml_metric", "run_flaml"]

LOG_FILE = "flaml_log.jsonl"  # FLAML's own training log: one JSON record per iteration
PREDICTIONS_FILE = "holdout_pred.npy"  # the final model's holdout predictions, as scored

# FLAML 2.7.0's default estimator list without xgboost, xgb_limitdepth, catboost, the Spark
# ones and sgd: each of these needs only scikit-learn and lightgbm. sgd is left out because
# it ignores FLAML's time budget (one iteration of it took 6 s on 16k rows under a 2 s
# budget); lgbm, rf and extra_tree stop their fits at the budget.
FLAML_ESTIMATORS: dict[str, tuple[str, ...]] = {
    "classification": ("lgbm", "rf", "extra_tree", "lrl1"),
    "regression": ("lgbm", "rf", "extra_tree"),
}

# Our metric -> FLAML's built-in metric of the same definition (per fold). roc_auc for
# more than two classes is FLAML's roc_auc_ovr: scikit-learn's one-vs-rest macro average,
# the same as ours whenever every class occurs in the fold (stratified folds make sure).
_BUILTIN: dict[str, str] = {
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
    "accuracy": "accuracy",
    "f1": "f1",
    "f1_macro": "macro_f1",
    "rmse": "rmse",
    "mae": "mae",
    "r2": "r2",
}

FlamlMetric = str | Callable[..., tuple[float, dict[str, float]]]


class _LabelMetric:
    """A FLAML custom metric for a label metric FLAML has no name for (balanced accuracy,
    weighted F1): our own ``score`` on the fold's predicted labels, as ``1 - score``."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def __call__(self, X_val: Any, y_val: Any, estimator: Any, labels: Any,
                 *args: Any) -> tuple[float, dict[str, float]]:
        n_classes = len(labels)
        predicted = np.asarray(estimator.predict(X_val)).astype(np.int64)
        value = score(self.metric, np.asarray(y_val), np.eye(n_classes)[predicted],
                      n_classes=n_classes)
        return 1.0 - value, {self.metric: value}


def flaml_metric(metric: str, task_type: TaskType) -> FlamlMetric:
    """FLAML's name for our ``metric`` on this task type, or a custom metric function where
    FLAML has no name for it (balanced accuracy, weighted F1)."""
    info = METRICS.get(metric)
    if info is None or task_type not in info.task_types:
        names = sorted(m for m, i in METRICS.items() if task_type in i.task_types)
        raise ConfigError(f"The 'metric' parameter must be one of {names} for a {task_type} "
                          f"task; got {metric!r} instead.")
    if metric == "roc_auc" and task_type == "multiclass":
        return "roc_auc_ovr"
    if metric in _BUILTIN:
        return _BUILTIN[metric]
    if task_type != "regression" and not info.needs_proba:
        return _LabelMetric(metric)
    raise ConfigError(f"The 'metric' parameter must be one FLAML can optimise; got {metric!r} "
                      "instead (add it to evals._flaml).")


def _to_score(loss: float, direction: Direction) -> float | None:
    """FLAML's validation loss on our metric's scale: FLAML minimises ``1 - score`` for
    every maximised metric here (AUC, accuracy, F1, R², and our custom ones) and the
    metric itself for the minimised ones (log loss, RMSE, MAE). None for a failed trial."""
    if not math.isfinite(loss):
        return None
    return 1.0 - loss if direction == "maximize" else loss


@dataclasses.dataclass(frozen=True)
class _Iteration:
    wall_clock_s: float  # seconds since FLAML's fit started
    loss: float
    learner: str


def _read_flaml_log(path: Path) -> list[_Iteration]:
    """The iterations of a FLAML training log (``log_type="all"``), in order; the closing
    checkpoint record and a line cut by a crash are skipped."""
    if not path.is_file():
        return []
    out: list[_Iteration] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            out.append(_Iteration(float(record["wall_clock_time"]),
                                  float(record["validation_loss"]), str(record["learner"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _curve(iterations: list[_Iteration], *, offset_s: float,
           direction: Direction) -> tuple[CurvePoint, ...]:
    points: list[CurvePoint] = []
    best = math.inf
    for number, it in enumerate(iterations, 1):
        best = min(best, it.loss)
        points.append(CurvePoint(trial=number, elapsed_s=offset_s + it.wall_clock_s,
                                 best_cv=_to_score(best, direction)))
    return tuple(points)


def _best_learner(iterations: list[_Iteration]) -> str | None:
    scored = [it for it in iterations if math.isfinite(it.loss)]
    return min(scored, key=lambda it: it.loss).learner if scored else None


@dataclasses.dataclass(frozen=True)
class _LoggerState:
    level: int
    handlers: tuple[logging.Handler, ...]
    propagate: bool
    disabled: bool


def _logger_state(logger: logging.Logger) -> _LoggerState:
    return _LoggerState(logger.level, tuple(logger.handlers), logger.propagate, logger.disabled)


def _set_logger_state(logger: logging.Logger, state: _LoggerState) -> None:
    logger.setLevel(state.level)
    logger.handlers = list(state.handlers)
    logger.propagate = state.propagate
    logger.disabled = state.disabled


@contextmanager
def _quiet_flaml() -> Iterator[list[warnings.WarningMessage]]:
    """FLAML's loggers at ERROR while it runs, Python warnings collected; afterwards every
    logger and warning filter as before.

    FLAML sets the level of its ``flaml`` logger at import, and its fit adds a stdout handler
    to ``flaml.automl.logger`` and changes that logger's level; its model module adds a
    warning filter at import. Loggers that FLAML created here end as plain library loggers
    (no handler, no level, propagating), so later FLAML messages follow the application's
    logging setup.
    """
    manager = logging.Logger.manager
    before = {name: _logger_state(lg) for name, lg in list(manager.loggerDict.items())
              if isinstance(lg, logging.Logger)}
    root = logging.getLogger()
    root_before = _logger_state(root)
    plain = _LoggerState(logging.NOTSET, (), True, False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            import flaml  # noqa: F401  (its import sets the 'flaml' logger's level)

            logging.getLogger("flaml").setLevel(logging.ERROR)
            yield caught
    finally:
        for name, lg in list(manager.loggerDict.items()):
            if not isinstance(lg, logging.Logger):
                continue
            if name in before:
                _set_logger_state(lg, before[name])
            elif name == "flaml" or name.startswith("flaml."):
                _set_logger_state(lg, plain)
        _set_logger_state(root, root_before)


def _proba(automl: Any, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """FLAML's class probabilities as (n, K) in our class-index order. FLAML label-encodes
    the training target: its column j is class ``automl.classes_[j]``, which is class j
    itself when every class occurs in training; a class it never saw gets 0."""
    proba = np.asarray(automl.predict_proba(X), dtype=np.float64)
    classes = np.asarray(automl.classes_, dtype=np.int64)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(f"FLAML gave probabilities of shape {proba.shape} for "
                         f"{len(classes)} classes")
    full = np.zeros((len(proba), n_classes), dtype=np.float64)
    full[:, classes] = proba
    return full


def _fit(p: Prepared, metric: FlamlMetric, log_path: Path) -> Any:
    from flaml import AutoML
    from sklearn.model_selection import PredefinedSplit

    task = p.task
    budget_s = task.budget.time_budget_s
    kind = "regression" if task.task_type == "regression" else "classification"
    automl = AutoML()
    automl.fit(
        p.X_train, p.train.y,
        task=kind,
        metric=metric,
        # a splitter object is used as is: no shuffling, no rare-class augmentation, and
        # PredefinedSplit yields fold f's rows as validation for each fold id f
        eval_method="cv",
        split_type=PredefinedSplit(p.split.folds),
        max_iter=task.budget.n_trials,
        time_budget=-1 if budget_s is None else budget_s,  # FLAML: negative = no limit
        seed=task.seed,
        n_jobs=1,
        estimator_list=list(FLAML_ESTIMATORS[kind]),
        log_file_name=str(log_path),
        log_type="all",
        verbose=0,
    )
    return automl


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 500 else text[:497] + "..."


def run_flaml(task: TaskSpec, table: pd.DataFrame, *, work_dir: Path, task_name: str,
              method: str = "flaml") -> CellResult:
    """Run FLAML's AutoML on ``task`` with mlpilot's split, folds and features; score its
    final model on our holdout.

    FLAML searches its estimators (``FLAML_ESTIMATORS``) with ``task.budget.n_trials``
    iterations (one iteration is one trial: a configuration cross-validated on our folds),
    within ``task.budget.time_budget_s`` if set, single-threaded, seeded with
    ``task.seed``; it then refits the best configuration on all training rows. Its training
    log goes to ``work_dir / LOG_FILE`` and the holdout predictions to
    ``work_dir / PREDICTIONS_FILE``.

    ``best_cv`` and the curve's scores are FLAML's own CV computation on our folds,
    converted to our metric's scale: the mean over folds of FLAML's per-fold metric. That
    is how we aggregate too, but FLAML's metric code may differ in details (its log-loss
    clipping; its multiclass AUC needs every class in each fold). ``holdout`` and the
    dummy scores are computed by our harness. Curve times count from the start of this call,
    preparation and FLAML's import included.

    With a time budget, FLAML starts no iteration past the budget and cuts the running
    one's model fits short, then refits its best configuration without a limit, so a call
    overruns the budget by about one iteration plus one fit on all training rows: measured
    on 2 cores, 0.3 to 1.0 s past the budget, preparation included (2 s on 6k and 16k rows,
    5 s on digits, 8 s on 6k rows). With one trial FLAML trains its first estimator's
    default without cross-validating it: ``best_cv`` is then None.

    FLAML's loggers are held at ERROR during the call and every logger is left as it was;
    Python warnings raised inside FLAML are logged at debug level. Both are process-wide
    settings: do not run two calls at once in threads of one process.

    A task that ``prepare_data`` rejects raises its ``DataError``/``ConfigError``, as does
    a metric FLAML cannot optimise; a FLAML error or a fit that leaves no model is a cell
    with ``status="failed"``.
    """
    t0 = time.monotonic()
    p = prepare_data(task, table)
    task_type, metric, direction = _resolved(p.task)
    fl_metric = flaml_metric(metric, task_type)
    X_holdout, y_holdout = holdout_rows(p)
    X_holdout = p.prep.transform(X_holdout)
    dummy = dummy_prediction(p.train.y, len(y_holdout), task_type=task_type,
                             n_classes=p.n_classes)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / LOG_FILE
    if log_path.is_file():  # a log left by an earlier, killed call
        log_path.unlink()
    base: dict[str, Any] = {
        "task": task_name, "method": method, "seed": p.task.seed, "task_type": task_type,
        "metric": metric, "direction": direction,
        "dummy_holdout": score(metric, y_holdout, dummy, n_classes=p.n_classes),
        "dummy_cv": dummy_cv_score(metric, p.train.y, p.split.folds, task_type=task_type,
                                   n_classes=p.n_classes),
    }
    fit_offset_s = time.monotonic() - t0
    try:
        with _quiet_flaml() as caught:
            fit_offset_s = time.monotonic() - t0  # FLAML's clock starts inside fit
            automl = _fit(p, fl_metric, log_path)
            if automl.model is None:
                raise RuntimeError("FLAML trained no model within the budget")
            pred = (_proba(automl, X_holdout, p.n_classes) if p.n_classes is not None
                    else np.asarray(automl.predict(X_holdout), dtype=np.float64))
        if caught:
            log.debug("FLAML raised %d Python warning(s), e.g. %s", len(caught),
                      caught[0].message)
        holdout = score(metric, y_holdout, pred, n_classes=p.n_classes)
        np.save(work_dir / PREDICTIONS_FILE, pred)
    except Exception as exc:  # FLAML runs in-process: a failed fit is a failed cell
        log.warning("FLAML on %s (seed %d) failed: %s", task_name, p.task.seed, _one_line(exc))
        iterations = _read_flaml_log(log_path)
        curve = _curve(iterations, offset_s=fit_offset_s, direction=direction)
        return CellResult(**base, status="failed", error=_one_line(exc),
                          n_trials=len(iterations), curve=curve,
                          best_cv=curve[-1].best_cv if curve else None,
                          best_family=_best_learner(iterations),
                          trials_by_source={"flaml": len(iterations)},
                          wall_s=time.monotonic() - t0)
    iterations = _read_flaml_log(log_path)
    curve = _curve(iterations, offset_s=fit_offset_s, direction=direction)
    if not iterations:  # one trial: FLAML fitted its first default without CV
        curve = (CurvePoint(trial=1, elapsed_s=time.monotonic() - t0, best_cv=None),)
    n_trials = len(curve)
    return CellResult(**base, status="done", n_trials=n_trials, holdout=holdout,
                      best_cv=_to_score(float(automl.best_loss), direction),
                      best_family=automl.best_estimator, curve=curve,
                      trials_by_source={"flaml": n_trials}, wall_s=time.monotonic() - t0)


def _resolved(task: TaskSpec) -> tuple[TaskType, str, Direction]:
    if task.task_type is None or task.metric is None or task.direction is None:
        raise ValueError("the task must be resolved by agents.prepare_data first")
    return task.task_type, task.metric, task.direction
