"""Reading a request and a follow-up question: by rules, and with an LLM filling the gaps."""

from __future__ import annotations

import json
from typing import Any

import pytest

import prompts
from schemas import TaskRequest
from tools.catalog import FAMILY_NAMES
from tools.llm_scripted import ScriptedLLM, scripted_client
from tools.request import parse_followup, parse_request, understand_request


def _fields(request: TaskRequest) -> dict[str, Any]:
    return request.model_dump(exclude={"text"})


_EMPTY: dict[str, Any] = {"data": None, "target": None, "task_type": None, "metric": None,
                          "n_trials": None, "time_budget_s": None, "families": None,
                          "missing": ()}


# ----------------------------------------------------------------------------- the phrasings
@pytest.mark.parametrize(("text", "expected"), [
    ("predict churn in data/churn.csv, optimise F1, ten minutes",
     {"data": "data/churn.csv", "target": "churn", "metric": "f1", "time_budget_s": 600.0}),
    ("data.csv target=price 50 trials metric rmse",
     {"data": "data.csv", "target": "price", "metric": "rmse", "n_trials": 50}),
    ("classify species on bundled:iris, 5 minutes",
     {"data": "bundled:iris", "target": "species", "time_budget_s": 300.0}),
    ("use the penguins dataset to predict species with only linear models and random forests",
     {"data": "bundled:penguins", "target": "species",
      "families": ("linear", "random_forest")}),
    ("regression on house.parquet predicting SalePrice, maximize r2, budget 2 min, 30 trials",
     {"data": "house.parquet", "target": "SalePrice", "task_type": "regression",
      "metric": "r2", "n_trials": 30, "time_budget_s": 120.0}),
    ("train on ~/x.tsv for column 'is fraud' optimizing balanced accuracy, at most 20 trials",
     {"data": "~/x.tsv", "target": "is fraud", "metric": "balanced_accuracy", "n_trials": 20}),
])
def test_common_phrasings(text: str, expected: dict[str, Any]) -> None:
    request = parse_request(text)
    assert request.text == text
    assert _fields(request) == {**_EMPTY, **expected}


@pytest.mark.parametrize(("text", "seconds"), [
    ("x.csv, half an hour", 1800.0), ("x.csv within an hour", 3600.0),
    ("x.csv, an hour and a half", 5400.0), ("x.csv one and a half hours", 5400.0),
    ("x.csv 90s", 90.0), ("x.csv 90 sec", 90.0), ("x.csv 45 seconds", 45.0),
    ("x.csv 10m", 600.0), ("x.csv 2h", 7200.0), ("x.csv 1.5 hours", 5400.0),
    ("x.csv 1h30m", 5400.0), ("x.csv 1 hour 30 minutes", 5400.0),
    ("x.csv twenty-five minutes", 1500.0), ("x.csv thirty mins", 1800.0),
    ("x.csv a 5-minute budget", 300.0), ("x.csv 3 hrs", 10800.0),
    ("x.csv 60 seconds per trial, 10 minutes in total", 600.0),
    ("x.csv, a quarter of an hour", 900.0), ("x.csv, three quarters of an hour", 2700.0),
])
def test_durations_in_digits_and_words(text: str, seconds: float) -> None:
    assert parse_request(text).time_budget_s == seconds


@pytest.mark.parametrize(("text", "n"), [
    ("x.csv fifty trials", 50), ("x.csv twenty five trials", 25), ("x.csv a hundred trials", 100),
    ("x.csv trials=40", 40), ("x.csv --trials 40", 40), ("x.csv, try 12 models", 12),
    ("x.csv, no more than 8 iterations", 8),
])
def test_trial_counts(text: str, n: int) -> None:
    assert parse_request(text).n_trials == n


