"""The LLM client: one ``complete`` call that returns a validated pydantic object.

This module, ``tools.llm_local`` and ``tools.llm_scripted`` are the only importers of
litellm, so any provider works by name (``openai/gpt-4o-mini``, ``ollama/qwen2.5``, an
OpenAI-compatible server through ``api_base``), and so do two providers of our own: the
embedded ``local`` model (llama.cpp, in-process) and the ``scripted`` fake used by tests.

Every answer is parsed and validated against the caller's pydantic model; an invalid
answer is sent back once for repair, then :class:`LLMError` is raised. Each ``complete``
leaves one :class:`LLMCall` record (tokens, seconds, cost), and valid answers can be
cached on disk so that a rerun costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import LLMCall, LLMError, LLMUsage

logger = logging.getLogger(__name__)

Message = dict[str, str]
T = TypeVar("T", bound=BaseModel)
Tier = Literal["0.5b", "1.5b"]  # the embedded model's sizes

# names open_llm accepts besides a litellm model string: name -> (weights tier, model name)
LOCAL_MODELS: dict[str, tuple[Tier, str]] = {
    "local": ("0.5b", "local/qwen2.5-coder-0.5b-instruct"),
    "local-1.5b": ("1.5b", "local/qwen2.5-coder-1.5b-instruct"),
}
# our own providers: they always take the JSON schema as a grammar
OWN_PROVIDERS = ("local", "scripted")
ACCEPTED_NAMES = ("none", "local", "local-1.5b", "a litellm model name such as "
                  "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest or ollama/qwen2.5")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][\w.\-:@/]*$")
MAX_LOCAL_THREADS = 4  # the embedded models gain little from more


def local_threads(busy: int = 0) -> int:
    """Threads for the embedded model beside ``busy`` trial workers: the cores left over,
    at least 1 and at most ``MAX_LOCAL_THREADS``.

    llama.cpp's threads wait for one another at every step, so when they outnumber the free
    cores a request collapses instead of slowing down in proportion. On two cores, a planner
    request with two threads took 2.4 times as long as with one beside one busy core, and 5.8
    times beside two; on idle cores the second thread saved 6 %
    (``docs/benchmarks/llm-threads/``). A run's planner call overlaps a BO round, so its
    workers count as busy.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_LOCAL_THREADS, cores - max(0, busy)))
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_BACKOFF_S = 0.5  # the first retry waits this long, each next one twice as long
_sleep = time.sleep  # tests replace it to check the backoff without waiting
_ERROR_CHARS = 300


