"""The lexicographic stages of the exact solvers, and what each stage's goal is on the columns.

SPEC section 2's goals are solved one stage at a time, each fixing the earlier ones at their
optimum: with soft SLOs the violation count first, then the objective, then the mean
degradation as the tie-break.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.exact.columns import Configurations, mean_weights
from solvers.problem import TOLERANCE, Problem
from solvers.result import OPTIMALITY_GAP, relative_gap

INTEGER_GOALS = ("violations", "machines")
#: A goal that is not a sum over machines: the master models it with an epigraph.
MAX_GOAL = "max_degradation"


def stages(problem: Problem) -> list[str]:
    """The lexicographic goals, most important first (SPEC: soft SLOs count violations first;
    ties and the second goal of machines/cost go to the lowest mean degradation)."""
    out = []
    if problem.slo_mode == "soft":
        out.append("violations")
    out.append(problem.objective)
    if problem.objective != "mean_degradation":
        out.append("mean_degradation")
    return out


def is_linear(goal: str) -> bool:
    """A sum of per-machine contributions (else the max over machines)."""
    return goal != MAX_GOAL


def stage_coefficients(problem: Problem, configs: Configurations, stage: str) -> np.ndarray:
    """Per-column contribution to a linear goal (``max_degradation`` is not linear: callers
    model it with an epigraph variable over :func:`column_worst`)."""
    if stage == "violations":
        return np.asarray(configs.violations, dtype=float)
    if stage == "mean_degradation":
        return np.asarray(configs.degradation, dtype=float) / mean_weights(problem)[1]
    if stage == "added_latency":
        return np.asarray(configs.added_latency, dtype=float)
    if stage == "machines":
        return np.ones(len(configs))
    if stage == "cost":
        return np.asarray(configs.cost, dtype=float)
    raise ValueError(f"stage {stage!r} has no linear coefficients")


def column_coefficient(problem: Problem, configs: Configurations, goal: str, c: int) -> float:
    """One column's contribution to a linear goal (as :func:`stage_coefficients`)."""
    if goal == "violations":
        return float(configs.violations[c])
    if goal == "mean_degradation":
        return configs.degradation[c] / mean_weights(problem)[1]
    if goal == "added_latency":
        return configs.added_latency[c]
    if goal == "machines":
        return 1.0
    if goal == "cost":
        return configs.cost[c]
    raise ValueError(goal)


def column_worst(configs: Configurations) -> np.ndarray:
    """Per column, what it contributes to the max goal (its largest member degradation)."""
    return np.asarray(configs.max_degradation, dtype=float)


def stage_value(
    problem: Problem, configs: Configurations, stage: str, counts: dict[int, int]
) -> float:
    """A goal's value for column counts (true units); equals the evaluator's on the assignment."""
    if not is_linear(stage):
        return max((configs.max_degradation[c] for c, k in counts.items() if k > 0), default=0.0)
    coef = stage_coefficients(problem, configs, stage)
    return float(sum(coef[c] * k for c, k in counts.items()))


def fixed_slack(stage: str, value: float) -> float:
    """Room left on an earlier goal when it is fixed for the next stage: integer goals get none;
    float goals a hair, so float ties the evaluator treats as equal are not cut off."""
    if stage in INTEGER_GOALS:
        return 1e-6
    return 1e-9 + 1e-9 * abs(value)


def meets(stage: str, value: float, bound: float) -> bool:
    """The bound proves ``value`` optimal for the stage (integer goals: rounded up)."""
    if stage in INTEGER_GOALS:
        return math.ceil(bound - 1e-6) >= value - 1e-6
    return relative_gap(value, bound) <= OPTIMALITY_GAP


def safe_bound(stage: str, bound: float) -> float:
    """Integer goals: the bound rounded up (it is proved, so the optimum is at least that)."""
    if stage in INTEGER_GOALS:
        return float(math.ceil(bound - 1e-6))
    return bound


def strictly_better(a: tuple, b: tuple, tol: float = 1e-9) -> bool:
    """Lexicographic a < b, ignoring float noise (equal sums in another order are a tie)."""
    for x, y in zip(a, b, strict=True):
        if x < y - tol * max(1.0, abs(y)):
            return True
        if x > y + tol * max(1.0, abs(y)):
            return False
    return False


def trivial_bound(problem: Problem) -> float:
    """A lower bound on the primary objective that needs no search (used when the master is
    restricted and its own bound is not valid)."""
    if problem.objective in ("mean_degradation", "added_latency", "max_degradation"):
        return 0.0
    # machines / cost: each resource's total request must fit the capacity of the machines
    # used; a fractional knapsack over types (cheapest capacity first) bounds it from below.
    demand = problem.requests[problem.replica_model].sum(axis=0)
    per_machine = (
        np.ones(problem.n_types) if problem.objective == "machines" else problem.cost.astype(float)
    )
    best = float(max(problem.replicas_per_model, default=0) > 0)
    if problem.objective == "machines":
        best = float(max(problem.replicas_per_model, default=0))
    for k in range(demand.shape[0]):
        need = demand[k]
        if need <= TOLERANCE:
            continue
        order = sorted(
            (t for t in range(problem.n_types) if problem.capacity[t, k] > 0),
            key=lambda t: per_machine[t] / problem.capacity[t, k],
        )
        total = 0.0
        for t in order:
            take = min(float(problem.machines_per_type[t]), need / problem.capacity[t, k])
            total += take * per_machine[t]
            need -= take * problem.capacity[t, k]
            if need <= TOLERANCE:
                break
        if problem.objective == "machines":
            total = math.ceil(total - 1e-9)
        best = max(best, total)
    return best
