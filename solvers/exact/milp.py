"""``milp``: the configuration master (see :mod:`solvers.exact.configurations`) as a MILP.

Backends: HiGHS (default, in-process, the model built directly with highspy from arrays) or CBC
(``backend="cbc"``, through PuLP and its bundled binary). A proved optimum is told from a
time-limited incumbent by the backend's own status: HiGHS's model status must be ``kOptimal``;
CBC's solution status must be ``LpSolutionOptimal`` (its solution file starts with "Optimal"),
never PuLP's overall ``LpStatus`` (which maps a time-out with an incumbent to "Optimal"). The
best bound comes from the backend too: HiGHS's ``mip_dual_bound``, CBC's "Lower bound"/"best
possible" log lines (None when the log does not say).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time

import numpy as np
import pulp

from solvers.exact.configurations import (
    Configurations,
    MasterBackend,
    StageOutcome,
    column_upper_bounds,
    fixed_slack,
    solve_exact,
    stage_coefficients,
)
from solvers.exact.highs import new_highs
from solvers.problem import Problem
from solvers.result import OPTIMALITY_GAP, Result

#: Gaps handed to the backends: tighter than OPTIMALITY_GAP so "optimal" means the same everywhere.
BACKEND_REL_GAP = OPTIMALITY_GAP / 10
BACKEND_ABS_GAP = 1e-9


def build_master(
    problem: Problem,
    configs: Configurations,
    stage: str,
    fixed: list[tuple[str, float]],
) -> tuple[pulp.LpProblem, list[pulp.LpVariable], dict]:
    """The stage's MILP: coverage, machine counts, earlier goals fixed, this goal minimized."""
    lp = pulp.LpProblem("placement_master", pulp.LpMinimize)
    ub = column_upper_bounds(problem, configs)
    worst = np.asarray(configs.max_degradation, dtype=float)
    for name, value in fixed:
        if name == "max_degradation":  # forbid the columns above the fixed worst degradation
            ub = np.where(worst > value + fixed_slack(name, value), 0, ub)
    x = [
        pulp.LpVariable(f"x{c:07d}", 0, int(ub[c]), cat=pulp.LpInteger) for c in range(len(configs))
    ]
    by_model: list[list[int]] = [[] for _ in range(problem.n_models)]
    by_type: list[list[int]] = [[] for _ in range(problem.n_types)]
    for c, (t, members) in enumerate(zip(configs.types, configs.members, strict=True)):
        by_type[t].append(c)
        for m in members:
            by_model[m].append(c)
    for m, count in enumerate(problem.replicas_per_model):
        lp += pulp.lpSum(x[c] for c in by_model[m]) == int(count), f"cover_{m}"
    for t, count in enumerate(problem.machines_per_type):
        if by_type[t]:
            lp += pulp.lpSum(x[c] for c in by_type[t]) <= int(count), f"machines_{t}"
    for name, value in fixed:
        if name != "max_degradation":
            coef = stage_coefficients(problem, configs, name)
            lp += (
                pulp.lpSum(float(coef[c]) * x[c] for c in range(len(x)) if coef[c] != 0)
                <= value + fixed_slack(name, value),
                f"fixed_{name}",
            )
    extra: dict = {}
    if stage == "max_degradation":
        # epigraph: z >= worst(c) whenever column c is used (u_c = 1)
        z = pulp.LpVariable("z_max_degradation", 0)
        u = {}
        for c in range(len(x)):
            if worst[c] > 0 and ub[c] > 0:
                u[c] = pulp.LpVariable(f"u{c:07d}", cat=pulp.LpBinary)
                lp += x[c] <= int(ub[c]) * u[c], f"use_{c}"
                lp += z >= float(worst[c]) * u[c], f"worst_{c}"
        lp += z
        extra = {"z": z, "u": u, "worst": worst}
    else:
        coef = stage_coefficients(problem, configs, stage)
        lp += pulp.lpSum(float(coef[c]) * x[c] for c in range(len(x)) if coef[c] != 0)
    return lp, x, extra


#: HiGHS options for the master. Presolve off: measured on the 80x24 master (92,836 columns,
#: 43 rows) HiGHS's presolve (probing) ran past a 60 s limit without finishing, while with it
#: off the root LP is solved and the MIP proved optimal in ~2 s.
HIGHS_OPTIONS: dict = {"presolve": "off"}


