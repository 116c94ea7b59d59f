"""The one evaluator, numeric core: from an assignment to every figure we report.

``placement.evaluate`` wraps this into the solution file; solvers call it to know the
objective of what they found. Each machine's content is judged by
:func:`solvers.objectives.machine_figures` (the one per-machine computation); this module sums
those figures over replicas and machines, and :mod:`solvers.objectives` says which figure an
objective is and how placements rank.

An assignment is an int array ``[R]``: the machine index of each replica, ``-1`` if unplaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solvers.objectives import (
    TOLERANCE,
    counted_moves,
    goal,
    machine_figures,
    mean_weights,
    rank,
)
from solvers.problem import Problem


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
        return goal(name).value(self)


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
    met = np.zeros(R, dtype=bool)
    weights, weight_total = mean_weights(problem)
    for n, reps in residents(problem, assignment).items():
        models = [int(problem.replica_model[r]) for r in reps]
        figures = machine_figures(problem, models, int(problem.machine_type[n]), weights)
        position = {m: i for i, m in enumerate(figures.models)}
        for r, m in zip(reps, models, strict=True):
            i = position[m]
            slowdown[r] = figures.slowdowns[i]
            latency[r] = figures.latencies[i]
            met[r] = figures.slo_met[i]
    model = problem.replica_model
    placed = assignment >= 0
    slo_met = placed & met
    degradation = slowdown - 1.0
    mean = float((weights[model] * degradation).sum() / weight_total)
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
        weighted_added_latency_ms=float((problem.weight[model] * added).sum()),
        slo_violations=int((~slo_met).sum()),
        machines_used=int(used.size),
        cost_per_hour=float(problem.cost[problem.machine_type[used]].sum()),
    )


def sort_key(problem: Problem, metrics: Metrics, moves: int = 0) -> tuple[float, ...]:
    """The rank of an evaluated assignment (:func:`solvers.objectives.rank`: SLO violations,
    objective with the move penalty, mean degradation, counted moves); compare ranks with
    :func:`solvers.objectives.better`."""
    return rank(problem, metrics, moves)


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
    tables = problem.filter_tables
    for n, reps in residents(problem, assignment).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        used = problem.requests[models].sum(axis=0)
        capacity = tables.capacity[n]
        for k in np.flatnonzero(used > capacity + TOLERANCE):
            out.append(
                f"machine {mid[n]}: {problem.resource_names[k]} requested {used[k]:g} "
                f"> capacity {capacity[k]:g}"
            )
        if len(reps) > tables.limit[n]:
            out.append(f"machine {mid[n]}: {len(reps)} replicas > limit {tables.limit[n]}")
        if len(set(models)) != len(models):
            dup = sorted({problem.model_names[m] for m in models if models.count(m) > 1})
            out.append(f"machine {mid[n]}: replicas of the same model share it ({', '.join(dup)})")
        distinct = sorted(set(models))
        pairs = np.argwhere(np.triu(tables.conflicts[np.ix_(distinct, distinct)], k=1))
        for i, j in pairs.tolist():
            a, b = problem.model_names[distinct[i]], problem.model_names[distinct[j]]
            out.append(f"machine {mid[n]}: models {a} and {b} avoid each other but share it")
        if tables.down[n]:
            out.append(f"machine {mid[n]} is down but hosts {len(reps)} replicas")
        elif not tables.accepts_new[n]:
            current = problem.current
            for r in reps:
                if current is None or current[r] != n:
                    out.append(f"replica {rid[r]} is new on machine {mid[n]}, which is cordoned")
        for r, m in zip(reps, models, strict=True):
            if not tables.allowed[m, t]:
                out.append(
                    f"replica {rid[r]} on machine {mid[n]}: model cannot run on type "
                    f"{problem.type_names[t]}"
                )
    out += _spread_violations(problem, assignment)
    if problem.max_moves is not None:
        moves = counted_moves(problem.current, assignment, tables.down)
        if moves > problem.max_moves:
            out.append(f"{moves} counted moves > limits.max_moves {problem.max_moves}")
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


def _spread_violations(problem: Problem, assignment: np.ndarray) -> list[str]:
    """Models with a ``spread`` label key whose replicas sit on machines without the label or
    with the same value (none without spread constraints)."""
    tables = problem.filter_tables
    out: list[str] = []
    for m in np.flatnonzero(tables.spread_key >= 0).tolist():
        labels = tables.spread_label[tables.spread_key[m]]
        values = labels[assignment[problem.replica_model == m]].tolist()
        name = problem.model_names[m]
        if any(v < 0 for v in values):
            out.append(f"model {name}: a replica is on a machine without its spread label")
        present = [v for v in values if v >= 0]
        if len(set(present)) != len(present):
            out.append(f"model {name}: two replicas share a value of its spread label")
    return out
