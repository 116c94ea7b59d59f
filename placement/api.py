"""The library call: ``solve(instance)``. Load, compile, solve, evaluate: one way through."""

from __future__ import annotations

import os

from placement.cluster.moves import with_moves
from placement.compile import compile_problem
from placement.evaluate import figures, to_mapping
from placement.formats.instance import Instance
from placement.formats.solution import Solution
from placement.interference import SetPredictor
from solvers import registry
from solvers.metrics import violations
from solvers.result import Status

DEFAULT_TIME_LIMIT = 10.0


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def solve(
    instance: Instance,
    solver: str = "auto",
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    seed: int = 0,
    threads: int | None = None,
    predictor: SetPredictor | None = None,
    **options,
) -> Solution:
    """Place every replica of ``instance`` with ``solver`` and evaluate the result.

    >>> from placement import Instance, solve                   # doctest: +SKIP
    >>> sol = solve(Instance.load("instances/demo.json"), solver="greedy")  # doctest: +SKIP
    >>> sol.status, sol.summary.mean_degradation                # doctest: +SKIP

    ``time_limit`` (seconds) bounds every solver; ``seed`` makes randomized solvers
    repeatable; ``predictor`` plugs a learned slowdown predictor into the slowdown function.
    Extra keyword ``options`` go to the solver (``backend="cbc"`` for ``milp``).
    """
    if time_limit is None or not time_limit > 0:
        raise ValueError("time_limit must be a positive number of seconds")
    info = registry.get(solver)
    problem = compile_problem(instance, predictor=predictor)
    result = info.fn(
        problem,
        time_limit=float(time_limit),
        seed=int(seed),
        threads=threads or default_threads(),
        **options,
    )
    ran = result.info.get("solver", solver)
    extra = {k: v for k, v in result.info.items() if k not in ("diagnosis", "solver")}
    if result.assignment is None or not result.status.solved:
        status = result.status if not result.status.solved else Status.UNKNOWN
        return Solution(
            instance=instance.name,
            solver=ran,
            status=status.value,
            bound=result.bound,
            solve_seconds=round(result.seconds, 6),
            diagnosis=list(result.info.get("diagnosis", [])),
            info=extra,
        )
    broken = violations(problem, result.assignment, check_slo=False)
    if broken:  # a solver bug, never a user error: refuse to report an invalid placement
        raise RuntimeError(f"solver {ran} returned an invalid assignment: {broken[:3]}")
    figs = figures(problem, result.assignment)
    if (
        problem.slo_mode == "hard"
        and figs["summary"].slo_violations
        and not registry.get(ran).respects_slo
    ):
        extra["warning"] = f"{ran} is SLO-blind: its placement breaks hard SLOs"
    solution = Solution(
        instance=instance.name,
        solver=ran,
        status=result.status.value,
        bound=result.bound,
        gap=result.gap,
        solve_seconds=round(result.seconds, 6),
        assignment=to_mapping(problem, result.assignment),
        diagnosis=list(result.info.get("diagnosis", [])),
        info=extra,
        **figs,
    )
    return with_moves(solution, instance)  # moves, their count and penalty (SPEC section 9)
