"""The static check of a code proposal: good modules pass, each bad one fails with its
message, and the code is never executed."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import (
    CategoricalParam,
    CodeProposal,
    ConfigError,
    FloatParam,
    IntParam,
    ProposalError,
    TrialConfig,
    code_family,
    is_code_family,
)
from tools.catalog import get_family, validate_against
from tools.code import MAX_SOURCE_BYTES, check_code, code_params

KNN = '''"""k nearest neighbours, tuned."""
SPACE = {   # the parameters build_model reads
    "n_neighbors": {"type": "int", "low": 1, "high": 50, "log": True, "default": 7},
    "alpha": {"type": "float", "low": 1e-4, "high": 10.0, "log": True, "default": 1.0},
    "weights": {"type": "categorical", "choices": ["uniform", "distance"],
                "default": "uniform"},
}


def build_model(params):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=params["n_neighbors"], weights=params["weights"])
'''

NO_SPACE = '''
from sklearn.linear_model import LogisticRegression


def build_model(params):
    return LogisticRegression(max_iter=500)
'''


def test_a_module_with_space_gives_its_space_and_defaults() -> None:
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    assert proposal.name == "knn"
    assert proposal.digest == hashlib.sha256(KNN.encode()).hexdigest()[:12]
    assert proposal.family == f"code_{proposal.digest}" == proposal.space.name
    assert is_code_family(proposal.family)
    assert proposal.space.description == "k nearest neighbours, tuned."
    assert proposal.space.task_types == ("multiclass",)
    params = proposal.space.params
    assert params["n_neighbors"] == IntParam(low=1, high=50, log=True)
    assert params["alpha"] == FloatParam(low=1e-4, high=10.0, log=True)
    assert params["weights"] == CategoricalParam(choices=("uniform", "distance"))
    assert proposal.space.default == {"n_neighbors": 7, "alpha": 1.0, "weights": "uniform"}


def test_a_module_without_space_has_no_parameters() -> None:
    proposal = check_code(NO_SPACE, task_type="binary")
    assert proposal.name == "proposal"
    assert proposal.space.params == {} and proposal.space.default == {}
    assert code_params(proposal, None) == {}
    assert check_code(NO_SPACE, task_type="regression").digest == proposal.digest


def test_code_params_fill_defaults_and_check_values() -> None:
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    assert code_params(proposal) == {"n_neighbors": 7, "alpha": 1.0, "weights": "uniform"}
    assert code_params(proposal, {"n_neighbors": 3, "alpha": 2}) == {
        "n_neighbors": 3, "alpha": 2.0, "weights": "uniform"}
    with pytest.raises(ConfigError, match=r"n_neighbors' parameter must be an int in \[1, 50\]"):
        code_params(proposal, {"n_neighbors": 0})
    with pytest.raises(ConfigError, match=r"\.weights' parameter must be one of"):
        code_params(proposal, {"weights": "far"})
    with pytest.raises(ConfigError, match=r"\.leaf_size' parameter is unknown"):
        code_params(proposal, {"leaf_size": 30})
    with pytest.raises(ConfigError, match="must be a number, a string"):
        code_params(proposal, {"alpha": [1, 2]})


def test_a_code_family_is_a_valid_trial_family_but_not_a_catalog_one() -> None:
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    config = TrialConfig(family=proposal.family, params={"n_neighbors": 7, "alpha": 1.0,
                                                         "weights": "uniform"})
    assert validate_against(config, proposal.space) == config
    with pytest.raises(ConfigError, match="is a code proposal's, not a catalog family"):
        get_family(proposal.family, "multiclass")
    with pytest.raises(ConfigError, match="must be one of"):
        get_family("code_nothex", "multiclass")
    assert code_family("0123456789ab") == "code_0123456789ab"
    assert not is_code_family("knn") and not is_code_family("code_0123")


def test_a_proposal_whose_digest_does_not_match_its_source_is_invalid() -> None:
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    with pytest.raises(ValidationError, match="not the sha256"):
        CodeProposal(name="knn", source=KNN + "\n", space=proposal.space, digest=proposal.digest)


_OK_DEF = "\n\ndef build_model(params):\n    return None\n"
_SPACE_OK = "{'type': 'float', 'low': 0.1, 'high': 1.0, 'default': 0.5}"
BAD = {
    "syntax": ("def build_model(params:\n    pass\n",
               "The code has a syntax error at line 1: '(' was never closed."),
    "syntax-later": ("import os\n\ndef build_model(params)\n    return 1\n",
                     "syntax error at line 3"),
    "no-build-model": ("def build(params):\n    return None\n",
                       "must define a top-level function build_model(params)"),
    "two-args": ("import os\n\n\ndef build_model(params, seed):\n    return None\n",
                 "build_model must take one argument, params; it takes 2 (line 4)."),
    "no-args": ("def build_model():\n    return None\n", "it takes 0 (line 1)"),
    "varargs": ("def build_model(*args):\n    return None\n", "it also takes *args (line 1)"),
    "required-kwonly": ("def build_model(params, *, seed):\n    return None\n",
                        "keyword-only argument 'seed' has no default"),
    "async": ("async def build_model(params):\n    return None\n", "not an async def"),
    "nested": ("if True:\n    def build_model(params):\n        return None\n",
               "at the top level of the module, not inside another statement (line 2)"),
    "twice": ("def build_model(params):\n    return 1\n\ndef build_model(params):\n    return 2\n",
              "defines build_model 2 times (lines 1, 4)"),
    "rebound": ("def build_model(params):\n    return 1\n\nbuild_model = print\n",
                "line 4 binds it again by an assignment"),
    "lambda": ("build_model = lambda params: None\n",
               "must be defined by a top-level def build_model(params); line 1 binds it by "
               "an assignment"),
    "imported": ("from sklearn.dummy import DummyClassifier as build_model\n",
                 "line 1 binds it by an import"),
    "space-call": ("SPACE = dict(a=1)" + _OK_DEF,
                   "SPACE must be a literal dict holding only numbers, strings, True/False/None, "
                   "lists and dicts; 'dict(a=1)' at line 1 is not a literal."),
    "space-name": ("import math\nSPACE = {'a': {'type': 'float', 'low': math.e, 'high': 9, "
                   "'default': 3}}" + _OK_DEF, "'math.e' at line 2 is not a literal"),
    "space-comprehension": ("SPACE = {k: 1 for k in 'ab'}" + _OK_DEF, "is not a literal"),
    "space-list": ("SPACE = [1, 2]" + _OK_DEF, "SPACE must be a dict that maps parameter names"),
    "space-twice": (f"SPACE = {{}}\nSPACE = {{'a': {_SPACE_OK}}}" + _OK_DEF,
                    "SPACE must be assigned exactly once, at the top level"),
    "space-augmented": ("SPACE = {}\nSPACE |= {'a': 1}" + _OK_DEF, "bound at line(s) 1, 2"),
    "space-in-if": (f"if True:\n    SPACE = {{'a': {_SPACE_OK}}}" + _OK_DEF,
                    "SPACE must be assigned exactly once, at the top level"),
    "space-key-twice": (f"SPACE = {{\n    'a': {_SPACE_OK},\n    'a': {_SPACE_OK},\n}}" + _OK_DEF,
                        "SPACE sets 'a' twice (lines 2, 3); keep one."),
    "space-key-number": (f"SPACE = {{1: {_SPACE_OK}}}" + _OK_DEF,
                         "SPACE keys must be parameter names (strings); got 1 (line 1)."),
    "space-key-name": (f"SPACE = {{'max-depth': {_SPACE_OK}}}" + _OK_DEF,
                       "SPACE key 'max-depth' is not a valid parameter name"),
    "space-entry-number": ("SPACE = {'a': 3}" + _OK_DEF, "SPACE['a'] must be a dict such as"),
    "no-type": ("SPACE = {'a': {'low': 1, 'high': 2, 'default': 1}}" + _OK_DEF,
                "SPACE['a'] must have a 'type' of 'int', 'float' or 'categorical'; it has no "
                "'type' (line 1)."),
    "bad-type": ("SPACE = {'a': {'type': 'number', 'low': 1, 'high': 2, 'default': 1}}"
                 + _OK_DEF, "it has type 'number'"),
    "unknown-key": ("SPACE = {\n  'a': {'type': 'int', 'low': 1, 'high': 9, 'step': 2, "
                    "'default': 1}}" + _OK_DEF,
                    "SPACE['a'] has the unknown key 'step'; a int entry takes type, low, high, "
                    "log, default (line 2)."),
    "no-default": ("SPACE = {'a': {'type': 'float', 'low': 0.1, 'high': 1.0}}" + _OK_DEF,
                   "SPACE['a'] needs a 'default'"),
    "no-choices": ("SPACE = {'a': {'type': 'categorical', 'default': 'x'}}" + _OK_DEF,
                   "SPACE['a'] needs a 'choices'"),
    "low-not-below-high": ("SPACE = {'a': {'type': 'int', 'low': 5, 'high': 5, 'default': 5}}"
                           + _OK_DEF, "SPACE['a'] needs low < high; got low=5, high=5 (line 1)."),
    "log-from-zero": ("SPACE = {'a': {'type': 'float', 'low': 0, 'high': 1, 'log': True, "
                      "'default': 0.5}}" + _OK_DEF,
                      "SPACE['a'] is log-scaled, so its low must be > 0; got low=0 (line 1)."),
    "log-not-bool": ("SPACE = {'a': {'type': 'float', 'low': 1, 'high': 2, 'log': 'yes', "
                     "'default': 1.5}}" + _OK_DEF, "SPACE['a'] 'log' must be True or False"),
    "int-with-float-bound": ("SPACE = {'a': {'type': 'int', 'low': 1.5, 'high': 9, "
                             "'default': 2}}" + _OK_DEF,
                             "SPACE['a'] 'low' must be an int; got 1.5 (line 1)."),
    "infinite-bound": ("SPACE = {'a': {'type': 'float', 'low': 0.0, 'high': 1e999, "
                       "'default': 2.0}}" + _OK_DEF, "'high' must be a finite number; got inf"),
    "default-outside": ("SPACE = {'a': {'type': 'float', 'low': 0.1, 'high': 1.0, "
                        "'default': 3.0}}" + _OK_DEF,
                        "SPACE['a'] default 3.0 is outside [0.1, 1.0] (line 1)."),
    "default-not-a-choice": ("SPACE = {'a': {'type': 'categorical', 'choices': ['x', 'y'], "
                             "'default': 'z'}}" + _OK_DEF,
                             "SPACE['a'] default 'z' is not one of its choices ['x', 'y']"),
    "empty-choices": ("SPACE = {'a': {'type': 'categorical', 'choices': [], 'default': 'z'}}"
                      + _OK_DEF, "'choices' must be a list of 1 to 50 values"),
    "nested-choice": ("SPACE = {'a': {'type': 'categorical', 'choices': [[1, 2]], "
                      "'default': [1, 2]}}" + _OK_DEF,
                      "choices must be numbers, strings, True/False or None; got [1, 2]"),
    "duplicate-choice": ("SPACE = {'a': {'type': 'categorical', 'choices': ['x', 'x'], "
                         "'default': 'x'}}" + _OK_DEF, "'choices' holds a value twice"),
    "too-many": ("SPACE = {" + ", ".join(f"'p{i}': {_SPACE_OK}" for i in range(21)) + "}"
                 + _OK_DEF, "SPACE has 21 parameters; at most 20 are allowed (line 1)."),
    "nul": ("x = 1\x00\n" + _OK_DEF, "null bytes"),
    "not-utf8": ("x = '\udcff'" + _OK_DEF, "The code must be valid UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_kind_of_bad_module_is_rejected_with_its_message(case: str) -> None:
    source, message = BAD[case]
    with pytest.raises(ProposalError) as caught:
        check_code(source, task_type="binary")
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_the_size_limit_is_64_kib() -> None:
    padding = "#" * (MAX_SOURCE_BYTES - len(NO_SPACE) - 1) + "\n"
    assert check_code(padding + NO_SPACE, task_type="binary").space.params == {}
    with pytest.raises(ProposalError, match=r"at most 65536 bytes \(64 KiB\)"):
        check_code(padding + NO_SPACE + "#", task_type="binary")


def test_a_bad_name_or_task_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'name' parameter of a code proposal"):
        check_code(NO_SPACE, name="my knn", task_type="binary")
    with pytest.raises(ConfigError, match="'task_type' parameter"):
        check_code(NO_SPACE, task_type="ranking")  # type: ignore[arg-type]


def _side_effects(marker: Path) -> str:
    """Top-level code that would create ``marker``, then raise, if it ever ran."""
    return (f"open({str(marker)!r}, 'w').write('ran')\n"
            "raise SystemExit('the proposal ran')\n")


def test_the_check_never_executes_the_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    good = _side_effects(marker) + KNN.split('"""', 2)[2]
    proposal = check_code(good, name="effects", task_type="multiclass")
    assert proposal.space.default["n_neighbors"] == 7
    bad = _side_effects(marker) + "SPACE = {'a': 1}" + _OK_DEF
    with pytest.raises(ProposalError, match=r"SPACE\['a'\] must be a dict"):
        check_code(bad, task_type="binary")
    evil_space = (f"SPACE = {{'a': {{'type': 'int', 'low': 1, 'high': 9, "
                  f"'default': __import__('pathlib').Path({str(marker)!r}).touch()}}}}" + _OK_DEF)
    with pytest.raises(ProposalError, match="is not a literal"):
        check_code(evil_space, task_type="binary")
    assert not marker.exists()
    assert f"mlpilot_code_{proposal.digest}" not in sys.modules


def test_imported_packages_are_read_from_the_tree_without_running_it() -> None:
    from tools.code import imported_packages

    source = ("import numpy as np\nimport torch.nn as nn\nfrom sklearn.base import BaseEstimator\n"
              "from . import sibling\n"
              "def build_model(params):\n    import scipy.stats\n    return None\n"
              "raise SystemExit('never runs')\n")
    assert imported_packages(source) == {"numpy", "torch", "sklearn", "scipy"}
