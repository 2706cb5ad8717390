"""How much a trial costs beyond the model's own fit time.

Three measurements on breast-cancer data (5 folds):

- ``measure``: the same small models three ways: through ``SandboxPool``
  (warm forked workers), through ``InProcessExecutor`` (the same harness, no
  sandbox) and as a plain loop of the same fit/predict calls.
- ``compare_with_optuna``: mlpilot's whole trial path (``agents.SearchLoop``:
  ask the study, build the catalog pipeline, dump it, run it in the sandbox,
  score it with our harness, tell the study) against the peer a user would
  write by hand, a plain in-process optuna objective that builds the same
  pipeline and cross-validates it on the same folds. Both run the same list
  of enqueued configurations, one at a time, single-threaded, in rounds that
  take turns at going first (a change in the machine's load hits both).
- ``compare_code_with_catalog``: the same logistic regression as a catalog
  trial and as a code trial (a module the LLM could have written, through
  ``agents.run_code_trial``), over one started sandbox pool, in rounds that
  take turns at going first.

The overhead of a trial is its wall time minus the model's own fit+predict time.

    python -m evals.overhead [--trials 30] [--isolation auto] [--families linear,knn,svm]
                             [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import optuna  # the peer is plain optuna, written as a user would (see tests/test_architecture)
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from agents import (
    Prepared,
    SearchLoop,
    dump_trial,
    prepare_data,
    run_code_trial,
    score_result,
)
from sandbox import (
    DEFAULT_PRELOAD,
    DataBundle,
    Executor,
    InProcessExecutor,
    SandboxPool,
    write_data_bundle,
)
from schemas import (
    Budget,
    ConfigError,
    FamilySpace,
    FloatParam,
    IntParam,
    ParamValue,
    TaskSpec,
    TrialConfig,
    TrialResult,
    TrialSpec,
)
from tools.bo import OptunaSearch, config_to_params, param_distribution, suggest
from tools.catalog import default_config, validate_against
from tools.code import check_code
from tools.code_model import CODE_PREPROCESSING
from tools.datasets import load_bundled
from tools.metrics import score
from tools.pipeline import build_pipeline

logger = logging.getLogger(__name__)

N_FOLDS = 5
MODELS: dict[str, Callable[[], BaseEstimator]] = {
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
}
# cheap catalog families for the optuna comparison: the fit stays small, so the overhead shows
PEER_FAMILIES = ("linear", "knn", "svm")
NUDGE = 1e-3  # relative step that makes a later round's configuration differ from the default


def _bundle(directory: Path) -> DataBundle:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    folds = np.empty(len(y), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=0)
    for fold, (_, test) in enumerate(splitter.split(X, y)):
        folds[test] = fold
    return write_data_bundle(directory, X, y.to_numpy().astype(np.int64), folds, n_classes=2)


def _specs(root: Path, n_trials: int) -> list[TrialSpec]:
    specs = []
    for i in range(n_trials):
        name = list(MODELS)[i % len(MODELS)]
        work_dir = root / f"trial-{i}"
        work_dir.mkdir(parents=True)
        joblib.dump(MODELS[name](), work_dir / "estimator.joblib")
        specs.append(TrialSpec(trial_id=i, config=TrialConfig(family=name, params={}),
                               source="default", work_dir=work_dir,
                               estimator_path=work_dir / "estimator.joblib",
                               predict_kind="proba", timeout_s=60, memory_mb=2048))
    return specs


def _through(executor: Executor, specs: Sequence[TrialSpec]) -> list[dict[str, float]]:
    rows = []
    for spec in specs:
        result = executor.run(spec)
        if not result.ok:
            raise RuntimeError(f"trial {spec.trial_id} failed: {result.error}")
        rows.append({"wall_s": result.wall_time_s, "fit_s": result.fit_time_s})
    return rows


def _plain_loop(bundle: DataBundle, specs: Sequence[TrialSpec]) -> list[dict[str, float]]:
    """The same fit/predict calls with no harness at all: the floor for comparison."""
    from sandbox._bundle import load_bundle_data

    data = load_bundle_data(bundle)
    rows = []
    for spec in specs:
        start = time.perf_counter()
        estimator = joblib.load(spec.estimator_path)
        fit_s = 0.0
        for train, test in zip(data.train_indices, data.test_indices, strict=True):
            t = time.perf_counter()
            model = clone(estimator).fit(data.X.iloc[train], data.y[train])
            model.predict_proba(data.X.iloc[test])
            fit_s += time.perf_counter() - t
        rows.append({"wall_s": time.perf_counter() - start, "fit_s": fit_s})
    return rows


def _p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    overhead = [r["wall_s"] - r["fit_s"] for r in rows]
    return {"n_trials": len(rows),
            "median_wall_ms": 1000 * statistics.median(r["wall_s"] for r in rows),
            "median_fit_ms": 1000 * statistics.median(r["fit_s"] for r in rows),
            "median_overhead_ms": 1000 * statistics.median(overhead),
            "p90_overhead_ms": 1000 * _p90(overhead)}


def measure(n_trials: int, isolation: str, preload: Sequence[str]) -> dict[str, Any]:
    """Run the three executor variants on fixed models, single-threaded, and summarise each."""
    with tempfile.TemporaryDirectory(prefix="mlpilot-overhead-") as tmp:
        root = Path(tmp)
        bundle = _bundle(root / "bundle")
        pool = SandboxPool(bundle, isolation=isolation,  # type: ignore[arg-type]
                           scratch_dir=root / "scratch", preload=preload)
        start = time.perf_counter()
        with pool:
            startup_s = time.perf_counter() - start
            _through(pool, _specs(root / "warmup", 2))
            sandbox_rows = _through(pool, _specs(root / "sandbox", n_trials))
            level = pool.isolation_level
        with threadpool_limits(limits=1):  # one thread, as in the sandbox (TrialSpec.n_threads)
            inprocess = InProcessExecutor(bundle)
            _through(inprocess, _specs(root / "warmup-inproc", 2))
            inprocess_rows = _through(inprocess, _specs(root / "inproc", n_trials))
            plain_rows = _plain_loop(bundle, _specs(root / "plain", n_trials))
    return {"isolation": level, "startup_s": startup_s, "preload": list(preload),
            "sandbox": _summary(sandbox_rows), "in_process_executor": _summary(inprocess_rows),
            "plain_loop": _summary(plain_rows)}


# -- mlpilot's trial path against an in-process optuna objective ----------------------------


def fixed_configs(spaces: Sequence[FamilySpace], n: int) -> list[TrialConfig]:
    """``n`` distinct configurations: each family's default in turn, round after round.

    mlpilot's study skips a configuration it already holds (``enqueue`` is
    idempotent), so round ``r`` > 0 nudges the family's first numeric parameter:
    a float by a factor ``1 + r * NUDGE``, an integer by ``r``. The fit costs
    stay those of the defaults.
    """
    if not spaces:
        raise ConfigError("The 'spaces' parameter must hold at least one family; got none.")
    if n < 1:
        raise ConfigError(f"The 'n' parameter must be >= 1; got {n!r} instead.")
    return [_nudged(spaces[i % len(spaces)], i // len(spaces)) for i in range(n)]


def _nudged(space: FamilySpace, round_: int) -> TrialConfig:
    config = default_config(space)
    if round_ == 0:
        return config
    for key, param in space.params.items():
        value = config.params[key]
        if isinstance(param, FloatParam) and isinstance(value, float):
            up = value * (1 + round_ * NUDGE)
            new: float | int = up if up <= param.high else value * (1 - round_ * NUDGE)
        elif isinstance(param, IntParam) and isinstance(value, int):
            new = value + round_ if value + round_ <= param.high else value - round_
        else:
            continue
        nudged = TrialConfig(family=space.name, params={**config.params, key: new})
        return validate_against(nudged, space)
    raise ConfigError(f"The family {space.name!r} must have a numeric parameter to vary; "
                      f"got none.")


def _breast_cancer(n_trials: int, seed: int) -> Prepared:
    """The training rows, folds and features a run on the bundled breast-cancer data uses."""
    task = TaskSpec(data_path=Path("bundled:breast_cancer"), target="diagnosis", seed=seed,
                    budget=Budget(n_trials=n_trials), n_workers=1)
    return prepare_data(task, load_bundled("breast_cancer"))


def _row(trial: optuna.trial.FrozenTrial, round_: int, **values: float) -> dict[str, float]:
    """A trial's wall time (optuna's ask to tell) and completion time, with ``values``."""
    start, done = trial.datetime_start, trial.datetime_complete
    if start is None or done is None:
        raise RuntimeError(f"optuna trial {trial.number} has no start or completion time")
    return {"wall_s": (done - start).total_seconds(), "done": done.timestamp(),
            "round": round_, **values}


def _pace_ms(rows: Sequence[dict[str, float]]) -> float | None:
    """Median milliseconds from one trial's completion to the next within a round: the
    loop's whole cost per trial, gaps between trials included (None with no such pair)."""
    gaps = [b["done"] - a["done"] for a, b in itertools.pairwise(rows)
            if a["round"] == b["round"]]
    return 1000 * statistics.median(gaps) if gaps else None


