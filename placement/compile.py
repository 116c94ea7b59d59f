"""Instance (names, JSON) -> Problem (indices, NumPy arrays, the slowdown function)."""

from __future__ import annotations

import numpy as np

from placement.formats.instance import Instance
from placement.interference import (
    Interference,
    MissingPairError,
    SetPredictor,
    SlowdownSource,
)
from solvers.problem import Problem, SlowdownStructure


def compile_problem(
    instance: Instance,
    source: SlowdownSource | None = None,
    predictor: SetPredictor | None = None,
) -> Problem:
    """Build the numeric problem.

    ``source`` replaces the instance's own interference data (the generator's ground truth
    does this to compute true figures); ``predictor`` plugs a learned predictor into the
    instance's slowdown function (see :class:`~placement.interference.Interference`).
    """
    if source is None:
        source = Interference(instance, predictor)
    models = [m.name for m in instance.models]
    types = [t.name for t in instance.machine_types]
    model_index = {n: i for i, n in enumerate(models)}
    type_index = {n: i for i, n in enumerate(types)}
    resources: list[str] = []
    for t in instance.machine_types:
        resources += [k for k in t.capacity if k not in resources]
    for m in instance.models:
        resources += [k for k in m.requests if k not in resources]
    res_index = {k: i for i, k in enumerate(resources)}

    machines = instance.machine_ids()
    replicas = instance.replica_ids()
    M, T, K = len(models), len(types), len(resources)
    requests = np.zeros((M, K))
    solo = np.full((M, T), np.nan)
    for i, m in enumerate(instance.models):
        for k, v in m.requests.items():
            requests[i, res_index[k]] = v
        for t, v in m.latency_ms.items():
            solo[i, type_index[t]] = v
    capacity = np.zeros((T, K))  # a resource a type lacks counts as capacity 0 there
    for j, t in enumerate(instance.machine_types):
        for k, v in t.capacity.items():
            capacity[j, res_index[k]] = v

    def slowdown(target: int, co_runners: frozenset[int], machine_type: int) -> float:
        return source.slowdown(
            models[target], frozenset(models[c] for c in co_runners), types[machine_type]
        )

    batch = None
    if isinstance(source, Interference) and source.predictor is not None:
        # a learned predictor answers thousands of sets in one inference much faster than one
        # by one; measured data gains nothing from batching
        def batch(keys: list[tuple[int, frozenset[int], int]]) -> list[float]:
            return source.slowdown_many(
                [(models[i], frozenset(models[c] for c in co), types[t]) for i, co, t in keys]
            )

    problem = Problem(
        model_names=tuple(models),
        type_names=tuple(types),
        machine_ids=tuple(mid for mid, _ in machines),
        resource_names=tuple(resources),
        replica_ids=tuple(rid for rid, _ in replicas),
        replica_model=np.array([model_index[m] for _, m in replicas], dtype=np.int64),
        machine_type=np.array([type_index[t] for _, t in machines], dtype=np.int64),
        requests=requests,
        capacity=capacity,
        solo_latency=solo,
        slo=np.array([m.slo_ms for m in instance.models], dtype=float),
        weight=np.array([m.weight for m in instance.models], dtype=float),
        cost=np.array([t.cost_per_hour for t in instance.machine_types], dtype=float),
        pair_slowdown=np.ones((T, M, M)),
        slowdown_fn=slowdown,
        slowdown_batch_fn=batch,
        objective=instance.objective.minimize,
        slo_mode=instance.objective.slo,
        max_per_machine=instance.limits.max_models_per_machine,
        name=instance.name,
    )
    present = problem.machines_per_type > 0
    allowed = problem.allowed
    pair_limit_ok = problem.max_per_machine is None or problem.max_per_machine >= 2
    for t in range(T):
        if not present[t] or not pair_limit_ok:
            continue
        hosted = np.flatnonzero(allowed[:, t])
        for a in hosted:
            for b in hosted:
                if a != b:
                    problem.pair_slowdown[t, a, b] = problem.slowdown(a, (b,), t)
    problem.structure = _structure(source, problem, type_index, model_index)
    return problem


def _structure(
    source, problem: Problem, type_index: dict, model_index: dict
) -> SlowdownStructure | None:
    """The slowdown function's make-up (set-wise entries over composed pairs), for the exact
    solvers' lower bounds; None when the source is not plain measured data (a predictor fills
    sets, or another source such as the ground truth): then nothing is assumed."""
    if type(source) is not Interference or source.predictor is not None:
        return None
    if source.compose_rule not in ("additive", "multiplicative", "max"):
        return None
    T, M = problem.n_types, problem.n_models
    models, types = problem.model_names, problem.type_names
    pair = np.ones((T, M, M))
    allowed = problem.allowed
    for t in range(T):
        hosted = np.flatnonzero(allowed[:, t])
        for a in hosted:
            for b in hosted:
                if a != b:
                    try:
                        pair[t, a, b] = source.pair(models[a], models[b], types[t])
                    except MissingPairError:
                        pair[t, a, b] = np.inf  # never composed in a usable set; inf is safe
    setwise = tuple(
        (type_index[t], model_index[target], frozenset(model_index[w] for w in with_), value)
        for (t, target, with_), value in source.setwise.items()
        if t in type_index and target in model_index and all(w in model_index for w in with_)
    )
    return SlowdownStructure(source.compose_rule, pair, setwise)
