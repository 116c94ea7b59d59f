"""The exact solvers' one path: diagnose, build the columns, warm start, solve the lexicographic
stages (each master built once and handed to a backend; :mod:`solvers.exact.stages`), map the
column counts back to an assignment, and conclude with the one evaluator.
"""

from __future__ import annotations

import time

import numpy as np

from solvers.diagnosis import diagnose, no_solution_message
from solvers.exact.backend import MasterBackend, StageOutcome
from solvers.exact.columns import (
    ENUMERATION_SECONDS,
    Configurations,
    add_machine_contents,
    enumerate_configurations,
    is_configuration,
    machine_contents,
)
from solvers.exact.goals import is_linear, stage_coefficients, stage_value
from solvers.exact.grouped_driver import solve_grouped
from solvers.exact.groups import has_cluster_constraints
from solvers.exact.master import build_master
from solvers.exact.options import ExactOptions, heuristic_assignments, warm_start
from solvers.exact.price_and_branch import column_generation_stage
from solvers.exact.stages import StageSolver, conclude, solve_stages
from solvers.metrics import violations
from solvers.problem import Problem
from solvers.result import Result, Status, starter_seconds

#: Share of the limit ``auto`` routing lets the enumeration take before falling back to column
#: generation: with a known slowdown structure, column generation prices with proved bounds and
#: is the better road for large instances; without one (a learned predictor: only slowdown >= 1
#: bounds a superset), column generation proves no bound at all (measured: gap 1.0 on every
#: generated 40x12 instance it took), so the enumeration, the only road to a proof, gets more.
ENUMERATION_SHARE = 0.4
ENUMERATION_SHARE_UNSTRUCTURED = 0.6


# ---------------------------------------------------------------------------- mapping
def assignment_from_counts(
    problem: Problem, configs: Configurations, counts: dict[int, int]
) -> np.ndarray:
    """A replica -> machine assignment realizing ``counts`` (column -> machines using it).

    Machines of a type are interchangeable, so each type's machines are filled in index order;
    a configuration holds each model once, so a model's replicas land on distinct machines."""
    assignment = np.full(problem.n_replicas, -1, dtype=np.int64)
    free_machines = {
        t: list(np.flatnonzero(problem.machine_type == t)[::-1]) for t in range(problem.n_types)
    }
    free_replicas = {
        m: list(np.flatnonzero(problem.replica_model == m)[::-1]) for m in range(problem.n_models)
    }
    for c in sorted(counts):
        for _ in range(int(counts[c])):
            n = free_machines[configs.types[c]].pop()
            for m in configs.members[c]:
                assignment[free_replicas[m].pop()] = n
    return assignment


def counts_from_assignment(
    problem: Problem, configs: Configurations, assignment: np.ndarray
) -> dict[int, int] | None:
    """Column counts of an assignment (adding its configurations as columns), or None when the
    assignment is not a valid point of the master (e.g. it breaks a hard SLO or a capacity)."""
    counts: dict[int, int] = {}
    if np.any(np.asarray(assignment) < 0):
        return None
    for t, models in machine_contents(problem, assignment):
        if not is_configuration(problem, t, models):
            return None
        c = configs.add(problem, t, models)
        if c is None:
            return None
        counts[c] = counts.get(c, 0) + 1
    return counts


# ---------------------------------------------------------------------------- columns
def initial_columns(
    problem: Problem, options: ExactOptions, time_limit: float, start: float
) -> Configurations | None:
    """Every column when the route allows and they are few enough; else None (column
    generation)."""
    if options.route == "cg":
        return None
    limit = options.max_configurations
    if options.route == "auto":
        # enumeration evaluates every configuration's slowdowns (~ENUMERATION_SECONDS each):
        # beyond what fits in a share of the limit, column generation does better
        limit = min(limit, max(1000, int(0.35 * time_limit / ENUMERATION_SECONDS)))
    if options.route == "enumerate" or problem.structure is None:
        share = ENUMERATION_SHARE_UNSTRUCTURED
    else:
        share = ENUMERATION_SHARE
    return enumerate_configurations(
        problem, max_configurations=limit, deadline=start + share * time_limit
    )


