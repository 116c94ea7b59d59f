"""What both exact drivers share once their columns exist: the lexicographic stages solved in
turn, and the result concluded from the last stage's answer.

:mod:`solvers.exact.driver` (an empty cluster: columns by type) and
:mod:`solvers.exact.grouped_driver` (a running cluster: columns placed on machine groups) differ
in how a stage's master is built and which values an answered stage fixes; they hand those two
steps to :func:`solve_stages` as functions. How stages share the time, end early, warm-start
each other and decide a status is written once, here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers.diagnosis import no_solution_message
from solvers.exact.backend import StageOutcome
from solvers.metrics import evaluate_assignment
from solvers.objectives import better, counted_moves, rank, stages, trivial_bound
from solvers.problem import Problem
from solvers.result import OPTIMALITY_GAP, Result, Status, relative_gap

#: Each stage but the last gets this share of what is left of the limit.
STAGE_SHARE = 0.7

#: ``solve(stage, fixed, hint, seconds)``: one stage's master, earlier goals fixed at values.
StageSolver = Callable[
    [str, list[tuple[str, float]], dict[int, int] | None, float], StageOutcome
]
#: ``fix(stage, counts)``: the (goal, value) rows that fix an answered stage for the next ones.
StageFixer = Callable[[str, dict[int, int]], list[tuple[str, float]]]


@dataclass
class StagesOutcome:
    """What the lexicographic stages gave: the last stage's column counts, every stage's
    outcome, whether all were proved, whether the master proved no solution exists."""

    counts: dict[int, int] | None
    outcomes: dict[str, StageOutcome]
    all_proved: bool
    proved_infeasible: bool = False


def solve_stages(
    problem: Problem,
    solve: StageSolver,
    fix: StageFixer,
    hint: dict[int, int] | None,
    start: float,
    deadline: float,
    *,
    exact_master: bool,
) -> StagesOutcome:
    """Each stage of :func:`solvers.objectives.stages` in turn, the earlier ones fixed at the
    value found, each warm-started with the previous answer; a stage not proved ends the
    sequence (the next would fix a value that may not be optimal). ``exact_master``: the
    master holds every column, so a first stage found infeasible proves no solution exists."""
    fixed: list[tuple[str, float]] = []
    counts: dict[int, int] | None = None
    outcomes: dict[str, StageOutcome] = {}
    plan = stages(problem)
    for i, stage in enumerate(plan):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05 and counts is not None:
            return StagesOutcome(counts, outcomes, False)
        share = remaining if i == len(plan) - 1 else remaining * STAGE_SHARE
        stage_start = time.perf_counter() - start
        out = solve(stage, fixed, hint, max(0.05, share))
        out.incumbents = [(stage_start + s, v) for s, v in out.incumbents]
        outcomes[stage] = out
        if out.infeasible and counts is None:
            return StagesOutcome(None, outcomes, False, proved_infeasible=exact_master)
        if out.counts is None:
            return StagesOutcome(counts, outcomes, False)
        counts = hint = out.counts
        fixed += fix(stage, counts)
        if not out.proved:
            return StagesOutcome(counts, outcomes, False)
    return StagesOutcome(counts, outcomes, True)


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


def conclude(
    problem: Problem,
    assignment: np.ndarray | None,
    warm: np.ndarray | None,
    solved: StagesOutcome,
    info: dict,
    done: Callable[..., Result],
    *,
    bound_valid: bool,
) -> Result:
    """The result from the master's assignment (already mapped and verified; None when there
    is none): the warm start instead when it ranks better (a time-limited master may end worse
    than its own hint), the objective with its move penalty, the stage bound when
    ``bound_valid`` (else the search-free one), the gap and the status."""
    down = problem.filter_tables.down

    def ranked(a: np.ndarray):
        return rank(problem, evaluate_assignment(problem, a),
                    counted_moves(problem.current, a, down))

    all_proved = solved.all_proved
    if warm is not None and (assignment is None or better(ranked(warm), ranked(assignment))):
        assignment, all_proved = warm, False
        info["returned_warm_start"] = True
    if assignment is None:
        errors = [o.info["error"] for o in solved.outcomes.values() if o.info.get("error")]
        info["diagnosis"] = errors + no_solution_message(problem, [], proved=False)
        return done(Status.UNKNOWN, None)

    objective = evaluate_assignment(problem, assignment).objective(problem.objective)
    objective += problem.move_penalty * counted_moves(problem.current, assignment, down)
    bound = proved_bound(problem, solved.outcomes) if bound_valid else trivial_bound(problem)
    if bound > objective:
        info["bound_clamped"] = bound  # rounding only; a real excess would be a bug
        bound = objective
    gap = relative_gap(objective, bound)
    optimal = bound_valid and all_proved and gap <= OPTIMALITY_GAP
    return done(Status.OPTIMAL if optimal else Status.FEASIBLE, assignment, objective=objective,
                bound=bound, gap=gap)
