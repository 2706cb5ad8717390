"""Benchmarks: the harness overhead measurement (``python -m evals.overhead``), later the suites."""
