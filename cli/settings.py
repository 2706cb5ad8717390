"""Settings: the only place that reads the environment (and, later, config files)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from schemas import ConfigError

Isolation = Literal["auto", "bwrap", "process"]


@dataclass(frozen=True)
class Settings:
    home: Path
    isolation: Isolation = "auto"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("MLPILOT_HOME") or Path.home() / ".mlpilot").expanduser()
        isolation = env.get("MLPILOT_ISOLATION") or "auto"
        if isolation not in get_args(Isolation):
            raise ConfigError(f"The 'MLPILOT_ISOLATION' setting must be one of "
                              f"{list(get_args(Isolation))}; got {isolation!r} instead.")
        return cls(home=home, isolation=isolation)  # type: ignore[arg-type]
