"""Heuristic solvers and the exhaustive reference: properties on random tiny instances, and
hand-made instances whose answer is known."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from placement.compile import compile_problem
from placement.formats.instance import Instance
from placement.synthetic.generator import generate
from solvers import registry
from solvers.heuristics.engine import most_constrained_order
from solvers.heuristics.greedy import greedy_placement
from solvers.heuristics.repair import Repair
from solvers.metrics import evaluate_assignment, sort_key, violations
from solvers.objectives import better
from solvers.problem import Problem, host_tables
from solvers.result import Result, Status
from tests.strategies import random_instance, tiny_instances

HEURISTICS = ["least-loaded", "round-robin", "random", "first-fit", "greedy", "local-search"]
TIME_LIMIT = 30.0
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def run(name: str, problem: Problem, seed: int = 0) -> Result:
    return registry.run(name, problem, time_limit=TIME_LIMIT, seed=seed)


def no_worse(a: tuple[float, ...], b: tuple[float, ...], tol: float = 1e-9) -> bool:
    """``a <= b`` lexicographically, equal components within a relative tolerance."""
    for x, y in zip(a, b, strict=True):
        slack = tol * max(1.0, abs(y))
        if x < y - slack:
            return True
        if x > y + slack:
            return False
    return True


def key_of(problem: Problem, result: Result) -> tuple[float, ...]:
    assert result.assignment is not None
    return sort_key(problem, evaluate_assignment(problem, result.assignment))


def check_result(name: str, problem: Problem, result: Result) -> None:
    """What every solver promises about one of its results."""
    assert result.info.get("solver") == name
    if not result.status.solved:
        assert result.assignment is None
        assert result.info.get("diagnosis"), f"{name} gave no diagnosis"
        return
    assert result.assignment is not None
    assert violations(problem, result.assignment, check_slo=False) == []
    metrics = evaluate_assignment(problem, result.assignment)
    assert result.objective == pytest.approx(metrics.objective(problem.objective), abs=1e-12)
    if problem.slo_mode == "hard" and registry.get(name).respects_slo:
        assert metrics.slo_violations == 0, f"{name} broke a hard SLO"


# ---------------------------------------------------------------------------- properties


@PROPERTY
@given(tiny_instances() | tiny_instances(max_models=3, max_machines=5))
def test_every_heuristic_keeps_its_promises_and_exhaustive_is_best(instance: Instance) -> None:
    problem = compile_problem(instance)
    reference = run("exhaustive", problem)
    check_result("exhaustive", problem, reference)
    assert reference.status in (Status.OPTIMAL, Status.INFEASIBLE)
    results = {name: run(name, problem) for name in HEURISTICS}
    for name, result in results.items():
        check_result(name, problem, result)
        if not result.status.solved:
            continue
        key = key_of(problem, result)
        if reference.status is Status.OPTIMAL:
            assert no_worse(key_of(problem, reference), key), f"{name} beat exhaustive"
        else:  # proved infeasible: only an SLO-blind baseline may place, breaking a hard SLO
            assert problem.slo_mode == "hard" and not registry.get(name).respects_slo
            assert key[0] > 0
    greedy, local = results["greedy"], results["local-search"]
    if greedy.status.solved:
        assert local.status.solved
        assert no_worse(key_of(problem, local), key_of(problem, greedy))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(tiny_instances(max_models=3, max_machines=4))
def test_exhaustive_matches_a_naive_enumeration(instance: Instance) -> None:
    """The symmetry and filter pruning lose nothing: compare with every assignment at all."""
    problem = compile_problem(instance)
    best: tuple[float, ...] | None = None
    for combo in itertools.product(range(problem.n_machines), repeat=problem.n_replicas):
        assignment = np.array(combo, dtype=np.int64)
        if violations(problem, assignment):  # SLOs included when they are hard
            continue
        key = sort_key(problem, evaluate_assignment(problem, assignment))
        best = key if best is None or key < best else best
    result = run("exhaustive", problem)
    if best is None:
        assert result.status is Status.INFEASIBLE
    else:
        assert result.status is Status.OPTIMAL
        assert result.bound == result.objective and result.gap == 0.0
        got = key_of(problem, result)
        assert no_worse(got, best) and no_worse(best, got)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(tiny_instances(max_models=4, max_machines=3))
def test_deterministic_for_a_seed(instance: Instance) -> None:
    for name in HEURISTICS:
        first = run(name, compile_problem(instance), seed=7)
        again = run(name, compile_problem(instance), seed=7)
        assert first.status == again.status
        if first.assignment is not None:
            assert np.array_equal(first.assignment, again.assignment), name


@pytest.mark.parametrize("objective", ["mean_degradation", "added_latency", "max_degradation"])
@pytest.mark.parametrize("slo", ["hard", "soft"])
def test_larger_random_instances(objective: str, slo: str) -> None:
    """Beyond exhaustive's reach: still valid, and local search never worse than greedy."""
    problem = compile_problem(
        random_instance(
            11, n_models=8, n_machines=10, n_types=3, max_replicas=3, objective=objective, slo=slo
        )
    )
    results = {name: run(name, problem) for name in HEURISTICS}
    for name, result in results.items():
        check_result(name, problem, result)
    if results["greedy"].status.solved:
        assert no_worse(
            key_of(problem, results["local-search"]), key_of(problem, results["greedy"])
        )


