"""The lexicographic stages of the exact solvers on the column store: what each stage's goal is
per column, its value for column counts, and how a fixed stage and a bound are judged.

What a goal *means* (per-machine contribution, sum or max, integer or not, the stage order, the
trivial bound, the one comparison) is :mod:`solvers.objectives`'s; this module only applies it
to columns, so it never names an objective.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.exact.columns import Configurations
from solvers.objectives import (
    TOLERANCE,
    VIOLATIONS,
    column_coefficients,
    goal,
    stage_is_integer,
)
from solvers.problem import Problem
from solvers.result import OPTIMALITY_GAP, relative_gap

#: Room left on an earlier *integer* stage when it is fixed: its values are sums of whole
#: numbers (exact in floating point), so any room below 1 admits exactly the optimal ones.
INTEGER_ROOM = 1e-6

def is_linear(stage: str) -> bool:
    """The stage sums per-machine contributions (else it is the max over machines)."""
    return stage == VIOLATIONS or goal(stage).combine == "sum"


def stage_coefficients(problem: Problem, configs: Configurations, stage: str) -> np.ndarray:
    """[C] each column's contribution to a summing stage (a max stage has none: the master
    models it with an epigraph over :func:`column_worst`)."""
    return column_coefficients(problem, configs.figures(), stage)


def column_worst(configs: Configurations) -> np.ndarray:
    """[C] what each column contributes to the max goal (its largest member degradation)."""
    return configs.figures().max_degradation


def stage_value(
    problem: Problem, configs: Configurations, stage: str, counts: dict[int, int]
) -> float:
    """A stage's value for column counts (true units); equals the evaluator's on the
    assignment (up to summation order)."""
    if not is_linear(stage):
        worst = column_worst(configs)
        return max((float(worst[c]) for c, k in counts.items() if k > 0), default=0.0)
    coef = stage_coefficients(problem, configs, stage)
    return float(sum(coef[c] * k for c, k in counts.items()))


def fixed_slack(stage: str, value: float) -> float:
    """Room left on an earlier stage fixed at ``value`` for the next one: integer stages
    :data:`INTEGER_ROOM`; real ones a hair, so float ties the evaluator treats as equal (the
    same sum in another order) are not cut off."""
    if stage_is_integer(stage):
        return INTEGER_ROOM
    return TOLERANCE + TOLERANCE * abs(value)


def meets(stage: str, value: float, bound: float) -> bool:
    """The bound proves ``value`` optimal for the stage (integer stages: rounded up)."""
    if stage_is_integer(stage):
        return math.ceil(bound - INTEGER_ROOM) >= value - INTEGER_ROOM
    return relative_gap(value, bound) <= OPTIMALITY_GAP


def safe_bound(stage: str, bound: float) -> float:
    """Integer stages: the bound rounded up (it is proved, so the optimum is at least that)."""
    if stage_is_integer(stage):
        return float(math.ceil(bound - INTEGER_ROOM))
    return bound
