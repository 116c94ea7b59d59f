"""``cpsat``: the configuration master (see :mod:`solvers.exact.configurations`) with OR-Tools CP-SAT.

CP-SAT wants integer coefficients. Costs are scaled and rounded *down*, so the scaled optimum's
bound divided by the scale is still a proved lower bound on the true goal; the scale is as large
as int64 arithmetic safely allows (the whole objective below ~1e12), which keeps the rounding
far under :data:`~solvers.result.OPTIMALITY_GAP`. The objective itself is always recomputed by
the evaluator from the assignment.

Determinism: ``random_seed`` is the seed; with one worker CP-SAT is deterministic, with several
we set ``interleave_search`` so the workers run interleaved in one deterministic schedule. A
wall-clock time limit can still cut the search at a different point on a loaded machine, so
bit-identical answers are guaranteed only for solves that finish before the limit.
"""

from __future__ import annotations

import math
import time

import numpy as np
from ortools.sat.python import cp_model

from solvers.exact.configurations import (
    Configurations,
    MasterBackend,
    StageOutcome,
    column_upper_bounds,
    fixed_slack,
    solve_exact,
    stage_coefficients,
)
from solvers.problem import Problem
from solvers.result import Result

#: Largest scaled objective we let CP-SAT see (doubles in its LP stay exact far beyond this).
MAX_SCALED_TOTAL = 1e12


def _scale(coef: np.ndarray, ub: np.ndarray) -> float:
    total = float(np.abs(coef) @ ub) if coef.size else 0.0
    if total <= 0:
        return 1.0
    return min(1e9, MAX_SCALED_TOTAL / total)


#: Set-partitioning masters have thousands of columns and few rows: CP-SAT's full presolve and
#: probing spend most of the limit on them for no gain (measured on 40x12: 14 s of presolve,
#: then 4 s of probing), so both are kept short.
DEFAULT_PARAMS: dict = {"cp_model_presolve": False}


