"""What a backend is (something that solves a :class:`~solvers.exact.master.Master`) and what
it answers, in the one status vocabulary.

Each backend maps its native status through its own table into
:class:`~solvers.result.Status`, as cvxpy does: ``OPTIMAL`` (proved for this stage),
``FEASIBLE`` (a solution, not proved: a limit stopped the search), ``INFEASIBLE`` (proved that
the stage's master has no solution), ``UNKNOWN`` (nothing usable: no solution within the limit,
or the backend refused the model; ``info["error"]`` then says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from solvers.exact.master import Master
from solvers.result import OPTIMALITY_GAP, Status

#: Gaps handed to MILP backends: tighter than OPTIMALITY_GAP so "optimal" means the same
#: everywhere (HiGHS's default relative gap, 1e-4, would call a 0.01% worse solution optimal).
BACKEND_REL_GAP = OPTIMALITY_GAP / 10
BACKEND_ABS_GAP = 1e-9


@dataclass
class StageOutcome:
    """What solving one lexicographic stage gave."""

    status: Status
    counts: dict[int, int] | None = None  # column -> machines using it; None: no solution
    bound: float | None = None  # proved lower bound on the stage goal, in true (unscaled) units
    incumbents: list[tuple[float, float]] = field(default_factory=list)  # (seconds, value)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def proved(self) -> bool:
        return self.status == Status.OPTIMAL

    @property
    def infeasible(self) -> bool:
        return self.status == Status.INFEASIBLE


class MasterBackend(Protocol):
    """Solves a stage's master within a time limit, from an optional hint (column counts)."""

    name: str

    def solve(
        self, master: Master, hint: dict[int, int] | None, time_limit: float
    ) -> StageOutcome: ...


def translate_status(table: Mapping[Any, Status], native: Any, has_solution: bool) -> Status:
    """A native status through a backend's table; a status that promises a solution the backend
    did not give (a limit reached before the first one) is ``UNKNOWN``, and one missing from the
    table too."""
    status = table.get(native, Status.UNKNOWN)
    if status.solved and not has_solution:
        return Status.UNKNOWN
    return status


class ModelRefused(Exception):
    """A backend refused to load a model (HiGHS: a coefficient of 1e15 or more); the message
    says which and why, in words for the user."""