# ---------------------------------------------------------------------------- the stages
def stage_solver(
    problem: Problem,
    configs: Configurations,
    backend: MasterBackend,
    options: ExactOptions,
) -> StageSolver:
    """One stage on the columns by type: proved by the warm start when it sits at the stage's
    floor, else the whole master when every column is there, else column generation."""

    def solve(stage: str, fixed: list[tuple[str, float]], hint: dict[int, int] | None,
              seconds: float) -> StageOutcome:
        if configs.complete and hint_at_zero(problem, configs, stage, hint):
            # no column can go below 0 and the hint is at 0 (soft SLOs met by the warm start,
            # the usual case): proved without building the master (66k columns: seconds)
            assert hint is not None
            return StageOutcome(Status.OPTIMAL, dict(hint), 0.0, [(0.0, 0.0)],
                                info={"proved_by": "the warm start meets the bound 0"})
        if configs.complete:
            return backend.solve(build_master(problem, configs, stage, fixed), hint, seconds)
        return column_generation_stage(
            problem, configs, backend, stage, fixed, hint, seconds,
            cg_share=options.cg_share, pricing_nodes=options.pricing_nodes,
        )

    return solve


def hint_at_zero(
    problem: Problem, configs: Configurations, stage: str, hint: dict[int, int] | None
) -> bool:
    """The hint is optimal for a summing ``stage`` because every column's coefficient is >= 0
    (so is every solution) and the hint's value is 0."""
    if hint is None or not is_linear(stage):
        return False
    coef = stage_coefficients(problem, configs, stage)
    return bool(np.all(coef >= 0)) and stage_value(problem, configs, stage, hint) == 0.0


# ---------------------------------------------------------------------------- the driver
def solve_exact(
    problem: Problem,
    backend: MasterBackend,
    *,
    solver: str,
    time_limit: float,
    seed: int,
    threads: int,
    options: ExactOptions,
) -> Result:
    """The exact solvers' common path (module docstring); ``backend`` solves each master."""
    start = time.perf_counter()
    deadline = start + time_limit
    info: dict = {"solver": solver, "backend": backend.name}

    def done(status: Status, assignment: np.ndarray | None, **kw) -> Result:
        return Result(status, assignment, seconds=time.perf_counter() - start, info=info, **kw)

    if has_cluster_constraints(problem):  # machines told apart, moves counted: groups
        return solve_grouped(problem, backend, solver=solver, time_limit=time_limit, seed=seed,
                             threads=threads, options=options)
    reasons = diagnose(problem)
    if reasons:
        info["diagnosis"] = reasons
        return done(Status.INFEASIBLE, None)

    configs = initial_columns(problem, options, time_limit, start)
    info["route"] = "enumerated" if configs is not None else "column-generation"
    # Large instances lean on the warm start (its columns keep the restricted master feasible).
    # Its floor (starter_seconds) matters after an enumeration cut by the clock. (The
    # enumeration still goes first: run before it, the warm start took time from the proof,
    # and fewer 10 s solves were proved.)
    share = 0.1 if configs is not None else 0.15
    warm_budget = (
        options.warm_start_seconds if options.warm_start_seconds is not None
        else min(20.0, starter_seconds(share, time_limit))
    )
    warm = None
    if options.warm_start:
        warm = warm_start(problem, warm_budget, seed, threads, options.starters)
    if configs is None:
        configs = Configurations()
        # heuristics' machine contents as columns: the integer master is then feasible
        # whenever one of them is
        for assignment in heuristic_assignments(problem, seed, options.seeders):
            add_machine_contents(problem, configs, assignment)
        add_machine_contents(problem, configs, warm)
    hint = counts_from_assignment(problem, configs, warm) if warm is not None else None
    if warm is not None and hint is None:
        warm = None  # the evaluator accepted it, the master would not: do not trust it
    info["warm_start"] = warm is not None

    solved = solve_stages(
        problem, stage_solver(problem, configs, backend, options),
        lambda stage, counts: [(stage, stage_value(problem, configs, stage, counts))],
        hint, start, deadline, exact_master=configs.complete,
    )
    if solved.proved_infeasible:
        info["diagnosis"] = no_solution_message(problem, [], proved=True)
        return done(Status.INFEASIBLE, None)
    outcomes = solved.outcomes
    info["columns"] = len(configs)
    info["stages"] = {
        s: {"proved": o.proved, "bound": o.bound, **o.info} for s, o in outcomes.items()
    }
    if problem.objective in outcomes:
        info["incumbents"] = outcomes[problem.objective].incumbents

    counts = solved.counts
    assignment = assignment_from_counts(problem, configs, counts) if counts is not None else None
    if assignment is not None and violations(problem, assignment):
        info["master_error"] = violations(problem, assignment)[:5]
        assignment = None
    # column generation's bound is a proved Lagrangian bound: valid on either route
    return conclude(problem, assignment, warm, solved, info, done, bound_valid=True)