def _peer_objective(p: Prepared) -> Callable[[optuna.Trial], float]:
    """What a user writes by hand: suggest, build the pipeline, cross-validate in-process."""
    assert p.task.task_type is not None and p.task.metric is not None
    task_type, metric = p.task.task_type, p.task.metric
    X, y, folds = p.X_train, p.train.y, p.split.folds
    splits = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f))
              for f in range(int(folds.max()) + 1)]
    spaces = {s.name: s for s in p.spaces}

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(spaces))
        params = {key: suggest(trial, f"{family}.{key}", param_distribution(param))
                  for key, param in spaces[family].params.items()}
        pipeline = build_pipeline(TrialConfig(family=family, params=params),
                                  task_type=task_type,
                                  numeric_columns=p.prep.numeric_columns_,
                                  categorical_columns=p.prep.categorical_columns_,
                                  seed=p.task.seed, n_threads=1)
        fit_s, scores = 0.0, []
        for train, test in splits:
            start = time.perf_counter()
            model = clone(pipeline).fit(X.iloc[train], y[train])
            pred = (model.predict_proba(X.iloc[test]) if p.n_classes is not None
                    else model.predict(X.iloc[test]))
            fit_s += time.perf_counter() - start
            scores.append(score(metric, y[test], pred, n_classes=p.n_classes))
        trial.set_user_attr("fit_s", fit_s)
        return float(np.mean(scores))

    return objective


