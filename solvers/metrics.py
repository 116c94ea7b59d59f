"""The one evaluator, numeric core: from an assignment to every figure we report.

``placement.evaluate`` wraps this into the solution file; solvers call it to know the
objective of what they found. Nothing else computes degradation, SLOs or objectives.

An assignment is an int array ``[R]``: the machine index of each replica, ``-1`` if unplaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solvers.problem import TOLERANCE, Problem


@dataclass(frozen=True)
class Metrics:
    slowdown: np.ndarray  # [R]
    latency_ms: np.ndarray  # [R]
    slo_met: np.ndarray  # [R] bool
    mean_degradation: float
    p99_degradation: float
    max_degradation: float
    total_added_latency_ms: float  # sum over replicas: the seed paper's cumulative degradation
    weighted_added_latency_ms: float  # the ``added_latency`` objective (model weights applied)
    slo_violations: int
    machines_used: int
    cost_per_hour: float

    def objective(self, name: str) -> float:
        """The value of ``objective.minimize`` (SPEC section 2)."""
        return {
            "mean_degradation": self.mean_degradation,
            "added_latency": self.weighted_added_latency_ms,
            "max_degradation": self.max_degradation,
            "machines": float(self.machines_used),
            "cost": self.cost_per_hour,
        }[name]


def residents(problem: Problem, assignment: np.ndarray) -> dict[int, list[int]]:
    """Machine index -> replica indices placed there (only machines in use)."""
    out: dict[int, list[int]] = {}
    for r, n in enumerate(assignment.tolist()):
        if n >= 0:
            out.setdefault(n, []).append(r)
    return out


def nearest_rank(values: np.ndarray, q: float) -> float:
    """Nearest-rank percentile (SPEC: p99 over replicas, nearest-rank)."""
    if values.size == 0:
        return 0.0
    ordered = np.sort(values)
    rank = max(1, math.ceil(q / 100.0 * ordered.size))
    return float(ordered[rank - 1])


def evaluate_assignment(problem: Problem, assignment: np.ndarray) -> Metrics:
    """Every figure of an assignment. Unplaced replicas count as SLO violations with slowdown 1."""
    assignment = np.asarray(assignment, dtype=np.int64)
    R = problem.n_replicas
    slowdown = np.ones(R)
    latency = np.full(R, np.nan)
    for n, reps in residents(problem, assignment).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        for r, m in zip(reps, models, strict=True):
            others = frozenset(models) - {m}
            slowdown[r] = problem.slowdown(m, others, t)
            latency[r] = problem.solo_latency[m, t] * slowdown[r]
    model = problem.replica_model
    placed = assignment >= 0
    slo_met = placed & (np.nan_to_num(latency, nan=np.inf) <= problem.slo[model] + TOLERANCE)
    degradation = slowdown - 1.0
    weights = problem.weight[model]
    wsum = float(weights.sum())
    mean = float((weights * degradation).sum() / wsum) if wsum > 0 else float(degradation.mean())
    added = np.where(placed, np.nan_to_num(latency) - np.nan_to_num(latency / slowdown), 0.0)
    used = np.unique(assignment[placed])
    return Metrics(
        slowdown=slowdown,
        latency_ms=latency,
        slo_met=slo_met,
        mean_degradation=mean,
        p99_degradation=nearest_rank(degradation, 99),
        max_degradation=float(degradation.max()) if R else 0.0,
        total_added_latency_ms=float(added.sum()),
        weighted_added_latency_ms=float((weights * added).sum()),
        slo_violations=int((~slo_met).sum()),
        machines_used=int(used.size),
        cost_per_hour=float(problem.cost[problem.machine_type[used]].sum()),
    )


def objective_value(problem: Problem, assignment: np.ndarray) -> float:
    return evaluate_assignment(problem, assignment).objective(problem.objective)


def sort_key(problem: Problem, metrics: Metrics) -> tuple[float, float, float]:
    """Lexicographic goal, smaller is better: (SLO violations if soft, objective, tie-break).

    With hard SLOs a violating assignment is infeasible, so violations come first there too.
    The tie-break (and the second goal of ``machines``/``cost``) is the mean degradation.
    """
    return (
        float(metrics.slo_violations),
        metrics.objective(problem.objective),
        metrics.mean_degradation,
    )


def violations(
    problem: Problem, assignment: np.ndarray, check_slo: bool | None = None
) -> list[str]:
    """Every violated constraint, in words. Empty list = feasible.

    ``check_slo`` defaults to the problem's mode (hard SLOs are constraints, soft ones are not).
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    out: list[str] = []
    if assignment.shape != (problem.n_replicas,):
        return [f"assignment has {assignment.shape} entries, expected ({problem.n_replicas},)"]
    rid, mid = problem.replica_ids, problem.machine_ids
    for r in np.flatnonzero(assignment < 0):
        out.append(f"replica {rid[r]} is not placed")
    for r in np.flatnonzero(assignment >= problem.n_machines):
        out.append(f"replica {rid[r]} is on machine index {assignment[r]}, which does not exist")
    if out:
        return out
    for n, reps in residents(problem, assignment).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        used = problem.requests[models].sum(axis=0)
        for k in np.flatnonzero(used > problem.capacity[t] + TOLERANCE):
            out.append(
                f"machine {mid[n]}: {problem.resource_names[k]} requested {used[k]:g} "
                f"> capacity {problem.capacity[t, k]:g}"
            )
        if problem.max_per_machine is not None and len(reps) > problem.max_per_machine:
            out.append(f"machine {mid[n]}: {len(reps)} replicas > limit {problem.max_per_machine}")
        if len(set(models)) != len(models):
            dup = sorted({problem.model_names[m] for m in models if models.count(m) > 1})
            out.append(f"machine {mid[n]}: replicas of the same model share it ({', '.join(dup)})")
        for r, m in zip(reps, models, strict=True):
            if np.isnan(problem.solo_latency[m, t]):
                out.append(
                    f"replica {rid[r]} on machine {mid[n]}: model cannot run on type "
                    f"{problem.type_names[t]}"
                )
    if check_slo is None:
        check_slo = problem.slo_mode == "hard"
    if check_slo and not out:
        metrics = evaluate_assignment(problem, assignment)
        for r in np.flatnonzero(~metrics.slo_met):
            m = problem.replica_model[r]
            out.append(
                f"replica {rid[r]}: latency {metrics.latency_ms[r]:.3f} ms "
                f"> SLO {problem.slo[m]:g} ms"
            )
    return out
