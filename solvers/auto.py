"""``auto``: pick a solver by instance size and time limit, and say which and why."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from solvers.exact.columns import ENUMERATION_SECONDS, count_configurations
from solvers.problem import Problem
from solvers.result import Result

#: Up to this many capacity-feasible machine configurations (and as many as can be enumerated
#: in 35% of the time limit, see ``solvers.exact.columns.ENUMERATION_SECONDS``) the
#: configuration MILP is solved over every column and, measured on generated instances
#: (benchmarks/results/exact), HiGHS proves optimality well within 60 s: 20x6 < 0.5 s,
#: 40x12 (~10k configurations) 1-7 s, 80x24 (~93k) 7-20 s including the enumeration.
EXACT_CONFIGURATIONS = 200_000
#: Below this limit an exact solve has no time to build its columns and prove anything.
EXACT_MIN_SECONDS = 2.0


def choose(problem: Problem, time_limit: float) -> tuple[str, str]:
    """(solver name, reason). The exact configuration MILP where it proves optimality within
    the limit (few configurations), local search beyond."""
    size = f"{problem.n_replicas} replicas x {problem.n_machines} machines"
    if time_limit >= EXACT_MIN_SECONDS:
        limit = min(EXACT_CONFIGURATIONS, int(0.35 * time_limit / ENUMERATION_SECONDS))
        # cheap: no slowdown is evaluated; at most ``limit`` DFS nodes, at most a second
        count = count_configurations(problem, limit, time.perf_counter() + 1.0)
        if count is not None:
            return "milp", (
                f"{size}, {count} machine configurations: the exact configuration MILP (HiGHS) "
                "proves optimality at this size"
            )
        return "local-search", (
            f"{size}: more than {limit} machine configurations, too many to enumerate in the "
            "limit; using local search (milp's column generation proves bounds at this size)"
        )
    return "local-search", f"{size}, time limit {time_limit:g} s: too short for an exact solve"


def auto(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    choices: Mapping[str, Callable[..., Result]],
    **options,
) -> Result:
    """Run the solver :func:`choose` picks among ``choices`` (name -> solver function, composed
    by :mod:`solvers.catalog`: ``milp`` and ``local-search``)."""
    name, reason = choose(problem, time_limit)
    result = choices[name](problem, time_limit=time_limit, seed=seed, threads=threads, **options)
    result.info.setdefault("solver", name)
    result.info["auto"] = reason
    return result
