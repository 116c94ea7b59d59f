"""Interference-aware placement of ML inference models on heterogeneous machines.

>>> from placement import Instance, solve, evaluate                       # doctest: +SKIP
>>> inst = Instance.load("instances/demo.json")                           # doctest: +SKIP
>>> sol = solve(inst, solver="cpsat", time_limit=10, seed=0)               # doctest: +SKIP
>>> sol.status, sol.assignment, sol.summary.mean_degradation              # doctest: +SKIP
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
