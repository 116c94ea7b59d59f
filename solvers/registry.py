"""Solvers by name; every solver has one signature and returns a :class:`Result`.

A solver is ``fn(problem, *, time_limit, seed, threads, **options) -> Result``. The table of
solvers is :data:`solvers.catalog.SOLVERS`; it is where solvers are composed (an exact solver
gets its warm start there, as a function), so no solver module imports this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solvers.result import Result, SolverInfo

if TYPE_CHECKING:
    from solvers.problem import Problem


def _table() -> dict[str, SolverInfo]:
    # Imported on first use, so `import solvers` stays cheap (no OR-Tools, no HiGHS).
    from solvers.catalog import SOLVERS

    return SOLVERS


def get(name: str) -> SolverInfo:
    try:
        return _table()[name]
    except KeyError:
        raise KeyError(f"unknown solver {name!r}; expected one of {', '.join(names())}") from None


def names() -> list[str]:
    return list(_table())


def all_solvers() -> list[SolverInfo]:
    return list(_table().values())


def run(name: str, problem: Problem, **kwargs) -> Result:
    return get(name).fn(problem, **kwargs)
