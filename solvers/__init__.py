"""Optimization over a numeric :class:`Problem`. Knows nothing of JSON, pydantic or files."""

from solvers.metrics import Metrics, evaluate_assignment, violations
from solvers.problem import Problem
from solvers.registry import get, names, run
from solvers.result import Result, Status

__all__ = [
    "Metrics",
    "Problem",
    "Result",
    "Status",
    "evaluate_assignment",
    "get",
    "names",
    "run",
    "violations",
]
