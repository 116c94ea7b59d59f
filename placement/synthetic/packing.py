"""The generator's interference-blind bin packer: a planted placement that proves each
generated instance feasible (capacity, anti-affinity, allowed types, per-machine limit).

It is the generator's own, not a solver's: its order and its bias (a replica keeps off the
machines that few-host models depend on) decide which placement is planted, the planted
placement decides which SLOs are raised (:mod:`placement.synthetic.assembly`), and so every
generated file depends on it. The solvers' ``first-fit`` packs in another order and would
change those files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from placement.formats.instance import Instance
from placement.synthetic.drafts import Draft, option_error
from placement.synthetic.zoo import MACHINE_TYPES
from solvers.objectives import TOLERANCE


def pack_replicas(
    requests: np.ndarray,
    replicas: Sequence[int],
    allowed: np.ndarray,
    machine_type: np.ndarray,
    capacity: np.ndarray,
    limit: int | None,
    worst_fit: bool,
    largest_first: bool,
) -> list[list[int]] | None:
    """Interference-blind packing: capacity, anti-affinity, allowed types, per-machine limit.

    ``requests`` is models x resources, ``allowed`` models x types, ``capacity`` types x
    resources. Replicas go in order (``largest_first``: by size relative to the smallest
    host, as first-fit decreasing; else fewest hosts first) to the machine left with the most
    (``worst_fit``) or least relative room. Returns machine indices per model, or None.
    """
    free = capacity[machine_type].astype(float).copy()
    scale = np.where(capacity[machine_type] > 0, capacity[machine_type], 1.0)
    count = np.zeros(len(machine_type), dtype=np.int64)
    hosts = allowed[:, machine_type]  # models x machines
    size = [
        float((requests[m] / np.where(capacity > 0, capacity, np.inf)[allowed[m]]).max())
        for m in range(len(replicas))
    ]
    n_hosts = [int(hosts[m].sum()) for m in range(len(replicas))]
    order = sorted(
        (m for m in range(len(replicas)) for _ in range(replicas[m])),
        key=(lambda m: (-size[m], n_hosts[m])) if largest_first
        else (lambda m: (n_hosts[m], -size[m])),
    )
    # How much confined models need each machine: a flexible replica keeps off the machines
    # that few-host models depend on (a p4-only model needs the p4s left free).
    need = np.zeros(len(machine_type))
    for m in range(len(replicas)):
        need += hosts[m] * (replicas[m] * size[m] / max(1, n_hosts[m]))
    need /= max(float(need.max()), 1e-12)
    placed: list[list[int]] = [[] for _ in replicas]
    for m in order:
        # the solvers' filter (allowed type, room within their tolerance, per-machine limit,
        # anti-affinity) over arrays: plant() packs drafts, before any Problem exists. Room is
        # tracked as free capacity (not as used + request, as solvers.problem.HostTables.fits
        # does): the two round differently, and the planted placement is part of every file
        ok = hosts[m] & np.all(free >= requests[m] - TOLERANCE, axis=1)
        if limit is not None:
            ok &= count < limit
        ok[placed[m]] = False
        if not ok.any():
            return None
        room = ((free - requests[m]) / scale).min(axis=1)
        room = (room if worst_fit else -room) - need
        room = np.where(ok, room, -np.inf)
        n = int(np.argmax(room))
        free[n] -= requests[m]
        count[n] += 1
        placed[m].append(n)
    return placed


PACKED_RESOURCES = ("vcpus", "memory_gb", "gpu_memory_gb")
# (worst_fit, largest_first): spread first (keeps planted co-locations small), then pack
PACKING_STRATEGIES = ((True, True), (False, True), (True, False), (False, False))


def plant(
    drafts: list[Draft], types: list[str], machine_types: Sequence[str], limit: int | None
) -> list[list[int]]:
    """Pack the drafts (machines in ``machine_types`` order); when the packing fails, shrink
    every request by 3% and retry, so the instance is feasible at a load a little lower."""
    capacity = np.array(
        [[MACHINE_TYPES[t].capacity().get(r, 0.0) for r in PACKED_RESOURCES] for t in types]
    )
    allowed = np.array([[t in d.allowed for t in types] for d in drafts])
    mtype = np.array([types.index(t) for t in machine_types], dtype=np.int64)
    for _ in range(40):
        requests = np.array([[d.vcpus, d.memory_gb, d.gpu_memory_gb] for d in drafts])
        for worst_fit, largest_first in PACKING_STRATEGIES:
            placed = pack_replicas(
                requests, [d.replicas for d in drafts], allowed, mtype, capacity, limit,
                worst_fit, largest_first,
            )
            if placed is not None:
                return placed
        for d in drafts:
            d.vcpus = max(0.05, round(d.vcpus * 0.97, 2))
            d.memory_gb = round(d.memory_gb * 0.97, 3)
            d.gpu_memory_gb = round(d.gpu_memory_gb * 0.97, 3)
    raise option_error(
        "load", "found no placement that fits; lower the load, add machines or raise the limit"
    )


def pack(instance: Instance) -> dict[str, str] | None:
    """A capacity-feasible, interference-blind assignment of ``instance`` (replica id ->
    machine id), or None when this simple packing finds none. The generator uses it to plant
    a placement that proves each generated instance feasible."""
    resources = sorted({r for t in instance.machine_types for r in t.capacity}
                       | {r for m in instance.models for r in m.requests})
    types = [t.name for t in instance.machine_types]
    machines = instance.machine_ids()
    requests = np.array([[m.requests.get(r, 0.0) for r in resources] for m in instance.models])
    capacity = np.array(
        [[t.capacity.get(r, 0.0) for r in resources] for t in instance.machine_types]
    )
    allowed = np.array([[t in m.latency_ms for t in types] for m in instance.models])
    mtype = np.array([types.index(t) for _, t in machines], dtype=np.int64)
    for worst_fit, largest_first in PACKING_STRATEGIES:
        placed = pack_replicas(
            requests, [m.replicas for m in instance.models], allowed, mtype, capacity,
            instance.limits.max_models_per_machine, worst_fit, largest_first,
        )
        if placed is not None:
            return {
                f"{m.name}#{r}": machines[n][0]
                for m, ns in zip(instance.models, placed, strict=True)
                for r, n in enumerate(ns)
            }
    return None