@pytest.mark.parametrize(("words", "metric"), [
    ("F1", "f1"), ("f1 macro", "f1_macro"), ("macro F1", "f1_macro"), ("AUC", "roc_auc"),
    ("ROC AUC", "roc_auc"), ("roc-auc", "roc_auc"), ("log loss", "log_loss"),
    ("logloss", "log_loss"), ("accuracy", "accuracy"), ("RMSE", "rmse"), ("MAE", "mae"),
    ("R2", "r2"), ("r squared", "r2"), ("R^2", "r2"), ("balanced accuracy", "balanced_accuracy"),
    ("mean absolute error", "mae"), ("weighted f1", "f1_weighted"),
])
def test_metric_spellings(words: str, metric: str) -> None:
    for verb in ("optimise", "optimize", "maximise", "minimize", "metric"):
        assert parse_request(f"d.csv target=y, {verb} {words}").metric == metric


@pytest.mark.parametrize(("text", "families"), [
    ("x.csv with only logistic regression", ("linear",)),
    ("x.csv, just random forests and extra trees", ("random_forest", "extra_trees")),
    ("x.csv gradient boosting only", ("hist_gb",)),
    ("x.csv using boosted trees or hist gb", ("hist_gb",)),
    ("x.csv, only knn or nearest neighbours", ("knn",)),
    ("x.csv, only neural nets and MLP", ("mlp",)),
    ("x.csv, no svm", tuple(f for f in FAMILY_NAMES if f != "svm")),
    ("x.csv without neural networks or knn",
     tuple(f for f in FAMILY_NAMES if f not in ("mlp", "knn"))),
    ("x.csv, all models except svm", tuple(f for f in FAMILY_NAMES if f != "svm")),
    ("x.csv, only linear models, no svm", ("linear",)),
    ("x.csv, tree-based models only", ("random_forest", "extra_trees", "hist_gb")),
    ("x.csv, svm and knn are not allowed",
     tuple(f for f in FAMILY_NAMES if f not in ("svm", "knn"))),
])
def test_families_restricted_and_excluded(text: str, families: tuple[str, ...]) -> None:
    assert parse_request(text).families == families


def test_family_words_are_not_task_types_or_targets() -> None:
    request = parse_request("predict price on data.csv with logistic regression")
    assert request.task_type is None
    assert request.families == ("linear",)
    assert request.target == "price"


@pytest.mark.parametrize(("text", "data"), [
    ("we need a fair model for churn", None),
    ("round to 3 digits and predict species on iris", "bundled:iris"),
    ("predict the price of cars, 20 trials", None),
    ("predict had_affair on the fair data", "bundled:fair"),
    ("predict miles_per_gallon on the cars dataset", "bundled:cars"),
    ("predict salaries, 20 trials", None),
    ("predict the price of computers sold in 1994", None),
    ("estimate benefits per customer", None),
    ("predict participation in the survey, ten minutes", None),
    ("forecast copper exports to Chile", None),
    ("predict years of schooling", None),
    ("classify the biopsy result", None),
    ("predict salary on the salaries data", "bundled:salaries"),
    ("predict price on the computers dataset", "bundled:computers"),
    ("the benefits table, 10 trials", "bundled:benefits"),
    ("predict lfp on the participation data", "bundled:participation"),
    ("predict vote on the Chile data", "bundled:chile"),
    ("the schooling dataset with boosted trees", "bundled:schooling"),
    ("predict class on the biopsy data", "bundled:biopsy"),
    ("predict wages on slid", "bundled:slid"),  # no everyday word: the name alone counts
    ("classify glass type on fgl", "bundled:fgl"),
])
def test_dataset_names_that_are_everyday_words_need_the_word_data(text: str,
                                                                  data: str | None) -> None:
    assert parse_request(text).data == data