def _interleaved(p: Prepared, configs: Sequence[TrialConfig], round_size: int, root: Path,
                 isolation: str, preload: Sequence[str]) -> dict[str, Any]:
    """Run both variants round by round, taking turns at going first, so that a change in
    the machine's load falls on both alike.

    mlpilot: the configurations are enqueued in its study, and each round is one
    ``SearchLoop`` (as the graph's execute step builds one per round) over the
    started sandbox pool. The peer: ``study.optimize`` of ``_peer_objective``.
    """
    assert p.task.direction is not None  # prepare_data resolves it
    bundle = write_data_bundle(root / "data", p.X_train, p.train.y, p.split.folds, p.n_classes)
    search = OptunaSearch(p.spaces, direction=p.task.direction,
                          storage_path=root / "study.journal", seed=p.task.seed)
    search.start()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    peer = optuna.create_study(direction=p.task.direction,
                               sampler=optuna.samplers.TPESampler(seed=p.task.seed))
    for config in configs:
        search.enqueue(config, "default")
        peer.enqueue_trial(config_to_params(config))
    objective = _peer_objective(p)
    ours: list[TrialResult] = []
    pool = SandboxPool(bundle, isolation=isolation,  # type: ignore[arg-type]
                       scratch_dir=root / "scratch", preload=preload)
    start = time.perf_counter()
    with pool:
        startup_s = time.perf_counter() - start
        for i, first in enumerate(range(0, len(configs), round_size)):
            n = min(round_size, len(configs) - first)

            def run_ours(first: int = first, n: int = n) -> None:
                loop = SearchLoop(p.task, search=search, executor=pool, data=p.search_data,
                                  trials_dir=root / "trials", first_trial_id=first)
                ours.extend(loop.run(deadline=None, n_trials=n).trials)

            def run_peer(n: int = n) -> None:
                with threadpool_limits(limits=1):  # single-threaded, as the sandbox's trials
                    peer.optimize(objective, n_trials=n)

            for step in (run_ours, run_peer) if i % 2 == 0 else (run_peer, run_ours):
                step()
        level = pool.isolation_level
    return {"ours": _our_rows(ours, search.study.get_trials(deepcopy=False), configs,
                              round_size),
            "peer": _peer_rows(peer.get_trials(deepcopy=False), round_size),
            "startup_s": startup_s, "isolation": level}


