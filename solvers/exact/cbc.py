"""The CBC backend, through PuLP and its bundled binary: the master's linear form written as
PuLP variables and constraints, CBC's status mapped into the one vocabulary.

A proved optimum is told from a time-limited incumbent by CBC's own *solution* status
(``LpSolutionOptimal``: its solution file starts with "Optimal"), never by PuLP's overall
``LpStatus``, which maps a time-out with an incumbent to "Optimal". The bound is CBC's
"Lower bound" / "best possible" log line (None when the log does not say).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time

import pulp

from solvers.exact.backend import (
    BACKEND_ABS_GAP,
    BACKEND_REL_GAP,
    StageOutcome,
    translate_status,
)
from solvers.exact.master import LinearForm, Master
from solvers.result import Status

#: CBC through PuLP in the one vocabulary, by (PuLP status, PuLP solution status): PuLP reads
#: both from CBC's solution file ("Optimal", "Stopped on time ... objective", "Infeasible",
#: "Integer infeasible", "Stopped" without a solution, "Unbounded").
STATUS: dict[tuple[int, int], Status] = {
    (pulp.LpStatusOptimal, pulp.LpSolutionOptimal): Status.OPTIMAL,
    (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible): Status.FEASIBLE,
    (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible): Status.INFEASIBLE,
    (pulp.LpStatusInfeasible, pulp.LpSolutionNoSolutionFound): Status.INFEASIBLE,
    (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound): Status.UNKNOWN,
    (pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded): Status.UNKNOWN,
    (pulp.LpStatusUndefined, pulp.LpSolutionNoSolutionFound): Status.UNKNOWN,
}
#: CBC's seeds must be positive C ints.
SEED_MODULUS = 2**31 - 1


def pulp_model(form: LinearForm) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The linear form as a PuLP problem; its variables in column order."""
    lp = pulp.LpProblem("placement_master", pulp.LpMinimize)
    variables = [
        pulp.LpVariable(
            name,
            float(lower),
            None if math.isinf(upper) else float(upper),
            cat=pulp.LpInteger if integer else pulp.LpContinuous,
        )
        for name, lower, upper, integer in zip(
            form.col_names, form.col_lower.tolist(), form.col_upper.tolist(),
            form.integer.tolist(), strict=True,
        )
    ]
    for r, (cols, coefs) in enumerate(form.row_entries()):
        lower, upper = float(form.row_lower[r]), float(form.row_upper[r])
        if not cols.size and lower <= 0 <= upper:
            continue  # a type no configuration uses
        expr = pulp.LpAffineExpression(
            [(variables[c], v) for c, v in zip(cols.tolist(), coefs.tolist(), strict=True)]
        )
        if lower == upper:
            lp += expr == lower, form.row_names[r]
        elif math.isinf(lower):
            lp += expr <= upper, form.row_names[r]
        elif math.isinf(upper):
            lp += expr >= lower, form.row_names[r]
        else:
            lp += expr >= lower, form.row_names[r] + "_lower"
            lp += expr <= upper, form.row_names[r] + "_upper"
    lp += pulp.LpAffineExpression(
        [(variables[j], cost) for j, cost in enumerate(form.cost.tolist()) if cost != 0]
    )
    return lp, variables


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


class CbcBackend:
    """Solves a master with CBC (a subprocess, through PuLP)."""

    name = "pulp-cbc"

    def __init__(self, seed: int, threads: int, log: bool = False) -> None:
        self.seed = seed
        self.threads = max(1, int(threads))
        self.log = log

    def solve(
        self, master: Master, hint: dict[int, int] | None, time_limit: float
    ) -> StageOutcome:
        build_start = time.perf_counter()
        form = master.linear_form()
        lp, variables = pulp_model(form)
        limit = max(0.05, time_limit - (time.perf_counter() - build_start))
        if hint:
            for var, value in zip(variables, form.start_vector(hint).tolist(), strict=True):
                var.setInitialValue(value)
        fd, log_path = tempfile.mkstemp(suffix=".log", prefix="cbc_")
        os.close(fd)
        seed = int(self.seed) % SEED_MODULUS + 1
        try:
            solver = pulp.PULP_CBC_CMD(
                msg=self.log,
                timeLimit=limit,
                threads=self.threads,
                gapRel=BACKEND_REL_GAP,
                gapAbs=BACKEND_ABS_GAP,
                warmStart=bool(hint),
                logPath=log_path,
                timeMode="elapsed",
                options=[f"randomSeed {seed}", f"randomCbcSeed {seed}"],
            )
            start = time.perf_counter()
            lp.solve(solver)
            elapsed = time.perf_counter() - start
            with open(log_path, encoding="utf-8", errors="replace") as f:
                log = f.read()
        finally:
            os.unlink(log_path)
        has_solution = lp.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        status = translate_status(STATUS, (lp.status, lp.sol_status), has_solution)
        info = {
            "cbc_status": pulp.LpStatus[lp.status],
            "cbc_solution_status": pulp.LpSolution[lp.sol_status],
            "seconds": elapsed,
        }
        if not status.solved:
            return StageOutcome(status, info=info)
        counts = {}
        for c, var in enumerate(variables[: form.n_x]):
            k = int(round(var.varValue or 0.0))
            if k > 0:
                counts[c] = k
        value = float(pulp.value(lp.objective) or 0.0)
        bound = value if status == Status.OPTIMAL else cbc_bound(log)
        return StageOutcome(status, counts, bound, [(elapsed, value)], info=info)