@pytest.mark.parametrize(("text", "data", "target"), [
    ("the iris data, half an hour", "bundled:iris", "species"),
    ("classify the breast cancer data with boosted trees", "bundled:breast_cancer",
     "diagnosis"),
    ("f1 macro on wine, 25 trials", "bundled:wine", "cultivar"),
    ("predict body_mass_g on the penguins data", "bundled:penguins", "body_mass_g"),
    ("load 'my data.csv' and predict y", "my data.csv", "y"),
    ("data=train.csv label=Class", "train.csv", "Class"),
    ("Predict the `price` column of data/houses.csv", "data/houses.csv", "price"),
    ("data/train.csv --target SalePrice --trials 40", "data/train.csv", "SalePrice"),
])
def test_data_and_target(text: str, data: str, target: str) -> None:
    request = parse_request(text)
    assert (request.data, request.target, request.missing) == (data, target, ())


# ----------------------------------------------------------------------------- with columns
_HOUSE = ["Id", "LotArea", "SalePrice", "is_fraud", "Neighborhood"]


@pytest.mark.parametrize(("text", "target"), [
    ("predict saleprice in house.csv", "SalePrice"),
    ("predict sale price in house.csv", "SalePrice"),
    ("house.csv target=sale_price", "SalePrice"),
    ("train on house.csv for column 'is fraud'", "is_fraud"),
    ("house.csv, predict the price of 'Sale Price'", "SalePrice"),  # a quoted name wins
    ("house.csv: what drives 'LotArea'?", "LotArea"),
])
def test_target_is_matched_to_real_columns(text: str, target: str) -> None:
    assert parse_request(text, columns=_HOUSE).target == target


def test_target_that_is_not_a_column_is_missing_not_guessed() -> None:
    request = parse_request("predict price in house.csv", columns=_HOUSE)
    assert request.target is None
    assert request.missing == ("target",)


def test_the_one_column_a_sentence_names_is_the_target() -> None:
    columns = ["CustomerID", "Tenure", "Monthly income", "Churn?", "Plan"]
    assert parse_request("will the customer churn?", columns=columns).target == "Churn?"
    request = parse_request("churn.csv: will they churn within a year, optimise f1",
                            columns=columns)
    assert (request.data, request.target, request.metric) == ("churn.csv", "Churn?", "f1")
    # two columns named and no rule saying which: not guessed
    assert parse_request("how does tenure relate to churn", columns=columns).target is None
    assert parse_request("which plan leaves?", columns=["plan", "Plan_B"]).target == "plan"


def test_nothing_found_means_data_and_target_missing() -> None:
    request = parse_request("make me a good model please")
    assert _fields(request) == {**_EMPTY, "missing": ("data", "target")}


def test_unknown_metric_word_is_ignored_not_invented() -> None:
    request = parse_request("optimise fancyscore on data.csv target=y")
    assert request.metric is None
    assert parse_request("d.csv target=y, minimise mse").metric is None
    assert parse_request("d.csv target=y, optimize for precision").metric is None


def test_apostrophes_are_not_quotes() -> None:
    request = parse_request("what's in data.csv? don't use svm, predict 'is fraud'")
    assert (request.data, request.target) == ("data.csv", "is fraud")
    assert request.families == tuple(f for f in FAMILY_NAMES if f != "svm")


def test_numbers_that_are_not_a_budget_are_left_alone() -> None:
    request = parse_request("predict f1_score in scores_2024.csv, r2 please")
    assert (request.n_trials, request.time_budget_s, request.metric) == (None, None, "r2")
    assert request.data == "scores_2024.csv"


# ----------------------------------------------------------------------------- with an LLM
def _answer(**values: Any) -> str:
    return json.dumps(values)