# ---------------------------------------------------------------------------- hand-made


def instance(
    models: list[dict[str, Any]],
    machines: int,
    capacity: dict[str, float],
    pairs: dict[tuple[str, str], float] | None = None,
    **extra: Any,
) -> Instance:
    """One machine type ``box``; every model runs on it at 10 ms with a loose SLO."""
    for m in models:
        m.setdefault("latency_ms", {"box": 10.0})
        m.setdefault("slo_ms", 1000.0)
    pairwise = [
        {"machine_type": "box", "target": a, "with": b, "slowdown": s}
        for (a, b), s in (pairs or {}).items()
    ]
    data = {
        "name": "hand-made",
        "machine_types": [{"name": "box", "capacity": capacity}],
        "machines": [{"type": "box", "count": machines}],
        "models": models,
        "interference": {"pairwise": pairwise, "missing": 1.1},
        **extra,
    }
    return Instance.model_validate(data)


def test_least_loaded_picks_the_least_utilized_machine() -> None:
    inst = instance(
        [
            {"name": "A", "requests": {"cpu": 4, "mem": 1}},  # m0: 0.5
            {"name": "B", "requests": {"cpu": 2, "mem": 1}},  # m1: 0.25
            {"name": "C", "requests": {"cpu": 1, "mem": 6}},  # m2: 0.75 (memory dominates)
            {"name": "D", "requests": {"cpu": 1, "mem": 1}},  # m1 (0.25) -> 0.375
            {"name": "E", "requests": {"cpu": 1, "mem": 1}},  # m1 (0.375) -> 0.5
            {"name": "F", "requests": {"cpu": 1, "mem": 1}},  # m0 and m1 at 0.5: fewer replicas
        ],
        machines=3,
        capacity={"cpu": 8, "mem": 8},
    )
    problem = compile_problem(inst)
    result = run("least-loaded", problem)
    assert result.status is Status.FEASIBLE
    assert result.assignment.tolist() == [0, 1, 2, 1, 1, 0]


def bad_pair_instance() -> Instance:
    """Two machines, room for two replicas each; C suffers beside A, not beside B."""
    return instance(
        [
            {"name": "A", "requests": {"cpu": 2}},
            {"name": "B", "requests": {"cpu": 2}},
            {"name": "C", "requests": {"cpu": 2}},
        ],
        machines=2,
        capacity={"cpu": 4},
        pairs={
            ("A", "B"): 1.05,
            ("B", "A"): 1.05,
            ("A", "C"): 1.9,
            ("C", "A"): 1.9,
            ("B", "C"): 1.05,
            ("C", "B"): 1.05,
        },
    )


def test_greedy_avoids_a_known_bad_colocation() -> None:
    problem = compile_problem(bad_pair_instance())
    blind = run("least-loaded", problem)
    aware = run("greedy", problem)
    assert blind.assignment.tolist() == [0, 1, 0]  # the tie goes to machine order: beside A
    assert aware.assignment.tolist() == [0, 1, 1]  # C joins B
    assert aware.objective < blind.objective


