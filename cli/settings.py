"""Settings: the only place that reads the environment (and, later, config files)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from schemas import ConfigError

Isolation = Literal["auto", "bwrap", "process"]


@dataclass(frozen=True)
class Settings:
    home: Path
    isolation: Isolation = "auto"
    llm: str = "local"  # none | local | local-1.5b | a litellm model string
    llm_api_base: str | None = None
    llm_api_key: str | None = None  # providers' own variables (OPENAI_API_KEY...) work too
    llm_model_path: Path | None = None  # any GGUF file instead of the bundled weights
    llm_cache: bool = True
    memory: str | None = None  # a store folder, http://host:port, or "off"; None: home/memory
    # the embedded model's threads; None: the cores the trial workers leave (tools.llm)
    llm_threads: int | None = None
    # one LLM request's time limit; the embedded model stops writing at it
    llm_timeout_s: float = 120.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("MLPILOT_HOME") or Path.home() / ".mlpilot").expanduser()
        isolation = env.get("MLPILOT_ISOLATION") or "auto"
        if isolation not in get_args(Isolation):
            raise ConfigError(f"The 'MLPILOT_ISOLATION' setting must be one of "
                              f"{list(get_args(Isolation))}; got {isolation!r} instead.")
        model_path = env.get("MLPILOT_LLM_MODEL_PATH") or None
        return cls(home=home, isolation=isolation,  # type: ignore[arg-type]
                   llm=(env.get("MLPILOT_LLM") or "local").strip(),
                   llm_api_base=env.get("MLPILOT_LLM_API_BASE") or None,
                   llm_api_key=env.get("MLPILOT_LLM_API_KEY") or None,
                   llm_model_path=Path(model_path).expanduser() if model_path else None,
                   llm_cache=_flag(env, "MLPILOT_LLM_CACHE", default=True),
                   memory=(env.get("MLPILOT_MEMORY") or "").strip() or None,
                   llm_threads=_positive_int(env, "MLPILOT_LLM_THREADS", default=None),
                   llm_timeout_s=_positive_number(env, "MLPILOT_LLM_TIMEOUT", default=120.0))


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"The '{name}' setting must be 1 or 0 (true/false, yes/no, on/off); "
                      f"got {value!r} instead.")


def _positive_int(env: Mapping[str, str], name: str, *, default: int | None) -> int | None:
    number = _number(env, name, int, "a whole number of at least 1")
    return default if number is None else int(number)


def _positive_number(env: Mapping[str, str], name: str, *, default: float) -> float:
    number = _number(env, name, float, "a number of seconds above 0")
    return default if number is None else float(number)


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float],
            rule: str) -> int | float | None:
    """The setting as a finite number above 0, or None when unset."""
    value = (env.get(name) or "").strip()
    if not value:
        return None
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if not 0 < number < float("inf"):
        raise ConfigError(f"The '{name}' setting must be {rule}; got {value!r} instead.")
    return number
