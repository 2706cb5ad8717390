"""One contract for every LLM part: the scripted fake and the real embedded model.

Both go through the same ``LiteLLMClient``; what a caller sees must not depend on which
one answers: a validated object, one ``LLMCall`` per request with tokens and seconds,
and a cache hit (no provider call) for a repeated request when a cache folder is set.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from schemas import LLMError
from tools.llm import LiteLLMClient, Message

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


class Pick(BaseModel):
    family: Literal["random_forest", "gradient_boosting", "logistic_regression"]
    n: int


class Picks(BaseModel):
    items: list[Pick] = Field(min_length=3, max_length=3)


PROMPT: list[Message] = [
    {"role": "system", "content": "You are an AutoML planner. Answer with JSON only."},
    {"role": "user", "content": "Propose 3 model families for a tabular classification "
                                "task, each with a number of estimators n."},
]


@dataclass
class Part:
    """A way to build a client on one LLM part, and to count the provider's requests."""

    make: Callable[[Path | None], LiteLLMClient]
    n_requests: Callable[[], int]
    real: bool
    # a client with this timeout whose next request outlives it (then answers again)
    hang: Callable[[float], LiteLLMClient]


def _scripted() -> Iterator[Part]:
    from tools.llm_scripted import HANG, ScriptedLLM, scripted_client

    answer = json.dumps({"items": [{"family": f, "n": n} for f, n in
                                   (("random_forest", 200), ("gradient_boosting", 100),
                                    ("logistic_regression", 1))]})
    fake = ScriptedLLM()

    def make(cache_dir: Path | None) -> LiteLLMClient:
        fake.add(*[answer] * 4)
        return scripted_client(fake, cache_dir=cache_dir)

    def hang(timeout_s: float) -> LiteLLMClient:
        fake.add(HANG, answer)
        return scripted_client(fake, timeout_s=timeout_s, max_retries=0)

    yield Part(make, lambda: len(fake.requests), real=False, hang=hang)


def _local(weights: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Part]:
    from tools import llm_local

    model = llm_local.register_local_provider(weights, n_threads=1)
    requests: list[str] = []
    answer = llm_local._PROVIDER.completion

    def counting(*args: Any, **kwargs: Any) -> Any:
        requests.append(kwargs["model"])
        return answer(*args, **kwargs)

    monkeypatch.setattr(llm_local._PROVIDER, "completion", counting)

    def make(cache_dir: Path | None) -> LiteLLMClient:
        return LiteLLMClient(model, cache_dir=cache_dir, max_retries=0, timeout_s=300)

    def hang(timeout_s: float) -> LiteLLMClient:  # the answer takes seconds to write
        return LiteLLMClient(model, max_retries=0, timeout_s=timeout_s)

    yield Part(make, lambda: len(requests), real=True, hang=hang)


@pytest.fixture(params=[
    "scripted",
    pytest.param("local", marks=[
        pytest.mark.slow,
        pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python is not installed "
                                                 "(pip install llama-cpp-python==0.3.36)")]),
])
def part(request: pytest.FixtureRequest) -> Iterator[Part]:
    if request.param == "scripted":
        yield from _scripted()
    else:
        yield from _local(request.getfixturevalue("local_weights"),
                          request.getfixturevalue("monkeypatch"))


def test_returns_a_validated_instance_and_records_the_call(part: Part) -> None:
    client = part.make(None)
    answer = client.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    assert isinstance(answer, Picks) and len(answer.items) == 3
    (call,) = client.calls
    assert call.ok and call.error is None and not call.cached
    assert call.purpose == "plan" and call.model == client.model
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    assert call.seconds > 0
    usage = client.usage()
    assert usage.n_calls == 1 and usage.prompt_tokens == call.prompt_tokens
    assert usage.median_latency_s["plan"] == call.seconds


def test_a_repeated_request_is_a_cache_hit(part: Part, tmp_path: Path) -> None:
    client = part.make(tmp_path / "cache")
    first = client.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    n_before = part.n_requests()
    again = part.make(tmp_path / "cache")  # a new client (a new process) finds it too
    second = again.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    assert second == first
    assert part.n_requests() == n_before  # the provider was not asked again
    (hit,) = again.calls
    assert hit.cached and hit.ok and hit.cost_usd == 0
    if part.real:
        assert hit.seconds < 0.1 < client.calls[0].seconds
    assert again.usage().n_cached == 1


