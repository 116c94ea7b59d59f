"""One lexicographic stage without every column: column generation on the stage's LP (a proved
Lagrangian bound), the LP rounded (its columns' integer parts fixed, the small residual master
solved exactly), the integer master over the generated columns (price-and-branch) from the
better of the warm start and the rounding, a dive on the LP if that finds nothing, more pricing
with the time left, and closing the gap.

The stage is proved only when its solution meets the proved bound, or when the integer master
over every column that could beat the incumbent is solved to optimality.
"""

from __future__ import annotations

import math
import time

from solvers.exact.backend import MasterBackend, ModelRefused, StageOutcome
from solvers.exact.colgen import ColumnGenerator
from solvers.exact.columns import Configurations
from solvers.exact.goals import is_linear, meets, safe_bound, stage_value
from solvers.exact.master import Master, build_master, residual
from solvers.objectives import TIE_BREAK
from solvers.problem import Problem
from solvers.result import Status

#: The goal that prices a stage whose own goal is not a sum (the max goal): the tie-break, mean
#: degradation; column generation then proves no bound for the stage.
PRICING_FALLBACK = TIE_BREAK
#: Share of the time left after column generation that rounding the LP may take (the residual
#: master is small: measured at 2,000 x 500, ~50 fractional machines, 1-5 s to optimality).
ROUNDING_SHARE = 0.5


def column_generation_stage(
    problem: Problem,
    configs: Configurations,
    backend: MasterBackend,
    stage: str,
    fixed: list[tuple[str, float]],
    hint: dict[int, int] | None,
    time_limit: float,
    *,
    cg_share: float,
    pricing_nodes: int,
) -> StageOutcome:
    """The stage's outcome (module docstring); ``configs`` grows with the generated columns."""
    try:
        return _stage(problem, configs, backend, stage, fixed, hint, time_limit, cg_share,
                      pricing_nodes)
    except ModelRefused as refused:
        return StageOutcome(Status.UNKNOWN, info={"error": str(refused)})