def build_highs_master(
    problem: Problem,
    configs: Configurations,
    stage: str,
    fixed: list[tuple[str, float]],
):
    """The stage's MILP, built directly with highspy from arrays (PuLP's per-variable Python
    objects are the bottleneck at ~100k columns). Columns: x (one per configuration), then for
    ``max_degradation`` the indicators u and the epigraph variable z. Returns (Highs, #x)."""
    import highspy
    import scipy.sparse as sp

    inf = highspy.kHighsInf
    C = len(configs)
    M, T = problem.n_models, problem.n_types
    ub = column_upper_bounds(problem, configs).astype(float)
    worst = np.asarray(configs.max_degradation, dtype=float)
    for name, value in fixed:
        if name == "max_degradation":
            ub = np.where(worst > value + fixed_slack(name, value), 0.0, ub)
    sizes = np.fromiter((len(ms) for ms in configs.members), dtype=np.int64, count=C)
    rows = np.fromiter(
        (m for ms in configs.members for m in ms), dtype=np.int64, count=int(sizes.sum())
    )
    cols = np.repeat(np.arange(C), sizes)
    rows = np.concatenate([rows, M + np.asarray(configs.types, dtype=np.int64)])
    cols = np.concatenate([cols, np.arange(C)])
    data = np.ones(rows.size)
    lower = [*problem.replicas_per_model.astype(float), *([-inf] * T)]
    upper = [*problem.replicas_per_model.astype(float), *problem.machines_per_type.astype(float)]
    n_rows = M + T
    for name, value in fixed:
        if name == "max_degradation":
            continue
        coef = stage_coefficients(problem, configs, name)
        nz = np.flatnonzero(coef)
        rows = np.concatenate([rows, np.full(nz.size, n_rows)])
        cols = np.concatenate([cols, nz])
        data = np.concatenate([data, coef[nz]])
        lower.append(-inf)
        upper.append(value + fixed_slack(name, value))
        n_rows += 1
    cost = np.zeros(C)
    col_lower = np.zeros(C)
    col_upper = ub
    integrality = [highspy.HighsVarType.kInteger] * C
    n_cols = C
    if stage == "max_degradation":
        used = np.flatnonzero((worst > 0) & (ub > 0))
        k = used.size
        u = C + np.arange(k)
        z = C + k
        # x_c - ub_c u_c <= 0 ; z - worst_c u_c >= 0
        r1 = n_rows + np.arange(k)
        r2 = n_rows + k + np.arange(k)
        rows = np.concatenate([rows, r1, r1, r2, r2])
        cols = np.concatenate([cols, used, u, np.full(k, z), u])
        data = np.concatenate([data, np.ones(k), -ub[used], np.ones(k), -worst[used]])
        lower += [-inf] * k + [0.0] * k
        upper += [0.0] * k + [inf] * k
        n_rows += 2 * k
        cost = np.concatenate([cost, np.zeros(k), [1.0]])
        col_lower = np.concatenate([col_lower, np.zeros(k), [0.0]])
        col_upper = np.concatenate([col_upper, np.ones(k), [inf]])
        integrality += [highspy.HighsVarType.kInteger] * k + [highspy.HighsVarType.kContinuous]
        n_cols = C + k + 1
    else:
        cost = stage_coefficients(problem, configs, stage).astype(float)
    A = sp.csc_matrix((data, (rows, cols)), shape=(n_rows, n_cols))
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.asarray(lower, dtype=float)
    lp.row_upper_ = np.asarray(upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    lp.integrality_ = integrality
    h = new_highs()
    h.passModel(lp)
    return h, C


def highs_start(h, n_x: int, configs: Configurations, hint: dict[int, int]) -> list[float]:
    """A full start vector (x, and for max degradation u and z) from column counts."""
    n = h.getNumCol()
    values = [0.0] * n
    for c, k in hint.items():
        values[c] = float(k)
    if n > n_x:  # u then z
        worst = np.asarray(configs.max_degradation, dtype=float)
        used = np.flatnonzero(worst > 0)
        lp = h.getLp()
        ub = np.asarray(lp.col_upper_[:n_x])
        used = used[ub[used] > 0]
        for j, c in enumerate(used):
            values[n_x + j] = 1.0 if hint.get(int(c), 0) > 0 else 0.0
        values[-1] = max((worst[c] for c, k in hint.items() if k > 0), default=0.0)
    return values


def _start_values(
    x: list[pulp.LpVariable], extra: dict, hint: dict[int, int] | None
) -> dict[str, float] | None:
    if not hint:
        return None
    start = {x[c].name: float(hint.get(c, 0)) for c in range(len(x))}
    if "z" in extra:
        worst = extra["worst"]
        for c, var in extra["u"].items():
            start[var.name] = 1.0 if hint.get(c, 0) > 0 else 0.0
        start[extra["z"].name] = max((worst[c] for c, k in hint.items() if k > 0), default=0.0)
    return start


class MilpMaster(MasterBackend):
    def __init__(self, backend: str, seed: int, threads: int, log: bool = False) -> None:
        if backend not in ("highs", "cbc"):
            raise ValueError(f"unknown MILP backend {backend!r}; expected 'highs' or 'cbc'")
        self.backend = backend
        # HiGHS is driven through highspy directly; CBC through PuLP
        self.name = "highspy" if backend == "highs" else "pulp-cbc"
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
        if self.backend == "highs":
            h, n_x = build_highs_master(problem, configs, stage, fixed)
            limit = max(0.05, time_limit - (time.perf_counter() - build_start))
            return self._highs(h, n_x, configs, hint, limit, build_start)
        lp, x, extra = build_master(problem, configs, stage, fixed)
        limit = max(0.05, time_limit - (time.perf_counter() - build_start))
        return self._cbc(lp, x, extra, hint, limit)

    # -------------------------------------------------------------- HiGHS
    def _highs(
        self, h, n_x: int, configs: Configurations, hint, limit, build_start: float
    ) -> StageOutcome:
        import highspy

        for key, value in {
            "output_flag": self.log,
            "time_limit": float(limit),
            "threads": self.threads,
            "mip_rel_gap": BACKEND_REL_GAP,
            "mip_abs_gap": BACKEND_ABS_GAP,
            "random_seed": int(self.seed),
            **HIGHS_OPTIONS,
        }.items():
            h.setOptionValue(key, value)
        if hint:
            start_values = highs_start(h, n_x, configs, hint)
            solution = highspy.HighsSolution()
            solution.col_value = start_values
            solution.value_valid = True
            h.setSolution(solution)
        seen: list[tuple[float, float]] = []
        start = time.perf_counter()

        def improving(event) -> None:  # times from the stage's start (building included)
            value = float(event.data_out.objective_function_value)
            seen.append((time.perf_counter() - build_start, value))

        h.cbMipImprovingSolution.subscribe(improving)
        # HiGHS keeps one process-wide thread scheduler: a thread count different from the last
        # solve's (column generation's LPs, another caller) is an error unless it is reset
        highspy.Highs.resetGlobalScheduler(True)
        h.run()
        elapsed = time.perf_counter() - start
        model_status = h.getModelStatus()
        info_h = h.getInfo()
        info = {"highs_status": h.modelStatusToString(model_status), "seconds": elapsed}
        if model_status == highspy.HighsModelStatus.kInfeasible:
            return StageOutcome(None, False, True, None, info=info)
        # an incumbent exists iff HiGHS says its primal solution is feasible
        if info_h.primal_solution_status != 2:  # kSolutionStatusFeasible
            return StageOutcome(None, False, False, None, info=info)
        values = np.asarray(h.getSolution().col_value[:n_x])
        counts = {int(c): int(round(v)) for c, v in enumerate(values) if round(v) > 0}
        bound = float(info_h.mip_dual_bound)
        bound = None if not math.isfinite(bound) else bound
        proved = model_status == highspy.HighsModelStatus.kOptimal
        value = float(info_h.objective_function_value)
        if not seen or abs(seen[-1][1] - value) > 1e-12 * max(1.0, abs(value)):
            seen.append((time.perf_counter() - build_start, value))
        return StageOutcome(counts, proved, False, bound, seen, info=info)

    # -------------------------------------------------------------- CBC
    def _cbc(self, lp, x, extra, hint, limit) -> StageOutcome:
        start_values = _start_values(x, extra, hint)
        if start_values:
            for var in lp.variables():
                if var.name in start_values:
                    var.setInitialValue(start_values[var.name])
        fd, log_path = tempfile.mkstemp(suffix=".log", prefix="cbc_")
        os.close(fd)
        try:
            solver = pulp.PULP_CBC_CMD(
                msg=self.log,
                timeLimit=limit,
                threads=self.threads,
                gapRel=BACKEND_REL_GAP,
                gapAbs=BACKEND_ABS_GAP,
                warmStart=bool(start_values),
                logPath=log_path,
                timeMode="elapsed",
                options=[f"randomSeed {int(self.seed) + 1}", f"randomCbcSeed {int(self.seed) + 1}"],
            )
            start = time.perf_counter()
            lp.solve(solver)
            elapsed = time.perf_counter() - start
            with open(log_path, encoding="utf-8", errors="replace") as f:
                log = f.read()
        finally:
            os.unlink(log_path)
        info = {
            "cbc_status": pulp.LpStatus[lp.status],
            "cbc_solution_status": pulp.LpSolution[lp.sol_status],
            "seconds": elapsed,
        }
        if lp.status == pulp.LpStatusInfeasible:
            return StageOutcome(None, False, True, None, info=info)
        if lp.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            return StageOutcome(None, False, False, None, info=info)
        proved = lp.sol_status == pulp.LpSolutionOptimal
        value = float(pulp.value(lp.objective) or 0.0)
        bound = value if proved else cbc_bound(log)
        return StageOutcome(_counts(x), proved, False, bound, [(elapsed, value)], info=info)


def cbc_bound(log: str) -> float | None:
    """CBC's best possible objective from its log (None when the log does not report one)."""
    for pattern in (r"Lower bound:\s*(-?[\d.eE+-]+)", r"best possible\s*(-?[\d.eE+-]+)"):
        found = re.findall(pattern, log)
        if found:
            try:
                return float(found[-1])
            except ValueError:
                continue
    return None


def _counts(x: list[pulp.LpVariable]) -> dict[int, int]:
    counts = {}
    for c, var in enumerate(x):
        k = int(round(var.varValue or 0.0))
        if k > 0:
            counts[c] = k
    return counts


def milp(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    backend: str = "highs",
    **options,
) -> Result:
    """Exact placement by a MILP over every machine configuration.

    Example::

        result = milp(problem, time_limit=10, backend="cbc")
        result.status, result.objective, result.bound
    """
    master = MilpMaster(backend, seed, threads, log=bool(options.pop("log", False)))
    return solve_exact(
        problem, master, solver="milp", time_limit=time_limit, seed=seed, threads=threads,
        **options,
    )
