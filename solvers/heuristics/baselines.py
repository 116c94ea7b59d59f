"""Interference-blind baselines: each is a score plugin for the one engine.

They respect capacity, the per-machine limit, replica anti-affinity and allowed types, and
nothing else: they are SLO-blind (registered with ``respects_slo=False``), which is what makes
them baselines. ``least-loaded`` is the seed paper's baseline (SPEC section 6).
"""

from __future__ import annotations

import time

import numpy as np

from solvers.heuristics.engine import MachineState, Score, heuristic_result, place
from solvers.problem import Problem
from solvers.result import Result


class LeastLoaded(Score):
    """The machine with the lowest current utilization (largest used/capacity over its
    resources); the engine breaks ties by fewer replicas, then machine order."""

    def prescore(self, state: MachineState, model: int, machines: np.ndarray) -> list[np.ndarray]:
        return [state.utilization(machines)]


class RoundRobin(Score):
    """The next machine with room, cycling through the machines in order from the one after
    the last pick. Depends on machine index, so empty twins must not be pruned."""

    symmetric = False

    def __init__(self, n_machines: int) -> None:
        self.n_machines = n_machines
        self.next = 0

    def prescore(self, state: MachineState, model: int, machines: np.ndarray) -> list[np.ndarray]:
        return [((machines - self.next) % self.n_machines).astype(float)]

    def placed(self, state: MachineState, model: int, machine: int) -> None:
        self.next = (machine + 1) % self.n_machines


class Uniform(Score):
    """A machine drawn uniformly among those with room, from a seeded generator."""

    symmetric = False

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def prescore(self, state: MachineState, model: int, machines: np.ndarray) -> list[np.ndarray]:
        return [self.rng.random(machines.size)]


class FirstFit(Score):
    """The lowest-index machine with room."""

    def prescore(self, state: MachineState, model: int, machines: np.ndarray) -> list[np.ndarray]:
        return [machines.astype(float)]


def size_order(problem: Problem) -> np.ndarray:
    """Replicas by decreasing size (stable, so file order breaks ties). A replica's size is its
    largest request relative to the largest capacity of that resource among the types present,
    so resources in different units compare."""
    present = problem.machines_per_type > 0
    biggest = problem.capacity[present].max(axis=0) if present.any() else problem.capacity.max(0)
    req = problem.requests[problem.replica_model]
    rel = np.divide(req, biggest, out=np.where(req > 0, np.inf, 0.0), where=biggest > 0)
    size = rel.max(axis=1) if rel.shape[1] else np.zeros(problem.n_replicas)
    return np.argsort(-size, kind="stable")


def _run(
    problem: Problem, score: Score, name: str, time_limit: float, order: np.ndarray | None = None
) -> Result:
    started = time.perf_counter()
    placement = place(problem, score, order=order, deadline=started + time_limit)
    return heuristic_result(problem, placement, name, started)


def least_loaded(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    """SPEC section 6: interference-blind, SLO-blind; ties to fewer replicas, then lower index.

    Two identical machines, three replicas of one size: the second replica goes to the empty
    machine, the third to the first again (ties to fewer replicas, then lower index).

    >>> import numpy as np
    >>> from solvers.problem import Problem
    >>> problem = Problem(
    ...     model_names=("a", "b", "c"), type_names=("box",), machine_ids=("m0", "m1"),
    ...     resource_names=("cpu",), replica_ids=("a#0", "b#0", "c#0"),
    ...     replica_model=np.array([0, 1, 2]), machine_type=np.array([0, 0]),
    ...     requests=np.ones((3, 1)), capacity=np.array([[4.0]]),
    ...     solo_latency=np.full((3, 1), 10.0), slo=np.full(3, 100.0), weight=np.ones(3),
    ...     cost=np.zeros(1), pair_slowdown=np.ones((1, 3, 3)), slowdown_fn=lambda *key: 1.0)
    >>> least_loaded(problem, time_limit=1).assignment.tolist()
    [0, 1, 0]
    """
    return _run(problem, LeastLoaded(), "least-loaded", time_limit)


def round_robin(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    return _run(problem, RoundRobin(problem.n_machines), "round-robin", time_limit)


def random_placement(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    return _run(problem, Uniform(seed), "random", time_limit)


def first_fit(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    return _run(problem, FirstFit(), "first-fit", time_limit, order=size_order(problem))
