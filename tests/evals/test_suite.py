"""Benchmark suites as YAML: the bundled ones, bad files, the Parquet cache and the TaskSpec."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from evals.suite import (
    SUITES_DIR,
    BenchTask,
    Suite,
    load_suite,
    suite_names,
    task_spec,
    task_table,
)
from schemas import DEFAULT_METRIC, ConfigError
from tools.datasets import BUNDLED, load_bundled

_PUBLIC = ("breast_cancer", "iris", "wine", "digits", "diabetes", "penguins", "fair", "randhie",
           "biopsy", "fgl", "participation", "benefits", "chile", "salaries", "computers",
           "schooling", "slid", "seattle_weather", "cars")


def _task(name: str = "iris", **changes: str) -> BenchTask:
    ds = BUNDLED[name]
    fields = {"name": name, "dataset": name, "target": ds.target, "task_type": ds.task_type,
              "metric": DEFAULT_METRIC[ds.task_type], **changes}
    return BenchTask.model_validate(fields)


# ----------------------------------------------------------------------------- bundled suites
def test_the_bundled_suites_are_listed_and_ship_as_package_data() -> None:
    assert {"smoke", "public"} <= set(suite_names())
    assert (SUITES_DIR / "public.yaml").is_file() and SUITES_DIR.name == "suites"
    assert SUITES_DIR.parent == Path(__file__).resolve().parents[2] / "evals"


def test_smoke_suite_has_one_small_task_per_task_type() -> None:
    suite = load_suite("smoke")
    assert suite.name == "smoke" and suite.description
    assert [(t.dataset, t.task_type) for t in suite.tasks] == [
        ("breast_cancer", "binary"), ("iris", "multiclass"), ("diabetes", "regression")]
    assert [t.metric for t in suite.tasks] == ["roc_auc", "log_loss", "rmse"]


def test_public_suite_has_the_nineteen_tasks_with_default_metrics() -> None:
    suite = load_suite("public")
    assert suite.name == "public" and suite.description
    assert tuple(t.name for t in suite.tasks) == _PUBLIC
    for task in suite.tasks:
        assert task.dataset == task.name
        assert (task.target, task.task_type) == (BUNDLED[task.dataset].target,
                                                 BUNDLED[task.dataset].task_type)
        assert task.metric == DEFAULT_METRIC[task.task_type]


def test_a_suite_loads_from_a_path_by_name_or_yml(tmp_path: Path) -> None:
    text = ("name: mine\ntasks:\n"
            "  - {name: w, dataset: wine, target: cultivar, task_type: multiclass,"
            " metric: accuracy}\n"
            "  - {name: d, dataset: diabetes, target: progression, task_type: regression}\n")
    for filename in ("mine.yaml", "mine.yml"):
        (tmp_path / filename).write_text(text)
        suite = load_suite(str(tmp_path / filename))
        assert [(t.name, t.metric) for t in suite.tasks] == [("w", "accuracy"), ("d", "rmse")]
        assert suite.description == ""  # optional


def test_models_are_frozen() -> None:
    suite = load_suite("smoke")
    with pytest.raises(ValueError, match="frozen"):
        suite.tasks[0].metric = "accuracy"  # type: ignore[misc]
    assert isinstance(suite, Suite) and isinstance(suite.tasks, tuple)


# ----------------------------------------------------------------------------- bad files
_GOOD_TASK = "{name: a, dataset: iris, target: species, task_type: multiclass}"


@pytest.mark.parametrize(("text", "problem"), [
    ("name: x\ntasks: [\n", r"is not valid YAML: .*\(line 3, column 1\)"),
    ("", "must hold a mapping"),
    ("- iris\n- wine\n", "must hold a mapping .* got list instead"),
    ("name: x\ntasks: []\n", r"tasks: must hold at least one item"),
    ("tasks:\n  - " + _GOOD_TASK + "\n", r"name: a required field is missing"),
    ("name: x\ntasks:\n  - " + _GOOD_TASK + "\n  - " + _GOOD_TASK + "\n",
     r"task names of a suite must be unique; got \['a'\]"),
    ("name: x\ntasks:\n  - {name: a, dataset: titanic, target: survived, task_type: binary}\n",
     r"tasks\[0\]: The 'dataset' of task 'a' must be one of \[.*got 'titanic' instead"),
    ("name: x\ntasks:\n  - {name: a, dataset: iris, target: petal_width_cm,"
     " task_type: multiclass}\n", r"The 'target' of task 'a' must be 'species'"),
    ("name: x\ntasks:\n  - {name: a, dataset: iris, target: species, task_type: binary}\n",
     r"The 'task_type' of task 'a' must be 'multiclass'"),
    ("name: x\ntasks:\n  - {name: a, dataset: iris, target: species, task_type: multiclass,"
     " metric: auc}\n", r"The 'metric' of task 'a' must be one of \[.*got 'auc' instead"),
    ("name: x\ntasks:\n  - {name: a, dataset: iris, target: species, task_type: multiclass,"
     " metric: rmse}\n", r"must fit a multiclass task .*got 'rmse' instead"),
    ("name: x\ntasks:\n  - {name: a, dataset: iris, target: species, task_type: multiclass,"
     " metrc: log_loss}\n", r"tasks\[0\]\.metrc: this field is unknown"),
    ("name: x\ntasks:\n  - {name: a/b, dataset: iris, target: species, task_type: multiclass}\n",
     r"tasks\[0\]\.name: must be letters, digits"),
])
def test_a_bad_suite_file_is_one_line_naming_the_file_and_the_problem(
        tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_suite(str(path))
    message = str(info.value)
    assert message.startswith(f"The suite file '{path}' ") and "\n" not in message


def test_an_unknown_suite_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match=r"must be one of \[.*'public', 'smoke'.*got 'publc'"):
        load_suite("publc")


def test_a_missing_suite_file_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"suite.yaml' does not exist"):
        load_suite(str(tmp_path / "suite.yaml"))
    with pytest.raises(ConfigError, match="is not a file"):
        load_suite(str(tmp_path))


# ----------------------------------------------------------------------------- tables
def test_task_table_is_cached_once_and_reused(tmp_path: Path) -> None:
    task = _task("penguins")  # text, missing values and integers with gaps
    cache = tmp_path / "cache"
    first = task_table(task, cache)
    [path] = cache.iterdir()  # no temp file left
    assert path.name.startswith("penguins-") and path.suffix == ".parquet"
    old = 1_000_000_000
    os.utime(path, (old, old))
    second = task_table(task, cache)
    assert path.stat().st_mtime == old  # not written again
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(second, load_bundled("penguins"))


def test_task_table_reads_the_cached_file(tmp_path: Path) -> None:
    task = _task("iris")
    task_table(task, tmp_path)
    [path] = tmp_path.iterdir()
    load_bundled("iris").head(7).to_parquet(path, index=False)
    assert len(task_table(task, tmp_path)) == 7  # the cache, not the package, is read


@pytest.mark.parametrize("name", ["cars", "seattle_weather", "chile", "digits"])
def test_task_table_round_trips_dates_text_and_labels(tmp_path: Path, name: str) -> None:
    back = task_table(_task(name), tmp_path)
    table = load_bundled(name)
    pd.testing.assert_frame_equal(back, table)
    assert list(back.dtypes) == list(table.dtypes)


@pytest.mark.parametrize("name", _PUBLIC)
def test_every_public_task_table_loads_and_round_trips(tmp_path: Path, name: str) -> None:
    (task,) = [t for t in load_suite("public").tasks if t.name == name]
    back = task_table(task, tmp_path)
    pd.testing.assert_frame_equal(back, load_bundled(task.dataset))
    assert back.columns[-1] == task.target and back[task.target].notna().any()


# ----------------------------------------------------------------------------- task specs
def test_task_spec_carries_the_task_and_the_bench_settings() -> None:
    task = _task("fair", metric="accuracy")
    spec = task_spec(task, seed=3, n_trials=25, time_budget_s=60.0, n_workers=2)
    assert spec.data_path == Path("bundled:fair")
    assert (spec.target, spec.task_type, spec.metric) == ("had_affair", "binary", "accuracy")
    assert (spec.seed, spec.n_workers) == (3, 2)
    assert (spec.budget.n_trials, spec.budget.time_budget_s) == (25, 60.0)
    unlimited = task_spec(task, seed=0, n_trials=5, time_budget_s=None, n_workers=1)
    assert unlimited.budget.time_budget_s is None


def test_task_spec_refuses_a_bad_budget_as_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"n_trials: .*got 0 instead"):
        task_spec(_task(), seed=0, n_trials=0, time_budget_s=None, n_workers=1)
