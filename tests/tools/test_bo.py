"""The BO engine: space encoding, warm starts, ask/tell, failures and resuming from the journal."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from schemas import CategoricalParam, ConfigError, FloatParam, IntParam, TrialConfig
from tools.bo import (
    OptunaSearch,
    config_to_params,
    param_distribution,
    params_to_config,
    space_distributions,
)
from tools.catalog import (
    DEFAULTS_ORDER,
    FAMILY_NAMES,
    catalog,
    default_config,
    get_family,
    validate_config,
)


def _search(tmp_path: Path, **kwargs: object) -> OptunaSearch:
    options: dict = {"direction": "maximize", "storage_path": tmp_path / "study.log", **kwargs}
    spaces = options.pop("spaces", catalog("binary"))
    search = OptunaSearch(spaces, **options)
    search.start()
    return search


def test_each_param_kind_maps_to_the_same_optuna_distribution() -> None:
    assert param_distribution(FloatParam(low=1e-4, high=10.0, log=True)) == FloatDistribution(
        1e-4, 10.0, log=True)
    assert param_distribution(IntParam(low=2, high=100)) == IntDistribution(2, 100)
    assert param_distribution(CategoricalParam(choices=(None, 4, "sqrt", 0.5))) == (
        CategoricalDistribution((None, 4, "sqrt", 0.5)))


def test_every_family_param_gets_a_prefixed_distribution() -> None:
    for space in catalog("regression"):
        dists = space_distributions(space)
        assert set(dists) == {f"{space.name}.{key}" for key in space.params}
        for key, value in space.default.items():  # the default lies inside its distribution
            dist = dists[f"{space.name}.{key}"]
            assert dist._contains(dist.to_internal_repr(value))


def test_config_and_flat_params_round_trip() -> None:
    config = default_config(get_family("random_forest", "binary"))
    flat = config_to_params(config)
    assert flat["family"] == "random_forest" and flat["random_forest.max_depth"] is None
    assert params_to_config(flat) == config


def test_constructor_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "later" / "study.log"
    search = OptunaSearch(catalog("binary"), direction="maximize", storage_path=path)
    assert not path.parent.exists()
    with pytest.raises(RuntimeError, match="start"):
        search.ask()
    search.start()
    assert path.exists()


def test_defaults_come_first_with_their_source(tmp_path: Path) -> None:
    search = _search(tmp_path)
    assert search.enqueue_defaults() == len(FAMILY_NAMES)
    asked = [search.ask() for _ in FAMILY_NAMES]
    assert [config.family for _, config, _ in asked] == list(DEFAULTS_ORDER)  # cheap first
    assert sorted(DEFAULTS_ORDER) == sorted(FAMILY_NAMES)
    assert all(source == "default" for _, _, source in asked)
    for _, config, _ in asked:
        assert config == default_config(get_family(config.family, "binary"))
    number, config, source = search.ask()
    assert source == "bo" and number == len(FAMILY_NAMES)
    assert validate_config(config, "binary") == config


def test_enqueued_proposals_keep_their_source_and_duplicates_are_skipped(tmp_path: Path) -> None:
    search = _search(tmp_path)
    proposal = TrialConfig(family="knn", params={**get_family("knn", "binary").default,
                                                 "n_neighbors": 42})
    search.enqueue(proposal, "llm")
    search.enqueue(proposal, "memory")  # the same point again: not queued twice
    number, config, source = search.ask()
    assert (config, source) == (proposal, "llm")
    search.tell(number, 0.9)
    assert search.ask()[2] == "bo"


def test_invalid_proposals_are_refused(tmp_path: Path) -> None:
    search = _search(tmp_path, spaces=catalog("binary", n_rows=50_000))
    with pytest.raises(ConfigError, match=r"'family'.*got 'svm'"):
        search.enqueue(default_config(get_family("svm", "binary")), "llm")
    bad = TrialConfig(family="knn", params={**get_family("knn", "binary").default,
                                            "n_neighbors": 0})
    with pytest.raises(ConfigError, match=r"'knn.n_neighbors'"):
        search.enqueue(bad, "llm")
    with pytest.raises(ConfigError, match=r"'source'.*got 'oracle'"):
        search.enqueue(default_config(get_family("knn", "binary")), "oracle")  # type: ignore[arg-type]


def test_failures_are_kept_and_never_best(tmp_path: Path) -> None:
    search = _search(tmp_path, direction="minimize")
    assert search.best() is None
    values = [0.5, None, float("nan"), 0.2, 0.7]
    numbers = []
    for value in values:
        number, _, _ = search.ask()
        search.tell(number, value)
        numbers.append(number)
    search.tell(numbers[0], 0.01)  # telling a finished trial again changes nothing
    assert search.n_finished == len(values)
    states = [t.state for t in search.study.get_trials()]
    assert states.count(optuna.trial.TrialState.FAIL) == 2
    best = search.best()
    assert best is not None and best[1] == 0.2


def test_work_done_elsewhere_is_added(tmp_path: Path) -> None:
    search = _search(tmp_path)
    config = default_config(get_family("hist_gb", "binary"))
    number = search.add_finished(config, 0.97, "llm")
    failed = search.add_finished(default_config(get_family("mlp", "binary")), None, "repair")
    assert (number, failed) == (0, 1)
    assert search.n_finished == 2
    assert search.best() == (config, 0.97)
    assert [t.user_attrs["source"] for t in search.study.get_trials()] == ["llm", "repair"]


def test_resume_from_the_journal_keeps_finished_trials(tmp_path: Path) -> None:
    first = _search(tmp_path, seed=3)
    first.enqueue_defaults()
    for i in range(10):
        number, _, _ = first.ask()
        first.tell(number, None if i == 4 else i / 10)
    pending, _, _ = first.ask()  # asked before the "crash", told after the resume

    second = _search(tmp_path, seed=3)
    assert second.n_finished == 10
    assert second.best() == first.best()
    assert second.enqueue_defaults() == 0  # already in the study
    second.tell(pending, 0.95)
    best = second.best()
    assert best is not None and best[1] == 0.95
    sources = [t.user_attrs["source"] for t in second.study.get_trials()]
    assert sources == ["default"] * 7 + ["bo"] * 4
    number, _, source = second.ask()
    assert number == 11 and source == "bo"


def test_resuming_with_the_other_direction_is_refused(tmp_path: Path) -> None:
    _search(tmp_path)
    with pytest.raises(ConfigError, match=r"'direction'.*maximize.*got 'minimize'"):
        _search(tmp_path, direction="minimize")


def test_the_journal_opens_as_a_plain_optuna_study(tmp_path: Path) -> None:
    search = _search(tmp_path, study_name="my-run")
    number, _, _ = search.ask()
    search.tell(number, 0.5)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study.log")))
    study = optuna.load_study(study_name="my-run", storage=storage)  # what the dashboard does
    assert [t.value for t in study.trials] == [0.5]
    assert study.trials[0].params["family"] in FAMILY_NAMES


def test_same_seed_same_sequence(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        search = _search(tmp_path / name, seed=11)
        search.enqueue_defaults()
        keys = []
        for _ in range(14):
            number, config, _ = search.ask()
            search.tell(number, len(config.key()) % 7 / 7)
            keys.append(config.key())
        runs.append(keys)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("sampler", ["random", "gp"])
def test_other_samplers_give_valid_points(tmp_path: Path, sampler: str) -> None:
    spaces = (get_family("linear", "regression"),)  # gp models a single family's space fully
    search = _search(tmp_path, spaces=spaces, sampler=sampler, direction="minimize",
                     n_startup_trials=3)
    for _ in range(6):
        number, config, source = search.ask()
        assert source == "bo" and validate_config(config, "regression") == config
        search.tell(number, float(config.params["alpha"]))  # type: ignore[arg-type]
    assert search.n_finished == 6


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"spaces": ()}, "'spaces'.*at least one"),
    ({"spaces": (get_family("knn", "binary"),) * 2}, "'spaces'.*each family once"),
    ({"sampler": "cmaes"}, "'sampler'.*got 'cmaes'"),
    ({"direction": "up"}, "'direction'.*got 'up'"),
    ({"n_startup_trials": -1}, "'n_startup_trials'.*got -1"),
])
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        _search(tmp_path, **kwargs)
