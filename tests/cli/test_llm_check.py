"""``mlpilot llm check``: names the model, proves structured output, times one request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from tools.llm_scripted import ScriptedLLM, scripted_client

MLPILOT = Path(sys.executable).parent / "mlpilot"
ANSWER = json.dumps({"choices": [{"family": f, "n": n} for f, n in
                                 (("random_forest", 300), ("gradient_boosting", 200),
                                  ("logistic_regression", 100))]})


def test_none_needs_no_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "check", "--llm", "none"]) == 0
    assert "model: none" in capsys.readouterr().out


def test_a_working_model_is_reported_with_its_latency(capsys: pytest.CaptureFixture[str]) -> None:
    fake = ScriptedLLM([ANSWER])
    scripted_client(fake)  # registers the scripted provider
    assert main(["llm", "check", "--llm", "scripted/test"]) == 0
    out = capsys.readouterr().out
    assert "model: scripted/test (at most 120 s a request" in out
    assert "structured output: ok: random_forest (n=300)" in out
    assert re.search(r"latency: \d+\.\d\d s for \d+ prompt \+ \d+ completion tokens "
                     r"\(\d+\.\d tokens/s\)", out)
    assert len(fake.requests) == 1


def test_a_model_that_answers_garbage_fails_with_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    scripted_client(ScriptedLLM(["no", '{"choices": []}']))
    assert main(["llm", "check", "--llm", "scripted/test"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "invalid output twice" in err
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "env", "needle"), [
    (["--llm", "not a model"], {}, "must be one of: none; local"),
    ([], {"MLPILOT_LLM": "nosuchprovider/x"}, "must be one of"),
    ([], {"MLPILOT_LLM": "local", "MLPILOT_LLM_MODEL_PATH": "/nonexistent/model.gguf"},
     "MLPILOT_LLM_MODEL_PATH"),
    ([], {"MLPILOT_LLM_THREADS": "zero"}, "MLPILOT_LLM_THREADS"),
    ([], {"MLPILOT_LLM_CACHE": "maybe"}, "MLPILOT_LLM_CACHE"),
    ([], {"MLPILOT_LLM_TIMEOUT": "0"}, "MLPILOT_LLM_TIMEOUT"),
    ([], {"MLPILOT_LLM_TIMEOUT": "soon"}, "MLPILOT_LLM_TIMEOUT"),
])
def test_bad_settings_fail_with_one_line(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                         env: dict[str, str], needle: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["llm", "check", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err


@pytest.mark.slow
@pytest.mark.skipif(not MLPILOT.exists(), reason="the mlpilot script is not installed")
def test_the_real_command_checks_the_embedded_model(tmp_path: Path) -> None:
    env = {**os.environ, "MLPILOT_HOME": str(tmp_path / "home"), "MLPILOT_LLM": "local"}
    env.pop("MLPILOT_LLM_MODEL_PATH", None)
    done = subprocess.run([str(MLPILOT), "llm", "check"], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "model: local/qwen2.5-coder-0.5b-instruct" in out
    assert "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf (491.4 MB, joined" in out
    assert "structured output: ok" in out
    assert re.search(r"\(\d+\.\d tokens/s\)", out)
    assert (tmp_path / "home" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").is_file()
    assert not (tmp_path / "home" / "llm-cache").exists()  # the check never uses the cache
