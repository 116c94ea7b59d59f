"""Every solver by name, and how solvers compose: the one place where one solver is handed to
another (an exact solver's warm start, ``auto``'s choices) as a function.

Add a solver: write its function in its own module, then add one :class:`SolverInfo` here.
"""

from __future__ import annotations

from functools import partial

from solvers.auto import auto
from solvers.exact.cpsat import cpsat
from solvers.exact.exhaustive import MAX_REPLICAS, exhaustive
from solvers.exact.milp import milp
from solvers.heuristics.baselines import first_fit, least_loaded, random_placement, round_robin
from solvers.heuristics.greedy import greedy
from solvers.heuristics.local_search import local_search
from solvers.lns import lns
from solvers.result import SolverInfo

#: Exact solvers start from local search (hint, fallback), else greedy; column generation
#: seeds its restricted master with the machines of these cheap heuristics.
STARTERS = (local_search, greedy)
SEEDERS = (greedy, least_loaded, first_fit)

_exact_cpsat = partial(cpsat, starters=STARTERS, seeders=SEEDERS)
_exact_milp = partial(milp, starters=STARTERS, seeders=SEEDERS)
#: The large-instance solver: greedy's placement, local search's (a share of the limit), then the
#: configuration MILP (its column generation bound and integer master,
#: and the exact solver of each LNS sub-problem).
_lns = partial(lns, starters=(greedy, local_search), exact=partial(milp, seeders=SEEDERS))

SOLVERS: dict[str, SolverInfo] = {
    info.name: info
    for info in (
        SolverInfo(
            "least-loaded",
            least_loaded,
            "the paper's baseline: each replica, in file order, to the least utilized machine "
            "with room",
        ),
        SolverInfo(
            "round-robin",
            round_robin,
            "each replica to the next machine with room, cycling in machine order",
        ),
        SolverInfo(
            "random",
            random_placement,
            "each replica to a machine with room drawn at random (seeded)",
        ),
        SolverInfo(
            "first-fit", first_fit, "first-fit decreasing bin packing by size; interference-blind"
        ),
        SolverInfo(
            "greedy",
            greedy,
            "the paper's interference-aware scheduler: each replica to the feasible machine that "
            "adds the least predicted degradation",
            respects_slo=True,
        ),
        SolverInfo(
            "local-search",
            local_search,
            "greedy, then improving moves and swaps until a local optimum or the time limit",
            respects_slo=True,
        ),
        SolverInfo(
            "exhaustive",
            exhaustive,
            f"enumerates every placement (at most {MAX_REPLICAS} replicas); the reference for "
            "exact solvers",
            exact=True,
            respects_slo=True,
        ),
        SolverInfo(
            "cpsat",
            _exact_cpsat,
            "exact: configuration model on OR-Tools CP-SAT; exact for set-wise slowdowns",
            exact=True,
            respects_slo=True,
        ),
        SolverInfo(
            "milp",
            _exact_milp,
            "exact: configuration model as a MILP on HiGHS (highspy), or CBC through PuLP with "
            "backend='cbc'",
            exact=True,
            respects_slo=True,
        ),
        SolverInfo(
            "lns",
            _lns,
            "large instances: greedy, a column-generation bound and LP-based placement, then "
            "large-neighbourhood search re-solving a few machines exactly",
            respects_slo=True,
        ),
        SolverInfo(
            "auto",
            partial(auto, choices={"milp": _exact_milp, "lns": _lns,
                                   "local-search": local_search}),
            "picks a solver by instance size; the solution says which ran",
            respects_slo=True,
        ),
    )
}
