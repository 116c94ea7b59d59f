"""``milp``: the configuration master (:mod:`solvers.exact.master`) as a MILP, on HiGHS
(default, in process, :mod:`solvers.exact.highs`) or CBC (``backend="cbc"``, through PuLP,
:mod:`solvers.exact.cbc`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from solvers.exact.cbc import CbcBackend
from solvers.exact.columns import DEFAULT_MAX_CONFIGURATIONS
from solvers.exact.driver import solve_exact
from solvers.exact.highs import HighsBackend
from solvers.exact.options import ExactOptions
from solvers.problem import Problem
from solvers.result import Result, SolverInputError

#: ``backend`` option -> the backend class.
BACKENDS = {"highs": HighsBackend, "cbc": CbcBackend}


def milp(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    backend: str = "highs",
    route: str = "auto",
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
    cg_share: float = 0.6,
    pricing_nodes: int = 20_000,
    warm_start: bool = True,
    warm_start_seconds: float | None = None,
    log: bool = False,
    starters: Sequence[Callable[..., Result]] = (),
    seeders: Sequence[Callable[..., Result]] = (),
) -> Result:
    """Exact placement by a MILP over every machine configuration (or column generation beyond
    ``max_configurations``; see docs/formulations.md for every option)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise SolverInputError(
            f"unknown MILP backend {backend!r}; expected one of {', '.join(BACKENDS)}"
        )
    options = ExactOptions(
        route=route, max_configurations=max_configurations, cg_share=cg_share,
        pricing_nodes=pricing_nodes, warm_start=warm_start,
        warm_start_seconds=warm_start_seconds, starters=tuple(starters), seeders=tuple(seeders),
    )
    master_backend = BACKENDS[backend](seed, threads, log=bool(log))
    return solve_exact(
        problem, master_backend, solver="milp", time_limit=time_limit, seed=seed,
        threads=threads, options=options,
    )
