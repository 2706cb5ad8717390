"""Benchmarks: ``mlpilot bench`` (suites, methods, the ledger, statistics and the report),
the overheads (``python -m evals.overheads``) and the focused comparisons (``evals.llm_vs_bo``,
``evals.memory_vs_none``)."""
