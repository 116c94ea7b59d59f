"""Instance (names, JSON) -> Problem (indices, NumPy arrays, the slowdown function)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from placement.formats.instance import Instance
from placement.interference import (
    Interference,
    MissingPairError,
    SetPredictor,
    SlowdownSource,
)
from solvers.problem import HostTables, Problem, SlowdownStructure, host_tables


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

    batch = sets = None
    if isinstance(source, Interference) and source.predictor is not None:
        # a learned predictor answers thousands of sets in one inference much faster than one
        # by one; measured data gains nothing from batching
        def batch(keys: list[tuple[int, frozenset[int], int]]) -> list[float]:
            return source.slowdown_many(
                [(models[i], frozenset(models[c] for c in co), types[t]) for i, co, t in keys]
            )

        # whole configurations (an exact enumeration's columns): one name conversion per set
        # instead of one per member
        def sets(machine_type: int, groups: Sequence[tuple[int, ...]]) -> list[list[float]]:
            name = types[machine_type]
            answers = source.slowdown_sets(
                [(name, frozenset(models[m] for m in g)) for g in groups]
            )
            return [[a[models[m]] for m in g] for g, a in zip(groups, answers, strict=True)]

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
        slowdown_sets_fn=sets,
        objective=instance.objective.minimize,
        slo_mode=instance.objective.slo,
        max_per_machine=instance.limits.max_models_per_machine,
        name=instance.name,
        move_penalty=float(instance.objective.move_penalty),
        current=current_array(instance, replicas, machines),
        max_moves=instance.limits.max_moves,
    )
    if _has_cluster_fields(instance):
        problem.hosting = cluster_tables(instance, problem, res_index)
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


def current_array(
    instance: Instance, replicas: list[tuple[str, str]], machines: list[tuple[str, str]]
) -> np.ndarray | None:
    """[R] machine index each replica runs on now (``current``), -1 for new replicas; None
    without ``current``. Departures (replicas the instance no longer has) are left out here;
    the evaluator lists them in ``info.departed``."""
    if not instance.current:
        return None
    machine_index = {mid: n for n, (mid, _) in enumerate(machines)}
    now = instance.current_placement()
    return np.array(
        [machine_index[now[rid]] if rid in now else -1 for rid, _ in replicas], dtype=np.int64
    )


def _has_cluster_fields(instance: Instance) -> bool:
    """Any running-cluster field that changes the filter (SPEC section 2)."""
    return bool(instance.current) or any(
        e.state != "ready" or e.capacity or e.labels for e in instance.machines
    ) or any(m.avoid or m.spread is not None for m in instance.models)


def cluster_tables(instance: Instance, problem: Problem, res_index: dict[str, int]) -> HostTables:
    """The filter tables with the running-cluster fields: per-machine capacity (overrides of
    resources no model requests and no type has are irrelevant and dropped), machine states,
    ``avoid`` pairs, ``spread`` label keys and values, and ``current`` (a machine with current
    replicas is its own class)."""
    records = instance.machine_records()
    N, M = problem.n_machines, problem.n_models
    capacity = np.zeros((N, len(res_index)))
    for n, record in enumerate(records):
        for k, v in record.capacity.items():
            if k in res_index:
                capacity[n, res_index[k]] = v
    model_index = {name: i for i, name in enumerate(problem.model_names)}
    avoid = np.zeros((M, M), dtype=bool)
    for pair in instance.avoid_pairs():
        a, b = sorted(pair)
        avoid[model_index[a], model_index[b]] = avoid[model_index[b], model_index[a]] = True
    keys = sorted({m.spread for m in instance.models if m.spread is not None})
    key_index = {k: i for i, k in enumerate(keys)}
    spread_key = np.array(
        [key_index[m.spread] if m.spread is not None else -1 for m in instance.models],
        dtype=np.int64,
    )
    spread_label = np.full((len(keys), N), -1, dtype=np.int64)
    for i, key in enumerate(keys):
        values: dict[str, int] = {}
        for n, record in enumerate(records):
            if key in record.labels:
                spread_label[i, n] = values.setdefault(record.labels[key], len(values))
    states = [record.state for record in records]
    return host_tables(
        machine_type=problem.machine_type,
        capacity=problem.capacity,
        solo_latency=problem.solo_latency,
        slo=problem.slo,
        max_per_machine=problem.max_per_machine,
        machine_capacity=capacity,
        avoid=avoid,
        accepts_new=np.array([s == "ready" for s in states], dtype=bool),
        down=np.array([s == "down" for s in states], dtype=bool),
        spread_key=spread_key,
        spread_label=spread_label,
        current=problem.current,
    )


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