class _Incumbents(cp_model.CpSolverSolutionCallback):
    """Records when each improving solution appeared (for time-to-quality figures)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.start = time.perf_counter()
        self.seen: list[tuple[float, float]] = []

    def on_solution_callback(self) -> None:
        self.seen.append((time.perf_counter() - self.start, self.ObjectiveValue() / self.scale))


class CpSatMaster(MasterBackend):
    name = "cp-sat"

    def __init__(
        self, seed: int, threads: int, log: bool = False, params: dict | None = None
    ) -> None:
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        self.seed = seed
        self.threads = max(1, int(threads))
        self.log = log

    def solve_stage(
        self,
        problem: Problem,
        configs: Configurations,
        stage: str,
        fixed: list[tuple[str, float]],
        hint: dict[int, int] | None,
        time_limit: float,
    ) -> StageOutcome:
        build_start = time.perf_counter()
        model = cp_model.CpModel()
        ub = column_upper_bounds(problem, configs)
        worst = np.asarray(configs.max_degradation, dtype=float)
        # an earlier max_degradation goal is fixed by forbidding the columns above it
        for name, value in fixed:
            if name == "max_degradation":
                ub = np.where(worst > value + fixed_slack(name, value), 0, ub)
        x = [model.new_int_var(0, int(ub[c]), f"x{c}") for c in range(len(configs))]
        add_coverage(model, problem, configs, x)
        add_machine_counts(model, problem, configs, x)
        for name, value in fixed:
            if name != "max_degradation":
                coef = stage_coefficients(problem, configs, name)
                add_fixed_goal(model, coef, x, value + fixed_slack(name, value))
        if stage == "max_degradation":
            scale = _scale(worst, np.ones_like(worst))
            z = add_max_degradation(model, configs, x, ub, worst, scale)
            model.minimize(z)
        else:
            coef = stage_coefficients(problem, configs, stage)
            scale = _scale(coef, ub)
            scaled = np.floor(coef * scale).astype(np.int64)
            model.minimize(sum(int(scaled[c]) * x[c] for c in range(len(x)) if scaled[c] != 0))
        if hint:
            for c in range(len(x)):
                model.add_hint(x[c], int(hint.get(c, 0)))

        solver = cp_model.CpSolver()
        params = solver.parameters
        # building the model is part of the caller's limit too
        params.max_time_in_seconds = max(0.05, time_limit - (time.perf_counter() - build_start))
        params.num_workers = self.threads
        params.random_seed = int(self.seed)
        if self.threads > 1:
            params.interleave_search = True
        params.log_search_progress = self.log
        for key, value in self.params.items():
            setattr(params, key, value)
        callback = _Incumbents(scale)
        callback.start = build_start  # incumbent times from the stage's start
        status = solver.solve(model, callback)
        info = {"cp_sat_status": solver.status_name(status), "scale": scale}
        if status == cp_model.INFEASIBLE:
            return StageOutcome(None, False, True, None, info=info)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return StageOutcome(None, False, False, None, info=info)
        counts = {c: int(solver.value(x[c])) for c in range(len(x))}
        counts = {c: k for c, k in counts.items() if k > 0}
        # floor-rounded costs: scaled bound / scale is a valid bound on the true goal
        bound = float(solver.best_objective_bound) / scale
        return StageOutcome(
            counts, status == cp_model.OPTIMAL, False, bound, callback.seen, info=info
        )


def add_fixed_goal(model: cp_model.CpModel, coef: np.ndarray, x: list, rhs: float) -> None:
    """sum coef x <= rhs for an earlier goal, in integers: coefficients are scaled up (rounded
    down) and the right side rounded up past the rounding error of any solution."""
    scale = _scale(coef, np.ones_like(coef))
    scaled = np.floor(coef * scale).astype(np.int64)
    # each used column loses < 1 unit to flooring, so a solution of true value <= rhs has
    # scaled value <= rhs*scale; allow it exactly, no more
    limit = math.floor(rhs * scale + 1e-9)
    model.add(sum(int(scaled[c]) * x[c] for c in range(len(x)) if scaled[c] != 0) <= limit)


def add_coverage(
    model: cp_model.CpModel, problem: Problem, configs: Configurations, x: list
) -> None:
    """Every replica placed exactly once, replicas of a model on distinct machines."""
    by_model: list[list[int]] = [[] for _ in range(problem.n_models)]
    for c, members in enumerate(configs.members):
        for m in members:
            by_model[m].append(c)
    for m, count in enumerate(problem.replicas_per_model):
        model.add(sum(x[c] for c in by_model[m]) == int(count))


def add_machine_counts(
    model: cp_model.CpModel, problem: Problem, configs: Configurations, x: list
) -> None:
    """No more machines of a type in use than the instance has."""
    by_type: list[list[int]] = [[] for _ in range(problem.n_types)]
    for c, t in enumerate(configs.types):
        by_type[t].append(c)
    for t, count in enumerate(problem.machines_per_type):
        if by_type[t]:
            model.add(sum(x[c] for c in by_type[t]) <= int(count))


def add_max_degradation(
    model: cp_model.CpModel,
    configs: Configurations,
    x: list,
    ub: np.ndarray,
    worst: np.ndarray,
    scale: float,
) -> cp_model.IntVar:
    """z >= worst degradation of every configuration in use (epigraph of the max)."""
    scaled = np.floor(worst * scale).astype(np.int64)
    z = model.new_int_var(0, int(scaled.max(initial=0)), "max_degradation")
    for c in range(len(x)):
        if scaled[c] > 0 and ub[c] > 0:
            used = model.new_bool_var(f"u{c}")
            model.add(x[c] <= int(ub[c]) * used)
            model.add(z >= int(scaled[c])).only_enforce_if(used)
    return z


def cpsat(
    problem: Problem, *, time_limit: float, seed: int = 0, threads: int = 1, **options
) -> Result:
    """Exact placement by CP-SAT over every machine configuration.

    Example::

        result = cpsat(problem, time_limit=10, seed=0)
        result.status, result.objective, result.bound
    """
    backend = CpSatMaster(
        seed, threads, log=bool(options.pop("log", False)), params=options.pop("cp_params", None)
    )
    return solve_exact(
        problem, backend, solver="cpsat", time_limit=time_limit, seed=seed, threads=threads,
        **options,
    )
