"""The HiGHS backend (highspy): the master's linear form passed as arrays, HiGHS's model status
mapped into the one vocabulary; and a silent ``Highs`` for every HiGHS model of the package.

highspy prints its banner to the C-level standard output when the first ``Highs`` object of a
process is built, before any option can turn it off; in `placement solve` that banner would
land in the middle of the user's output (or in a piped solution). The first construction is
therefore done with file descriptor 1 pointed at /dev/null.

The model is built from arrays, not through PuLP: PuLP's per-variable Python objects are the
bottleneck at ~100k columns.
"""

from __future__ import annotations

import math
import os
import sys
import time

import highspy
import numpy as np

from solvers.exact.backend import (
    BACKEND_ABS_GAP,
    BACKEND_REL_GAP,
    StageOutcome,
    translate_status,
)
from solvers.exact.master import LinearForm, Master
from solvers.result import Status

#: HiGHS options for the master. Presolve off: measured on the 80x24 master (92,836 columns,
#: 43 rows) HiGHS's presolve (probing) ran past a 60 s limit without finishing, while with it
#: off the root LP is solved and the MIP proved optimal in ~2 s.
HIGHS_OPTIONS: dict = {"presolve": "off"}
#: HiGHS's ``random_seed`` is an int32 in [0, 2**31 - 1]; any seed in [0, 2**63) maps there.
SEED_MODULUS = 2**31
#: HiGHS refuses matrix values at or above this (its ``large_matrix_value``).
LARGEST_COEFFICIENT = 1e15

_Model = highspy.HighsModelStatus
#: HiGHS's model status in the one vocabulary. A limit or an interruption leaves whatever
#: incumbent HiGHS has (FEASIBLE when its primal solution is feasible, else UNKNOWN); errors,
#: an empty model and unboundedness (impossible for a bounded master) give nothing.
STATUS: dict[highspy.HighsModelStatus, Status] = {
    _Model.kOptimal: Status.OPTIMAL,
    _Model.kInfeasible: Status.INFEASIBLE,
    _Model.kTimeLimit: Status.FEASIBLE,
    _Model.kIterationLimit: Status.FEASIBLE,
    _Model.kSolutionLimit: Status.FEASIBLE,
    _Model.kInterrupt: Status.FEASIBLE,
    _Model.kHighsInterrupt: Status.FEASIBLE,
    _Model.kMemoryLimit: Status.FEASIBLE,
    _Model.kObjectiveBound: Status.FEASIBLE,
    _Model.kObjectiveTarget: Status.FEASIBLE,
    _Model.kUnknown: Status.FEASIBLE,
    _Model.kNotset: Status.UNKNOWN,
    _Model.kModelEmpty: Status.UNKNOWN,
    _Model.kLoadError: Status.UNKNOWN,
    _Model.kModelError: Status.UNKNOWN,
    _Model.kPresolveError: Status.UNKNOWN,
    _Model.kSolveError: Status.UNKNOWN,
    _Model.kPostsolveError: Status.UNKNOWN,
    _Model.kUnbounded: Status.UNKNOWN,
    _Model.kUnboundedOrInfeasible: Status.UNKNOWN,
}

_banner_shown = False


def new_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with logging off."""
    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def refusal(what: str) -> str:
    """Why HiGHS refused ``what``, in words a user can act on."""
    return (
        f"HiGHS refused {what}: a coefficient is {LARGEST_COEFFICIENT:g} or more in absolute "
        "value (a goal's per-machine figure: costs, weights or latencies too large for a MILP); "
        "try the cpsat solver or smaller units"
    )


def highs_model(form: LinearForm) -> highspy.HighsLp:
    """The linear form as a ``HighsLp`` (compressed columns, integrality per column)."""
    lp = highspy.HighsLp()
    lp.num_col_ = form.n_cols
    lp.num_row_ = int(form.row_lower.size)
    lp.col_cost_ = np.asarray(form.cost, dtype=float)
    lp.col_lower_ = np.asarray(form.col_lower, dtype=float)
    lp.col_upper_ = np.asarray(form.col_upper, dtype=float)
    lp.row_lower_ = np.asarray(form.row_lower, dtype=float)
    lp.row_upper_ = np.asarray(form.row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = form.starts
    lp.a_matrix_.index_ = form.index
    lp.a_matrix_.value_ = form.value
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
        for integer in form.integer.tolist()
    ]
    return lp


def empty_rows_feasible(form: LinearForm) -> bool:
    """Whether a model without columns meets its rows (each row's activity is then 0)."""
    return bool(np.all(np.asarray(form.row_lower) <= 0.0)
                and np.all(np.asarray(form.row_upper) >= 0.0))


class HighsBackend:
    """Solves a master with HiGHS, in process."""

    name = "highspy"

    def __init__(self, seed: int, threads: int, log: bool = False) -> None:
        self.seed = seed
        self.threads = max(1, int(threads))
        self.log = log

    def options(self, time_limit: float) -> dict:
        return {
            "output_flag": self.log,
            "time_limit": float(time_limit),
            "threads": self.threads,
            "mip_rel_gap": BACKEND_REL_GAP,
            "mip_abs_gap": BACKEND_ABS_GAP,
            "random_seed": int(self.seed) % SEED_MODULUS,
            **HIGHS_OPTIONS,
        }

    def solve(
        self, master: Master, hint: dict[int, int] | None, time_limit: float
    ) -> StageOutcome:
        build_start = time.perf_counter()
        form = master.linear_form()
        h = new_highs()
        if h.passModel(highs_model(form)) == highspy.HighsStatus.kError:
            return StageOutcome(Status.UNKNOWN, info={"error": refusal("the master")})
        limit = max(0.05, time_limit - (time.perf_counter() - build_start))
        for key, value in self.options(limit).items():
            h.setOptionValue(key, value)
        if hint:
            solution = highspy.HighsSolution()
            solution.col_value = form.start_vector(hint).tolist()
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
        native = h.getModelStatus()
        highs_info = h.getInfo()
        has_solution = (
            highs_info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        )
        status = translate_status(STATUS, native, has_solution)
        info = {"highs_status": h.modelStatusToString(native), "seconds": elapsed}
        if native == highspy.HighsModelStatus.kModelEmpty and not empty_rows_feasible(form):
            # no column at all (nothing may host some model): HiGHS does not check the rows of
            # an empty model, but every row's activity is 0, so a coverage row asking for
            # replicas proves it infeasible
            return StageOutcome(Status.INFEASIBLE, info=info)
        if not status.solved:
            return StageOutcome(status, info=info)
        values = np.asarray(h.getSolution().col_value[: form.n_x])
        counts = {int(c): int(round(v)) for c, v in enumerate(values) if round(v) > 0}
        bound = float(highs_info.mip_dual_bound)
        value = float(highs_info.objective_function_value)
        if not seen or abs(seen[-1][1] - value) > 1e-12 * max(1.0, abs(value)):
            seen.append((time.perf_counter() - build_start, value))
        return StageOutcome(status, counts, bound if math.isfinite(bound) else None, seen,
                            info=info)