def _our_rows(results: Sequence[TrialResult], trials: Sequence[optuna.trial.FrozenTrial],
              configs: Sequence[TrialConfig], round_size: int) -> list[dict[str, float]]:
    results = sorted(results, key=lambda t: t.trial_id)
    trials = sorted(trials, key=lambda t: t.number)
    if len(results) != len(configs) or len(trials) != len(configs):
        raise RuntimeError(f"{len(results)} results and {len(trials)} study trials for "
                           f"{len(configs)} configurations")
    rows = []
    for i, (result, trial, config) in enumerate(zip(results, trials, configs, strict=True)):
        if not result.ok or result.cv_score is None or result.config != config:
            raise RuntimeError(f"trial {result.trial_id} ({result.config.key()}) failed or ran "
                               f"another configuration: {result.error}")
        rows.append(_row(trial, i // round_size, fit_s=result.fit_time_s,
                         executor_s=result.wall_time_s, score=result.cv_score))
    return rows


def _peer_rows(trials: Sequence[optuna.trial.FrozenTrial],
               round_size: int) -> list[dict[str, float]]:
    rows = []
    for i, trial in enumerate(sorted(trials, key=lambda t: t.number)):
        if trial.value is None:
            raise RuntimeError(f"the optuna objective failed on trial {trial.number}")
        rows.append(_row(trial, i // round_size, fit_s=float(trial.user_attrs["fit_s"]),
                         score=trial.value))
    return rows


def compare_with_optuna(n_trials: int = 30, *, isolation: str = "auto",
                        preload: Sequence[str] = DEFAULT_PRELOAD,
                        families: Sequence[str] = PEER_FAMILIES, seed: int = 0
                        ) -> dict[str, Any]:
    """mlpilot's trial path against a plain in-process optuna objective, same configurations.

    Both run the same enqueued configurations (``fixed_configs`` of
    ``families``) in rounds of one per family; the first round is a warm-up
    and left out. A trial's wall time is optuna's ``datetime_complete -
    datetime_start`` in both (ask to tell); its fit time is the summed
    fit+predict seconds over the folds, as each measures it.
    """
    if n_trials < 1:
        raise ConfigError(f"The 'n_trials' parameter must be >= 1; got {n_trials!r} instead.")
    p = _breast_cancer(len(families) + n_trials, seed)
    by_name = {s.name: s for s in p.spaces}
    unknown = [f for f in families if f not in by_name]
    if unknown or not families:
        raise ConfigError(f"The 'families' parameter must name catalog families of this task "
                          f"({sorted(by_name)}); got {list(families)} instead.")
    n_warmup = len(families)
    configs = fixed_configs([by_name[f] for f in families], n_warmup + n_trials)
    with tempfile.TemporaryDirectory(prefix="mlpilot-overhead-optuna-") as tmp:
        runs = _interleaved(p, configs, len(families), Path(tmp), isolation, preload)
    ours_rows, peer_rows = runs["ours"][n_warmup:], runs["peer"][n_warmup:]
    executor_overhead_s = statistics.median(r["executor_s"] - r["fit_s"] for r in ours_rows)
    mlpilot: dict[str, Any] = {**_summary(ours_rows),
                               "median_executor_overhead_ms": 1000 * executor_overhead_s,
                               "pace_ms": _pace_ms(ours_rows)}
    plain: dict[str, Any] = {**_summary(peer_rows), "pace_ms": _pace_ms(peer_rows)}
    ratio = (mlpilot["median_overhead_ms"] / plain["median_overhead_ms"]
             if plain["median_overhead_ms"] > 0 else None)
    return {"dataset": "breast_cancer", "n_rows": len(p.train.y), "n_folds": p.task.n_folds,
            "metric": p.task.metric, "families": list(families), "n_warmup": n_warmup,
            "isolation": runs["isolation"], "startup_s": runs["startup_s"],
            "preload": list(preload), "mlpilot": mlpilot, "optuna_in_process": plain,
            "overhead_ratio": ratio,
            "overhead_difference_ms": mlpilot["median_overhead_ms"] - plain["median_overhead_ms"],
            "wall_difference_ms": mlpilot["median_wall_ms"] - plain["median_wall_ms"],
            "max_score_difference": max(abs(a["score"] - b["score"])
                                        for a, b in zip(ours_rows, peer_rows, strict=True))}


# -- a code trial against a catalog trial -----------------------------------------------------

