"""What the agents call: data intake and profiling, splits, metrics, the search-space
catalog, pipelines, BO (``tools.bo``, the only optuna importer), ensembles, the final
model and the run report.

Each module is imported by its own path (``from tools.intake import prepare``) so that
importing one tool does not pay for the heavy libraries of the others.
"""
