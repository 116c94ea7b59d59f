"""The one slowdown function, the one evaluator and the verifier, against hand computations."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from placement import Instance, evaluate, verify
from placement.compile import compile_problem
from placement.interference import Interference, compose
from solvers.metrics import evaluate_assignment, nearest_rank, violations

BASE = {
    "name": "hand",
    "machine_types": [
        {"name": "small", "capacity": {"cpu": 4, "mem": 8}, "cost_per_hour": 1.0},
        {"name": "big", "capacity": {"cpu": 8, "mem": 16}, "cost_per_hour": 3.0},
    ],
    "machines": [{"type": "small", "count": 2}, {"id": "B", "type": "big"}],
    "models": [
        {
            "name": "a",
            "requests": {"cpu": 2, "mem": 2},
            "slo_ms": 30,
            "latency_ms": {"small": 10.0, "big": 8.0},
            "replicas": 2,
        },
        {
            "name": "b",
            "requests": {"cpu": 2, "mem": 2},
            "slo_ms": 40,
            "latency_ms": {"small": 20.0, "big": 16.0},
            "weight": 3.0,
        },
        {"name": "c", "requests": {"cpu": 1, "mem": 1}, "slo_ms": 12, "latency_ms": {"big": 5.0}},
    ],
    "interference": {
        "pairwise": [
            {"machine_type": t, "target": x, "with": y, "slowdown": s}
            for t in ("small", "big")
            for x, y, s in [
                ("a", "b", 1.5),
                ("b", "a", 1.2),
                ("a", "c", 1.1),
                ("c", "a", 1.3),
                ("b", "c", 0.9),
                ("c", "b", 1.4),
            ]
        ],
        "setwise": [{"machine_type": "big", "target": "c", "with": ["a", "b"], "slowdown": 2.0}],
    },
}


def inst(**changes) -> Instance:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        data[key] = value
    return Instance.model_validate(data)


def test_compose_rules():
    assert compose([1.5, 1.2], "additive") == pytest.approx(1.7)
    assert compose([1.5, 1.2], "multiplicative") == pytest.approx(1.8)
    assert compose([1.5, 1.2], "max") == pytest.approx(1.5)
    assert compose([], "additive") == 1.0


def test_slowdown_function_rules():
    i = inst()
    f = Interference(i)
    assert f.slowdown("a", frozenset(), "big") == 1.0
    assert f.slowdown("a", frozenset({"b"}), "small") == 1.5
    assert f.slowdown("b", frozenset({"c"}), "big") == 1.0  # below 1 is noise, read as 1.0
    assert f.slowdown("c", frozenset({"a", "b"}), "big") == 2.0  # set-wise entry wins
    assert f.slowdown("a", frozenset({"b", "c"}), "big") == pytest.approx(1.6)  # 1 + .5 + .1
    mult = Interference(inst(interference={**BASE["interference"], "compose": "multiplicative"}))
    assert mult.slowdown("a", frozenset({"b", "c"}), "big") == pytest.approx(1.65)
    mx = Interference(inst(interference={**BASE["interference"], "compose": "max"}))
    assert mx.slowdown("a", frozenset({"b", "c"}), "big") == pytest.approx(1.5)


def test_missing_number_fills_pairs():
    data = {
        **BASE["interference"],
        "pairwise": BASE["interference"]["pairwise"][:2],
        "missing": 1.25,
    }
    f = Interference(inst(interference=data))
    assert f.slowdown("c", frozenset({"b"}), "big") == 1.25
    assert f.slowdown("a", frozenset({"b"}), "small") == 1.5


def test_evaluator_hand_computed_figures():
    i = inst()
    # small/0: a#0 + b#0 ; B: a#1 + c#0
    sol = evaluate(i, {"a#0": "small/0", "b#0": "small/0", "a#1": "B", "c#0": "B"})
    r = sol.replicas
    assert r["a#0"].slowdown == pytest.approx(1.5) and r["a#0"].latency_ms == pytest.approx(15)
    assert r["b#0"].slowdown == pytest.approx(1.2) and r["b#0"].latency_ms == pytest.approx(24)
    assert r["a#1"].slowdown == pytest.approx(1.1)
    assert r["c#0"].slowdown == pytest.approx(1.3) and r["c#0"].latency_ms == pytest.approx(6.5)
    s = sol.summary
    # weights: a 1, a 1, b 3, c 1 -> (0.5 + 0.1 + 3*0.2 + 0.3) / 6
    assert s.mean_degradation == pytest.approx(1.5 / 6)
    assert s.max_degradation == pytest.approx(0.5)
    assert s.p99_degradation == pytest.approx(0.5)
    assert s.total_added_latency_ms == pytest.approx(5 + 4 + 0.8 + 1.5)
    assert s.slo_violations == 0
    assert s.machines_used == 2 and s.cost_per_hour == pytest.approx(4.0)
    assert sol.machines["small/0"].used == {"cpu": 4, "mem": 4}
    assert sol.objective == pytest.approx(1.5 / 6)


def test_setwise_entry_applies_to_exact_set_only():
    i = inst()
    sol = evaluate(i, {"a#0": "small/0", "a#1": "B", "b#0": "B", "c#0": "B"})
    assert sol.replicas["c#0"].slowdown == pytest.approx(2.0)
    assert sol.replicas["c#0"].slo_met is True  # 10 ms <= 12
    assert sol.replicas["a#1"].slowdown == pytest.approx(1.6)  # composed: no set-wise entry


def test_slo_violation_counted():
    i = inst()
    bad = evaluate(i, {"a#0": "small/0", "a#1": "B", "b#0": "small/0", "c#0": "B"})
    assert bad.summary.slo_violations == 0
    i2 = inst(models=[{**m, "slo_ms": 14.0} if m["name"] == "a" else m for m in BASE["models"]])
    bad = evaluate(i2, {"a#0": "small/0", "a#1": "B", "b#0": "small/0", "c#0": "B"})
    assert bad.summary.slo_violations == 1  # a#0 at 15 ms > 14
    assert any("a#0" in line and "SLO" in line for line in verify(i2, bad.assignment))


def test_verifier_lists_every_violation():
    i = inst()
    found = verify(i, {"a#0": "small/0", "a#1": "small/0", "b#0": "small/0", "c#0": "small/1"})
    text = "\n".join(found)
    assert "same model" in text
    assert "cpu requested 6 > capacity 4" in text
    assert "cannot run on type small" in text
    assert verify(i, {"a#0": "small/0"}) == [
        "replica a#1 is not placed",
        "replica b#0 is not placed",
        "replica c#0 is not placed",
    ]


def test_per_machine_limit():
    i = inst(limits={"max_models_per_machine": 1})
    found = verify(i, {"a#0": "B", "c#0": "B", "a#1": "small/0", "b#0": "small/1"})
    assert any("limit 1" in f for f in found)


def test_nearest_rank_percentile():
    values = np.arange(1, 101, dtype=float)
    assert nearest_rank(values, 99) == 99.0
    assert nearest_rank(np.array([3.0, 1.0, 2.0]), 99) == 3.0
    assert nearest_rank(np.array([]), 99) == 0.0


def test_numeric_core_matches_named_evaluator():
    i = inst()
    p = compile_problem(i)
    a = np.array([0, 2, 0, 2])  # a#0 small/0, a#1 B, b#0 small/0, c#0 B
    m = evaluate_assignment(p, a)
    sol = evaluate(i, {"a#0": "small/0", "a#1": "B", "b#0": "small/0", "c#0": "B"})
    assert m.mean_degradation == pytest.approx(sol.summary.mean_degradation)
    assert violations(p, a) == []
    assert p.pair_slowdown[0, 0, 1] == pytest.approx(1.5)


def test_verifier_reads_the_cluster_constraints_of_the_filter_tables():
    """Machines small/0, small/1, B; replicas a#0, a#1, b#0, c#0. ``a`` and ``b`` avoid each
    other, small/1 is down, B is cordoned with c#0 running on it, ``a`` spreads over a zone
    label that B lacks, and B offers only 2 cpu."""
    from dataclasses import replace

    from solvers.problem import host_tables

    problem = compile_problem(inst())
    current = np.array([-1, -1, -1, 2])  # c#0 runs on B now
    tables = host_tables(
        machine_type=problem.machine_type,
        capacity=problem.capacity,
        solo_latency=problem.solo_latency,
        slo=problem.slo,
        max_per_machine=None,
        machine_capacity=np.array([[4.0, 8.0], [4.0, 8.0], [2.0, 16.0]]),
        avoid=np.array([[False, True, False], [False, False, False], [False, False, False]]),
        accepts_new=np.array([True, True, False]),
        down=np.array([False, True, False]),
        spread_key=np.array([0, -1, -1]),
        spread_label=np.array([[0, 0, -1]]),
        current=current,
    )
    problem = replace(problem, hosting=tables, current=current, _cache={})
    first = np.array([0, 2, 1, 2])  # a#1 joins c#0 on B, b#0 on the down small/1
    found = violations(problem, first, check_slo=False)
    assert set(found) == {
        "machine B: cpu requested 3 > capacity 2",
        "replica a#1 is new on machine B, which is cordoned",
        "machine small/1 is down but hosts 1 replicas",
        "model a: a replica is on a machine without its spread label",
    }
    second = np.array([0, 1, 0, 2])  # a and b share small/0; a#1 on the down small/1
    found = violations(problem, second, check_slo=False)
    assert set(found) == {
        "machine small/0: models a and b avoid each other but share it",
        "machine small/1 is down but hosts 1 replicas",
        "model a: two replicas share a value of its spread label",
    }  # c#0 stays on the cordoned B, within its 2 cpu: nothing to say