CODE_NAME = "linear_code"
# the catalog's linear family for classification (tools.pipeline._linear) written as a module:
# the same LogisticRegression (lbfgs, max_iter=2000), C read from its SPACE
_LINEAR_MODULE = '''"""L2-regularized logistic regression, as the catalog's linear family."""

SPACE = {"C": {"type": "float", "low": 0.0001, "high": 1000.0, "log": True, "default": 1.0}}


def build_model(params):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params["C"], class_weight=None, max_iter=2000,
                              random_state=SEED)
'''


def linear_module(seed: int = 0) -> str:
    """The text of a code proposal whose ``build_model`` returns the LogisticRegression the
    catalog's linear family builds (its defaults, ``random_state=seed``, C from params)."""
    return _LINEAR_MODULE.replace("SEED", str(int(seed)))


def compare_code_with_catalog(n_rounds: int = 20, *, isolation: str = "auto",
                              preload: Sequence[str] = DEFAULT_PRELOAD, seed: int = 0
                              ) -> dict[str, Any]:
    """A code trial against a catalog trial of the same model, through one sandbox pool.

    Each round runs the catalog's linear default (C nudged per round, as
    ``fixed_configs`` does) once as a catalog trial (``build_pipeline``, dumped, run as a
    cv job, scored in the parent) and once as a code trial (``check_code`` of
    ``linear_module``, then ``run_code_trial`` with the same C); the two take turns at
    going first. One warm-up round is left out. A trial's wall time is the parent's,
    from the first step (building, or checking the module) to its scored result.
    """
    if n_rounds < 1:
        raise ConfigError(f"The 'n_rounds' parameter must be >= 1; got {n_rounds!r} instead.")
    p = _breast_cancer(2 * (n_rounds + 1), seed)
    space = next(s for s in p.spaces if s.name == "linear")
    with tempfile.TemporaryDirectory(prefix="mlpilot-overhead-code-") as tmp:
        runs = _code_rounds(p, space, linear_module(seed), n_rounds + 1, Path(tmp), isolation,
                            preload)
    rounds = runs["rounds"][1:]
    catalog_rows = [r["catalog"] for r in rounds]
    code_rows = [r["code"] for r in rounds]
    catalog_summary = {**_summary(catalog_rows), **_executor_overhead(catalog_rows)}
    code_summary = {**_summary(code_rows), **_executor_overhead(code_rows),
                    "median_check_ms": 1000 * statistics.median(r["check_s"] for r in code_rows)}
    default = default_config(space).params
    return {"dataset": "breast_cancer", "n_rows": len(p.train.y), "n_folds": p.task.n_folds,
            "metric": p.task.metric, "family": space.name, "n_rounds": len(rounds),
            "n_warmup": 1, "isolation": runs["isolation"], "startup_s": runs["startup_s"],
            "preload": list(preload), "code_family": code_rows[0]["family"],
            "catalog": catalog_summary, "code": code_summary,
            "wall_ratio": code_summary["median_wall_ms"] / catalog_summary["median_wall_ms"],
            "wall_difference_ms": (code_summary["median_wall_ms"]
                                   - catalog_summary["median_wall_ms"]),
            "fit_difference_ms": code_summary["median_fit_ms"] - catalog_summary["median_fit_ms"],
            "overhead_difference_ms": (code_summary["median_overhead_ms"]
                                       - catalog_summary["median_overhead_ms"]),
            "max_score_difference": max(abs(r["catalog"]["score"] - r["code"]["score"])
                                        for r in rounds),
            "preprocessing_differences": {
                key: {"catalog": default.get(key), "code": value}
                for key, value in CODE_PREPROCESSING.items() if default.get(key) != value},
            "rounds": rounds}


def _code_rounds(p: Prepared, space: FamilySpace, source: str, n_rounds: int, root: Path,
                 isolation: str, preload: Sequence[str]) -> dict[str, Any]:
    """``n_rounds`` rounds of one catalog and one code trial over one started pool."""
    bundle = write_data_bundle(root / "data", p.X_train, p.train.y, p.split.folds, p.n_classes)
    pool = SandboxPool(bundle, isolation=isolation,  # type: ignore[arg-type]
                       scratch_dir=root / "scratch", preload=preload)
    rounds: list[dict[str, Any]] = []
    start = time.perf_counter()
    with pool:
        startup_s = time.perf_counter() - start
        for r in range(n_rounds):
            config = _nudged(space, r)
            order = ("catalog", "code") if r % 2 == 0 else ("code", "catalog")
            row: dict[str, Any] = {"round": r, "C": config.params["C"], "first": order[0]}
            for kind in order:
                row[kind] = (
                    _catalog_trial(p, config, pool, root / f"catalog-{r}", 2 * r)
                    if kind == "catalog" else
                    _code_trial(p, source, config.params["C"], pool, root / f"code-{r}",
                                2 * r + 1))
            rounds.append(row)
        level = pool.isolation_level
    return {"rounds": rounds, "startup_s": startup_s, "isolation": level}


