"""``auto``: pick a solver by instance size and time limit, and say which and why."""

from __future__ import annotations

from solvers import registry
from solvers.problem import Problem
from solvers.result import Result


def choose(problem: Problem, time_limit: float) -> tuple[str, str]:
    """(solver name, reason). Exact solvers where they can prove or nearly prove optimality
    within the limit; local search beyond."""
    available = set(registry.names())
    size = problem.n_replicas * problem.n_machines
    if "cpsat" in available and size <= 400 * 120 and time_limit >= 1:
        return (
            "cpsat",
            f"{problem.n_replicas} replicas x {problem.n_machines} machines: "
            "exact CP-SAT fits the limit",
        )
    return (
        "local-search",
        f"{problem.n_replicas} replicas x {problem.n_machines} machines: "
        "too large for an exact solve, using local search",
    )


@registry.register(
    "auto", "picks a solver by instance size; the solution says which ran", respects_slo=True
)
def auto(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    name, reason = choose(problem, time_limit)
    result = registry.run(
        name, problem, time_limit=time_limit, seed=seed, threads=threads, **options
    )
    result.info.setdefault("solver", name)
    result.info["auto"] = reason
    return result
