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
from solvers.exact.stages import StageFixer, StageSolver, conclude, solve_stages
from solvers.metrics import violations
from solvers.objectives import MOVES
from solvers.problem import Problem
from solvers.result import Result, Status


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


def _stage_solver(model: GroupedModel, backend: MasterBackend) -> StageSolver:
    """One stage's grouped master, its bound with the stage's constant."""

    def solve(stage: str, fixed: list[tuple[str, float]], hint: dict[int, int] | None,
              seconds: float) -> StageOutcome:
        master = build_group_master(model.problem, model.groups, model.configs, model.placed,
                                    stage, fixed)
        out = backend.solve(master, hint, seconds)
        if out.bound is not None:
            out.bound += _stage_constant(model, stage)
        return out

    return solve


def _stage_fixer(model: GroupedModel) -> StageFixer:
    """The rows an answered stage fixes: its value; for max + penalty x moves (not linear)
    its two parts as the optimum has them."""
    p = model.problem

    def fix(stage: str, counts: dict[int, int]) -> list[tuple[str, float]]:
        if stage == p.objective and p.move_penalty and not is_linear_stage(stage):
            return [
                (WORST_CAP, placed_stage_value(dataclasses.replace(p, move_penalty=0.0),
                                               model.configs, model.placed, stage, counts)),
                (MOVES, placed_stage_value(p, model.configs, model.placed, MOVES, counts)),
            ]
        return [(stage, placed_stage_value(p, model.configs, model.placed, stage, counts))]

    return fix


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

    solved = solve_stages(problem, _stage_solver(model, backend), _stage_fixer(model), hint,
                          start, deadline, exact_master=complete)
    info["columns"] = len(placed)
    info["stages"] = {
        s: {"proved": o.proved, "bound": o.bound, **o.info} for s, o in solved.outcomes.items()
    }
    if solved.proved_infeasible:
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

    counts = solved.counts
    assignment = (
        assignment_from_placed(env, groups, configs, placed, counts) if counts is not None
        else None
    )
    if assignment is not None and violations(problem, assignment):
        info["master_error"] = violations(problem, assignment)[:5]
        assignment = None
    # a restricted master (not every column) proves nothing beyond the search-free bound
    return conclude(problem, assignment, warm, solved, info, done, bound_valid=complete)