def _catalog_trial(p: Prepared, config: TrialConfig, executor: Executor, work_dir: Path,
                   trial_id: int) -> dict[str, Any]:
    """One catalog trial as ``SearchLoop`` runs it, less the study's ask and tell."""
    assert p.task.task_type is not None and p.task.metric is not None
    data, budget = p.search_data, p.task.budget
    start = time.perf_counter()
    pipeline = build_pipeline(config, task_type=p.task.task_type,
                              numeric_columns=data.numeric_columns,
                              categorical_columns=data.categorical_columns, seed=p.task.seed,
                              n_threads=1)
    spec = dump_trial(pipeline, trial_id=trial_id, config=config, source="default",
                      work_dir=work_dir, n_classes=data.n_classes,
                      timeout_s=budget.trial_timeout_s, memory_mb=budget.trial_memory_mb)
    result = score_result(executor.run(spec), metric=p.task.metric, data=data)
    return _trial_row(result, time.perf_counter() - start)


def _code_trial(p: Prepared, source: str, c: ParamValue, executor: Executor, work_dir: Path,
                trial_id: int) -> dict[str, Any]:
    """One code trial as a run's code round runs it: the static check, then
    ``run_code_trial``."""
    assert p.task.task_type is not None
    budget = p.task.budget
    start = time.perf_counter()
    proposal = check_code(source, name=CODE_NAME, task_type=p.task.task_type)
    check_s = time.perf_counter() - start
    result = run_code_trial(proposal, {"C": c}, prepared=p, executor=executor,
                            work_dir=work_dir, trial_id=trial_id,
                            timeout_s=budget.trial_timeout_s, memory_mb=budget.trial_memory_mb)
    return {**_trial_row(result, time.perf_counter() - start), "check_s": check_s}


def _trial_row(result: TrialResult, wall_s: float) -> dict[str, Any]:
    if not result.ok or result.cv_score is None:
        raise RuntimeError(f"trial {result.trial_id} ({result.config.family}) failed: "
                           f"{result.error}")
    return {"wall_s": wall_s, "fit_s": result.fit_time_s, "executor_s": result.wall_time_s,
            "score": result.cv_score, "family": result.config.family,
            "predictions": result.predictions_path is not None
            and result.predictions_path.is_file()}


def _executor_overhead(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The median of the executor's wall time (submit to result) minus the fit time."""
    return {"median_executor_overhead_ms":
            1000 * statistics.median(r["executor_s"] - r["fit_s"] for r in rows)}


# -- tables -----------------------------------------------------------------------------------

_HEADER = ("| variant | trials | median wall ms | median fit ms | median overhead ms | "
           "p90 overhead ms |\n|---|---:|---:|---:|---:|---:|")


def _line(name: str, s: dict[str, Any]) -> str:
    return (f"| {name} | {s['n_trials']} | {s['median_wall_ms']:.1f} | {s['median_fit_ms']:.1f} "
            f"| {s['median_overhead_ms']:.1f} | {s['p90_overhead_ms']:.1f} |")


def table(report: dict[str, Any]) -> str:
    """``measure``'s numbers as a markdown table."""
    return "\n".join([
        f"sandbox isolation: {report['isolation']}, worker start {report['startup_s']:.2f} s", "",
        _HEADER, *(_line(key, report[key])
                   for key in ("sandbox", "in_process_executor", "plain_loop"))])


def optuna_table(result: dict[str, Any]) -> str:
    """``compare_with_optuna``'s numbers as a markdown table and the plain comparison."""
    ours, peer = result["mlpilot"], result["optuna_in_process"]
    ratio = result["overhead_ratio"]
    said = "n/a (the peer's overhead is not positive)" if ratio is None else f"{ratio:.1f}x"

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} ms"

    return "\n".join([
        f"{result['dataset']}: {result['n_rows']} training rows, {result['n_folds']} folds, "
        f"{result['metric']}; the defaults of {', '.join(result['families'])} (nudged each "
        f"round), in rounds of one per family, the two variants taking turns at going first; "
        f"the first round ({result['n_warmup']} trials) is a warm-up, left out; sandbox "
        f"isolation {result['isolation']}, worker start {result['startup_s']:.2f} s", "",
        _HEADER, _line("mlpilot (SearchLoop + sandbox)", ours),
        _line("optuna objective, in-process", peer), "",
        f"mlpilot's median overhead per trial is {ours['median_overhead_ms']:.1f} ms against "
        f"{peer['median_overhead_ms']:.1f} ms for the in-process optuna objective: {said}, "
        f"{result['overhead_difference_ms']:.1f} ms more per trial "
        f"(of mlpilot's, {ours['median_executor_overhead_ms']:.1f} ms inside the sandbox "
        f"executor). Median wall time per trial: {ours['median_wall_ms']:.1f} ms against "
        f"{peer['median_wall_ms']:.1f} ms ({result['wall_difference_ms']:.1f} ms more); mlpilot's "
        f"fit time also covers the first fold's in-sample predictions (the train/CV-gap "
        f"check), which the peer does not make. From one trial's completion to the next: "
        f"{ms(ours['pace_ms'])} against {ms(peer['pace_ms'])}. Largest CV-score difference "
        f"between the two on the same configuration: {result['max_score_difference']:.2g}."])