def _stage(
    problem: Problem,
    configs: Configurations,
    backend: MasterBackend,
    stage: str,
    fixed: list[tuple[str, float]],
    hint: dict[int, int] | None,
    time_limit: float,
    cg_share: float,
    pricing_nodes: int,
) -> StageOutcome:
    start = time.perf_counter()
    deadline = start + time_limit
    pricing = stage if is_linear(stage) else PRICING_FALLBACK
    generator = ColumnGenerator(problem, configs, pricing, fixed)
    target = stage_value(problem, configs, stage, hint) if hint else None
    cg = generator.run(
        start + cg_share * time_limit,
        target=target if pricing == stage else None,
        node_budget=pricing_nodes,
    )
    info: dict = {"column_generation": cg.info}
    bound = safe_bound(stage, cg.bound) if cg.bound is not None and pricing == stage else None
    if bound is None:
        info["bound"] = "none proved: " + (
            "max degradation is priced by mean degradation" if pricing != stage
            else "pricing did not complete a round" if cg.proved_pricing
            else "the slowdown structure was contradicted by the slowdown function"
        )
    if hint and bound is not None and meets(stage, target, bound):
        info["proved_by"] = "warm start meets the Lagrangian bound"
        return StageOutcome(Status.OPTIMAL, dict(hint), bound, [(0.0, target)], info=info)

    # round the LP: at cluster size its solution is nearly integral, and the residual master
    # (what the integer parts leave) is small; measured at 2,000 x 500 it lands within 0.1% of
    # the LP where the whole restricted master from a heuristic start finds nothing in 3 s
    # one master over the generated columns serves the rounding and price-and-branch
    master = build_master(problem, configs, stage, fixed)
    rounded = None
    if cg.lp_solution and deadline - time.perf_counter() > 0.5:
        rounded, info["rounding"] = round_lp(
            master, backend, cg.lp_solution,
            time.perf_counter() + ROUNDING_SHARE * (deadline - time.perf_counter()),
        )
        if rounded is not None:
            value = stage_value(problem, configs, stage, rounded)
            info["rounding"]["value"] = value
            if hint is None or value < stage_value(problem, configs, stage, hint):
                hint = rounded
                if bound is not None and meets(stage, value, bound):
                    info["proved_by"] = "the rounded LP meets the Lagrangian bound"
                    return StageOutcome(Status.OPTIMAL, dict(rounded), bound,
                                        [(time.perf_counter() - start, value)], info=info)

    # price-and-branch: the integer master over the generated columns, else a dive on the LP
    master_start = time.perf_counter() - start
    out = backend.solve(master, hint, max(0.05, deadline - time.perf_counter()))
    info["restricted_master"] = {"proved": out.proved, **out.info}
    if "error" in out.info:
        info["error"] = out.info["error"]
    counts = out.counts
    if rounded is not None and hint is rounded and (
        counts is None
        or stage_value(problem, configs, stage, counts) > stage_value(problem, configs, stage,
                                                                       rounded)
    ):
        # a time-limited master that found nothing or lost its start: the rounding stands
        out.counts = counts = rounded
        out.incumbents = [(time.perf_counter() - start - master_start,
                           stage_value(problem, configs, stage, rounded))]
    if counts is None:
        generator.sync()
        dive = generator.dive(deadline)
        if dive is not None:
            counts = dive
            info["dive"] = True
    if counts is None:
        return StageOutcome(Status.UNKNOWN, None, bound, info=info)
    value = stage_value(problem, configs, stage, counts)
    proved = bound is not None and meets(stage, value, bound)
    if out.counts is not None:  # the backend's times count from its own start
        incumbents = [(master_start + s, v) for s, v in out.incumbents]
    else:
        incumbents = [(time.perf_counter() - start, value)]

    left = deadline - time.perf_counter()
    # a bound that met the LP value proves the LP solved: more pricing cannot raise it
    lp_solved = cg.bound is not None and cg.lp_value is not None and (
        cg.lp_value - cg.bound <= 1e-7 * max(1.0, abs(cg.lp_value))
    )
    if not proved and pricing == stage and left > 2.0 and not info.get("dive") and not lp_solved:
        # the time the integer master left: more pricing rounds, for a (better) proved bound
        # (only complete rounds give one); a quarter is kept for closing the gap
        more = generator.run(
            time.perf_counter() + 0.75 * left, target=value, node_budget=pricing_nodes
        )
        info["more_column_generation"] = more.info
        if more.bound is not None:
            extra = safe_bound(stage, more.bound)
            bound = extra if bound is None else max(bound, extra)
            proved = meets(stage, value, bound)
            if proved:
                info["proved_by"] = "incumbent meets the Lagrangian bound"

    if not proved and bound is not None and deadline - time.perf_counter() > 0.5:
        # close the gap: every column that could be in a better solution, then the integer
        # master over them is exact
        before = len(configs)
        if generator.columns_within(value - bound, deadline):
            info["gap_columns"] = len(configs) - before
            offset = time.perf_counter() - start
            again = backend.solve(build_master(problem, configs, stage, fixed), counts,
                                  max(0.05, deadline - time.perf_counter()))
            info["gap_master"] = {"proved": again.proved, **again.info}
            if again.counts is not None:
                new_value = stage_value(problem, configs, stage, again.counts)
                if new_value <= value:
                    counts, value = again.counts, new_value
                    incumbents += [(offset + s, v) for s, v in again.incumbents]
            if again.proved:
                # optimal over a column set holding every column of any better solution
                proved = True
                bound = min(value, again.bound if again.bound is not None else value)
            elif again.bound is not None:
                bound = max(bound, min(value, again.bound))
        else:
            info["gap_columns"] = "too many or out of time"
    status = Status.OPTIMAL if proved else Status.FEASIBLE
    return StageOutcome(status, counts, bound, incumbents, info=info)


def round_lp(
    master: Master,
    backend: MasterBackend,
    lp_solution: dict[int, float],
    deadline: float,
) -> tuple[dict[int, int] | None, dict]:
    """Column counts from an LP solution of ``master``'s relaxation: each column's integer part
    fixed, the residual master (:func:`solvers.exact.master.residual`) solved by ``backend``
    over every column until ``deadline``; None when it finds nothing (the residual may need a
    column not yet generated)."""
    floors = {c: int(math.floor(v + 1e-6)) for c, v in lp_solution.items() if v + 1e-6 >= 1.0}
    out = backend.solve(residual(master, floors), None,
                        max(0.05, deadline - time.perf_counter()))
    info = {"fixed_machines": sum(floors.values()), "residual": out.info.get("highs_status",
                                                                             str(out.status))}
    if out.counts is None:
        return None, info
    total = dict(floors)
    for c, k in out.counts.items():
        total[c] = total.get(c, 0) + int(k)
    return {c: k for c, k in total.items() if k > 0}, info
