"""Answers about a finished run: grounded in its record, phrased by an LLM only from facts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import prompts
from schemas import (
    Budget,
    ConfigError,
    Direction,
    EnsembleMember,
    FollowUp,
    FollowUpKind,
    RunRecord,
    TaskSpec,
    TrialConfig,
    TrialResult,
)
from tools.explain import answer, facts
from tools.llm_scripted import ScriptedLLM, scripted_client

_TRACEBACK = ("Traceback (most recent call last):\n  File \"fit.py\", line 3, in fit\n"
              "    model.fit(X, y)\nValueError: Input X contains NaN.\n")


def _trial(trial_id: int, family: str, score: float | None, std: float = 0.01, *,
           source: Any = "bo", failure: Any = None, error: str | None = None,
           params: dict[str, Any] | None = None) -> TrialResult:
    ok = failure is None
    return TrialResult(trial_id=trial_id, config=TrialConfig(family=family, params=params or {}),
                       source=source, status="ok" if ok else "failed", error=error,
                       failure=failure, cv_score=score if ok else None,
                       cv_std=std if ok else None)


def _trials() -> list[TrialResult]:
    return [
        _trial(0, "linear", 0.91, 0.02, source="default", params={"C": 1.0, "scale": "standard"}),
        _trial(1, "random_forest", 0.96, 0.015, source="default",
               params={"n_estimators": 300, "max_depth": None, "max_features": 0.5}),
        _trial(2, "hist_gb", 0.95, 0.02, source="llm"),
        _trial(3, "svm", None, source="bo", failure="timeout", error="trial exceeded 60 s"),
        _trial(4, "svm", None, source="llm", failure="timeout", error="trial exceeded 60 s"),
        _trial(5, "mlp", None, source="bo", failure="exception", error=_TRACEBACK),
        _trial(6, "random_forest", 0.955, 0.01, source="bo"),
    ]


def _record(trials: Sequence[TrialResult], *, direction: Direction = "maximize",
            metric: str = "accuracy", **changes: Any) -> RunRecord:
    ranked = sorted((t for t in trials if t.ok and t.cv_score is not None),
                    key=lambda t: -(t.cv_score or 0) if direction == "maximize"
                    else (t.cv_score or 0))
    fields: dict[str, Any] = dict(
        run_id="abc123", mlpilot_version="test", status="completed",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        task=TaskSpec(data_path=Path("bundled:iris"), target="species",
                      budget=Budget(n_trials=len(trials)), n_folds=5),
        task_type="multiclass", metric=metric, direction=direction, n_rows=150, n_holdout=30,
        best=ranked[0] if ranked else None, holdout_score=0.9333, dummy_holdout_score=0.3333,
        n_trials=len(trials), n_failed=sum(not t.ok for t in trials),
        trials_by_source=dict(Counter(t.source for t in trials)), isolation="in-process",
        search_time_s=12.5, finalize_time_s=1.0, total_time_s=14.0,
        stop_reason="the trial budget (7 trials) was used")
    return RunRecord(**{**fields, **changes})


def _ask(kind: FollowUpKind, text: str = "?", **values: Any) -> FollowUp:
    return FollowUp(kind=kind, text=text, **values)


# ----------------------------------------------------------------------------- without an LLM
def test_why_best_gives_family_params_cv_holdout_and_runners_up() -> None:
    trials = _trials()
    text = answer(_ask("why_best", "why did the forest win?", families=("random_forest",)),
                  record=_record(trials), trials=trials)
    assert "#1, a random_forest model from the family's default configuration" in text
    assert "accuracy of 0.9600 ± 0.0150 (mean ± std over 5 folds; higher is better)" in text
    assert "max_depth=none, max_features=0.5, n_estimators=300" in text
    assert "30 holdout rows" in text and "0.9333 against 0.3333 for the dummy baseline" in text
    assert "better than the baseline" in text
    assert ("Runner-up hist_gb: best 0.9500 ± 0.0200, behind by 0.0100 (within the "
            "fold-to-fold spread, so the order is not certain)." in text)
    assert "Runner-up linear: best 0.9100 ± 0.0200, behind by 0.0500 (more than" in text
    assert "svm" not in text  # no scored svm trial: not a runner-up


def test_why_best_about_a_family_that_lost() -> None:
    trials = _trials()
    text = answer(_ask("why_best", families=("linear", "svm", "knn")), record=_record(trials),
                  trials=trials)
    assert "linear did not win: its best was 0.9100 ± 0.0200, behind by 0.0500" in text
    assert "svm did not win: none of its 2 trials produced a score." in text
    assert "knn was not tried in this run." in text


def test_why_best_with_a_minimized_metric() -> None:
    trials = [_trial(0, "linear", 3.2, 0.1), _trial(1, "hist_gb", 2.5, 0.2)]
    record = _record(trials, direction="minimize", metric="rmse", task_type="regression",
                     holdout_score=2.7, dummy_holdout_score=5.0)
    text = answer(_ask("why_best"), record=record, trials=trials)
    assert "a hist_gb model" in text and "lower is better" in text
    assert "Runner-up linear: best 3.2000 ± 0.1000, behind by 0.7000 (more than" in text
    assert "2.7000 against 5.0000 for the dummy baseline (better than the baseline)" in text


def test_why_best_with_an_ensemble() -> None:
    trials = _trials()
    record = _record(trials, ensemble=(EnsembleMember(trial_id=1, family="random_forest",
                                                      weight=0.6),
                                       EnsembleMember(trial_id=2, family="hist_gb", weight=0.4)),
                     ensemble_cv_score=0.965)
    text = answer(_ask("why_best"), record=record, trials=trials)
    assert "averages 2 trials: #1 random_forest (0.60), #2 hist_gb (0.40)" in text
    assert "its CV accuracy is 0.9650" in text and "final ensemble scored 0.9333" in text
    assert "decision threshold" not in text


def test_why_best_names_the_decision_threshold() -> None:
    trials = _trials()
    record = _record(trials, task_type="binary", metric="f1", decision_threshold=0.2371)
    text = answer(_ask("why_best"), record=record, trials=trials)
    assert ("It says the positive class from a probability of 0.237 on: the decision "
            "threshold that scored best for f1 on the out-of-fold predictions") in text


def test_why_best_when_nothing_scored() -> None:
    trials = [_trial(0, "svm", None, failure="memory", error="out of memory")]
    text = answer(_ask("why_best"), record=_record(trials, status="failed", holdout_score=None,
                                                    dummy_holdout_score=None), trials=trials)
    assert text.startswith("No trial produced a score, so no model won.")
    assert 'svm, memory: 1 trial (#0), last error line "out of memory"' in text


def test_failures_grouped_by_family_and_kind_with_the_last_error_line() -> None:
    trials = _trials()
    lines = facts(_ask("failures"), record=_record(trials), trials=trials)
    assert lines[0] == "3 of 7 trials failed."
    assert 'svm, timeout: 2 trials (#3, #4), last error line "trial exceeded 60 s".' in lines
    assert ('mlp, exception: 1 trial (#5), last error line "ValueError: Input X contains NaN.".'
            in lines)


def test_failures_of_one_family_and_none_at_all() -> None:
    trials = _trials()
    text = answer(_ask("failures", families=("mlp",)), record=_record(trials), trials=trials)
    assert text.startswith("1 of 7 trials failed among mlp trials.")
    assert "svm" not in text
    ok = trials[:3]
    assert answer(_ask("failures"), record=_record(ok), trials=ok) == (
        "No trial failed: all 3 trials produced predictions.")


def test_compare_two_families() -> None:
    trials = _trials()
    text = answer(_ask("compare", families=("hist_gb", "random_forest")),
                  record=_record(trials), trials=trials)
    assert "random_forest: 2 trials (0 failed), best CV 0.9600 ± 0.0150 (trial #1)." in text
    assert "hist_gb: 1 trial (0 failed), best CV 0.9500 ± 0.0200 (trial #2)." in text
    assert "random_forest is ahead of hist_gb by 0.0100 (within the fold-to-fold spread" in text


def test_compare_without_names_takes_the_top_two_and_handles_failed_families() -> None:
    trials = _trials()
    text = answer(_ask("compare"), record=_record(trials), trials=trials)
    assert "random_forest is ahead of hist_gb" in text
    text = answer(_ask("compare", families=("svm", "knn")), record=_record(trials),
                  trials=trials)
    assert "svm: 2 trials, none with a score (2 failed)." in text
    assert "knn: not tried in this run." in text


def test_summary_counts_sources_and_says_why_it_stopped() -> None:
    trials = _trials()
    text = answer(_ask("summary"), record=_record(trials), trials=trials)
    assert "The run completed: a multiclass task predicting 'species' from 150 rows" in text
    assert "7 trials ran (3 bo, 2 default, 2 llm); 3 failed." in text
    assert "The search stopped because: the trial budget (7 trials) was used." in text
    assert "No LLM was used" in text


def test_more_trials_and_export_say_what_will_be_done() -> None:
    trials = _trials()
    record = _record(trials)
    assert answer(_ask("more_trials", n_trials=10, families=("linear",)), record=record,
                  trials=trials).startswith("Will run 10 more trials only over linear")
    assert "Will run more trials over all model families" in answer(
        _ask("more_trials"), record=record, trials=trials)
    assert answer(_ask("export", path="out/m.joblib"), record=record, trials=trials) == (
        "Will export the final random_forest model to out/m.joblib.")
    failed = _record(trials, status="failed")
    assert "no fitted model" in answer(_ask("export"), record=failed, trials=trials)


def test_unknown_question_lists_what_can_be_asked() -> None:
    trials = _trials()
    assert "compare model families" in answer(_ask("unknown", "weather?"),
                                              record=_record(trials), trials=trials)


# ----------------------------------------------------------------------------- with an LLM
def test_llm_phrases_the_facts() -> None:
    trials = _trials()
    reply = "The random forest won with 0.9600 ± 0.0150 accuracy, about 96%, ahead of hist_gb."
    fake = ScriptedLLM([json.dumps({"answer": reply})])
    llm = scripted_client(fake)
    text = answer(_ask("why_best", "why did the forest win?"), record=_record(trials),
                  trials=trials, llm=llm, render=prompts.render)
    assert text == reply
    assert [c.purpose for c in llm.calls] == ["explain"]
    prompt = fake.requests[0][0]["content"]
    assert "why did the forest win?" in prompt
    assert "- The best trial was #1, a random_forest model" in prompt


def test_llm_answer_with_an_invented_number_is_discarded() -> None:
    trials = _trials()
    llm = scripted_client([json.dumps({"answer": "The forest won with 0.99 accuracy."})])
    record = _record(trials)
    text = answer(_ask("why_best"), record=record, trials=trials, llm=llm,
                  render=prompts.render)
    assert text == "\n".join(facts(_ask("why_best"), record=record, trials=trials))


@pytest.mark.parametrize("reply", ["not json", json.dumps({"answer": "   "})])
def test_llm_failure_falls_back_to_the_facts(reply: str) -> None:
    trials = _trials()
    record = _record(trials)
    llm = scripted_client([reply, reply])  # an invalid reply fails its repair round too
    text = answer(_ask("failures"), record=record, trials=trials, llm=llm,
                  render=prompts.render)
    assert text == "\n".join(facts(_ask("failures"), record=record, trials=trials))


def test_llm_is_not_asked_about_actions() -> None:
    trials = _trials()
    llm = scripted_client([])
    answer(_ask("export", path="m.joblib"), record=_record(trials), trials=trials, llm=llm,
           render=prompts.render)
    answer(_ask("more_trials", n_trials=5), record=_record(trials), trials=trials, llm=llm,
           render=prompts.render)
    assert not llm.calls


def test_llm_may_answer_an_unknown_question_from_the_summary() -> None:
    trials = _trials()
    fake = ScriptedLLM([json.dumps({"answer": "It used 150 rows, 30 of them held out."})])
    text = answer(_ask("unknown", "how many rows were there?"), record=_record(trials),
                  trials=trials, llm=scripted_client(fake), render=prompts.render)
    assert text == "It used 150 rows, 30 of them held out."
    assert "from 150 rows (30 kept aside as holdout)" in fake.requests[0][0]["content"]


def test_llm_without_render_is_a_config_error() -> None:
    trials = _trials()
    with pytest.raises(ConfigError, match="'render' parameter"):
        answer(_ask("summary"), record=_record(trials), trials=trials, llm=scripted_client([]))
