"""The library call: ``solve(instance)``. Load, compile, solve, evaluate: one way through.

Arguments are checked here, at the boundary, so that a wrong type is a ``TypeError`` and a bad
value a ``ValueError`` (:class:`~placement.formats.errors.UsageError`, exit 2 on the command
line) that names the argument, before any work starts.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import time
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from placement.cluster.moves import with_moves
from placement.compile import compile_problem
from placement.evaluate import figures, to_mapping
from placement.formats.errors import UsageError
from placement.formats.instance import Instance
from placement.formats.limits import MAX_TIME_LIMIT
from placement.formats.solution import Solution
from placement.interference import SetPredictor
from solvers import registry
from solvers.metrics import violations
from solvers.result import SolverInputError, Status

DEFAULT_TIME_LIMIT = 10.0
#: Seeds are integers in [0, 2**63) (SPEC section 4).
SEED_LIMIT = 2**63
MAX_THREADS = 1024
#: The arguments every solver takes; anything else is a solver option.
_COMMON = {"problem", "time_limit", "seed", "threads"}


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def check_time_limit(value: Any, name: str = "time_limit") -> float:
    """A finite number of seconds in (0, MAX_TIME_LIMIT]."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIME_LIMIT):
        raise UsageError(f"{name} must be a finite number of seconds in (0, {MAX_TIME_LIMIT:g}], "
                         f"got {value!r}")
    return seconds


