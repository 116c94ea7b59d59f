"""Every solver on a running cluster (SPEC section 9): exact solvers equal ``exhaustive`` with
``current``, move budgets and penalties, machine states, per-machine capacity, ``avoid`` and
``spread``; heuristics pass the verifier; ``max_moves: 0`` places only new and forced
replicas; departures are reported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from placement.api import solve
from placement.compile import compile_problem
from placement.formats.instance import Instance
from solvers.metrics import violations
from solvers.objectives import counted_moves
from tests.cluster_strategies import tiny_clusters

HEURISTICS = ["greedy", "local-search", "least-loaded", "round-robin", "random", "first-fit"]
EXACT = [("cpsat", {}), ("milp", {}), ("milp", {"backend": "cbc"})]


def _same(a, b) -> bool:
    if a.status != b.status:
        return False
    if a.objective is None:
        return b.objective is None
    return abs(a.objective - b.objective) <= 1e-6 * max(1.0, abs(a.objective))


@pytest.mark.parametrize(("solver", "options"), EXACT, ids=["cpsat", "highs", "cbc"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=tiny_clusters())
def test_exact_equals_exhaustive_on_running_clusters(solver, options, instance):
    reference = solve(instance, "exhaustive", time_limit=30)
    found = solve(instance, solver, time_limit=30, **options)
    assert _same(reference, found), (reference.status, reference.objective, found.status,
                                     found.objective, found.diagnosis)
    if reference.summary is not None and found.status == "optimal":
        # the whole rank agrees: same tie-break figure, same counted moves
        assert abs(found.summary.mean_degradation - reference.summary.mean_degradation) < 1e-6
        assert found.summary.moves == reference.summary.moves


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=tiny_clusters())
def test_heuristics_respect_cluster_constraints(instance):
    problem = compile_problem(instance)
    for name in HEURISTICS:
        solution = solve(instance, name, time_limit=5)
        if solution.status not in ("feasible", "optimal"):
            assert solution.diagnosis
            continue
        index = {mid: n for n, mid in enumerate(problem.machine_ids)}
        assignment = np.array([index[solution.assignment[r]] for r in problem.replica_ids])
        assert violations(problem, assignment, check_slo=False) == []
        moves = counted_moves(problem.current, assignment, problem.filter_tables.down)
        assert solution.summary.moves == moves
        if problem.max_moves is not None:
            assert moves <= problem.max_moves


def _cluster(max_moves: int | None, **extra) -> Instance:
    """Three machines, one down; a and b share m0 (and slow each other down), c runs on the
    down machine; old#0 departed."""
    data = {
        "machine_types": [{"name": "t", "capacity": {"cpu": 4}}],
        "machines": [{"id": "m0", "type": "t"}, {"id": "m1", "type": "t"},
                     {"id": "m2", "type": "t", "state": "down"}],
        "models": [
            {"name": n, "requests": {"cpu": 2}, "slo_ms": 100, "latency_ms": {"t": 10}}
            for n in ("a", "b", "c")
        ],
        "interference": {"missing": 1.1, "pairwise": [
            {"machine_type": "t", "target": "a", "with": "b", "slowdown": 2.0},
            {"machine_type": "t", "target": "b", "with": "a", "slowdown": 2.0}]},
        "current": {"a#0": "m0", "b#0": "m0", "c#0": "m2", "old#0": "m1"},
        "limits": {} if max_moves is None else {"max_moves": max_moves},
        **extra,
    }
    return Instance.model_validate(data)


@pytest.mark.parametrize("solver", ["greedy", "local-search", "least-loaded", "cpsat", "milp"])
def test_no_move_budget_places_only_new_and_forced_replicas(solver):
    # without a budget, splitting a and b would lower the degradation
    free = solve(_cluster(None), "exhaustive")
    assert free.summary.moves == 1
    pinned = solve(_cluster(0), solver, time_limit=10)
    assert pinned.status in ("feasible", "optimal")
    assert pinned.assignment["a#0"] == "m0" and pinned.assignment["b#0"] == "m0"
    assert pinned.summary.moves == 0 and pinned.summary.forced_moves == 1
    assert [m.replica for m in pinned.moves] == ["c#0"] and pinned.moves[0].forced
    assert pinned.info["departed"] == ["old#0"]


def test_move_budget_too_small_says_how_many_moves_are_needed():
    # m0 shrank to 2 cpus: one of a, b must move; with max_moves 0 no placement exists
    data = _cluster(0).dump()
    data["machines"][0]["capacity"] = {"cpu": 2}
    instance = Instance.model_validate(data)
    for solver in ("cpsat", "milp", "exhaustive", "greedy"):
        solution = solve(instance, solver, time_limit=10)
        assert solution.status in ("infeasible", "unknown")
        assert any("at least 1 counted moves" in d or "needs 1 counted moves" in d
                   for d in solution.diagnosis), solution.diagnosis


def test_move_penalty_is_in_the_objective_and_keeps_replicas_home():
    penalized = _cluster(None, objective={"move_penalty": 1.0})
    for solver in ("exhaustive", "cpsat", "local-search"):
        solution = solve(penalized, solver, time_limit=10)
        assert solution.summary.moves == 0  # moving a or b saves less than 1.0 of degradation
        assert solution.objective == pytest.approx(solution.summary.mean_degradation)


@pytest.mark.parametrize("solver", ["milp", "cpsat", "exhaustive"])
def test_no_machine_may_host_a_model_is_proved_infeasible(solver):
    # the only machine with the spread label is down: no column can exist, and HiGHS does not
    # check the rows of a model without columns
    instance = Instance.model_validate({
        "name": "nowhere",
        "machine_types": [{"name": "t", "capacity": {"cpu": 6}}],
        "machines": [{"type": "t", "id": "m0", "state": "down", "labels": {"zone": "z1"}},
                     {"type": "t", "id": "m1"}],
        "models": [{"name": "a", "requests": {"cpu": 2}, "slo_ms": 50, "latency_ms": {"t": 9},
                    "replicas": 2, "spread": "zone"}],
        "interference": {"pairwise": []},
        "current": {"a#0": "m1"},
    })
    assert solve(instance, solver, time_limit=5).status == "infeasible"
