"""What an exact solve is told and where it starts: the options ``cpsat`` and ``milp`` share
(checked on creation), the warm start and the heuristics that seed column generation (solver
functions handed in by :mod:`solvers.catalog`). Shared by the driver and the grouped driver of
a running cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from solvers.exact.columns import DEFAULT_MAX_CONFIGURATIONS
from solvers.metrics import violations
from solvers.problem import Problem
from solvers.result import Result, SolverInputError

ROUTES = ("auto", "enumerate", "cg")


@dataclass(frozen=True)
class ExactOptions:
    """The options ``cpsat`` and ``milp`` share (docs/formulations.md), checked on creation."""

    route: str = "auto"  # "enumerate": every column; "cg": column generation; "auto": by size
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS  # enumeration limit
    cg_share: float = 0.6  # share of a stage's time for column generation before the master
    pricing_nodes: int = 20_000  # DFS nodes per type in a budgeted pricing round
    warm_start: bool = True  # start from the first feasible ``starters`` answer
    warm_start_seconds: float | None = None  # None: 10% of the limit (15% for column generation)
    starters: tuple[Callable[..., Result], ...] = ()  # warm starts, tried in order
    seeders: tuple[Callable[..., Result], ...] = ()  # heuristics seeding column generation

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise SolverInputError(
                f"route must be one of {', '.join(ROUTES)} (got {self.route!r})"
            )
        _check_number("max_configurations", self.max_configurations, 1, integer=True)
        _check_number("cg_share", self.cg_share, 0.0, 1.0)
        _check_number("pricing_nodes", self.pricing_nodes, 1, integer=True)
        if self.warm_start_seconds is not None:
            _check_number("warm_start_seconds", self.warm_start_seconds, 0.0)
        if not isinstance(self.warm_start, bool):
            raise SolverInputError(f"warm_start must be true or false (got {self.warm_start!r})")


def _check_number(
    name: str, value: object, low: float, high: float | None = None, *, integer: bool = False
) -> None:
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and value >= low and (high is None or value <= high)
    if not ok:
        where = f">= {low:g}" if high is None else f"in [{low:g}, {high:g}]"
        raise SolverInputError(
            f"{name} must be {'an integer' if integer else 'a number'} {where} (got {value!r})"
        )


# ---------------------------------------------------------------------------- warm start
def warm_start(
    problem: Problem,
    time_limit: float,
    seed: int,
    threads: int,
    starters: Sequence[Callable[..., Result]],
) -> np.ndarray | None:
    """The first feasible assignment of ``starters`` (solver functions, tried in order: local
    search, then greedy, as :mod:`solvers.catalog` composes them); hints and fallback."""
    for starter in starters:
        result = starter(problem, time_limit=time_limit, seed=seed, threads=threads)
        if result.assignment is not None and not violations(problem, result.assignment):
            return np.asarray(result.assignment, dtype=np.int64)
    return None


def heuristic_assignments(
    problem: Problem, seed: int, seeders: Sequence[Callable[..., Result]]
) -> list[np.ndarray]:
    """Cheap heuristics' assignments (``seeders``: greedy, least-loaded, first-fit, as
    :mod:`solvers.catalog` composes them) that place everyone: their machines' contents seed the
    restricted master of column generation."""
    out = []
    for seeder in seeders:
        result = seeder(problem, time_limit=5.0, seed=seed)
        if result.assignment is not None and np.all(np.asarray(result.assignment) >= 0):
            out.append(np.asarray(result.assignment, dtype=np.int64))
    return out