def test_llm_fills_only_what_the_rules_left_empty() -> None:
    fake = ScriptedLLM([_answer(data="other.csv", target="LotArea", metric="mae",
                                n_trials=20, families=["random forest"])])
    llm = scripted_client(fake)
    text = "use house.csv, twenty trials, my target is what the house will be worth"
    request = understand_request(text, llm=llm, columns=_HOUSE, render=prompts.render)
    assert request.data == "house.csv"  # the rules found it: never overridden
    assert request.n_trials == 20
    assert request.target == "LotArea"  # a real column, filled by the LLM
    assert request.metric == "mae"
    assert request.families is None  # the sentence names no model: no restriction invented
    assert request.missing == ()
    assert [c.purpose for c in llm.calls] == ["intake"]
    prompt = fake.requests[0][0]["content"]
    assert "Already understood, keep as is" in prompt
    assert '"data": "house.csv"' in prompt


def test_llm_values_that_fail_the_rules_are_dropped() -> None:
    llm = scripted_client([_answer(data="/etc/passwd", target="Price", task_type="binary",
                                   metric="fancyscore", n_trials=-3, time_budget_s=600,
                                   families=["xgboost", "quantum"])])
    request = understand_request("predict it on house.csv", llm=llm, columns=_HOUSE,
                                 render=prompts.render)
    assert request.data == "house.csv"
    assert request.target is None  # not a column
    assert request.task_type is None  # nothing in the sentence backs "binary"
    assert (request.metric, request.n_trials, request.time_budget_s) == (None, None, None)
    assert request.families is None
    assert request.missing == ("target",)


def test_llm_families_need_a_sentence_that_speaks_of_models() -> None:
    every = ["linear", "random_forest", "extra_trees", "hist_gb", "knn", "svm", "mlp"]
    llm = scripted_client([_answer(target="SalePrice", families=every)])
    request = understand_request("will the house sell high? house.csv", llm=llm,
                                 columns=_HOUSE, render=prompts.render)
    assert request.target == "SalePrice" and request.families is None
    text = "house.csv, target SalePrice, stick to the bagging model family"
    assert parse_request(text, columns=_HOUSE).families is None  # the rules miss it...
    llm = scripted_client([_answer(families=["random forest"])])
    request = understand_request(text, llm=llm, columns=_HOUSE, render=prompts.render)
    assert request.families == ("random_forest",)  # ...and the LLM may fill it


def test_llm_numbers_must_be_in_the_sentence() -> None:
    llm = scripted_client([_answer(n_trials=15, time_budget_s=900)])
    text = "data.csv target=y, fifteen candidates, quick please"
    request = understand_request(text, llm=llm, render=prompts.render)
    assert request.n_trials == 15  # "fifteen" is in the sentence
    assert request.time_budget_s is None  # no duration is: 900 s would be invented
    llm = scripted_client([_answer(n_trials=40, time_budget_s=1200)])
    text = "data.csv target=y, give it twenty or so minutes"
    assert parse_request(text).time_budget_s is None  # the rules miss it...
    request = understand_request(text, llm=llm, render=prompts.render)
    assert (request.n_trials, request.time_budget_s) == (None, 1200.0)  # ...the LLM may fill it


def test_llm_target_without_columns_must_be_named_in_the_sentence() -> None:
    llm = scripted_client([_answer(target="churned")])
    assert understand_request("data.csv: will the customer have churned?", llm=llm,
                              render=prompts.render).target == "churned"
    llm = scripted_client([_answer(target="label")])
    assert understand_request("data.csv, do your best", llm=llm,
                              render=prompts.render).target is None


def test_llm_data_must_be_named_in_the_sentence() -> None:
    llm = scripted_client([_answer(data="bundled:penguins", target="species")])
    request = understand_request("birds from the Palmer station", llm=llm,
                                 render=prompts.render)
    assert (request.data, request.target, request.missing) == (None, None, ("data", "target"))
    llm = scripted_client([_answer(data="bundled:iris")])
    request = understand_request("some wine, fifty trials", llm=llm, render=prompts.render)
    assert (request.data, request.target) == ("bundled:wine", "cultivar")


