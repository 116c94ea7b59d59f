"""``exhaustive``: every placement, judged by the evaluator; the reference for exact solvers.

Kept obviously correct rather than fast:

* depth-first over replicas in file order, each tried on every machine that passes the
  filters that can only get worse deeper down (allowed type, capacity, per-machine limit,
  anti-affinity; with hard SLOs, a type where the model's solo latency already misses its
  SLO, since slowdowns are at least 1);
* the one symmetry removed: at any node, empty machines of one type are interchangeable, so
  only the first of them is tried (swapping two such machines maps every completion to one
  with the same figures);
* no pruning by SLO or objective inside the tree: set-wise slowdowns may fall when a
  co-runner joins, so partial figures bound nothing;
* every complete placement is scored by :func:`solvers.metrics.evaluate_assignment` and
  compared with :func:`solvers.metrics.sort_key`; under hard SLOs a placement with a
  violation is infeasible and skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.diagnosis import diagnose, no_solution_message
from solvers.metrics import Metrics, evaluate_assignment, sort_key
from solvers.problem import TOLERANCE, Problem
from solvers.result import Result, Status

#: Largest instance (in replicas) the enumeration accepts.
MAX_REPLICAS = 10


def exhaustive(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    """The lexicographically best placement by ``sort_key``, proved by enumeration.

    >>> from solvers.registry import run                               # doctest: +SKIP
    >>> run("exhaustive", tiny_problem, time_limit=60).status          # doctest: +SKIP
    <Status.OPTIMAL: 'optimal'>

    Raises ``ValueError`` beyond ``MAX_REPLICAS`` replicas. If the time limit stops the
    enumeration, the best placement so far is FEASIBLE (or UNKNOWN if none).
    """
    R = problem.n_replicas
    if R > MAX_REPLICAS:
        raise ValueError(
            f"exhaustive enumerates every placement and accepts at most {MAX_REPLICAS} "
            f"replicas; this instance has {R}. Use cpsat, milp or local-search instead"
        )
    started = time.perf_counter()
    deadline = started + time_limit
    hard = problem.slo_mode == "hard"
    N = problem.n_machines
    model_of = problem.replica_model
    machine_type = problem.machine_type
    capacity = problem.capacity[machine_type]
    limit = problem.max_per_machine if problem.max_per_machine is not None else R
    may_host = problem.allowed.copy()
    if hard:
        solo = np.where(may_host, problem.solo_latency, np.inf)
        may_host &= solo <= problem.slo[:, None] + TOLERANCE

    search = _Enumeration(R, N, problem.n_models, capacity.shape[1])

    def visit(i: int) -> None:
        if search.timed_out:
            return
        if time.perf_counter() > deadline:
            search.timed_out = True
            return
        assignment = search.assignment
        if i == R:
            search.leaves += 1
            metrics = evaluate_assignment(problem, assignment)
            if hard and metrics.slo_violations:
                return
            key = sort_key(problem, metrics)
            if search.best_key is None or key < search.best_key:
                search.best_key, search.best_metrics = key, metrics
                search.best = assignment.copy()
            return
        m = int(model_of[i])
        request = problem.requests[m]
        used, count, hosts = search.used, search.count, search.hosts
        tried_empty: set[int] = set()
        for n in range(N):
            t = int(machine_type[n])
            if not may_host[m, t] or hosts[n, m] or count[n] >= limit:
                continue
            if not np.all(used[n] + request <= capacity[n] + TOLERANCE):
                continue
            if count[n] == 0:
                if t in tried_empty:
                    continue
                tried_empty.add(t)
            assignment[i], count[n], hosts[n, m] = n, count[n] + 1, True
            used[n] += request
            visit(i + 1)
            used[n] -= request
            assignment[i], count[n], hosts[n, m] = -1, count[n] - 1, False

    visit(0)
    seconds = time.perf_counter() - started
    info: dict[str, Any] = {"solver": "exhaustive", "leaves": search.leaves}
    if search.best is not None and search.best_metrics is not None:
        objective = search.best_metrics.objective(problem.objective)
        if search.timed_out:
            return Result(Status.FEASIBLE, search.best, objective, seconds=seconds, info=info)
        return Result(
            Status.OPTIMAL,
            search.best,
            objective,
            bound=objective,
            gap=0.0,
            seconds=seconds,
            info=info,
        )
    if search.timed_out:
        info["diagnosis"] = no_solution_message(problem, diagnose(problem), proved=False) + [
            "exhaustive reached the time limit before finding any placement"
        ]
        return Result(Status.UNKNOWN, None, seconds=seconds, info=info)
    info["diagnosis"] = no_solution_message(problem, diagnose(problem), proved=True)
    return Result(Status.INFEASIBLE, None, seconds=seconds, info=info)


@dataclass
class _Enumeration:
    """The depth-first search's partial placement and the best complete one so far."""

    assignment: np.ndarray
    used: np.ndarray
    count: np.ndarray
    hosts: np.ndarray
    best: np.ndarray | None = None
    best_key: tuple[float, float, float] | None = None
    best_metrics: Metrics | None = None
    leaves: int = 0
    timed_out: bool = False

    def __init__(self, replicas: int, machines: int, models: int, resources: int) -> None:
        self.assignment = np.full(replicas, -1, dtype=np.int64)
        self.used = np.zeros((machines, resources))
        self.count = np.zeros(machines, dtype=np.int64)
        self.hosts = np.zeros((machines, models), dtype=bool)
        self.best = None
        self.best_key = None
        self.best_metrics = None
        self.leaves = 0
        self.timed_out = False
