"""One result type and one status vocabulary for every solver (as cvxpy and PuLP do)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Status(StrEnum):
    OPTIMAL = "optimal"  # proved optimal (relative gap 0 within 1e-6)
    FEASIBLE = "feasible"  # a solution; optimality not proved
    INFEASIBLE = "infeasible"  # proved that no solution exists
    UNKNOWN = "unknown"  # nothing found within the time limit

    @property
    def solved(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


#: Relative gap under which an exact solver may call its incumbent optimal.
OPTIMALITY_GAP = 1e-6


@dataclass
class Result:
    status: Status
    assignment: np.ndarray | None  # [R] machine index per replica; None when nothing found
    objective: float | None = None  # the solver's own value of problem.objective
    bound: float | None = None  # proved lower bound (None for heuristics)
    gap: float | None = None  # relative gap (objective - bound) / max(|objective|, eps)
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # "diagnosis", "solver", backend details


def relative_gap(objective: float, bound: float) -> float:
    """(objective - bound) / |objective|, 0 when both are 0; never negative."""
    denom = max(abs(objective), 1e-9)
    if abs(objective - bound) <= 1e-12:
        return 0.0
    return max(0.0, (objective - bound) / denom)


SolverFn = Callable[..., Result]


@dataclass(frozen=True)
class SolverInfo:
    """A solver as :mod:`solvers.catalog` lists it: ``fn(problem, *, time_limit, seed, threads,
    **options) -> Result``."""

    name: str
    fn: SolverFn
    summary: str
    exact: bool = False  # proves optimality and bounds
    respects_slo: bool = False  # never returns an assignment that breaks a hard SLO


class SolverInputError(ValueError):
    """What a solver refuses before it starts: an option it does not know or a value out of its
    range (``backend="bogus"``), or an instance beyond its reach (``exhaustive`` on too many
    replicas). The caller shows the message to the user (exit 2, or a skipped row)."""


def starter_seconds(share: float, left: float) -> float:
    """A starting heuristic's time: ``share`` of the ``left`` seconds, but at least min(2 s, a
    quarter of them). On tight instances greedy cannot pack, local search needed 0.5-1.9 s to
    its first placement (40 x 12, a predictor, a loaded machine); a bare share of a short
    limit left it nothing (the exact solvers' warm start, ``lns``'s fallback starter)."""
    return max(share * left, min(2.0, 0.25 * left))