@pytest.mark.parametrize(("text", "data", "target"), [
    ("predict salaries from data.csv", "data.csv", "salaries"),
    ("predict participation in survey.csv", "survey.csv", "participation"),
    ("predict benefits using claims.parquet", "claims.parquet", "benefits"),
    ("the salaries data", "bundled:salaries", "salary"),
    ("the computers dataset, 30 trials", "bundled:computers", "price"),
    ("the schooling data", "bundled:schooling", "lwage76"),
])
def test_everyday_dataset_names_are_targets_unless_called_data(text: str, data: str,
                                                                target: str) -> None:
    request = parse_request(text)
    assert (request.data, request.target) == (data, target)


def test_llm_cannot_make_an_everyday_word_a_bundled_dataset() -> None:
    llm = scripted_client([_answer(data="bundled:salaries", target="salary")])
    request = understand_request("predict salaries, 20 trials", llm=llm, render=prompts.render)
    assert request.data is None
    llm = scripted_client([_answer(data="bundled:salaries")])
    request = understand_request("predict salary on the salaries data", llm=llm,
                                 render=prompts.render)
    assert (request.data, request.target) == ("bundled:salaries", "salary")


def test_empty_text() -> None:
    request = understand_request("", llm=scripted_client([]), render=prompts.render)
    assert request.missing == ("data", "target")


def test_llm_error_falls_back_to_the_rules() -> None:
    text = "predict churn in data/churn.csv, ten minutes"
    llm = scripted_client(["this is not json", "still not json"])  # the repair fails too
    assert understand_request(text, llm=llm, render=prompts.render) == parse_request(text)
    (call,) = llm.calls
    assert not call.ok


def test_no_llm_call_when_the_rules_found_everything() -> None:
    text = ("regression on house.parquet predicting SalePrice, maximize r2, 2 min, 30 trials, "
            "only svm")
    llm = scripted_client([])
    assert understand_request(text, llm=llm, render=prompts.render) == parse_request(text)
    assert not llm.calls


def test_llm_without_render_is_a_config_error() -> None:
    from schemas import ConfigError

    with pytest.raises(ConfigError, match="'render' parameter"):
        understand_request("x.csv", llm=scripted_client([]))


# ----------------------------------------------------------------------------- follow-ups
@pytest.mark.parametrize(("text", "expected"), [
    ("why did the forest win?", {"kind": "why_best", "families": ("random_forest",)}),
    ("which model is best, and why?", {"kind": "why_best"}),
    ("what failed?", {"kind": "failures"}),
    ("any errors", {"kind": "failures"}),
    ("did anything go wrong?", {"kind": "failures"}),
    ("why did the svm trials crash?", {"kind": "failures", "families": ("svm",)}),
    ("compare random forest and gradient boosting",
     {"kind": "compare", "families": ("random_forest", "hist_gb")}),
    ("knn vs svm", {"kind": "compare", "families": ("knn", "svm")}),
    ("try only linear models with 10 more trials",
     {"kind": "more_trials", "families": ("linear",), "n_trials": 10}),
    ("20 more trials without svm",
     {"kind": "more_trials", "families": tuple(f for f in FAMILY_NAMES if f != "svm"),
      "n_trials": 20}),
    ("keep going, another ten", {"kind": "more_trials", "n_trials": 10}),
    ("run more trials", {"kind": "more_trials"}),
    ("export the model to out/m.joblib", {"kind": "export", "path": "out/m.joblib"}),
    ("save it as model.pkl", {"kind": "export", "path": "model.pkl"}),
    ("export the model", {"kind": "export"}),
    ("summary", {"kind": "summary"}),
    ("how did it go", {"kind": "summary"}),
    ("what's the weather like?", {"kind": "unknown"}),
])
def test_followups(text: str, expected: dict[str, Any]) -> None:
    followup = parse_followup(text)
    empty = {"kind": "unknown", "families": None, "n_trials": None, "path": None}
    assert followup.model_dump(exclude={"text"}) == {**empty, **expected}
    assert followup.text == text
