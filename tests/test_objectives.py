"""solvers.objectives: one per-machine computation, the goal table, the rank and its tolerance."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from placement.compile import compile_problem
from solvers import registry
from solvers.metrics import evaluate_assignment, residents
from solvers.objectives import (
    GOALS,
    OBJECTIVES,
    TOLERANCE,
    Totals,
    better,
    column_coefficients,
    configuration_figures,
    counted_moves,
    goal,
    integral,
    machine_figures,
    mean_weights,
    rank,
    slack,
    stages,
    trivial_bound,
)
from tests.strategies import random_instance

SEEDS = range(12)


def placed_problem(seed: int, objective: str = "mean_degradation", slo: str = "soft"):
    """A random problem and a complete placement of it (least-loaded ignores SLOs)."""
    problem = compile_problem(
        random_instance(
            seed, n_models=5, n_machines=8, max_replicas=1, objective=objective, slo=slo
        )
    )
    result = registry.run("least-loaded", problem, time_limit=10)
    assert result.assignment is not None
    return problem, result.assignment


def test_every_objective_has_one_goal() -> None:
    assert set(GOALS) == set(OBJECTIVES)
    assert OBJECTIVES[0] == "mean_degradation"
    with pytest.raises(ValueError, match="unknown objective 'speed'"):
        goal("speed")


@pytest.mark.parametrize("seed", SEEDS)
def test_the_evaluator_reports_the_machine_figures(seed: int) -> None:
    problem, assignment = placed_problem(seed)
    metrics = evaluate_assignment(problem, assignment)
    weights = mean_weights(problem).weights
    for n, reps in residents(problem, assignment).items():
        models = [int(problem.replica_model[r]) for r in reps]
        figures = machine_figures(problem, models, int(problem.machine_type[n]), weights)
        assert figures.models == tuple(sorted(models))
        for r, m in zip(reps, models, strict=True):
            i = figures.models.index(m)
            assert metrics.slowdown[r] == figures.slowdowns[i]
            assert metrics.latency_ms[r] == figures.latencies[i]
            assert bool(metrics.slo_met[r]) == figures.slo_met[i]
        assert figures.slo_violations == sum(not ok for ok in figures.slo_met)
        assert figures.max_degradation == max(s - 1.0 for s in figures.slowdowns)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("seed", SEEDS)
def test_machine_contributions_combine_into_the_evaluators_objective(
    objective: str, seed: int
) -> None:
    problem, assignment = placed_problem(seed, objective)
    g = goal(problem)
    weights, total = mean_weights(problem)
    price = {"machines": 1.0, "cost": None}
    contributions = []
    for n, reps in residents(problem, assignment).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        figures = machine_figures(problem, models, t, weights)
        machine_price = price.get(objective) or float(problem.cost[t])
        contributions.append(g.contribution(figures, machine_price))
    value = max(contributions) if g.combine == "max" else sum(contributions)
    if g.divisor == "mean_weights":
        value /= total
    expected = evaluate_assignment(problem, assignment).objective(objective)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_configuration_figures_are_the_machine_figures_of_each_configuration(seed: int) -> None:
    problem = compile_problem(random_instance(seed, n_models=5, slo="soft"))
    t = 0
    allowed = np.flatnonzero(problem.allowed[:, t]).tolist()  # columns hold allowed models only
    configurations = [ms for k in (1, 2, 3) for ms in itertools.combinations(allowed, k)]
    figures = configuration_figures(problem, configurations, t)
    assert len(figures) == len(configurations)
    assert figures.usable.all()  # soft SLOs: every configuration is usable
    for c, ms in enumerate(configurations):
        one = machine_figures(problem, ms, t)
        assert figures.weighted_degradation[c] == one.weighted_degradation
        assert figures.weighted_added_latency[c] == one.weighted_added_latency
        assert figures.max_degradation[c] == one.max_degradation
        assert figures.slo_violations[c] == one.slo_violations
    hard = replace(problem, slo_mode="hard")
    hard_figures = configuration_figures(hard, configurations, t)
    assert (hard_figures.usable == (figures.slo_violations == 0)).all()


def test_column_coefficients_follow_the_goal() -> None:
    problem = compile_problem(random_instance(1, n_models=4, n_types=1, slo="soft"))
    allowed = np.flatnonzero(problem.allowed[:, 0]).tolist()
    configurations = [tuple(allowed[:1]), tuple(allowed[:2]), tuple(allowed[:3])]
    assert len(allowed) >= 3
    figures = configuration_figures(problem, configurations, 0)
    total = mean_weights(problem).total
    mean = column_coefficients(problem, figures, "mean_degradation")
    assert np.array_equal(mean, figures.weighted_degradation / total)
    assert np.array_equal(column_coefficients(problem, figures, "machines"), np.ones(3))
    assert np.array_equal(column_coefficients(problem, figures, "cost"), figures.cost)
    assert np.array_equal(
        column_coefficients(problem, figures, "violations"), figures.slo_violations
    )
    with pytest.raises(ValueError, match="max"):
        column_coefficients(problem, figures, "max_degradation")


def test_one_tolerance_compares_ranks() -> None:
    assert slack(0.5) == TOLERANCE and slack(-1e6) == pytest.approx(TOLERANCE * 1e6)
    assert not better((0, 1.0 - 0.5 * TOLERANCE, 0, 0), (0, 1.0, 0, 0))  # within the slack
    assert better((0, 1.0 - 3 * TOLERANCE, 0, 0), (0, 1.0, 0, 0))
    assert better((0, 2.0, 0.0, 0), (1, 0.0, 0.0, 0))  # fewer violations first
    assert not better((0, 1.0 + 1e-12, 0.5, 0), (0, 1.0, 0.5, 0))  # noise is no improvement
    assert better((0, 1.0 + 1e-12, 0.4, 0), (0, 1.0, 0.5, 0))  # a tie on the objective: mean
    assert not better((0, 1.0, 0.5, 0), (0, 1.0, 0.5, 0))


def test_rank_adds_the_move_penalty_and_ends_with_counted_moves() -> None:
    problem = compile_problem(random_instance(2, objective="machines"))
    totals = Totals(0, 0.25, 3.0, 0.5, 2, 1.5)
    assert rank(problem, totals) == (0.0, 2.0, 0.25, 0.0)
    assert rank(problem, totals, moves=3) == (0.0, 2.0, 0.25, 3.0)
    assert integral(problem)
    penalized = replace(problem, move_penalty=0.1)
    assert rank(penalized, totals, moves=3) == pytest.approx((0.0, 2.3, 0.25, 3.0))
    assert not integral(penalized)  # a penalty makes the machine count fractional


def test_counted_moves_do_not_count_new_replicas_or_moves_off_a_down_machine() -> None:
    current = np.array([0, 1, -1, 2])
    down = np.array([False, False, True])
    assert counted_moves(None, np.array([1, 1, 1, 1]), down) == 0
    assert counted_moves(current, np.array([0, 1, 0, 2]), down) == 0  # only the new one
    assert counted_moves(current, np.array([1, 0, 0, 0]), down) == 2  # off 2 is forced


def test_stages_list_the_rank() -> None:
    hard = compile_problem(random_instance(3, objective="cost", slo="hard"))
    soft = compile_problem(random_instance(3, objective="mean_degradation", slo="soft"))
    assert stages(hard) == ["cost", "mean_degradation"]
    assert stages(soft) == ["violations", "mean_degradation"]


@pytest.mark.parametrize("objective", ["machines", "cost", "mean_degradation"])
def test_the_trivial_bound_never_exceeds_the_optimum(objective: str) -> None:
    proved = 0
    for seed in range(10):
        problem = compile_problem(
            random_instance(
                seed, n_models=3, n_machines=4, max_replicas=1, objective=objective, slo="soft"
            )
        )
        best = registry.run("exhaustive", problem, time_limit=30)
        if best.objective is None:  # infeasible (packing): nothing to bound
            continue
        proved += 1
        assert trivial_bound(problem) <= best.objective + slack(best.objective)
    assert proved >= 5
