"""``cpsat``: the configuration master (:mod:`solvers.exact.master`) on OR-Tools CP-SAT.

CP-SAT wants integer coefficients. Real ones (earlier goals' rows, the stage's costs, the max
goal's values) are scaled and rounded *down*, so the scaled optimum's bound divided by the scale
is still a proved lower bound on the true goal; the scale is as large as int64 arithmetic safely
allows (the whole objective below ~1e12), which keeps the rounding far under
:data:`~solvers.result.OPTIMALITY_GAP`. The objective itself is always recomputed by the
evaluator from the assignment.

Workers: the master is solved by ONE CP-SAT worker unless ``threads`` is at least
:data:`PORTFOLIO_THREADS` (then that many: a portfolio that large runs CP-SAT's diverse
strategies side by side; not measured here, the machine has 2 cores); ``threads`` always goes
to the warm start, and ``cp_params={"num_workers": n}`` overrides. Measured on generated 40x12
masters (10k-66k columns, 2 shared cores at load ~5): one worker proved every stage in 1-11 s,
where two interleaved workers (the deterministic portfolio, ~14 subsolvers taking turns) proved
1 of 5 mean-degradation masters in 30 s, 0 of 3 max-degradation ones in 20 s, and two
free-running workers took 2-4x longer than one. The single worker's LP search is what proves these
set-partitioning masters (their LP bound is nearly tight); the portfolio divides its time.

Determinism: ``random_seed`` is derived from the seed; with one worker CP-SAT is deterministic,
with several (``cp_params``) we set ``interleave_search`` so the workers run interleaved in one
deterministic schedule. A wall-clock time limit can still cut the search at a different point on
a loaded machine, so bit-identical answers are guaranteed only for solves that finish before the
limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from ortools.sat import sat_parameters_pb2
from ortools.sat.python import cp_model

from solvers.exact.backend import StageOutcome, translate_status
from solvers.exact.columns import DEFAULT_MAX_CONFIGURATIONS
from solvers.exact.driver import solve_exact
from solvers.exact.master import Master
from solvers.exact.options import ExactOptions
from solvers.problem import Problem
from solvers.result import Result, SolverInputError, Status

#: Largest scaled objective we let CP-SAT see (doubles in its LP stay exact far beyond this).
MAX_SCALED_TOTAL = 1e12
#: CP-SAT's ``random_seed`` is an int32; any seed in [0, 2**63) maps into [0, 2**31).
SEED_MODULUS = 2**31

#: Set-partitioning masters have thousands of columns and few rows: CP-SAT's full presolve and
#: probing spend most of the limit on them for no gain (measured on 40x12: 14 s of presolve,
#: then 4 s of probing), so presolve is off. The hint (the warm start) is still the first
#: solution, but the search that tries to complete it is stopped at once
#: (``hint_conflict_limit: 0``): on a 66k-column master it spent 8 s before the LP search, which
#: then proved the optimum in a second (measured, one worker, 5 generated 40x12 masters: 2.8-5.8 s
#: with it where 2.3-11.9 s without; max-degradation masters 5.7 and 8.5 s where 10 and 12 s).
DEFAULT_PARAMS: dict[str, Any] = {"cp_model_presolve": False, "hint_conflict_limit": 0}
#: CP-SAT workers on a master below PORTFOLIO_THREADS threads (module docstring: one proves these
#: masters fastest, measured against two).
MASTER_WORKERS = 1
#: From this many threads the master gets them all (CP-SAT's full portfolio).
PORTFOLIO_THREADS = 8

#: CP-SAT's status in the one vocabulary (MODEL_INVALID: a bug of ours, reported as unknown).
STATUS: dict[int, Status] = {
    cp_model.OPTIMAL: Status.OPTIMAL,
    cp_model.FEASIBLE: Status.FEASIBLE,
    cp_model.INFEASIBLE: Status.INFEASIBLE,
    cp_model.UNKNOWN: Status.UNKNOWN,
    cp_model.MODEL_INVALID: Status.UNKNOWN,
}


def integer_scale(coef: np.ndarray, ub: np.ndarray) -> float:
    """The factor real coefficients are multiplied by before rounding down: as large as keeps
    ``sum |coef| ub`` below :data:`MAX_SCALED_TOTAL` (at most 1e9 per unit)."""
    total = float(np.abs(coef) @ ub) if coef.size else 0.0
    if total <= 0:
        return 1.0
    return min(1e9, MAX_SCALED_TOTAL / total)


class _Incumbents(cp_model.CpSolverSolutionCallback):
    """Records when each improving solution appeared (for time-to-quality figures)."""

    def __init__(self, scale: float, start: float) -> None:
        super().__init__()
        self.scale = scale
        self.start = start
        self.seen: list[tuple[float, float]] = []

    def on_solution_callback(self) -> None:
        self.seen.append((time.perf_counter() - self.start, self.ObjectiveValue() / self.scale))


# ---------------------------------------------------------------------------- translation
def add_columns(model: cp_model.CpModel, master: Master) -> list[cp_model.IntVar]:
    """One integer variable per configuration, within its bounds."""
    return [model.new_int_var(0, int(ub), f"x{c}") for c, ub in enumerate(master.upper)]


def add_rows(model: cp_model.CpModel, master: Master, x: list) -> None:
    """Every row of the master: integral rows as they are, real ones scaled (rounded down, the
    right side rounded past the rounding of any solution)."""
    rows = master.rows
    for r, (cols, coefs) in enumerate(master.row_entries()):
        lower, upper = float(rows.lower[r]), float(rows.upper[r])
        if not cols.size and lower <= 0 <= upper:
            continue  # a type no configuration uses
        if rows.integral[r]:
            add_integral_row(model, x, cols, coefs, lower, upper)
        else:
            add_scaled_row(model, x, master.n_columns, cols, coefs, upper)


def add_integral_row(
    model: cp_model.CpModel, x: list, cols: np.ndarray, coefs: np.ndarray, lower: float,
    upper: float,
) -> None:
    """``lower <= sum coef x <= upper`` with integer coefficients and bounds."""
    # LinearExpr.sum / weighted_sum build in C++: Python's sum() of 500k terms took ~1 s
    if np.all(coefs == 1.0):
        expr = cp_model.LinearExpr.sum([x[c] for c in cols.tolist()])
    else:
        expr = cp_model.LinearExpr.weighted_sum(
            [x[c] for c in cols.tolist()], [int(v) for v in coefs.tolist()]
        )
    if lower == upper:
        model.add(expr == int(lower))
    elif math.isinf(lower):
        model.add(expr <= int(upper))
    elif math.isinf(upper):
        model.add(expr >= int(lower))
    else:
        model.add_linear_constraint(expr, int(lower), int(upper))


def add_scaled_row(
    model: cp_model.CpModel, x: list, n_columns: int, cols: np.ndarray, coefs: np.ndarray,
    upper: float,
) -> None:
    """``sum coef x <= upper`` with real coefficients (an earlier goal fixed): scaled up and
    rounded down; each used column loses < 1 unit to flooring, so a solution of true value
    <= upper has scaled value <= upper * scale: allow it exactly, no more."""
    dense = np.zeros(n_columns)
    dense[cols] = coefs
    scale = integer_scale(dense, np.ones_like(dense))
    scaled = np.floor(dense * scale).astype(np.int64)
    limit = math.floor(upper * scale + 1e-9)
    model.add(sum(int(scaled[c]) * x[c] for c in range(n_columns) if scaled[c] != 0) <= limit)


def add_linear_objective(model: cp_model.CpModel, master: Master, x: list) -> float:
    """Minimize the scaled, floor-rounded costs; the scale."""
    scale = integer_scale(master.cost, master.upper)
    scaled = np.floor(master.cost * scale).astype(np.int64)
    used = np.flatnonzero(scaled)
    model.minimize(cp_model.LinearExpr.weighted_sum(
        [x[c] for c in used.tolist()], scaled[used].tolist()
    ))
    return scale


def add_max_objective(model: cp_model.CpModel, master: Master, x: list) -> float:
    """Minimize z >= the worst value of every configuration in use (epigraph of the max, each
    bound enforced by an indicator); the scale."""
    worst = master.worst
    assert worst is not None
    # one scale for the max and the columns' own costs (a move penalty), both rounded down
    scale = integer_scale(
        np.concatenate([worst, master.cost]),
        np.concatenate([np.ones_like(worst), master.upper.astype(float)]),
    )
    scaled = np.floor(worst * scale).astype(np.int64)
    costs = np.floor(master.cost * scale).astype(np.int64)
    z = model.new_int_var(0, int(scaled.max(initial=0)), "max_degradation")
    for c in range(len(x)):
        if scaled[c] > 0 and master.upper[c] > 0:
            used = model.new_bool_var(f"u{c}")
            model.add(x[c] <= int(master.upper[c]) * used)
            model.add(z >= int(scaled[c])).only_enforce_if(used)
    model.minimize(z + sum(int(costs[c]) * x[c] for c in range(len(x)) if costs[c] != 0))
    return scale


class CpSatBackend:
    """Solves a master with CP-SAT."""

    name = "cp-sat"

    def __init__(
        self, seed: int, threads: int, log: bool = False, params: Mapping[str, Any] | None = None
    ) -> None:
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        self.seed = seed
        self.threads = max(1, int(threads))
        self.log = log

    def solve(
        self, master: Master, hint: dict[int, int] | None, time_limit: float
    ) -> StageOutcome:
        build_start = time.perf_counter()
        model = cp_model.CpModel()
        x = add_columns(model, master)
        add_rows(model, master, x)
        if master.worst is None:
            scale = add_linear_objective(model, master, x)
        else:
            scale = add_max_objective(model, master, x)
        if hint:
            # the whole hint in two array copies (add_hint per variable: ~0.3 s at 66k columns)
            model.proto.solution_hint.vars.extend(v.index for v in x)
            model.proto.solution_hint.values.extend(int(hint.get(c, 0)) for c in range(len(x)))

        solver = cp_model.CpSolver()
        self.configure(solver.parameters, time_limit - (time.perf_counter() - build_start))
        callback = _Incumbents(scale, build_start)  # incumbent times from the stage's start
        native = solver.solve(model, callback)
        has_solution = native in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        status = translate_status(STATUS, native, has_solution)
        info = {"cp_sat_status": solver.status_name(native), "scale": scale}
        if native == cp_model.MODEL_INVALID:
            info["error"] = f"CP-SAT refused the model: {model.validate()}"
        if not status.solved:
            return StageOutcome(status, info=info)
        counts = {c: int(solver.value(x[c])) for c in range(len(x))}
        counts = {c: k for c, k in counts.items() if k > 0}
        # floor-rounded costs: scaled bound / scale is a valid bound on the true goal
        bound = float(solver.best_objective_bound) / scale
        return StageOutcome(status, counts, bound, callback.seen, info=info)

    def configure(self, params, time_limit: float) -> None:
        """Time limit (what is left after building), workers (:data:`MASTER_WORKERS`, or
        ``threads`` from :data:`PORTFOLIO_THREADS` on, unless the extra params say), seed,
        logging, extra params."""
        params.max_time_in_seconds = max(0.05, time_limit)
        params.num_workers = (
            self.threads if self.threads >= PORTFOLIO_THREADS else MASTER_WORKERS
        )
        params.random_seed = int(self.seed) % SEED_MODULUS
        params.log_search_progress = self.log
        for key, value in self.params.items():
            setattr(params, key, value)
        if params.num_workers != 1 and "interleave_search" not in self.params:
            params.interleave_search = True  # several workers: one deterministic schedule


def check_cp_params(params: Mapping[str, Any] | None) -> None:
    """Every key must be a CP-SAT parameter (``cp_params={"bogus": 1}`` is refused up front)."""
    if params is None:
        return
    known = set(sat_parameters_pb2.SatParameters.DESCRIPTOR.fields_by_name)
    unknown = sorted(set(params) - known)
    if unknown:
        raise SolverInputError(f"cp_params: {', '.join(unknown)} not CP-SAT parameters")


def cpsat(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    route: str = "auto",
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
    cg_share: float = 0.6,
    pricing_nodes: int = 20_000,
    warm_start: bool = True,
    warm_start_seconds: float | None = None,
    log: bool = False,
    cp_params: Mapping[str, Any] | None = None,
    starters: Sequence[Callable[..., Result]] = (),
    seeders: Sequence[Callable[..., Result]] = (),
) -> Result:
    """Exact placement by CP-SAT over every machine configuration (or column generation beyond
    ``max_configurations``; see docs/formulations.md for every option)."""
    options = ExactOptions(
        route=route, max_configurations=max_configurations, cg_share=cg_share,
        pricing_nodes=pricing_nodes, warm_start=warm_start,
        warm_start_seconds=warm_start_seconds, starters=tuple(starters), seeders=tuple(seeders),
    )
    check_cp_params(cp_params)
    backend = CpSatBackend(seed, threads, log=bool(log), params=cp_params)
    return solve_exact(
        problem, backend, solver="cpsat", time_limit=time_limit, seed=seed, threads=threads,
        options=options,
    )