def test_greedy_honours_a_hard_slo_of_the_residents() -> None:
    """B beside A would push A past its SLO, so under hard SLOs greedy opens a machine even
    though sharing is what the objective (fewest machines) prefers."""
    models = [
        {"name": "A", "requests": {"cpu": 1}, "slo_ms": 12.0},
        {"name": "B", "requests": {"cpu": 1}},
    ]
    pairs = {("A", "B"): 1.5, ("B", "A"): 1.0}
    objective = {"minimize": "machines", "slo": "hard"}
    problem = compile_problem(instance(models, 2, {"cpu": 4}, pairs, objective=objective))
    hard = run("greedy", problem)
    assert hard.assignment.tolist() == [0, 1]
    soft = compile_problem(
        instance(models, 2, {"cpu": 4}, pairs, objective={**objective, "slo": "soft"})
    )
    # with soft SLOs the violation still comes first in the score
    assert run("greedy", soft).assignment.tolist() == [0, 1]
    assert run("exhaustive", soft).objective == 2.0


def test_local_search_repairs_what_greedy_cannot_place_under_hard_slos() -> None:
    """Greedy keeps A and B apart (no degradation), then C breaks the SLO of either; the one
    feasible placement shares A with B and leaves C alone."""
    models = [
        {"name": "A", "requests": {"cpu": 2}, "slo_ms": 12.0},
        {"name": "B", "requests": {"cpu": 2}, "slo_ms": 12.0},
        {"name": "C", "requests": {"cpu": 2}},
    ]
    pairs = {
        ("A", "B"): 1.1,
        ("B", "A"): 1.1,
        ("A", "C"): 1.5,  # 15 ms > 12 ms
        ("C", "A"): 1.0,
        ("B", "C"): 1.5,
        ("C", "B"): 1.0,
    }
    problem = compile_problem(instance(models, 2, {"cpu": 4}, pairs))
    reference = run("exhaustive", problem)
    assert reference.status is Status.OPTIMAL
    assert reference.assignment.tolist() in ([0, 0, 1], [1, 1, 0])
    assert run("greedy", problem).status is Status.UNKNOWN
    local = run("local-search", problem)
    check_result("local-search", problem, local)
    assert local.status is Status.FEASIBLE
    assert local.objective == pytest.approx(reference.objective)


def test_local_search_repairs_a_placement_greedy_packs_itself_out_of() -> None:
    """Fewest machines: greedy fills machine 0 with A and B, so C's three replicas (on distinct
    machines) find only two; the most-constrained order is file order here (every model may go
    anywhere, all of one size), so local search repairs greedy's partial placement by ejecting
    A or B from machine 0 to make room for the third C."""
    models = [
        {"name": "A", "requests": {"cpu": 2}},
        {"name": "B", "requests": {"cpu": 2}},
        {"name": "C", "requests": {"cpu": 2}, "replicas": 3},
    ]
    objective = {"minimize": "machines", "slo": "hard"}
    problem = compile_problem(instance(models, 3, {"cpu": 4}, objective=objective))
    assert run("greedy", problem).status is Status.UNKNOWN
    local = run("local-search", problem)
    check_result("local-search", problem, local)
    assert local.status is Status.FEASIBLE and local.objective == 3.0
    assert local.info["start"] == "repair of greedy by ejection chains"


def test_exhaustive_refuses_more_than_ten_replicas() -> None:
    problem = compile_problem(random_instance(3, n_models=11, n_machines=11, max_replicas=1))
    assert problem.n_replicas == 11
    with pytest.raises(ValueError, match="at most 10 replicas"):
        run("exhaustive", problem)


def test_an_infeasible_instance_gets_a_diagnosis_naming_the_model() -> None:
    inst = instance(
        [
            {"name": "small", "requests": {"cpu": 1}},
            {"name": "huge-model", "requests": {"cpu": 64}},
        ],
        machines=2,
        capacity={"cpu": 8},
    )
    problem = compile_problem(inst)
    for name in [*HEURISTICS, "exhaustive"]:
        result = run(name, problem)
        expected = Status.INFEASIBLE if name == "exhaustive" else Status.UNKNOWN
        assert result.status is expected, name
        assert any("huge-model" in line for line in result.info["diagnosis"]), name


