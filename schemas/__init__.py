"""Pydantic models shared by every package, and the error types. Imports nothing of ours."""

from __future__ import annotations

from schemas._agent import CheckName, Proposal, Verdict
from schemas._code import (
    CODE_FAMILY_PREFIX,
    CodeProposal,
    code_family,
    is_code_family,
    source_digest,
)
from schemas._errors import (
    ConfigError,
    DataError,
    LLMError,
    MlpilotError,
    ProposalError,
    SandboxError,
    StoreError,
)
from schemas._llm import LLMCall, LLMUsage
from schemas._memory import (
    MEMORY_RECORD_VERSION,
    MemoryRecord,
    Neighbor,
    RecordSource,
    RetrievedRun,
    StoredConfig,
)
from schemas._metric import (
    DEFAULT_METRIC,
    METRIC_ALIASES,
    METRICS,
    TASK_TYPES,
    Direction,
    MetricInfo,
    PredictKind,
    TaskType,
)
from schemas._profile import (
    META_FEATURE_NAMES,
    META_FEATURE_VERSION,
    META_FEATURES,
    ColumnKind,
    ColumnProfile,
    DatasetProfile,
)
from schemas._request import FollowUp, FollowUpKind, RequestField, TaskRequest
from schemas._run import (
    RUN_RECORD_VERSION,
    EnsembleMember,
    IsolationLevel,
    RunRecord,
)
from schemas._space import (
    CategoricalParam,
    FamilySpace,
    FloatParam,
    IntParam,
    Param,
    ParamValue,
    TrialConfig,
)
from schemas._task import Budget, TaskSpec
from schemas._trial import FailureKind, TrialResult, TrialSource, TrialSpec, TrialStatus

__all__ = [
    "CODE_FAMILY_PREFIX",
    "DEFAULT_METRIC",
    "MEMORY_RECORD_VERSION",
    "META_FEATURES",
    "META_FEATURE_NAMES",
    "META_FEATURE_VERSION",
    "METRICS",
    "METRIC_ALIASES",
    "RUN_RECORD_VERSION",
    "TASK_TYPES",
    "Budget",
    "CategoricalParam",
    "CheckName",
    "CodeProposal",
    "ColumnKind",
    "ColumnProfile",
    "ConfigError",
    "DataError",
    "DatasetProfile",
    "Direction",
    "EnsembleMember",
    "FailureKind",
    "FamilySpace",
    "FloatParam",
    "FollowUp",
    "FollowUpKind",
    "IntParam",
    "IsolationLevel",
    "LLMCall",
    "LLMError",
    "LLMUsage",
    "MemoryRecord",
    "MetricInfo",
    "MlpilotError",
    "Neighbor",
    "Param",
    "ParamValue",
    "PredictKind",
    "Proposal",
    "ProposalError",
    "RecordSource",
    "RequestField",
    "RetrievedRun",
    "RunRecord",
    "SandboxError",
    "StoreError",
    "StoredConfig",
    "TaskRequest",
    "TaskSpec",
    "TaskType",
    "TrialConfig",
    "TrialResult",
    "TrialSource",
    "TrialSpec",
    "TrialStatus",
    "Verdict",
    "code_family",
    "is_code_family",
    "source_digest",
]