def check_seed(value: Any, name: str = "seed") -> int:
    """An integer in [0, 2**63)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= int(value) < SEED_LIMIT:
        raise UsageError(f"{name} must be an integer in [0, 2**63), got {value!r}")
    return int(value)


def check_threads(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"threads must be an integer or None, got {type(value).__name__}")
    if not 1 <= int(value) <= MAX_THREADS:
        raise UsageError(f"threads must be in [1, {MAX_THREADS}], got {value!r}")
    return int(value)


def solver_options(name: str) -> set[str]:
    """The option names solver ``name`` accepts: the keyword parameters of its function (what
    the catalog binds when composing solvers is not an option), and for ``auto`` those of every
    solver it may pick."""
    fn = registry.get(name).fn
    bound: dict[str, Any] = fn.keywords if isinstance(fn, functools.partial) else {}
    names = {
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    names = names - _COMMON - set(bound)
    for choice in bound.get("choices", {}):
        if choice in registry.names() and choice != name:
            names |= solver_options(choice)
    return names


def check_options(name: str, options: dict[str, Any]) -> None:
    """Unknown option names are an error, not silently ignored (``backnd="cbc"``)."""
    unknown = sorted(set(options) - solver_options(name))
    if unknown:
        known = ", ".join(sorted(solver_options(name))) or "none"
        raise UsageError(f"solver {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {known}")


def as_instance(instance: Any) -> Instance:
    """An Instance, loading it when given a path."""
    if isinstance(instance, Instance):
        return instance
    if isinstance(instance, str | os.PathLike):
        return Instance.load(Path(instance))
    raise TypeError(f"instance must be an Instance or a path to an instance file, got "
                    f"{type(instance).__name__}")


def as_predictor(predictor: Any, instance: Instance) -> tuple[SetPredictor | None, float]:
    """A predictor object, loading it when given a path; and the seconds loading took."""
    if predictor is None:
        return None, 0.0
    if isinstance(predictor, str | os.PathLike):
        from placement.learn.predictor import load_predictor

        started = time.perf_counter()
        loaded = load_predictor(Path(predictor), catalog=instance)
        return loaded, time.perf_counter() - started
    if not callable(getattr(predictor, "predict_slowdown", None)):
        raise TypeError(f"predictor must be a predictor or a path to a predictor file, got "
                        f"{type(predictor).__name__}")
    return predictor, 0.0


def at_quantile(predictor: SetPredictor | None, quantile: Any) -> SetPredictor:
    """The predictor answering its robust ``quantile``; a clear error for a quantile outside
    (0, 1), without a predictor, or for a predictor without quantiles."""
    if isinstance(quantile, bool) or not isinstance(quantile, int | float) or not (
        0.0 < float(quantile) < 1.0
    ):
        raise UsageError(f"quantile must be a number strictly between 0 and 1, got {quantile!r}")
    if predictor is None:
        raise UsageError(
            "a quantile needs a predictor (--predictor PATH, or predictor= in solve())"
        )
    with_quantile = getattr(predictor, "with_quantile", None)
    if not callable(with_quantile):
        raise UsageError(f"this predictor ({type(predictor).__name__}) has no quantiles")
    return with_quantile(float(quantile))


def solve(
    instance: Instance | str | os.PathLike,
    solver: str = "auto",
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    seed: int = 0,
    threads: int | None = None,
    predictor: SetPredictor | str | os.PathLike | None = None,
    quantile: float | None = None,
    **options: Any,
) -> Solution:
    """Place every replica of ``instance`` (an Instance or a path) with ``solver`` and evaluate
    the result.

    >>> sol = solve("instances/demo.json", solver="greedy")  # from the repository root
    >>> sol.status, round(sol.summary.mean_degradation, 4), sol.summary.slo_violations
    ('feasible', 0.0464, 0)

    ``time_limit`` (seconds, finite, at most 1e6) bounds the whole solve: the clock starts
    before the instance is compiled (with a predictor, compiling asks it for every pair), the
    solver gets what is left, and ``solve_seconds`` is the time from that start to the
    solver's answer. ``seed`` (an integer in [0, 2**63)) makes randomized solvers
    repeatable. ``predictor`` (an object or a predictor file) plugs a learned slowdown
    predictor into the slowdown function; loading a file is timed apart, in
    ``info["predictor_load_seconds"]``. ``quantile`` (in (0, 1), with a predictor) makes the
    solver optimize and check SLOs against the predictor's robust upper quantile instead of
    its median (docs/predictor.md, "Robust placement"). Extra keyword ``options`` go to the solver
    (``backend="cbc"`` for ``milp``); an option the solver does not have is an error.
    """
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a solver name (str), got {type(solver).__name__}")
    seconds = check_time_limit(time_limit)
    seed = check_seed(seed)
    threads = check_threads(threads)
    try:
        info = registry.get(solver)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    check_options(solver, options)
    instance = as_instance(instance)
    predictor, load_seconds = as_predictor(predictor, instance)
    if quantile is not None:
        predictor = at_quantile(predictor, quantile)

    started = time.perf_counter()
    problem = compile_problem(instance, predictor=predictor)
    # the solver gets what compiling left; a floor keeps it able to return its first answer
    remaining = max(0.01, seconds - (time.perf_counter() - started))
    try:
        result = info.fn(
            problem,
            time_limit=remaining,
            seed=seed,
            threads=threads or default_threads(),
            **options,
        )
    except SolverInputError as exc:  # an option value or an instance it refuses (exit 2)
        raise UsageError(f"solver {solver!r}: {exc}") from None
    elapsed = round(time.perf_counter() - started, 6)
    ran = result.info.get("solver", solver)
    extra = {k: v for k, v in result.info.items() if k not in ("diagnosis", "solver")}
    if predictor is not None:
        extra["predictor_load_seconds"] = round(load_seconds, 6)
        if quantile is not None:
            extra["quantile"] = float(quantile)
        extra["solver_seconds"] = round(result.seconds, 6)
    if result.assignment is None or not result.status.solved:
        status = result.status if not result.status.solved else Status.UNKNOWN
        return Solution(
            instance=instance.name,
            solver=ran,
            status=status.value,
            bound=result.bound,
            solve_seconds=elapsed,
            diagnosis=list(result.info.get("diagnosis", [])),
            info=extra,
        )
    broken = violations(problem, result.assignment, check_slo=False)
    if broken:  # a solver bug, never a user error: refuse to report an invalid placement
        raise RuntimeError(f"solver {ran} returned an invalid assignment: {broken[:3]}")
    figs = figures(problem, result.assignment)
    if (
        problem.slo_mode == "hard"
        and figs["summary"].slo_violations
        and not registry.get(ran).respects_slo
    ):
        extra["warning"] = f"{ran} is SLO-blind: its placement breaks hard SLOs"
    solution = Solution(
        instance=instance.name,
        solver=ran,
        status=result.status.value,
        bound=result.bound,
        gap=result.gap,
        solve_seconds=elapsed,
        assignment=to_mapping(problem, result.assignment),
        diagnosis=list(result.info.get("diagnosis", [])),
        info=extra,
        **figs,
    )
    return with_moves(solution, instance)  # moves, their count and penalty (SPEC section 9)