def constrained(problem: Problem, seed: int) -> Problem:
    """``problem`` with random cluster constraints in its filter tables: ``avoid`` pairs, a
    machine down, one cordoned with replicas running on it, smaller per-machine capacities and
    a model spread over a label."""
    rng = np.random.default_rng(seed)
    M, N, R = problem.n_models, problem.n_machines, problem.n_replicas
    avoid = np.triu(rng.random((M, M)) < 0.15, k=1)
    down = np.zeros(N, dtype=bool)
    accepts = np.ones(N, dtype=bool)
    machines = rng.permutation(N)
    down[machines[0]] = N > 2
    accepts[machines[-1]] = False
    current = np.where(rng.random(R) < 0.5, machines[-1], -1)
    capacity = problem.capacity[problem.machine_type] * rng.uniform(0.8, 1.0, (N, 1))
    spread_key = np.full(M, -1)
    spread_key[rng.integers(M)] = 0
    labels = rng.choice([-1, 0, 1, 2, 3], (1, N))
    tables = host_tables(
        machine_type=problem.machine_type,
        capacity=problem.capacity,
        solo_latency=problem.solo_latency,
        slo=problem.slo,
        max_per_machine=problem.max_per_machine,
        machine_capacity=capacity,
        avoid=avoid,
        accepts_new=accepts,
        down=down,
        spread_key=spread_key,
        spread_label=labels,
        current=current,
    )
    return replace(problem, hosting=tables, current=current, _cache={})


def test_every_solver_here_honours_the_cluster_constraints_of_the_filter_tables() -> None:
    """One filter: what the tables forbid (``avoid``, machine state, per-machine capacity,
    spread) no heuristic and no exhaustive placement does, and exhaustive stays the best."""
    solved = 0
    for seed in range(30):
        slo = "soft" if seed % 2 else "hard"
        base = compile_problem(
            random_instance(seed, n_models=5, n_machines=6, max_replicas=1, slo=slo)
        )
        problem = constrained(base, seed)
        reference = run("exhaustive", problem)
        assert reference.status in (Status.OPTIMAL, Status.INFEASIBLE)
        if reference.status is Status.OPTIMAL:
            solved += 1
            assert not violations(problem, reference.assignment)
        for name in HEURISTICS:
            result = run(name, problem)
            if result.assignment is None:
                continue
            assert not violations(problem, result.assignment, check_slo=False), (seed, name)
            if registry.get(name).respects_slo:  # SLO-blind ones may place what hard SLOs forbid
                assert reference.status is Status.OPTIMAL, (seed, name)
                assert not better(key_of(problem, result), key_of(problem, reference))
    assert solved >= 10


def test_anti_affinity_and_per_machine_limit() -> None:
    inst = instance(
        [
            {"name": "A", "requests": {"cpu": 1}, "replicas": 3},
            {"name": "B", "requests": {"cpu": 1}},
        ],
        machines=3,
        capacity={"cpu": 8},
        limits={"max_models_per_machine": 1},
    )
    problem = compile_problem(inst)
    for name in HEURISTICS:
        result = run(name, problem)
        assert result.status is Status.UNKNOWN, name  # 4 replicas, 3 machines of one slot
    assert run("exhaustive", problem).status is Status.INFEASIBLE


# ---------------------------------------------------------------------------- construction, repair


