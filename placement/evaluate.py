"""The one evaluator and the one verifier, over names.

``evaluate(instance, assignment)`` recomputes every figure of a solution from the assignment
and the instance's interference data (or a ground truth, with ``source=``). Solvers never
report figures of their own; :func:`placement.api.solve` passes their assignment through here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from placement.cluster.moves import with_moves
from placement.compile import compile_problem
from placement.formats.instance import Instance
from placement.formats.solution import MachineFigures, ReplicaFigures, Solution, Summary
from placement.interference import SetPredictor, SlowdownSource
from solvers.metrics import evaluate_assignment, residents, violations
from solvers.problem import Problem


class AssignmentError(ValueError):
    """The assignment names replicas or machines the instance does not have (or the slowdown
    source given to :func:`evaluate` does not describe the instance)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


def to_array(problem: Problem, assignment: Mapping[str, str]) -> np.ndarray:
    """Replica id -> machine id mapping as the solvers' index array (-1 = unplaced)."""
    machine_index = {m: i for i, m in enumerate(problem.machine_ids)}
    replica_index = {r: i for i, r in enumerate(problem.replica_ids)}
    errors: list[tuple[str, str]] = []
    out = np.full(problem.n_replicas, -1, dtype=np.int64)
    for rid, mid in assignment.items():
        if rid not in replica_index:
            errors.append((f"assignment.{rid}", "unknown replica; expected ids like <model>#<r>"))
        elif mid not in machine_index:
            errors.append((f"assignment.{rid}", f"unknown machine {mid!r}"))
        else:
            out[replica_index[rid]] = machine_index[mid]
    if errors:
        raise AssignmentError(errors)
    return out


def to_mapping(problem: Problem, assignment: np.ndarray) -> dict[str, str]:
    return {
        problem.replica_ids[r]: problem.machine_ids[n]
        for r, n in enumerate(assignment.tolist())
        if n >= 0
    }


def figures(problem: Problem, assignment: np.ndarray) -> dict:
    """Per-replica, per-machine and summary figures of an index assignment."""
    metrics = evaluate_assignment(problem, assignment)
    replicas: dict[str, ReplicaFigures] = {}
    machines: dict[str, MachineFigures] = {}
    for n, reps in residents(problem, assignment).items():
        t = int(problem.machine_type[n])
        mid = problem.machine_ids[n]
        models = [int(problem.replica_model[r]) for r in reps]
        for r, m in zip(reps, models, strict=True):
            replicas[problem.replica_ids[r]] = ReplicaFigures(
                model=problem.model_names[m],
                machine=mid,
                machine_type=problem.type_names[t],
                slowdown=round(float(metrics.slowdown[r]), 9),
                latency_ms=round(float(metrics.latency_ms[r]), 9),
                slo_ms=float(problem.slo[m]),
                slo_met=bool(metrics.slo_met[r]),
            )
        used = problem.requests[models].sum(axis=0)
        machines[mid] = MachineFigures(
            type=problem.type_names[t],
            replicas=[problem.replica_ids[r] for r in reps],
            # resources of the type, and any requested resource the type lacks (over capacity)
            used={
                k: round(float(used[i]), 9)
                for i, k in enumerate(problem.resource_names)
                if problem.capacity[t, i] > 0 or used[i] > 0
            },
        )
    summary = Summary(
        mean_degradation=metrics.mean_degradation,
        p99_degradation=metrics.p99_degradation,
        max_degradation=metrics.max_degradation,
        total_added_latency_ms=metrics.total_added_latency_ms,
        slo_violations=metrics.slo_violations,
        machines_used=metrics.machines_used,
        cost_per_hour=metrics.cost_per_hour,
    )
    return {
        "replicas": replicas,
        "machines": machines,
        "summary": summary,
        "objective": metrics.objective(problem.objective),
    }


def evaluate(
    instance: Instance,
    assignment: Mapping[str, str],
    *,
    source: SlowdownSource | None = None,
    predictor: SetPredictor | None = None,
) -> Solution:
    """Every figure of ``assignment`` on ``instance`` as a :class:`Solution` (solver "evaluate").

    >>> inst = Instance.load("instances/demo.json")  # from the repository root
    >>> sol = evaluate(inst, {"resnet50#0": "c5.2xlarge/0", "bert-base#0": "c5.2xlarge/0"})
    >>> sol.replicas["resnet50#0"].slowdown, sol.replicas["bert-base#0"].slowdown
    (1.412, 1.355)
    >>> sorted(sol.machines["c5.2xlarge/0"].replicas)
    ['bert-base#0', 'resnet50#0']
    """
    if not isinstance(instance, Instance):
        raise TypeError(f"instance must be an Instance, got {type(instance).__name__}")
    if isinstance(assignment, Solution):
        assignment = assignment.assignment
    if not isinstance(assignment, Mapping):
        raise TypeError("assignment must be a mapping replica id -> machine id (or a "
                        f"Solution), got {type(assignment).__name__}")
    if source is not None and (mismatch := source_mismatch(instance, source)):
        raise AssignmentError(mismatch)
    problem = compile_problem(instance, source=source, predictor=predictor)
    array = to_array(problem, assignment)
    found = violations(problem, array)
    status = "feasible" if not found else "infeasible"
    sol = Solution(
        instance=instance.name,
        solver="evaluate",
        status=status,
        assignment=dict(assignment),
        diagnosis=found,
        **figures(problem, array),
    )
    return with_moves(sol, instance)  # moves, their count and penalty (SPEC section 9)


def source_mismatch(instance: Instance, source: SlowdownSource) -> list[tuple[str, str]]:
    """Why a slowdown source (a generator's ground truth) does not describe ``instance``: the
    models and machine types it lacks, or a model without a demand on a type it may run on.
    Empty when it matches, or when the source does not say what it covers."""
    models, types = getattr(source, "models", None), getattr(source, "machine_types", None)
    if not isinstance(models, Mapping) or not isinstance(types, Mapping):
        return []
    problems: list[tuple[str, str]] = []
    missing_models = [m.name for m in instance.models if m.name not in models]
    if missing_models:
        problems.append(("models", f"no model {', '.join(map(repr, missing_models[:5]))}"
                         f"{' ...' if len(missing_models) > 5 else ''} of the instance; expected "
                         "the truth written with this instance (generate --truth)"))
    missing_types = [t.name for t in instance.machine_types if t.name not in types]
    if missing_types:
        problems.append(("machine_types", f"no machine type "
                         f"{', '.join(map(repr, missing_types[:5]))} of the instance; expected "
                         "the truth written with this instance"))
    if not problems:
        for m in instance.models:
            demand = getattr(models[m.name], "demand", None)
            if isinstance(demand, Mapping):
                lacking = [t for t in m.latency_ms if t not in demand]
                if lacking:
                    problems.append((f"models.{m.name}.demand", f"no demand on {lacking}; "
                                     "expected one per machine type the model runs on"))
    return problems


def verify(instance: Instance, assignment: Mapping[str, str]) -> list[str]:
    """Every violated constraint of ``assignment`` in words (empty = feasible)."""
    problem = compile_problem(instance)
    return violations(problem, to_array(problem, assignment))
