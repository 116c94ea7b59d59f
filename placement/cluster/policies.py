"""Re-placement policies for ``simulate`` (SPEC section 9): plain functions of the cluster
state after an event, apart from the simulator that scores them (Gavel's style).

A policy is ``policy(state, event) -> Solution``: it places the cluster of ``state`` (whose
``current`` is where replicas run now) and returns the solution (moves counted by the one
definition, :mod:`placement.cluster.moves`). It never reads a ground truth.

* ``online-greedy`` (the seed paper's online scheduler): the interference-aware greedy with
  every replica of ``current`` kept where it runs; only new replicas, those of a down machine
  and those that no longer fit there are placed. When no machine can seat a replica as things
  stand (room is there, but scattered), it makes room as a scheduler with preemption would:
  local search under a move budget of 1, 2, 4, ... (:data:`ROOM_BUDGETS`), the first that
  places everything, said in ``info.fallback``.
* ``replan``: a solver of the user's choice under ``limits.max_moves = K``.
* ``resolve``: the same solver from the current placement, moves unlimited.

``replan`` and ``resolve`` fall back to ``online-greedy``'s placement when their solver finds
none (a budget too small for what the event forces, a time limit too short), and say so in
``info.fallback``: the cluster always keeps running.
"""

from __future__ import annotations

from collections.abc import Callable

from placement.api import solve
from placement.cluster.events import ClusterState
from placement.formats.instance import Instance
from placement.formats.solution import Solution
from placement.formats.trace import Event
from solvers.result import Status

Policy = Callable[[ClusterState, Event | None], Solution]
POLICIES = ("online-greedy", "replan", "resolve")
#: Move budgets ``online-greedy`` tries in turn when the pinned greedy cannot seat a replica.
ROOM_BUDGETS = (1, 2, 4, 8, 16)


def _placed(solution: Solution) -> bool:
    return Status(solution.status).solved


def _with_budget(instance: Instance, max_moves: int | None,
                 move_penalty: float | None = None) -> Instance:
    """``instance`` under the policy's move budget (None: unlimited) and, when given, its move
    penalty (else the instance's own)."""
    data = instance.dump()
    limits = data.setdefault("limits", {})
    limits.pop("max_moves", None)
    if max_moves is not None:
        limits["max_moves"] = int(max_moves)
    if move_penalty is not None:
        data.setdefault("objective", {})["move_penalty"] = float(move_penalty)
    return Instance.model_validate(data)


def online_greedy(*, time_limit: float = 10.0, seed: int = 0) -> Policy:
    """The seed paper's online scheduler (module docstring)."""

    def policy(state: ClusterState, event: Event | None) -> Solution:
        solution = solve(_with_budget(state.instance, None), "greedy", time_limit=time_limit,
                         seed=seed)
        if _placed(solution) or not state.instance.current:
            return solution
        spent = solution.solve_seconds
        for budget in ROOM_BUDGETS:
            room = solve(_with_budget(state.instance, budget), "local-search",
                         time_limit=time_limit, seed=seed)
            spent += room.solve_seconds
            if _placed(room):
                room.solve_seconds = round(spent, 6)
                room.info["fallback"] = (f"greedy could not seat every replica where things "
                                         f"run; local search made room within {budget} moves")
                return room
        solution.solve_seconds = round(spent, 6)
        return solution

    return policy


def _solver_policy(solver: str, max_moves: int | None, time_limit: float, seed: int,
                   move_penalty: float | None = None) -> Policy:
    fallback = online_greedy(time_limit=time_limit, seed=seed)

    def policy(state: ClusterState, event: Event | None) -> Solution:
        solution = solve(_with_budget(state.instance, max_moves, move_penalty), solver,
                         time_limit=time_limit, seed=seed)
        if _placed(solution):
            return solution
        backup = fallback(state, event)
        backup.solve_seconds = round(backup.solve_seconds + solution.solve_seconds, 6)
        backup.info["fallback"] = (f"{solver} found no placement ({solution.status}); "
                                   "online-greedy's is used")
        return backup

    return policy


def replan(solver: str, max_moves: int, *, time_limit: float = 10.0, seed: int = 0,
           move_penalty: float | None = None) -> Policy:
    """``solver`` under at most ``max_moves`` counted moves per event; with ``move_penalty``
    each counted move costs that much of the objective (SPEC section 9), so a move is made only
    when it gains more than that (None: the instance's own penalty)."""
    return _solver_policy(solver, max_moves, time_limit, seed, move_penalty)


def resolve(solver: str, *, time_limit: float = 10.0, seed: int = 0) -> Policy:
    """``solver`` from the current placement, moves unlimited."""
    return _solver_policy(solver, None, time_limit, seed)


def make_policy(
    name: str, *, solver: str, max_moves: int | None, time_limit: float, seed: int,
    move_penalty: float | None = None,
) -> Policy:
    """The policy a ``--policies`` name stands for (``move_penalty``: replan's)."""
    if name == "online-greedy":
        return online_greedy(time_limit=time_limit, seed=seed)
    if name == "replan":
        if max_moves is None:
            raise ValueError("replan needs a move budget (--max-moves K)")
        return replan(solver, max_moves, time_limit=time_limit, seed=seed,
                      move_penalty=move_penalty)
    if name == "resolve":
        return resolve(solver, time_limit=time_limit, seed=seed)
    raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICIES)}")
