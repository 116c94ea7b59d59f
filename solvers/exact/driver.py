"""The exact solvers' one path: diagnose, build the columns, warm start, solve the lexicographic
stages (each master built once and handed to a backend), map the column counts back to an
assignment, and recompute every figure with the one evaluator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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
from solvers.metrics import evaluate_assignment, violations
from solvers.objectives import better, rank, stages, trivial_bound
from solvers.problem import Problem
from solvers.result import OPTIMALITY_GAP, Result, Status, relative_gap

#: Each stage but the last gets this share of what is left of the limit.
STAGE_SHARE = 0.7
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
@dataclass
class StagesOutcome:
    """What the lexicographic stages gave: the last stage's column counts, every stage's
    outcome, whether all were proved, whether the complete master proved no solution exists."""

    counts: dict[int, int] | None
    outcomes: dict[str, StageOutcome]
    all_proved: bool
    proved_infeasible: bool = False


def solve_stages(
    problem: Problem,
    configs: Configurations,
    backend: MasterBackend,
    hint: dict[int, int] | None,
    start: float,
    deadline: float,
    options: ExactOptions,
) -> StagesOutcome:
    """Each stage of :func:`solvers.objectives.stages` in turn, the earlier ones fixed at the
    value found, each warm-started with the previous answer; a stage not proved ends the
    sequence (the next would fix a value that may not be optimal)."""
    plan = stages(problem)
    fixed: list[tuple[str, float]] = []
    counts: dict[int, int] | None = None
    outcomes: dict[str, StageOutcome] = {}
    for i, stage in enumerate(plan):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05 and counts is not None:
            return StagesOutcome(counts, outcomes, False)
        share = remaining if i == len(plan) - 1 else remaining * STAGE_SHARE
        stage_start = time.perf_counter() - start
        if configs.complete and hint_at_zero(problem, configs, stage, hint):
            # no column can go below 0 and the hint is at 0 (soft SLOs met by the warm start,
            # the usual case): proved without building the master (66k columns: seconds)
            assert hint is not None
            out = StageOutcome(Status.OPTIMAL, dict(hint), 0.0, [(0.0, 0.0)],
                               info={"proved_by": "the warm start meets the bound 0"})
        elif configs.complete:
            master = build_master(problem, configs, stage, fixed)
            out = backend.solve(master, hint, max(0.05, share))
        else:
            out = column_generation_stage(
                problem, configs, backend, stage, fixed, hint, max(0.05, share),
                cg_share=options.cg_share, pricing_nodes=options.pricing_nodes,
            )
        out.incumbents = [(stage_start + s, v) for s, v in out.incumbents]
        outcomes[stage] = out
        if out.infeasible and counts is None:
            return StagesOutcome(None, outcomes, False, proved_infeasible=configs.complete)
        if out.counts is None:
            return StagesOutcome(counts, outcomes, False)
        counts = hint = out.counts
        fixed.append((stage, stage_value(problem, configs, stage, counts)))
        if not out.proved:
            return StagesOutcome(counts, outcomes, False)
    return StagesOutcome(counts, outcomes, True)


def hint_at_zero(
    problem: Problem, configs: Configurations, stage: str, hint: dict[int, int] | None
) -> bool:
    """The hint is optimal for a summing ``stage`` because every column's coefficient is >= 0
    (so is every solution) and the hint's value is 0."""
    if hint is None or not is_linear(stage):
        return False
    coef = stage_coefficients(problem, configs, stage)
    return bool(np.all(coef >= 0)) and stage_value(problem, configs, stage, hint) == 0.0


def proved_bound(problem: Problem, outcomes: dict[str, StageOutcome]) -> float:
    """The objective stage's bound when every earlier stage was proved (a stage's bound is
    valid lexicographically only then), else the search-free bound; the larger of the two."""
    bound = trivial_bound(problem)
    plan = stages(problem)
    primary = outcomes.get(problem.objective)
    earlier_proved = all(
        outcomes.get(s) is not None and outcomes[s].proved
        for s in plan[: plan.index(problem.objective)]
    )
    if primary is not None and primary.bound is not None and earlier_proved:
        bound = max(bound, primary.bound)
    return bound


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
    # large instances lean on the warm start (its columns keep the restricted master feasible)
    share = 0.1 if configs is not None else 0.15
    warm_budget = (
        options.warm_start_seconds if options.warm_start_seconds is not None
        else min(20.0, share * time_limit)
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

    solved = solve_stages(problem, configs, backend, hint, start, deadline, options)
    if solved.proved_infeasible:
        info["diagnosis"] = no_solution_message(problem, [], proved=True)
        return done(Status.INFEASIBLE, None)
    outcomes, all_proved = solved.outcomes, solved.all_proved
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
    if warm is not None and (
        assignment is None
        or better(
            rank(problem, evaluate_assignment(problem, warm)),
            rank(problem, evaluate_assignment(problem, assignment)),
        )
    ):
        # a time-limited master may end worse than its own hint; never return worse than it
        assignment, all_proved = warm, False
        info["returned_warm_start"] = True
    if assignment is None:
        errors = [o.info["error"] for o in outcomes.values() if o.info.get("error")]
        info["diagnosis"] = errors + no_solution_message(problem, [], proved=False)
        return done(Status.UNKNOWN, None)

    objective = evaluate_assignment(problem, assignment).objective(problem.objective)
    bound = proved_bound(problem, outcomes)
    if bound > objective:
        info["bound_clamped"] = bound  # rounding only; a real excess would be a bug
        bound = objective
    gap = relative_gap(objective, bound)
    optimal = all_proved and gap <= OPTIMALITY_GAP
    status = Status.OPTIMAL if optimal else Status.FEASIBLE
    return done(status, assignment, objective=objective, bound=bound, gap=gap)
