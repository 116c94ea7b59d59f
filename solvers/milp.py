"""``milp``: the configuration master (see :mod:`solvers.configurations`) as a MILP through PuLP.

Backends: HiGHS (default, in-process through highspy) or CBC (``backend="cbc"``, PuLP's bundled
binary). A proved optimum is told from a time-limited incumbent by the backend's own status,
never by PuLP's overall ``LpStatus`` (PuLP maps a HiGHS time-out with an incumbent to
"Optimal"): HiGHS's model status must be ``kOptimal``; CBC's solution status must be
``LpSolutionOptimal`` (its solution file starts with "Optimal"). The best bound comes from the
backend too: HiGHS's ``mip_dual_bound``, CBC's "Lower bound"/"best possible" log lines (None when
the log does not say).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time

import numpy as np
import pulp

from solvers import registry
from solvers.configurations import (
    Configurations,
    MasterBackend,
    StageOutcome,
    column_upper_bounds,
    fixed_slack,
    solve_exact,
    stage_coefficients,
)
from solvers.problem import Problem
from solvers.result import OPTIMALITY_GAP, Result

#: Gaps handed to the backends: tighter than OPTIMALITY_GAP so "optimal" means the same everywhere.
BACKEND_REL_GAP = OPTIMALITY_GAP / 10
BACKEND_ABS_GAP = 1e-9


class _HighsWithStart(pulp.HiGHS):
    """PuLP's HiGHS interface, plus a MIP start (PuLP's own HiGHS class ignores warm starts)."""

    def __init__(self, start: dict[str, float] | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start = start

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 - PuLP's name
        if self.start:
            import highspy

            variables = lp.variables()
            solution = highspy.HighsSolution()
            solution.col_value = [float(self.start.get(v.name, 0.0)) for v in variables]
            solution.value_valid = True
            lp.solverModel.setSolution(solution)
        super().callSolver(lp)


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
        self.name = f"pulp-{backend}"
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
        lp, x, extra = build_master(problem, configs, stage, fixed)
        limit = max(0.05, time_limit - (time.perf_counter() - build_start))
        if self.backend == "highs":
            return self._highs(lp, x, extra, hint, limit)
        return self._cbc(lp, x, extra, hint, limit)

    # -------------------------------------------------------------- HiGHS
    def _highs(self, lp, x, extra, hint, limit) -> StageOutcome:
        import highspy

        solver = _HighsWithStart(
            _start_values(x, extra, hint),
            msg=self.log,
            timeLimit=limit,
            threads=self.threads,
            gapRel=BACKEND_REL_GAP,
            gapAbs=BACKEND_ABS_GAP,
            random_seed=int(self.seed),
        )
        # HiGHS keeps one process-wide thread scheduler: a thread count different from the last
        # solve's (column generation's LPs, another caller) is an error unless it is reset
        highspy.Highs.resetGlobalScheduler(True)
        start = time.perf_counter()
        lp.solve(solver)
        elapsed = time.perf_counter() - start
        h = lp.solverModel
        model_status = h.getModelStatus()
        info_h = h.getInfo()
        info = {"highs_status": h.modelStatusToString(model_status), "seconds": elapsed}
        if model_status == highspy.HighsModelStatus.kInfeasible:
            return StageOutcome(None, False, True, None, info=info)
        # an incumbent exists iff HiGHS says its primal solution is feasible
        has_solution = info_h.primal_solution_status == 2  # kSolutionStatusFeasible
        if not has_solution:
            return StageOutcome(None, False, False, None, info=info)
        counts = _counts(x)
        bound = float(info_h.mip_dual_bound)
        bound = None if not math.isfinite(bound) else bound
        proved = model_status == highspy.HighsModelStatus.kOptimal
        value = float(info_h.objective_function_value)
        return StageOutcome(counts, proved, False, bound, [(elapsed, value)], info=info)

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


@registry.register(
    "milp",
    "exact: configuration model as a MILP through PuLP (HiGHS, or backend='cbc')",
    exact=True,
    respects_slo=True,
)
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