def load_litellm() -> ModuleType:
    """Import litellm without letting it fetch its cost map from the internet."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # litellm's TypedDicts use ReadOnly, which pydantic (2.14) warns about on first use
    warnings.filterwarnings("ignore", message=r".*using the `ReadOnly` qualifier",
                            category=UserWarning)
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
    return litellm


class LLMClient(Protocol):
    """What the agents use: ask for an object of a pydantic type, get a validated one."""

    @property
    def model(self) -> str: ...

    @property
    def calls(self) -> Sequence[LLMCall]: ...

    def complete(self, messages: Sequence[Message], response_model: type[T], *,
                 purpose: str, max_tokens: int = 1024, timeout_s: float | None = None) -> T:
        """``timeout_s``: this request's time limit, when shorter than the client's own."""
        ...


class LiteLLMClient:
    """An :class:`LLMClient` for any model litellm knows, including our own providers.

    ``model`` is a litellm model string (``provider/name``). Transient provider errors
    (timeouts, rate limits, connection and server errors) are retried ``max_retries``
    times with exponential backoff; anything else raises :class:`LLMError` at once.
    With ``cache_dir`` set, valid answers are kept on disk, keyed by everything that
    shapes the answer (model, messages, schema, temperature, seed, max_tokens).
    """

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 timeout_s: float = 60.0, max_retries: int = 3, cache_dir: Path | None = None,
                 temperature: float = 0.0, seed: int = 0) -> None:
        self._model = model
        self.api_base = api_base
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.cache_dir = cache_dir
        self.temperature = temperature
        self.seed = seed
        self._calls: list[LLMCall] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._model

    @property
    def calls(self) -> Sequence[LLMCall]:
        with self._lock:
            return tuple(self._calls)

    def usage(self) -> LLMUsage:
        return LLMUsage.from_calls(self._model, self.calls)

    def complete(self, messages: Sequence[Message], response_model: type[T], *,
                 purpose: str, max_tokens: int = 1024, timeout_s: float | None = None) -> T:
        """Ask the model; return its answer validated as ``response_model``.

        An invalid first answer gets one repair round (the answer and the validation
        error are sent back); a second invalid answer raises :class:`LLMError`. Each
        request ends within ``timeout_s`` or the client's ``timeout_s``, the shorter.
        """
        start = time.perf_counter()
        limit = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        history = [dict(m) for m in messages]
        schema = response_model.model_json_schema()
        key = self._cache_key(history, schema, max_tokens)
        cached = self._cache_read(key, response_model)
        if cached is not None:
            self._record(purpose, start, cached=True)
            return cached
        tokens = [0, 0]
        cost = [0.0]
        repaired = False
        try:
            text = self._ask(history, response_model, schema, max_tokens, limit, tokens, cost)
            try:
                result = parse_answer(text, response_model)
            except ValueError as first:
                repaired = True
                logger.info("%s gave an invalid answer for %r; asking once more: %s",
                            self._model, purpose, _short(first))
                retry = [*history, {"role": "assistant", "content": text},
                         {"role": "user", "content": _repair_message(first)}]
                text = self._ask(retry, response_model, schema, max_tokens, limit, tokens, cost)
                try:
                    result = parse_answer(text, response_model)
                except ValueError as second:
                    raise LLMError(f"The model {self._model!r} gave invalid output twice for "
                                   f"{purpose!r}; last error: {_short(second)}") from second
        except LLMError as exc:
            self._record(purpose, start, tokens=tokens, cost=cost[0], repaired=repaired,
                         error=str(exc))
            raise
        self._record(purpose, start, tokens=tokens, cost=cost[0], repaired=repaired)
        self._cache_write(key, text, tokens)
        return result

    # -- one request, with retries ------------------------------------------------------

    def _ask(self, messages: list[Message], response_model: type[BaseModel],
             schema: dict[str, Any], max_tokens: int, timeout_s: float, tokens: list[int],
             cost: list[float]) -> str:
        litellm = load_litellm()
        kwargs = self._request(messages, response_model, schema, max_tokens, timeout_s, litellm)
        transient = (litellm.Timeout, litellm.RateLimitError, litellm.APIConnectionError,
                     litellm.ServiceUnavailableError, litellm.InternalServerError,
                     litellm.BadGatewayError)
        for attempt in range(self.max_retries + 1):
            try:
                response = litellm.completion(**kwargs)
                break
            except transient as exc:
                if attempt == self.max_retries:
                    tries = "1 try" if attempt == 0 else f"{attempt + 1} tries"
                    if isinstance(exc, litellm.Timeout):
                        raise LLMError(f"The model {self._model!r} did not answer within its "
                                       f"{timeout_s:g} s time limit ({tries}): "
                                       f"{_short(exc)}") from exc
                    raise LLMError(f"The model {self._model!r} is unavailable after "
                                   f"{tries}: {_short(exc)}") from exc
                delay = _BACKOFF_S * 2 ** attempt
                logger.warning("%s: %s; retrying in %.1f s", self._model, _short(exc), delay)
                _sleep(delay)
            except tuple(litellm.LITELLM_EXCEPTION_TYPES) as exc:
                raise LLMError(f"The model {self._model!r} cannot be used: "
                               f"{_short(exc)}") from exc
        usage = getattr(response, "usage", None)
        tokens[0] += int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens[1] += int(getattr(usage, "completion_tokens", 0) or 0)
        cost[0] += self._cost(response, litellm)
        content = response.choices[0].message.content
        return content if isinstance(content, str) else ""

    def _request(self, messages: list[Message], response_model: type[BaseModel],
                 schema: dict[str, Any], max_tokens: int, timeout_s: float,
                 litellm: ModuleType) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            model=self._model, messages=messages, max_tokens=max_tokens,
            temperature=self.temperature, seed=self.seed, timeout=timeout_s,
            api_base=self.api_base, api_key=self.api_key, num_retries=0, max_retries=0)
        provider = self._model.split("/", 1)[0]
        if provider in OWN_PROVIDERS:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
            return kwargs
        kwargs["drop_params"] = True  # a provider without seed or response_format still works
        if _supports_schema(litellm, self._model):
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": re.sub(r"[^A-Za-z0-9_-]", "_", response_model.__name__)[:64],
                "schema": schema, "strict": False}}
        else:
            kwargs["response_format"] = {"type": "json_object"}
            kwargs["messages"] = _with_schema_instruction(messages, schema)
        return kwargs

    def _cost(self, response: Any, litellm: ModuleType) -> float:
        if self._model.split("/", 1)[0] in OWN_PROVIDERS:
            return 0.0
        try:
            return float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # unknown price (a local server, a new model): count it as free
            return 0.0

    # -- records and cache --------------------------------------------------------------

    def _record(self, purpose: str, start: float, *, tokens: Sequence[int] = (0, 0),
                cost: float = 0.0, cached: bool = False, repaired: bool = False,
                error: str | None = None) -> None:
        call = LLMCall(purpose=purpose, model=self._model,
                       seconds=time.perf_counter() - start, prompt_tokens=tokens[0],
                       completion_tokens=tokens[1], cost_usd=cost, cached=cached,
                       repaired=repaired, ok=error is None, error=error)
        with self._lock:
            self._calls.append(call)

    def _cache_key(self, messages: list[Message], schema: dict[str, Any],
                   max_tokens: int) -> str | None:
        if self.cache_dir is None:
            return None
        blob = json.dumps([self._model, messages, schema, self.temperature, self.seed,
                           max_tokens], sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cache_read(self, key: str | None, response_model: type[T]) -> T | None:
        if key is None:
            return None
        path = self._cache_path(key)
        try:
            entry = json.loads(path.read_text())
            return parse_answer(entry["text"], response_model)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring the unreadable LLM cache entry %s: %s", path, _short(exc))
            return None

    def _cache_write(self, key: str | None, text: str, tokens: Sequence[int]) -> None:
        if key is None:
            return
        path = self._cache_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps({"model": self._model, "text": text,
                                       "prompt_tokens": tokens[0],
                                       "completion_tokens": tokens[1]}))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


class DeadlineLLM:
    """An :class:`LLMClient` whose requests all end by ``deadline`` (``time.monotonic()``).

    A run with a time budget sets the deadline as it goes, so that no request (the
    planner's, the coder's, the critic's) outlives the budget; with less than
    ``min_s`` seconds left a request is not sent and fails at once. ``deadline=None``:
    only the client's own time limit applies.
    """

    def __init__(self, llm: LLMClient, *, min_s: float = 1.0) -> None:
        self.llm = llm
        self.min_s = min_s
        self.deadline: float | None = None

    @property
    def model(self) -> str:
        return self.llm.model

    @property
    def calls(self) -> Sequence[LLMCall]:
        return self.llm.calls

    def complete(self, messages: Sequence[Message], response_model: type[T], *,
                 purpose: str, max_tokens: int = 1024, timeout_s: float | None = None) -> T:
        deadline = self.deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left < self.min_s:
                raise LLMError(f"No time is left in the run's time budget for the {purpose} "
                               "request to the LLM.")
            timeout_s = left if timeout_s is None else min(timeout_s, left)
        return self.llm.complete(messages, response_model, purpose=purpose,
                                 max_tokens=max_tokens, timeout_s=timeout_s)


def parse_answer(text: str, response_model: type[T]) -> T:
    """Parse a model's answer: strip a ``` fence, allow raw newlines in strings, validate.

    Raises ``ValueError`` (``json.JSONDecodeError`` or ``ValidationError``) when invalid.
    """
    match = _FENCE.match(text)
    body = match.group(1) if match else text
    data = json.loads(body.strip(), strict=False)
    return response_model.model_validate(data)


def open_llm(name: str, *, home: Path, api_base: str | None = None,
             api_key: str | None = None, model_path: Path | None = None, cache: bool = True,
             n_threads: int = 1, seed: int = 0,
             timeout_s: float = 120.0) -> LiteLLMClient | None:
    """The client for a model name: ``none``, ``local``, ``local-1.5b`` or a litellm string.

    ``local`` is the embedded Qwen2.5-Coder-0.5B (its weights are joined from the
    installed chunk packages on first use); ``model_path`` replaces the weights by any
    GGUF file. Answers are cached under ``home/llm-cache`` unless ``cache`` is False.
    """
    name = name.strip()
    if name == "none":
        return None
    cache_dir = home / "llm-cache" if cache else None
    if name in LOCAL_MODELS:
        from tools.llm_local import ensure_weights, register_local_provider

        tier, model = LOCAL_MODELS[name]
        if model_path is None:
            model = register_local_provider(ensure_weights(home, tier), n_threads,
                                            name=model.split("/", 1)[1])
        elif model_path.is_file():
            model = register_local_provider(model_path, n_threads)
        else:
            raise LLMError(f"The LLM model path '{model_path}' is not a file; it must name "
                           "a GGUF file.")
        return LiteLLMClient(model, timeout_s=timeout_s, max_retries=0, cache_dir=cache_dir,
                             seed=seed)
    if not _MODEL_NAME.match(name) or not _known_to_litellm(name, api_base):
        raise LLMError(f"The LLM name must be one of: {'; '.join(ACCEPTED_NAMES)}; got "
                       f"{name!r} instead.")
    if api_key is None and (missing := _missing_keys(name, api_base)):
        raise LLMError(f"The model {name!r} needs an API key: set {' or '.join(missing)} "
                       "(or MLPILOT_LLM_API_KEY); --llm local needs none, and --llm none "
                       "runs without an LLM.")
    return LiteLLMClient(name, api_base=api_base, api_key=api_key, timeout_s=timeout_s,
                         cache_dir=cache_dir, seed=seed)


def _known_to_litellm(model: str, api_base: str | None) -> bool:
    litellm = load_litellm()
    provider = model.split("/", 1)[0]
    if any(p.get("provider") == provider for p in litellm.custom_provider_map):
        return True
    try:
        litellm.get_llm_provider(model=model, api_base=api_base)
    except litellm.BadRequestError:
        return False
    return True


def _missing_keys(model: str, api_base: str | None) -> list[str]:
    """The API key variables the provider needs and the environment lacks.

    Checked before a run rather than met at its first planner call, where the
    provider's "missing credentials" arrives as a server error and is retried.
    Only key-like names count (an unset ``OLLAMA_API_BASE`` has a default).
    """
    litellm = load_litellm()
    try:
        found = litellm.validate_environment(model=model, api_base=api_base)
    except Exception:  # litellm raises on models it cannot place: let the call decide
        return []
    return [k for k in found.get("missing_keys") or () if k.endswith(("_KEY", "_TOKEN"))]


def _supports_schema(litellm: ModuleType, model: str) -> bool:
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:  # litellm raises on models it has no entry for
        return False


def _with_schema_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    note = ("Answer with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(schema, separators=(",", ":")))
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def _repair_message(error: Exception) -> str:
    return ("Your answer is not valid: " + _short(error) + "\nAnswer again with one JSON "
            "object that matches the schema exactly, and nothing else.")


def _short(error: BaseException | str, limit: int = _ERROR_CHARS) -> str:
    if isinstance(error, json.JSONDecodeError):
        text = f"the answer is not JSON ({error})"
    elif isinstance(error, ValidationError):
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
                         for e in error.errors())
    else:
        text = str(error)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
