"""The infeasibility diagnosis names the group of models that competes for too few machines."""

from __future__ import annotations

from typing import Any

import numpy as np

from placement.api import solve
from placement.compile import compile_problem
from placement.formats.instance import Instance
from solvers import registry
from solvers.diagnosis import crowded_groups, diagnose, hosting_machines, machine_slots
from solvers.result import Status


def crowded_instance(big_replicas: int = 1, extra: list[dict[str, Any]] | None = None) -> Instance:
    """Two ``gpu`` boxes (4 cpu each) and four ``cpu`` boxes. ``big-a``, ``big-b`` and ``big-c``
    run only on ``gpu`` and take 3 cpu each, so one box holds one of them: three replicas for
    two boxes. Each of them alone has room (two boxes for one replica). ``web`` runs anywhere
    and is not part of the conflict."""
    gpu_only = {"gpu": 10.0}
    models = [
        {"name": name, "requests": {"cpu": 3}, "latency_ms": gpu_only, "slo_ms": 100.0,
         "replicas": big_replicas}
        for name in ("big-a", "big-b", "big-c")
    ]
    models.append(
        {"name": "web", "requests": {"cpu": 1}, "latency_ms": {"gpu": 5.0, "cpu": 5.0},
         "slo_ms": 100.0, "replicas": 3}
    )
    models += extra or []
    return Instance.model_validate(
        {
            "name": "crowded",
            "machine_types": [
                {"name": "gpu", "capacity": {"cpu": 4}},
                {"name": "cpu", "capacity": {"cpu": 4}},
            ],
            "machines": [{"type": "gpu", "count": 2}, {"type": "cpu", "count": 4}],
            "models": models,
            "interference": {"missing": 1.1},
        }
    )


def names(problem, group: list[int]) -> set[str]:
    return {problem.model_names[m] for m in group}


def test_the_group_competing_for_too_few_machines_is_named() -> None:
    problem = compile_problem(crowded_instance())
    assert [names(problem, g) for g in crowded_groups(problem)] == [{"big-a", "big-b", "big-c"}]
    reasons = diagnose(problem)
    assert len(reasons) == 1
    assert "big-a, big-b, big-c compete for too few machines" in reasons[0]
    assert "ask for 3 replicas" in reasons[0] and "at most 2" in reasons[0]
    assert "web" not in reasons[0]


def test_each_model_alone_has_room_so_no_single_model_is_blamed() -> None:
    problem = compile_problem(crowded_instance())
    hosting = hosting_machines(problem)
    assert (hosting.sum(axis=1) >= problem.replicas_per_model).all()
    # a gpu box holds one big model by capacity, the cpu boxes none of them
    slots = machine_slots(problem, hosting, [0, 1, 2])
    assert slots.tolist() == [1, 1, 0, 0, 0, 0]


def test_the_group_is_shrunk_to_the_models_that_are_short() -> None:
    """A fourth gpu-only model with a tiny request shares a box with anyone: the flow over all
    models may include it, the named group does not."""
    tiny = {"name": "tiny", "requests": {"cpu": 0.5}, "latency_ms": {"gpu": 1.0}, "slo_ms": 100.0}
    problem = compile_problem(crowded_instance(big_replicas=2, extra=[tiny]))
    groups = [names(problem, g) for g in crowded_groups(problem)]
    assert groups and all("tiny" not in g and "web" not in g for g in groups)
    # two replicas of each big model: any two of them ask for four places on two boxes
    assert len(groups[0]) == 2 and groups[0] <= {"big-a", "big-b", "big-c"}


def test_a_single_model_short_of_machines_keeps_its_message() -> None:
    problem = compile_problem(crowded_instance(big_replicas=3))
    reasons = diagnose(problem)
    assert any(
        "model big-a asks for 3 replicas on distinct machines, but only 2 machines" in r
        for r in reasons
    )


def test_a_feasible_instance_has_no_crowded_group() -> None:
    inst = crowded_instance()
    data = inst.model_dump(by_alias=True, exclude_none=True)
    data["machines"][0]["count"] = 3
    problem = compile_problem(Instance.model_validate(data))
    assert crowded_groups(problem) == []
    assert diagnose(problem) == []
    assert registry.run("exhaustive", problem, time_limit=30).status is Status.OPTIMAL


def test_solvers_report_the_group() -> None:
    problem = compile_problem(crowded_instance())
    for name in ("greedy", "local-search", "exhaustive"):
        result = registry.run(name, problem, time_limit=30)
        assert result.status in (Status.UNKNOWN, Status.INFEASIBLE), name
        assert any("compete for too few machines" in r for r in result.info["diagnosis"]), name
        assert np.all(result.assignment is None)


def test_spread_with_too_few_label_values_names_the_model():
    instance = Instance.model_validate({
        "machine_types": [{"name": "t", "capacity": {"cpu": 8}}],
        "machines": [{"type": "t", "id": "m0", "labels": {"zone": "a"}},
                     {"type": "t", "id": "m1", "labels": {"zone": "a"}},
                     {"type": "t", "id": "m2", "labels": {"zone": "b"}},
                     {"type": "t", "id": "m3"}],
        "models": [{"name": "x", "requests": {"cpu": 2}, "slo_ms": 50, "latency_ms": {"t": 9},
                    "replicas": 3, "spread": "zone"},
                   {"name": "y", "requests": {"cpu": 2}, "slo_ms": 50, "latency_ms": {"t": 9}}],
        "interference": {"missing": 1.2, "pairwise": []},
    })
    problem = compile_problem(instance)
    # m3 has no zone label: it cannot host x, so x has 3 machines but 2 zones
    assert hosting_machines(problem)[problem.model_names.index("x")].sum() == 3
    reasons = diagnose(problem)
    assert any(r.startswith("model x asks for 3 replicas") and "2 distinct values" in r
               for r in reasons), reasons
    for solver in ("cpsat", "greedy"):
        solution = solve(instance, solver, time_limit=5)
        assert solution.status in ("infeasible", "unknown")
        assert "model x asks for 3 replicas" in solution.diagnosis[0]
