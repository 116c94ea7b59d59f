"""``exhaustive``: every placement, judged by the evaluator; the reference for exact solvers.

Kept obviously correct rather than fast:

* depth-first over replicas in file order, each tried on every machine that passes the
  problem's filter tables (:class:`~solvers.problem.HostTables`: allowed type, machine state,
  capacity, per-machine limit, conflicts, spread; with hard SLOs, a type where the model's
  solo latency already misses its SLO, since slowdowns are at least 1), all of which can only
  get worse deeper down;
* the one symmetry removed: at any node, empty machines of one class are interchangeable
  (:attr:`~solvers.problem.HostTables.machine_class`, the type when there are no cluster
  constraints), so only the first of them is tried (swapping two such machines maps every
  completion to one with the same figures);
* no pruning by SLO or objective inside the tree: set-wise slowdowns may fall when a
  co-runner joins, so partial figures bound nothing;
* every complete placement is scored by :func:`solvers.metrics.evaluate_assignment`, ranked
  by :func:`solvers.objectives.rank` (counted moves and their penalty included) and compared
  with :func:`solvers.objectives.better`; under hard SLOs a placement with a violation is
  infeasible and skipped, and so is one with more counted moves than ``max_moves``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.diagnosis import diagnose, no_solution_message
from solvers.metrics import Metrics, evaluate_assignment
from solvers.objectives import Rank, better, counted_moves, rank
from solvers.problem import Problem
from solvers.result import Result, SolverInputError, Status

#: Largest instance (in replicas) the enumeration accepts.
MAX_REPLICAS = 10


def exhaustive(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    """The best placement by :func:`~solvers.objectives.rank`, proved by enumeration.

    Raises :class:`~solvers.result.SolverInputError` (a ``ValueError``) beyond
    ``MAX_REPLICAS`` replicas. If the time limit stops the enumeration, the best placement so
    far is FEASIBLE (or UNKNOWN if none).
    """
    R = problem.n_replicas
    if R > MAX_REPLICAS:
        raise SolverInputError(
            f"exhaustive enumerates every placement and accepts at most {MAX_REPLICAS} "
            f"replicas; this instance has {R}. Use cpsat, milp or local-search instead"
        )
    started = time.perf_counter()
    deadline = started + time_limit
    hard = problem.slo_mode == "hard"
    N = problem.n_machines
    model_of = problem.replica_model
    tables = problem.filter_tables
    capacity = tables.capacity  # [N, K]
    may_host = tables.may_host(problem.machine_type, hard)  # [M, N]
    current = problem.current
    if current is not None:  # a cordoned machine may keep the replicas it runs now
        for r in np.flatnonzero(current >= 0).tolist():
            n = int(current[r])
            if not tables.down[n]:
                by_type = tables.meets_slo_alone if hard else tables.allowed
                may_host[model_of[r], n] |= by_type[model_of[r], problem.machine_type[n]]
    spread_key = tables.spread_key
    max_moves = problem.max_moves

    search = _Enumeration(R, N, problem.n_models, capacity.shape[1])

    def may_take(i: int, m: int, n: int) -> bool:
        """The filter tables' verdict for replica ``i`` of model ``m`` on machine ``n``."""
        if tables.down[n]:
            return False
        if not tables.accepts_new[n] and (current is None or current[i] != n):
            return False  # cordoned: only the replicas it runs now may stay
        if not may_host[m, n] or search.count[n] >= tables.limit[n]:
            return False
        if (search.hosts[n] & tables.conflicts[m]).any():
            return False
        if spread_key[m] >= 0:
            labels = tables.spread_label[spread_key[m]]
            if labels[n] < 0 or (labels[search.hosts[:, m]] == labels[n]).any():
                return False
        return bool(tables.fits(search.used[n], problem.requests[m], capacity[n]))

    def visit(i: int) -> None:
        if search.timed_out:
            return
        if time.perf_counter() > deadline:
            search.timed_out = True
            return
        assignment = search.assignment
        if i == R:
            search.leaves += 1
            moves = counted_moves(current, assignment, tables.down)
            if max_moves is not None and moves > max_moves:
                return
            metrics = evaluate_assignment(problem, assignment)
            if hard and metrics.slo_violations:
                return
            key = rank(problem, metrics, moves)
            if search.best_key is None or better(key, search.best_key):
                search.best_key, search.best_metrics = key, metrics
                search.best = assignment.copy()
            return
        m = int(model_of[i])
        request = problem.requests[m]
        used, count, hosts = search.used, search.count, search.hosts
        tried_empty: set[int] = set()
        for n in range(N):
            if not may_take(i, m, n):
                continue
            if count[n] == 0:
                if tables.machine_class[n] in tried_empty:
                    continue
                tried_empty.add(int(tables.machine_class[n]))
            assignment[i], count[n], hosts[n, m] = n, count[n] + 1, True
            used[n] += request
            visit(i + 1)
            used[n] -= request
            assignment[i], count[n], hosts[n, m] = -1, count[n] - 1, False

    visit(0)
    seconds = time.perf_counter() - started
    info: dict[str, Any] = {"solver": "exhaustive", "leaves": search.leaves}
    if search.best is not None and search.best_metrics is not None:
        objective = search.best_key[1]  # the objective, move penalty included
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
    best_key: Rank | None = None
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
