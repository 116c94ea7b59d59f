"""Importing this module registers every solver. Add a module here to add a solver."""

import solvers.auto  # noqa: F401
import solvers.exact.cpsat  # noqa: F401
import solvers.exact.exhaustive  # noqa: F401
import solvers.exact.milp  # noqa: F401
import solvers.heuristics.baselines  # noqa: F401
import solvers.heuristics.greedy  # noqa: F401
import solvers.heuristics.local_search  # noqa: F401
