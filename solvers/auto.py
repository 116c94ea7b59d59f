"""``auto``: pick a solver by instance size and time limit, and say which and why."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

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
    the limit (few configurations), the large-instance solver ``lns`` beyond, local search
    when the limit is too short for either."""
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
        return "lns", (
            f"{size}: more than {limit} machine configurations, too many to enumerate in the "
            "limit; using the large-instance solver (column-generation bound, then "
            "large-neighbourhood search)"
        )
    return "local-search", f"{size}, time limit {time_limit:g} s: too short for an exact solve"


def auto(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    choices: Mapping[str, Callable[..., Result]],
    **options: Any,
) -> Result:
    """Run the solver :func:`choose` picks among ``choices`` (name -> solver function, composed
    by :mod:`solvers.catalog`: ``milp``, ``lns`` and ``local-search``). ``options`` are those of any
    choice; the picked solver gets the ones it takes (``info["auto_unused_options"]`` lists
    the others)."""
    name, reason = choose(problem, time_limit)
    chosen = choices[name]
    used, unused = split_options(chosen, options)
    result = chosen(problem, time_limit=time_limit, seed=seed, threads=threads, **used)
    result.info.setdefault("solver", name)
    result.info["auto"] = reason
    if unused:
        result.info["auto_unused_options"] = sorted(unused)
    return result


def split_options(
    fn: Callable[..., Result], options: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the options ``fn`` takes, the rest): exact solvers name every option they take, so one
    meant for another choice (``backend`` when local search is picked) is not passed on."""
    parameters = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(options), {}
    names = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    used = {k: v for k, v in options.items() if k in names}
    return used, {k: v for k, v in options.items() if k not in names}
