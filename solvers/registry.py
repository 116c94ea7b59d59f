"""Solvers registered by name; every solver has one signature and returns a :class:`Result`.

A solver is ``fn(problem, *, time_limit, seed, threads, **options) -> Result``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from solvers.problem import Problem
from solvers.result import Result

SolverFn = Callable[..., Result]


@dataclass(frozen=True)
class SolverInfo:
    name: str
    fn: SolverFn
    summary: str
    exact: bool  # proves optimality and bounds
    respects_slo: bool  # never returns an assignment that breaks a hard SLO


_REGISTRY: dict[str, SolverInfo] = {}


def register(
    name: str, summary: str, *, exact: bool = False, respects_slo: bool = False
) -> Callable[[SolverFn], SolverFn]:
    def decorate(fn: SolverFn) -> SolverFn:
        if name in _REGISTRY:
            raise ValueError(f"solver {name!r} registered twice")
        _REGISTRY[name] = SolverInfo(name, fn, summary, exact, respects_slo)
        return fn

    return decorate


def get(name: str) -> SolverInfo:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown solver {name!r}; expected one of {', '.join(names())}") from None


def names() -> list[str]:
    _load_all()
    return list(_REGISTRY)


def all_solvers() -> list[SolverInfo]:
    _load_all()
    return list(_REGISTRY.values())


def run(name: str, problem: Problem, **kwargs) -> Result:
    return get(name).fn(problem, **kwargs)


def _load_all() -> None:
    # Importing the modules registers their solvers; kept lazy so `import solvers` stays cheap.
    import solvers.catalog  # noqa: F401