def code_table(result: dict[str, Any]) -> str:
    """``compare_code_with_catalog``'s numbers as a markdown table and the plain comparison."""
    catalog, code = result["catalog"], result["code"]
    differences = result["preprocessing_differences"]
    prep = ("the same preprocessing (CODE_PREPROCESSING is the linear default's)"
            if not differences else "a different preprocessing: " + ", ".join(
                f"{key} {d['catalog']!r} in the catalog, {d['code']!r} in the code"
                for key, d in differences.items()))
    return "\n".join([
        f"{result['dataset']}: {result['n_rows']} training rows, {result['n_folds']} folds, "
        f"{result['metric']}; the catalog's {result['family']} default (C nudged each round) "
        f"as a catalog trial and as a code trial (a module whose build_model returns the same "
        f"LogisticRegression), one of each per round, taking turns at going first; the first "
        f"round is a warm-up, left out; sandbox isolation {result['isolation']}, worker start "
        f"{result['startup_s']:.2f} s. Wall time is the parent's, from building the pipeline "
        f"(or checking the module) to the scored result.", "",
        _HEADER, _line("catalog trial (build_pipeline)", catalog),
        _line("code trial (check_code + run_code_trial)", code), "",
        f"A code trial's median wall time is {code['median_wall_ms']:.1f} ms against "
        f"{catalog['median_wall_ms']:.1f} ms for the catalog trial: {result['wall_ratio']:.2f}x, "
        f"{result['wall_difference_ms']:+.1f} ms per trial (median fit time "
        f"{result['fit_difference_ms']:+.1f} ms, median overhead "
        f"{result['overhead_difference_ms']:+.1f} ms). What the code trial does besides: the "
        f"static check in the parent (median {code['median_check_ms']:.2f} ms), writing "
        f"proposal.py and copying it into the sandbox, compiling and executing the module in "
        f"the trial's child (once per child, inside the first fit, so it counts as fit time), "
        f"and the CodeModel wrapper (build_model, its checks, a dense float64 copy of the "
        f"features at every fit and predict); the catalog's estimator is wrapped instead in "
        f"ThreadLimitedClassifier, which enters a threadpoolctl limit around each fit and "
        f"predict (about a dozen per trial) and so counts in the catalog's fit time. Both "
        f"use {prep}; the code's forces dense output, which changes nothing on all-numeric "
        f"data. Largest CV-score difference between the two on the same C: "
        f"{result['max_score_difference']:.2g}."])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--isolation", choices=("auto", "bwrap", "process"), default="auto")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD),
                        help="comma-separated modules the workers import up front")
    parser.add_argument("--families", default=",".join(PEER_FAMILIES),
                        help="catalog families whose defaults the optuna comparison runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be >= 1")
    logging.basicConfig(level=logging.WARNING)
    preload = [m for m in args.preload.split(",") if m]
    report = measure(args.trials, args.isolation, preload)
    report["against_optuna"] = compare_with_optuna(
        args.trials, isolation=args.isolation, preload=preload,
        families=[f for f in args.families.split(",") if f], seed=args.seed)
    print(optuna_table(report["against_optuna"]))
    print()
    print(table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
