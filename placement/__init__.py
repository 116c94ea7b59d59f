"""Interference-aware placement of ML inference models on heterogeneous machines.

>>> from placement import Instance, solve, evaluate
>>> inst = Instance.load("instances/demo.json")  # paths from the repository root
>>> sol = solve(inst, solver="cpsat", time_limit=10, seed=0)
>>> sol.status, sol.assignment["bert-base#0"], round(sol.summary.mean_degradation, 4)
('optimal', 'c5.2xlarge/1', 0.0443)
>>> evaluate(inst, sol.assignment).summary == sol.summary  # the shared evaluator
True
"""

from placement.api import solve
from placement.evaluate import AssignmentError, evaluate, verify
from placement.formats.errors import InputError, UsageError
from placement.formats.instance import Instance
from placement.formats.solution import Solution

__all__ = [
    "AssignmentError",
    "Instance",
    "InputError",
    "Solution",
    "UsageError",
    "evaluate",
    "solve",
    "verify",
]