def test_a_different_request_or_no_cache_dir_is_not_a_hit(part: Part, tmp_path: Path) -> None:
    cached = part.make(tmp_path / "cache")
    cached.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    cached.complete(PROMPT, Picks, purpose="plan", max_tokens=200)  # another max_tokens
    assert [c.cached for c in cached.calls] == [False, False]
    plain = part.make(None)
    n_before = part.n_requests()
    plain.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    assert part.n_requests() == n_before + 1 and not plain.calls[0].cached


def test_a_request_past_its_timeout_fails_alone(part: Part) -> None:
    """The call ends near its time limit (the local model stops writing), is recorded as
    failed, and the part answers the next request: nothing is left half-done."""
    client = part.hang(0.5)
    with pytest.raises(LLMError, match=r"did not answer within its 0.5 s time limit"):
        client.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    (call,) = client.calls
    assert not call.ok and call.error and "0.5 s" in call.error
    assert call.seconds < 0.5 + 5.0  # what is left: the prompt's evaluation, one token
    client.timeout_s = 300
    answer = client.complete(PROMPT, Picks, purpose="plan", max_tokens=256)
    assert len(answer.items) == 3 and client.calls[-1].ok


# -- the schema features the planner needs, on the real model ------------------------------


class ForestTrial(BaseModel):
    kind: Literal["forest"]
    n_estimators: int
    max_depth: int | None = None


class CodeTrial(BaseModel):
    kind: Literal["code"]
    source: str


class Plan(BaseModel):
    trials: list[Annotated[ForestTrial | CodeTrial, Field(discriminator="kind")]] = Field(
        min_length=2, max_length=2)
    rationale: str


@pytest.mark.slow
def test_the_local_grammar_takes_a_discriminated_union(local_weights: Path) -> None:
    """$defs/$ref, oneOf with a discriminator, const, anyOf-null: all become a grammar."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from tools.llm_local import register_local_provider

    json_schema_to_gbnf(json.dumps(Plan.model_json_schema()))  # raises if unsupported
    client = LiteLLMClient(register_local_provider(local_weights, n_threads=1), max_retries=0)
    plan = client.complete([
        {"role": "system", "content": "You plan AutoML trials. Answer with JSON only."},
        {"role": "user", "content": "Propose two trials for a tabular classification task: "
                                    "one random forest (kind forest) and one code proposal "
                                    "(kind code) whose source builds a scikit-learn "
                                    "estimator. Keep the rationale to one sentence."}],
        Plan, purpose="plan", max_tokens=400)
    assert {type(t) for t in plan.trials} <= {ForestTrial, CodeTrial}
    assert client.calls[0].ok


@pytest.mark.slow
def test_the_local_streamed_usage_is_llamas_own_count(local_weights: Path) -> None:
    """The provider streams (to stop at a time limit); its token counts still match what
    llama.cpp reports for the same request answered in one piece."""
    from tools.llm_local import _generate, load_llama

    llama = load_llama(local_weights, n_threads=1)
    for max_tokens in (256, 24):  # an answer that ends, and one cut at max_tokens
        request: dict[str, Any] = {"messages": PROMPT, "max_tokens": max_tokens,
                                   "temperature": 0.0, "seed": 0,
                                   "response_format": {"type": "json_object",
                                                       "schema": Picks.model_json_schema()}}
        llama.reset()
        whole = llama.create_chat_completion(**request)
        llama.reset()
        streamed = _generate(llama, request, limit_s=None)
        assert streamed.text == whole["choices"][0]["message"]["content"]
        assert streamed.finish_reason == whole["choices"][0]["finish_reason"]
        assert (streamed.prompt_tokens, streamed.completion_tokens) == (
            whole["usage"]["prompt_tokens"], whole["usage"]["completion_tokens"])


@pytest.mark.slow
def test_loading_the_local_model_leaves_nothing_unclosed_at_exit(local_weights: Path) -> None:
    """Even with ResourceWarning shown, a process that used the model exits quietly."""
    script = ("from pathlib import Path\nfrom tools.llm_local import load_llama\n"
              f"load_llama(Path({str(local_weights)!r}), 1)\nprint('loaded')\n")
    done = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c", script],
                          capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "loaded"
    assert "ResourceWarning" not in done.stderr
