"""The error types every package raises.

Exceptions are for bad input and broken infrastructure. A trial that fails is
data (``TrialResult(status="failed")``), never an exception.
"""

from __future__ import annotations


class MlpilotError(Exception):
    """Base class: the CLI turns any of these into one line and exit code 2."""


class DataError(MlpilotError):
    """The data cannot be used: missing or unreadable file, bad target, too few rows."""


class ConfigError(MlpilotError):
    """A parameter has a value that the rules forbid (unknown metric, bad budget...)."""


class ProposalError(ConfigError):
    """A code proposal breaks the contract: too long, a syntax error, no ``build_model(params)``,
    a bad ``SPACE``. Found by a static check; the message is meant for a person and an LLM."""


class SandboxError(MlpilotError):
    """The sandbox itself is broken (cannot start a worker), not a trial inside it."""


class LLMError(MlpilotError):
    """The LLM could not be used: unknown provider, missing weights, no valid answer."""


class StoreError(MlpilotError):
    """The run memory cannot be used: unreachable server, corrupt or locked store."""
