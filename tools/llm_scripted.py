"""The fake LLM: a litellm provider (``scripted/...``) that answers from a queue.

Tests queue canned replies and get a real :class:`LiteLLMClient`, so the fake goes
through the very same validation, repair round, retries, cache and accounting as a real
model::

    client = scripted_client(['{"family": "rf"}', lambda messages: "not json"])

A reply is a string, a callable ``(messages) -> str``, or one of the sentinels
``UNAVAILABLE`` (raises litellm's ServiceUnavailableError: transient, retried),
``AUTH_ERROR`` (raises litellm's AuthenticationError: not retried) and ``HANG`` (answers
nothing: waits out the request's timeout, then raises litellm's Timeout, as a network
provider's client does).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from tools.llm import LiteLLMClient, load_litellm

load_litellm()  # first: sets LITELLM_LOCAL_MODEL_COST_MAP, so the import stays offline
import litellm  # noqa: E402
from litellm import ModelResponse  # noqa: E402

UNAVAILABLE: Final = "<scripted: service unavailable>"
AUTH_ERROR: Final = "<scripted: authentication error>"
HANG: Final = "<scripted: no answer>"

Reply = str | Callable[[list[dict[str, Any]]], str]


class ScriptedLLM(litellm.CustomLLM):
    """Answers each request with the next queued reply; ``requests`` keeps what it was sent."""

    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        super().__init__()
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def completion(self, model: str, messages: list[Any], api_base: str,
                   custom_prompt_dict: dict[Any, Any], model_response: ModelResponse,
                   print_verbose: Callable[..., Any], encoding: Any, api_key: Any,
                   logging_obj: Any, optional_params: dict[Any, Any], acompletion: Any = None,
                   litellm_params: Any = None, logger_fn: Any = None, headers: Any = None,
                   timeout: Any = None, client: Any = None) -> ModelResponse:
        with self._lock:
            self.requests.append([dict(m) for m in messages])
            if not self.replies:
                raise litellm.BadRequestError(
                    message=f"ScriptedLLM has no reply left for request {len(self.requests)} "
                            "(queue more replies)", model=model, llm_provider="scripted")
            reply = self.replies.popleft()
        if reply == UNAVAILABLE:
            raise litellm.ServiceUnavailableError(message="scripted outage", model=model,
                                                  llm_provider="scripted")
        if reply == AUTH_ERROR:
            raise litellm.AuthenticationError(message="scripted: invalid API key", model=model,
                                              llm_provider="scripted")
        if reply == HANG:
            time.sleep(timeout if isinstance(timeout, int | float) else 0.0)
            raise litellm.Timeout(message="scripted: no answer within the timeout",
                                  model=model, llm_provider="scripted")
        text = reply if isinstance(reply, str) else reply(messages)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + 1
        model_response.choices[0].message.content = text
        model_response.model = f"scripted/{model}"
        setattr(model_response, "usage", litellm.Usage(  # noqa: B010 (not a declared field)
            prompt_tokens=prompt_tokens, completion_tokens=len(text.split()) + 1,
            total_tokens=prompt_tokens + len(text.split()) + 1))
        return model_response

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.completion, *args, **kwargs)


def register_scripted(provider: ScriptedLLM) -> None:
    """Route ``scripted/...`` models to ``provider``; other providers stay registered."""
    others = [p for p in litellm.custom_provider_map if p.get("provider") != "scripted"]
    litellm.custom_provider_map = [*others, {"provider": "scripted", "custom_handler": provider}]


def scripted_client(replies: Sequence[Reply] | ScriptedLLM = (),
                    **client_kwargs: Any) -> LiteLLMClient:
    """A real client on model ``scripted/test`` whose provider answers from ``replies``.

    Pass a :class:`ScriptedLLM` to keep a handle on the provider (its ``requests``,
    ``add``). There is one ``scripted`` provider per process: the latest call wins.
    """
    provider = replies if isinstance(replies, ScriptedLLM) else ScriptedLLM(replies)
    register_scripted(provider)
    return LiteLLMClient("scripted/test", **client_kwargs)
