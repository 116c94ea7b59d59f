"""The exact solvers' path for a running cluster (SPEC section 9): the grouped master of
:mod:`solvers.exact.groups`, stage by stage, as :mod:`solvers.exact.driver` does for an empty
cluster.

Every configuration is enumerated (on the :func:`~solvers.exact.groups.envelope` capacities)
and placed on every group that takes it; the stages of :func:`solvers.objectives.stages` (the
objective with its move penalty, the mean degradation, counted moves last) are solved in turn,
each earlier one fixed. The answer is then exact: equal to ``exhaustive``. When there are too
many configurations for the time limit, the master is restricted to the machine contents of
the warm start and the heuristics and the contents one step from the warm start's (a model
added, removed or swapped; a price-and-branch without pricing): its answer is at least as
good as theirs but proves nothing beyond the trivial bound.

When the master is proved infeasible under ``limits.max_moves``, the same master without the
budget, minimizing counted moves, says how many moves the instance needs at least.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from solvers.diagnosis import diagnose, no_solution_message
from solvers.exact.backend import MasterBackend, StageOutcome
from solvers.exact.columns import (
    DEFAULT_MAX_CONFIGURATIONS,
    ENUMERATION_SECONDS,
    Configurations,
    enumerate_configurations,
)
from solvers.exact.groups import (
    WORST_CAP,
    MachineGroups,
    PlacedColumns,
    assignment_from_placed,
    build_group_master,
    envelope,
    is_linear_stage,
    machine_groups,
    neighbour_columns,
    placed_counts,
    placed_stage_value,
)
from solvers.exact.options import ExactOptions, heuristic_assignments, warm_start
from solvers.metrics import evaluate_assignment, violations
from solvers.objectives import MOVES, better, counted_moves, rank, stages, trivial_bound
from solvers.problem import Problem
from solvers.result import OPTIMALITY_GAP, Result, Status, relative_gap

#: Each stage but the last gets this share of what is left of the limit.
STAGE_SHARE = 0.7


@dataclasses.dataclass(frozen=True)
class GroupedModel:
    """What every stage's master is built from."""

    problem: Problem  # the envelope problem (per-type capacity at least every machine's)
    groups: MachineGroups
    configs: Configurations
    placed: PlacedColumns


def _stage_constant(model: GroupedModel, stage: str) -> float:
    """What a stage's value adds to its master's cost (the moves' constant ``kept``)."""
    p, placed = model.problem, model.placed
    if stage == MOVES:
        return float(placed.kept)
    if stage == p.objective and p.move_penalty:
        return p.move_penalty * placed.kept
    return 0.0


def _solve_stages(
    model: GroupedModel,
    backend: MasterBackend,
    hint: dict[int, int] | None,
    deadline: float,
) -> tuple[dict[int, int] | None, dict[str, StageOutcome], bool, bool]:
    """(counts, outcomes, all stages proved, proved infeasible)."""
    p = model.problem
    plan = stages(p)
    fixed: list[tuple[str, float]] = []
    counts: dict[int, int] | None = None
    outcomes: dict[str, StageOutcome] = {}
    for i, stage in enumerate(plan):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05 and counts is not None:
            return counts, outcomes, False, False
        share = remaining if i == len(plan) - 1 else remaining * STAGE_SHARE
        master = build_group_master(p, model.groups, model.configs, model.placed, stage, fixed)
        out = backend.solve(master, hint, max(0.05, share))
        if out.bound is not None:
            out.bound += _stage_constant(model, stage)
        outcomes[stage] = out
        if out.infeasible and counts is None:
            return None, outcomes, False, True
        if out.counts is None:
            return counts, outcomes, False, False
        counts = hint = out.counts
        if stage == p.objective and p.move_penalty and not is_linear_stage(stage):
            # max + penalty x moves: fix its two parts as the optimum has them
            fixed.append((WORST_CAP, placed_stage_value(
                dataclasses.replace(p, move_penalty=0.0), model.configs, model.placed, stage,
                counts)))
            fixed.append((MOVES, placed_stage_value(p, model.configs, model.placed, MOVES,
                                                    counts)))
        else:
            fixed.append((stage, placed_stage_value(p, model.configs, model.placed, stage,
                                                    counts)))
        if not out.proved:
            return counts, outcomes, False, False
    return counts, outcomes, True, False


def _moves_needed(model: GroupedModel, backend: MasterBackend, time_limit: float) -> int | None:
    """The fewest counted moves of any placement (the budget left out), when proved."""
    unlimited = dataclasses.replace(model.problem, max_moves=None)
    master = build_group_master(unlimited, model.groups, model.configs, model.placed, MOVES, [])
    out = backend.solve(master, None, max(0.05, time_limit))
    if out.counts is None or not out.proved:
        return None
    return int(round(placed_stage_value(unlimited, model.configs, model.placed, MOVES,
                                        out.counts)))


