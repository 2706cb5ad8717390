"""The Bayesian-optimisation engine: an optuna study over the catalog's spaces.

This is the only module of mlpilot that imports optuna. The space is encoded
as a categorical ``family`` followed by that family's parameters under
prefixed names (``"random_forest.n_estimators"``), each mapped one-to-one to an
optuna distribution. Proposals from the LLM, the memory and the defaults enter
with ``enqueue`` (optuna's ``enqueue_trial``), work finished elsewhere with
``add_finished`` (``add_trial``); every trial records where it came from in
its ``source`` user attribute. The study lives in a journal file, which
``optuna-dashboard PATH`` opens and a new ``OptunaSearch`` resumes.

Samplers:

- ``"tpe"`` (default): multivariate, grouped TPE (``group=True`` splits the
  conditional space per family) with ``constant_liar=True``, because the caller
  asks several trials before telling any.
- ``"random"``: uniform over the encoded space.
- ``"gp"``: optuna's ``GPSampler``. It models only the parameters that every
  trial shares; with several families that is just ``family`` and all the
  family's own parameters are drawn by its independent (random) sampler. Use it
  with a single family's space, where every parameter is modelled.

Start-up rule: unless ``n_startup_trials`` is given, the sampler samples at
random until ``n_warm + STARTUP_AFTER_WARM`` trials have completed, where
``n_warm`` counts the trials that did not come from BO (enqueued or added:
defaults, LLM, memory, repairs). The warm points already cover each family
once (``enqueue_defaults``), so only a few random trials follow before the
model takes over.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from schemas import (
    CategoricalParam,
    ConfigError,
    Direction,
    FamilySpace,
    FloatParam,
    IntParam,
    Param,
    TrialConfig,
    TrialSource,
)
from tools.catalog import cheapest_first, default_config, validate_against

logger = logging.getLogger(__name__)

SamplerName = Literal["tpe", "random", "gp"]
STARTUP_AFTER_WARM = 4  # random trials after the warm points before the model takes over
SOURCE_ATTR = "source"
QUEUED_ATTR = "queued"  # the key of an enqueued configuration, to notice when optuna drops it
FAMILY_PARAM = "family"
_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def param_distribution(param: Param) -> BaseDistribution:
    """One catalog parameter as the optuna distribution with the same range and scale."""
    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log)
    if isinstance(param, CategoricalParam):
        return CategoricalDistribution(param.choices)
    raise TypeError(f"not a catalog parameter: {param!r}")


def space_distributions(space: FamilySpace) -> dict[str, BaseDistribution]:
    """A family's parameters under their prefixed optuna names (``family.param``)."""
    return {f"{space.name}.{key}": param_distribution(p) for key, p in space.params.items()}


def config_to_params(config: TrialConfig) -> dict[str, Any]:
    """A configuration as flat optuna parameters: ``family`` plus prefixed names."""
    return {FAMILY_PARAM: config.family,
            **{f"{config.family}.{k}": v for k, v in config.params.items()}}


def params_to_config(params: dict[str, Any]) -> TrialConfig:
    """The inverse of ``config_to_params``."""
    family = params[FAMILY_PARAM]
    prefix = f"{family}."
    return TrialConfig(family=family, params={k[len(prefix):]: v for k, v in params.items()
                                              if k.startswith(prefix)})


