"""Importing this module registers every solver. Add a module here to add a solver."""

import solvers.auto  # noqa: F401
import solvers.baselines  # noqa: F401
import solvers.cpsat  # noqa: F401
import solvers.exhaustive  # noqa: F401
import solvers.greedy  # noqa: F401
import solvers.local_search  # noqa: F401
import solvers.milp  # noqa: F401