def stranding_instance() -> Instance:
    """Two small CPU machines and two GPU machines; model F (first in the file) runs anywhere,
    model C only on the small CPU machines, and a machine holds one of either, not both."""
    data = {
        "name": "stranding",
        "machine_types": [
            {"name": "small", "capacity": {"cpu": 4}},
            {"name": "gpu", "capacity": {"cpu": 4}},
        ],
        "machines": [{"type": "small", "count": 2}, {"type": "gpu", "count": 2}],
        "models": [
            {
                "name": "F",
                "requests": {"cpu": 3},
                "latency_ms": {"small": 10.0, "gpu": 10.0},
                "slo_ms": 100.0,
                "replicas": 2,
            },
            {
                "name": "C",
                "requests": {"cpu": 3},
                "latency_ms": {"small": 10.0},
                "slo_ms": 100.0,
                "replicas": 2,
            },
        ],
        "interference": {"pairwise": [], "missing": 1.1},
    }
    return Instance.model_validate(data)


def test_local_search_seats_a_model_file_order_greedy_strands() -> None:
    """Greedy (file order, kept as the paper's rule) puts both F on the small machines, the
    lowest-index empty ones, and C then finds no machine; local search constructs again, most
    constrained model first, and places everything."""
    problem = compile_problem(stranding_instance())
    assert most_constrained_order(problem).tolist() == [2, 3, 0, 1]  # C (2 hosts) before F (4)
    greedy = run("greedy", problem)
    assert greedy.status is Status.UNKNOWN
    assert any("C#0" in line for line in greedy.info["diagnosis"])
    local = run("local-search", problem)
    check_result("local-search", problem, local)
    assert local.status is Status.FEASIBLE
    assert local.info["start"] == "greedy, most constrained first"
    assert sorted(local.assignment[2:].tolist()) == [0, 1]  # both C on the small machines


def test_repair_ejects_a_resident_and_clears_a_machine() -> None:
    """From a partial placement: a replica of the whole machine's size needs two residents
    moved elsewhere at once (a clearing); the repair finds it and keeps every constraint."""
    models = [
        {"name": "A", "requests": {"cpu": 1}},
        {"name": "B", "requests": {"cpu": 1}},
        {"name": "C", "requests": {"cpu": 1}},
        {"name": "E", "requests": {"cpu": 1}},
        {"name": "G", "requests": {"cpu": 1}},
        {"name": "H", "requests": {"cpu": 1}},
        {"name": "D", "requests": {"cpu": 4}},
    ]
    problem = compile_problem(instance(models, 3, {"cpu": 4}))
    partial = np.array([0, 0, 1, 1, 2, 2, -1])
    repair = Repair(problem, partial, deadline=float("inf"))
    assert repair.run(most_constrained_order(problem)) == 0
    assert repair.ejections == 2
    assert violations(problem, repair.state.assignment) == []


@pytest.mark.parametrize("seed", [1, 4, 14])
def test_local_search_solves_generated_instances_greedy_cannot(seed: int) -> None:
    """Generated instances are feasible by construction (the generator plants a placement);
    file-order greedy gets stuck on these seeds, local search must not."""
    inst, _ = generate(
        n_replicas=40, n_machines=12, n_types=3, load=0.7, interference="medium", seed=seed
    )
    problem = compile_problem(inst)
    assert problem.slo_mode == "hard"
    assert registry.run("greedy", problem, time_limit=2.0).status is Status.UNKNOWN
    local = registry.run("local-search", problem, time_limit=2.0, seed=0)
    check_result("local-search", problem, local)
    assert local.status is Status.FEASIBLE
    assert violations(problem, local.assignment) == []  # hard SLOs included


def test_repair_under_hard_slos_never_seats_a_replica_past_its_slo() -> None:
    """Seed 1's most-constrained start strands one replica; the repaired placement breaks no
    SLO, and greedy's own rule (file order, stop at the first stuck replica) is unchanged."""
    inst, _ = generate(
        n_replicas=40, n_machines=12, n_types=3, load=0.7, interference="medium", seed=1
    )
    problem = compile_problem(inst)
    order = most_constrained_order(problem)
    partial = greedy_placement(problem, order=order, keep_going=True)
    assert not partial.complete and partial.skipped
    stuck = greedy_placement(problem)
    assert stuck.unplaced is not None and stuck.skipped == (stuck.unplaced,)
    assert (stuck.assignment >= 0).sum() < problem.n_replicas
    repair = Repair(problem, partial.assignment, deadline=float("inf"))
    assert repair.run(order) == 0
    assert violations(problem, repair.state.assignment) == []