class OptunaSearch:
    """Ask/tell BO over several family spaces, stored in a journal file.

    The constructor only stores its arguments; ``start()`` opens (or resumes)
    the study. A failed trial is told with ``value=None`` and kept as FAIL.
    """

    def __init__(self, spaces: Sequence[FamilySpace], *, direction: Direction,
                 storage_path: Path, study_name: str = "mlpilot",
                 sampler: Literal["tpe", "random", "gp"] = "tpe", seed: int = 0,
                 n_startup_trials: int | None = None) -> None:
        self.spaces = tuple(spaces)
        self.direction = direction
        self.storage_path = Path(storage_path)
        self.study_name = study_name
        self.sampler = sampler
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self._study: optuna.Study | None = None
        self._n_warm = 0
        self._sampler_built_for: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Create the study, or load it (resume) if the journal file already holds it."""
        if self._study is not None:
            return
        self._check_arguments()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.storage_path.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(self.storage_path)))
        study = optuna.create_study(storage=storage, study_name=self.study_name,
                                    direction=self.direction, load_if_exists=True,
                                    sampler=optuna.samplers.RandomSampler(seed=self.seed))
        if study.direction.name.lower() != self.direction:
            raise ConfigError(f"The 'direction' parameter must match the stored study "
                              f"{self.study_name!r} ({study.direction.name.lower()}); "
                              f"got {self.direction!r} instead.")
        self._study = study
        self._n_warm = sum(1 for t in study.get_trials(deepcopy=False)
                           if t.user_attrs.get(SOURCE_ATTR, "bo") != "bo")
        logger.info("study %r at %s: %d trials (%d warm)", self.study_name, self.storage_path,
                    len(study.get_trials(deepcopy=False)), self._n_warm)

    def _check_arguments(self) -> None:
        if not self.spaces:
            raise ConfigError("The 'spaces' parameter must hold at least one family; got none.")
        names = [s.name for s in self.spaces]
        if len(set(names)) != len(names):
            raise ConfigError(f"The 'spaces' parameter must name each family once; "
                              f"got {names} instead.")
        if self.direction not in get_args(Direction):
            raise ConfigError(f"The 'direction' parameter must be one of "
                              f"{list(get_args(Direction))}; got {self.direction!r} instead.")
        if self.sampler not in get_args(SamplerName):
            raise ConfigError(f"The 'sampler' parameter must be one of "
                              f"{list(get_args(SamplerName))}; got {self.sampler!r} instead.")
        if self.n_startup_trials is not None and self.n_startup_trials < 0:
            raise ConfigError(f"The 'n_startup_trials' parameter must be >= 0; "
                              f"got {self.n_startup_trials!r} instead.")

    @property
    def study(self) -> optuna.Study:
        """The underlying optuna study (for reports and plots)."""
        if self._study is None:
            raise RuntimeError("OptunaSearch.start() must be called first.")
        return self._study

    # -- warm start --------------------------------------------------------------------------

    def enqueue(self, config: TrialConfig, source: TrialSource) -> None:
        """Queue a point to be asked before any sampled one; duplicates are skipped.

        The config must be valid for one of the spaces (``validate_config`` with
        ``repair=True`` first, for proposals that may be slightly off).
        """
        self._enqueue(config, source)

    def _enqueue(self, config: TrialConfig, source: TrialSource) -> bool:
        _check_source(source)
        config = self._validated(config)
        params = config_to_params(config)
        study = self.study
        n_before = len(study.get_trials(deepcopy=False))
        study.enqueue_trial(params, user_attrs={SOURCE_ATTR: source, QUEUED_ATTR: config.key()},
                            skip_if_exists=True)
        added = len(study.get_trials(deepcopy=False)) > n_before
        if added:
            self._n_warm += 1
        else:
            logger.info("not enqueued (already in the study): %s", config.key())
        return added

    def enqueue_defaults(self) -> int:
        """Queue every family's default configuration, cheapest to fit first (see
        ``tools.catalog.DEFAULTS_ORDER``); returns how many were new."""
        return sum(self._enqueue(default_config(s), "default")
                   for s in cheapest_first(self.spaces))

    def add_finished(self, config: TrialConfig, value: float | None,
                     source: TrialSource) -> int:
        """Record a trial evaluated elsewhere (None: it failed); returns its trial number."""
        _check_source(source)
        config = self._validated(config)
        space = self._space(config.family)
        distributions = {FAMILY_PARAM: self._family_distribution(),
                         **space_distributions(space)}
        value = _finite(value)
        trial = optuna.trial.create_trial(
            state=TrialState.COMPLETE if value is not None else TrialState.FAIL,
            value=value, params=config_to_params(config), distributions=distributions,
            user_attrs={SOURCE_ATTR: source})
        self.study.add_trial(trial)
        self._n_warm += source != "bo"
        return self.study.get_trials(deepcopy=False)[-1].number

    # -- ask / tell --------------------------------------------------------------------------

    def ask(self) -> tuple[int, TrialConfig, TrialSource]:
        """The next point: a queued one first (with its source), else one the sampler picks."""
        self._ensure_sampler()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = self.study.ask()
            family = trial.suggest_categorical(FAMILY_PARAM, [s.name for s in self.spaces])
            for name, dist in space_distributions(self._space(str(family))).items():
                suggest(trial, name, dist)
        config = params_to_config(trial.params)
        source: TrialSource = trial.user_attrs.get(SOURCE_ATTR, "bo")
        queued = trial.user_attrs.get(QUEUED_ATTR)
        if queued is not None and queued != config.key():
            logger.warning("queued point %s no longer fits the space; sampled instead", queued)
            source = "bo"
        trial.set_user_attr(SOURCE_ATTR, source)
        return trial.number, config, source

    def tell(self, number: int, value: float | None) -> None:
        """Finish trial ``number``: its objective value, or None (or non-finite) if it failed.

        Telling a trial that is already finished does nothing, so a re-run step is safe.
        """
        value = _finite(value)
        if value is None:
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        else:
            self.study.tell(number, value, skip_if_finished=True)

    # -- results -----------------------------------------------------------------------------

    @property
    def n_finished(self) -> int:
        """Trials that completed or failed (queued and running ones are not counted)."""
        return len(self.study.get_trials(deepcopy=False, states=_FINISHED))

    def best(self) -> tuple[TrialConfig, float] | None:
        """The best completed trial's configuration and value; None before any completes."""
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            return None
        best: FrozenTrial = self.study.best_trial
        assert best.value is not None
        return params_to_config(best.params), float(best.value)

    # -- internals ---------------------------------------------------------------------------

    def _space(self, family: str) -> FamilySpace:
        for space in self.spaces:
            if space.name == family:
                return space
        raise ConfigError(f"The 'family' parameter must be one of "
                          f"{[s.name for s in self.spaces]}; got {family!r} instead.")

    def _validated(self, config: TrialConfig) -> TrialConfig:
        return validate_against(config, self._space(config.family))

    def _family_distribution(self) -> CategoricalDistribution:
        return CategoricalDistribution([s.name for s in self.spaces])

    def _ensure_sampler(self) -> None:
        """(Re)build the sampler when the warm-point count that sets its start-up changed."""
        if self._sampler_built_for == self._n_warm:
            return
        n_startup = (self.n_startup_trials if self.n_startup_trials is not None
                     else self._n_warm + STARTUP_AFTER_WARM)
        # a fresh seed per rebuild, so a resumed study does not replay its random draws
        seed = self.seed + len(self.study.get_trials(deepcopy=False))
        self.study.sampler = _make_sampler(self.sampler, seed, n_startup)
        self._sampler_built_for = self._n_warm
        logger.debug("%s sampler, seed %d, %d start-up trials", self.sampler, seed, n_startup)


def _make_sampler(name: str, seed: int, n_startup: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "gp":
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=n_startup, warn_independent_sampling=False,
                independent_sampler=optuna.samplers.RandomSampler(seed=seed))
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=n_startup, multivariate=True, group=True,
            constant_liar=True)


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Ask ``trial`` for parameter ``name`` drawn from ``dist``."""
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    assert isinstance(dist, CategoricalDistribution)
    return trial.suggest_categorical(name, dist.choices)


def _check_source(source: str) -> None:
    if source not in get_args(TrialSource):
        raise ConfigError(f"The 'source' parameter must be one of {list(get_args(TrialSource))}; "
                          f"got {source!r} instead.")


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        logger.warning("non-finite objective value %r recorded as a failed trial", value)
        return None
    return value
