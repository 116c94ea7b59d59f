"""From drafts and a planted placement to an instance file and its hidden ground truth.

The instance holds only what a user would have measured: solo latencies, every needed pair's
slowdown and a few co-location sets, each true slowdown times lognormal measurement noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.interference import Interference
from placement.synthetic.drafts import (
    PAIRS_STREAM,
    SETS_STREAM,
    TRUTH_STREAM,
    Draft,
    draft_latencies,
    stream,
)
from placement.synthetic.truth import GroundTruth, truth_from_zoo
from placement.synthetic.zoo import MACHINE_TYPES
from solvers.objectives import TOLERANCE


def fits_on_machine(
    names: Sequence[str], requests: dict[str, dict[str, float]], capacity: dict[str, float]
) -> bool:
    """Whether one replica of each of ``names`` fits together in ``capacity``.

    Not the solvers' filter (``solvers.problem.Problem``): measured sets are drawn from a
    machine type's catalog capacity before any instance or Problem exists. The tolerance is
    the solvers' one (:data:`solvers.objectives.TOLERANCE`), so a set drawn here fits there."""
    return all(
        sum(requests[n].get(r, 0.0) for n in names) <= capacity.get(r, 0.0) + TOLERANCE
        for r in {r for n in names for r in requests[n]}
    )


def assemble(
    name: str,
    placed: list[list[int]],
    types: list[str],
    machines: list[dict[str, Any]],
    drafts: list[Draft],
    *,
    interference: str,
    seed: int,
    noise: float,
    n_setwise: int,
    objective: str,
    slo: str,
    max_models_per_machine: int | None,
) -> tuple[Instance, GroundTruth]:
    truth = truth_from_zoo(
        {d.name: d.zoo for d in drafts},
        {d.name: d.vcpus for d in drafts},
        types,
        interference,
        stream(seed, TRUTH_STREAM),
    )
    models = []
    requests: dict[str, dict[str, float]] = {}
    for d in drafts:
        latency = draft_latencies(d)
        req = {"vcpus": d.vcpus, "memory_gb": d.memory_gb}
        if d.gpu_memory_gb > 0:
            req["gpu_memory_gb"] = d.gpu_memory_gb
        requests[d.name] = req
        models.append(
            {
                "name": d.name,
                "requests": req,
                "slo_ms": round(max(latency.values()) * d.slo_factor, 4),
                "latency_ms": latency,
                "replicas": d.replicas,
                "features": {k: round(v, 6) for k, v in d.zoo.features().items()},
            }
        )
    hosted = {t: [d.name for d in drafts if t in d.allowed] for t in types}
    pairwise = []
    rng = stream(seed, PAIRS_STREAM)
    for t in types:
        names = hosted[t]
        if len(names) < 2 or max_models_per_machine == 1:
            continue
        measured = truth.pair_matrix(t, names) * np.exp(rng.normal(0.0, noise, (len(names),) * 2))
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i != j:
                    pairwise.append(
                        {"machine_type": t, "target": a, "with": b,
                         "slowdown": round(float(measured[i, j]), 4)}
                    )
    setwise = [
        {"machine_type": m.machine_type, "target": m.target, "with": sorted(m.co_runners),
         "slowdown": round(m.slowdown, 4)}
        for m in sample_sets(
            truth, types, hosted, requests, n_setwise, 4, noise, stream(seed, SETS_STREAM),
            max_models_per_machine,
        )
    ]
    data = {
        "name": name,
        "machine_types": [
            {
                "name": t,
                "capacity": MACHINE_TYPES[t].capacity(),
                "cost_per_hour": MACHINE_TYPES[t].cost_per_hour,
                "features": MACHINE_TYPES[t].features(),
            }
            for t in types
        ],
        "machines": machines,
        "models": models,
        "interference": {
            "pairwise": pairwise, "setwise": setwise, "compose": "additive", "missing": "error"
        },
        "objective": {"minimize": objective, "slo": slo},
        "limits": {"max_models_per_machine": max_models_per_machine},
    }
    instance = Instance.model_validate(data)
    machine_ids = [mid for mid, _ in instance.machine_ids()]
    _meet_slos_on(
        instance,
        {f"{d.name}#{r}": machine_ids[n] for d, ns in zip(drafts, placed, strict=True)
         for r, n in enumerate(ns)},
    )
    return instance, truth


def _meet_slos_on(instance: Instance, assignment: dict[str, str]) -> None:
    """Raise, in place, each SLO the planted assignment breaks (by the instance's own
    interference data) to 2% above the latency there, so hard SLOs stay satisfiable.

    The slowdowns come from the one slowdown function (:class:`Interference`); the latency
    check is not the evaluator's (:func:`placement.evaluate.evaluate`) on purpose: the
    evaluator meets an SLO within ``TOLERANCE`` and rounds its figures to 9 decimals, while
    every generated file so far raised an SLO from the exact latency with a strict
    comparison; the evaluator would change some file's SLO in its last decimal."""
    source = Interference(instance)
    mtype = dict(instance.machine_ids())
    by_model = {m.name: m for m in instance.models}
    residents: dict[str, set[str]] = {}
    for rid, mid in assignment.items():
        residents.setdefault(mid, set()).add(rid.rsplit("#", 1)[0])
    for rid, mid in assignment.items():
        name = rid.rsplit("#", 1)[0]
        t = mtype[mid]
        model = by_model[name]
        latency = model.latency_ms[t] * source.slowdown(
            name, frozenset(residents[mid] - {name}), t
        )
        if latency > model.slo_ms:
            model.slo_ms = round(latency * 1.02, 4)


def sample_sets(
    truth: GroundTruth,
    types: list[str],
    hosted: dict[str, list[str]],
    requests: dict[str, dict[str, float]],
    n_sets: int,
    max_degree: int,
    noise: float,
    rng: np.random.Generator,
    max_models_per_machine: int | None = None,
) -> list[Measurement]:
    """``n_sets`` distinct co-location sets of 3..max_degree models that fit on one machine of
    their type, one noisy measurement per member as target."""
    top = max_degree if max_models_per_machine is None else min(max_degree, max_models_per_machine)
    usable = [t for t in types if len(hosted[t]) >= 3]
    out: list[Measurement] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    if top < 3 or not usable:
        return out
    attempts = 0
    while len(seen) < n_sets and attempts < 50 * n_sets:
        attempts += 1
        t = usable[int(rng.integers(len(usable)))]
        k = int(rng.integers(3, min(top, len(hosted[t])) + 1))
        members = [str(x) for x in rng.choice(hosted[t], k, replace=False)]
        key = (t, frozenset(members))
        if key in seen or not fits_on_machine(members, requests, MACHINE_TYPES[t].capacity()):
            continue
        seen.add(key)
        for target in sorted(members):
            co = frozenset(members) - {target}
            value = truth.slowdown(target, co, t) * float(np.exp(rng.normal(0.0, noise)))
            out.append(Measurement(t, target, co, value))
    return out