def solve_grouped(
    problem: Problem,
    backend: MasterBackend,
    *,
    solver: str,
    time_limit: float,
    seed: int,
    threads: int,
    options: ExactOptions,
) -> Result:
    """The exact path for a running cluster (module docstring)."""

    start = time.perf_counter()
    deadline = start + time_limit
    info: dict = {"solver": solver, "backend": backend.name}

    def done(status: Status, assignment: np.ndarray | None, **kw) -> Result:
        return Result(status, assignment, seconds=time.perf_counter() - start, info=info, **kw)

    reasons = diagnose(problem)
    if reasons:
        info["diagnosis"] = reasons
        return done(Status.INFEASIBLE, None)

    env = envelope(problem)
    limit = options.max_configurations if options.route != "cg" else 0
    if options.route == "auto":
        limit = min(limit, max(1000, int(0.35 * time_limit / ENUMERATION_SECONDS)))
    configs = None
    if limit > 0:
        configs = enumerate_configurations(
            env, max_configurations=min(limit, DEFAULT_MAX_CONFIGURATIONS),
            deadline=start + 0.4 * time_limit,
        )
    complete = configs is not None
    info["route"] = "grouped, enumerated" if complete else "grouped, restricted"
    configs = configs if configs is not None else Configurations()
    groups = machine_groups(env)
    placed = PlacedColumns(kept=groups.kept)
    if complete:
        placed.add_all(env, groups, configs)
    model = GroupedModel(env, groups, configs, placed)

    warm = None
    if options.warm_start:
        budget = (options.warm_start_seconds if options.warm_start_seconds is not None
                  else min(20.0, 0.1 * time_limit))
        warm = warm_start(problem, budget, seed, threads, options.starters)
    if not complete and time.perf_counter() < start + 0.3 * time_limit:
        for assignment in heuristic_assignments(problem, seed, options.seeders):
            if not violations(problem, assignment):
                placed_counts(env, groups, configs, placed, assignment)
    hint = placed_counts(env, groups, configs, placed, warm) if warm is not None else None
    if not complete and hint is not None and time.perf_counter() < start + 0.5 * time_limit:
        neighbour_columns(env, groups, configs, placed, warm)
    if warm is not None and hint is None:
        warm = None
    info["warm_start"] = warm is not None
    info["groups"] = len(groups)

    counts, outcomes, all_proved, infeasible = _solve_stages(model, backend, hint, deadline)
    info["columns"] = len(placed)
    info["stages"] = {
        s: {"proved": o.proved, "bound": o.bound, **o.info} for s, o in outcomes.items()
    }
    if infeasible and complete:
        messages = no_solution_message(problem, [], proved=True)
        if problem.max_moves is not None:
            needed = _moves_needed(model, backend, deadline - time.perf_counter())
            if needed is not None and needed > problem.max_moves:
                messages = [
                    f"the placement needs at least {needed} counted moves, limits.max_moves "
                    f"is {problem.max_moves}"
                ]
        info["diagnosis"] = messages
        return done(Status.INFEASIBLE, None)

    down = problem.filter_tables.down

    def ranked(a: np.ndarray):
        return rank(problem, evaluate_assignment(problem, a),
                    counted_moves(problem.current, a, down))

    assignment = (
        assignment_from_placed(env, groups, configs, placed, counts) if counts is not None
        else None
    )
    if assignment is not None and violations(problem, assignment):
        info["master_error"] = violations(problem, assignment)[:5]
        assignment = None
    if warm is not None and (assignment is None or better(ranked(warm), ranked(assignment))):
        assignment, all_proved = warm, False
        info["returned_warm_start"] = True
    if assignment is None:
        errors = [o.info["error"] for o in outcomes.values() if o.info.get("error")]
        info["diagnosis"] = errors + no_solution_message(problem, [], proved=False)
        return done(Status.UNKNOWN, None)

    moves = counted_moves(problem.current, assignment, down)
    objective = evaluate_assignment(problem, assignment).objective(problem.objective)
    objective += problem.move_penalty * moves
    bound = trivial_bound(problem)
    primary = outcomes.get(problem.objective)
    plan = stages(problem)
    earlier_proved = all(
        outcomes.get(s) is not None and outcomes[s].proved
        for s in plan[: plan.index(problem.objective)]
    )
    if complete and primary is not None and primary.bound is not None and earlier_proved:
        bound = max(bound, primary.bound)
    if bound > objective:
        info["bound_clamped"] = bound
        bound = objective
    gap = relative_gap(objective, bound)
    optimal = complete and all_proved and gap <= OPTIMALITY_GAP
    status = Status.OPTIMAL if optimal else Status.FEASIBLE
    return done(status, assignment, objective=objective, bound=bound, gap=gap)
