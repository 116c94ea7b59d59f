"""Generated instances with a hidden ground truth (SPEC section 7).

``generate`` draws machine types and models from :mod:`placement.synthetic.zoo`, a hidden contention
model (:mod:`placement.synthetic.truth`), and writes an instance holding only what a user would have
measured: solo latencies, every needed pair's slowdown and a few co-location sets, each with
lognormal measurement noise. ``measure_campaign`` plays the profiler for predictor work, and
``paper_workload`` builds the seed paper's two-machine setting (Mendoza et al., EuroMLSys
2021, Table 5).

Every draw comes from its own stream ``numpy.random.default_rng([seed, stage])``, so a seed
gives the same instance and truth on every run, and changing one stage (say, the number of
measured sets) leaves the others alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from placement.formats.errors import InputError
from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.interference import Interference
from placement.synthetic.truth import LEVELS, GroundTruth, truth_from_zoo
from placement.synthetic.zoo import (
    CPU,
    CPU_TYPES,
    GPU,
    GPU_TYPES,
    MACHINE_TYPES,
    ZOO,
    ZooModel,
    solo_latency_ms,
    variant,
)

MAX_DEFAULT_MODELS = 120  # keeps the pairwise table (types x models^2) to a few MB of JSON
SLO_FACTOR = (1.5, 3.0)  # slo_ms = slowest allowed solo latency x U(SLO_FACTOR)
DROP_TYPE_P = 0.1  # a model is not built for one of its device's types (e.g. no TensorRT plan)
# Stream ids of the independent random draws.
_TYPES, _MACHINES, _MODELS, _REPLICAS, _SLO, _TRUTH, _PAIRS, _SETS = range(8)


def _stream(seed: int, stage: int) -> np.random.Generator:
    return np.random.default_rng([seed, stage])


def _bad(what: str, message: str) -> InputError:
    return InputError("generate", [(what, message)])


# --------------------------------------------------------------------------- drafts


@dataclass
class _Draft:
    """A model on its way into the instance."""

    zoo: ZooModel
    allowed: list[str]  # machine types that can host it
    replicas: int = 1
    vcpus: float = 1.0
    memory_gb: float = 0.5
    gpu_memory_gb: float = 0.0  # > 0 only for GPU-only models: the mark of a GPU-only model
    slo_factor: float = 2.0

    @property
    def name(self) -> str:
        return self.zoo.name


def default_n_models(n_replicas: int, n_machines: int) -> int:
    """About two replicas per model, at most MAX_DEFAULT_MODELS distinct models, and enough
    models that each needs at most half the machines (replicas are anti-affine)."""
    spread = math.ceil(2 * n_replicas / max(1, n_machines))
    return max(1, min(n_replicas, max(MAX_DEFAULT_MODELS, spread), max(n_replicas // 2, spread)))


def draw_models(n_models: int, rng: np.random.Generator) -> list[ZooModel]:
    """The zoo in random order, then variants (``resnet50-v2``, ...) once it runs out."""
    bases = [ZOO[n] for n in rng.permutation(list(ZOO))]
    out = list(bases[:n_models])
    k = 2
    while len(out) < n_models:
        for base in bases:
            if len(out) == n_models:
                break
            out.append(variant(base, k, rng))
        k += 1
    return out


def _pick_types(n_types: int, rng: np.random.Generator) -> list[str]:
    """``n_types`` catalog types, mixing CPU and GPU types when there are two or more."""
    n_types = max(1, min(n_types, len(MACHINE_TYPES)))
    if n_types == 1:
        chosen = {str(rng.choice(list(MACHINE_TYPES)))}
    else:
        n_cpu = min(len(CPU_TYPES), max(1, round(n_types * len(CPU_TYPES) / len(MACHINE_TYPES))))
        n_gpu = n_types - n_cpu
        if n_gpu > len(GPU_TYPES):
            n_cpu, n_gpu = n_types - len(GPU_TYPES), len(GPU_TYPES)
        chosen = set(rng.choice(CPU_TYPES, n_cpu, replace=False)) | set(
            rng.choice(GPU_TYPES, n_gpu, replace=False)
        )
    return [t for t in MACHINE_TYPES if t in chosen]  # catalog order: stable files


def _machine_counts(types: list[str], n_machines: int, rng: np.random.Generator) -> list[int]:
    extra = rng.multinomial(n_machines - len(types), rng.dirichlet(np.full(len(types), 2.0)))
    return [1 + int(e) for e in extra]


def _allowed_types(
    types: list[str], gpu_share: float, rng: np.random.Generator
) -> tuple[str, list[str]]:
    """Device class (``gpu``-only, ``cpu``-only, ``any``) and the types that can host it.

    ``gpu_share`` is the GPU machines' share of all machines: device-bound models come in
    that proportion, so neither pool is flooded with models only it can host."""
    if gpu_share <= 0.0:
        device = CPU
    elif gpu_share >= 1.0:
        device = GPU
    else:
        p_gpu = 0.65 * gpu_share
        device = str(rng.choice([GPU, CPU, "any"], p=[p_gpu, 0.65 - p_gpu, 0.35]))
    allowed = [t for t in types if device == "any" or MACHINE_TYPES[t].kind == device]
    kept = [t for t in allowed if rng.random() >= DROP_TYPE_P]
    return device, kept or [allowed[int(rng.integers(len(allowed)))]]


def _spread_replicas(
    drafts: list[_Draft], n_replicas: int, hostable: list[int], rng: np.random.Generator
) -> None:
    """One replica each, the rest by popularity (lognormal), none above its hostable machines."""
    room = np.array(hostable) - 1
    if n_replicas - len(drafts) > int(room.sum()):
        raise _bad(
            "n_replicas",
            f"{n_replicas} replicas cannot fit: replicas of a model go on distinct machines and "
            f"the machines can host at most {int(room.sum()) + len(drafts)}; add machines",
        )
    counts = np.ones(len(drafts), dtype=np.int64)
    left = n_replicas - len(drafts)
    popularity = rng.lognormal(0.0, 1.0, size=len(drafts))
    while left > 0:
        p = np.where(room > 0, popularity, 0.0)
        extra = np.minimum(rng.multinomial(left, p / p.sum()), room)
        counts += extra
        room -= extra
        left -= int(extra.sum())
    for d, c in zip(drafts, counts.tolist(), strict=True):
        d.replicas = c


def _fit_requests(drafts: list[_Draft], machine_types: list[str], counts: list[int], load: float):
    """Scale requests so that requested / capacity ~= ``load`` on the primary resource, vCPUs,
    then shrink memory and GPU memory where they would bind harder than vCPUs.

    Models that only some types can host must fit there too (Hall's condition): for every
    set of types S that is some model's allowed set, or a device pool, the models confined to
    S ask for at most ``load`` of S's vCPUs; confined models are scaled down and the rest up
    (proportional fitting) until the common load is met."""
    per_type = dict(zip(machine_types, counts, strict=True))

    def vcpus_of(types: frozenset[str]) -> float:
        return sum(per_type[t] * MACHINE_TYPES[t].vcpus for t in types)

    total_cap = vcpus_of(frozenset(machine_types))
    allowed = [frozenset(d.allowed) for d in drafts]
    groups = set(allowed) | {
        frozenset(t for t in machine_types if MACHINE_TYPES[t].kind == k) for k in (CPU, GPU)
    }
    members = {g: np.array([a <= g for a in allowed]) for g in groups if g}
    base = np.array(
        [
            d.zoo.gpu_host_vcpus if all(MACHINE_TYPES[t].kind == GPU for t in d.allowed)
            else d.zoo.cpu_vcpus
            for d in drafts
        ]
    )
    reps = np.array([d.replicas for d in drafts], dtype=float)
    smallest = np.array([min(MACHINE_TYPES[t].vcpus for t in d.allowed) for d in drafts])
    scale = np.ones(len(drafts))
    vcpus = base
    for _ in range(50):  # proportional fitting: converges in a few rounds
        # the common factor f, by bisection because requests are capped at the smallest host
        lo, hi = 0.0, 2.0 * load * total_cap / float((reps * base * scale).sum()) + 1.0
        for _ in range(60):
            f = (lo + hi) / 2
            if float((reps * np.minimum(base * scale * f, smallest)).sum()) < load * total_cap:
                lo = f
            else:
                hi = f
        vcpus = np.minimum(base * scale * lo, smallest)
        moved = False
        for g, inside in members.items():
            own = float((reps * vcpus)[inside].sum())
            cap = load * vcpus_of(g)
            if own > cap * 1.0001 and g != frozenset(machine_types):
                scale[inside] *= cap / own
                moved = True
        if not moved:
            break
    for d, v in zip(drafts, vcpus.tolist(), strict=True):
        d.vcpus = max(0.05, round(v, 2))

    def shrink(attr: str, capacity: float) -> None:
        used = sum(getattr(d, attr) * d.replicas for d in drafts)
        if capacity > 0 and used > load * capacity:
            for d in drafts:
                setattr(d, attr, round(getattr(d, attr) * load * capacity / used, 3))

    specs = [(MACHINE_TYPES[t], c) for t, c in zip(machine_types, counts, strict=True)]
    shrink("memory_gb", sum(c * spec.memory_gb for spec, c in specs))
    shrink("gpu_memory_gb", sum(c * spec.gpu_memory_gb for spec, c in specs))



# --------------------------------------------------------------------------- a planted placement


def _pack(
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
        ok = hosts[m] & np.all(free >= requests[m] - 1e-9, axis=1)
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


_RESOURCES = ("vcpus", "memory_gb", "gpu_memory_gb")
# (worst_fit, largest_first): spread first (keeps planted co-locations small), then pack
_STRATEGIES = ((True, True), (False, True), (True, False), (False, False))


def _plant(
    drafts: list[_Draft], types: list[str], machine_types: Sequence[str], limit: int | None
) -> list[list[int]]:
    """Pack the drafts (machines in ``machine_types`` order); when the packing fails, shrink
    every request by 3% and retry, so the instance is feasible at a load a little lower."""
    capacity = np.array(
        [[MACHINE_TYPES[t].capacity().get(r, 0.0) for r in _RESOURCES] for t in types]
    )
    allowed = np.array([[t in d.allowed for t in types] for d in drafts])
    mtype = np.array([types.index(t) for t in machine_types], dtype=np.int64)
    for _ in range(40):
        requests = np.array([[d.vcpus, d.memory_gb, d.gpu_memory_gb] for d in drafts])
        for worst_fit, largest_first in _STRATEGIES:
            placed = _pack(
                requests, [d.replicas for d in drafts], allowed, mtype, capacity, limit,
                worst_fit, largest_first,
            )
            if placed is not None:
                return placed
        for d in drafts:
            d.vcpus = max(0.05, round(d.vcpus * 0.97, 2))
            d.memory_gb = round(d.memory_gb * 0.97, 3)
            d.gpu_memory_gb = round(d.gpu_memory_gb * 0.97, 3)
    raise _bad(
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
    for worst_fit, largest_first in _STRATEGIES:
        placed = _pack(
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


def _meet_slos_on(instance: Instance, assignment: dict[str, str]) -> None:
    """Raise, in place, each SLO the planted assignment breaks (by the instance's own
    interference data) to 2% above the latency there, so hard SLOs stay satisfiable."""
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


# --------------------------------------------------------------------------- assembly


def _latencies(d: _Draft) -> dict[str, float]:
    return {
        t: round(max(1e-3, solo_latency_ms(d.zoo, MACHINE_TYPES[t], d.vcpus)), 4) for t in d.allowed
    }


def _fits(names: Sequence[str], requests: dict[str, dict[str, float]], capacity: dict) -> bool:
    return all(
        sum(requests[n].get(r, 0.0) for n in names) <= capacity.get(r, 0.0) + 1e-9
        for r in {r for n in names for r in requests[n]}
    )


def _assemble(
    name: str,
    placed: list[list[int]],
    types: list[str],
    machines: list[dict[str, Any]],
    drafts: list[_Draft],
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
        _stream(seed, _TRUTH),
    )
    models = []
    requests: dict[str, dict[str, float]] = {}
    for d in drafts:
        latency = _latencies(d)
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
    rng = _stream(seed, _PAIRS)
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
        for m in _sample_sets(
            truth, types, hosted, requests, n_setwise, 4, noise, _stream(seed, _SETS),
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


def _sample_sets(
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
        if key in seen or not _fits(members, requests, MACHINE_TYPES[t].capacity()):
            continue
        seen.add(key)
        for target in sorted(members):
            co = frozenset(members) - {target}
            value = truth.slowdown(target, co, t) * float(np.exp(rng.normal(0.0, noise)))
            out.append(Measurement(t, target, co, value))
    return out


# --------------------------------------------------------------------------- public API


def generate(
    n_models: int | None = None,
    n_replicas: int | None = None,
    n_machines: int = 12,
    n_types: int = 3,
    load: float = 0.7,
    interference: str = "medium",
    seed: int = 0,
    *,
    type_names: Sequence[str] | None = None,
    objective: str = "mean_degradation",
    slo: str = "hard",
    noise: float = 0.025,
    n_setwise: int | None = None,
    max_models_per_machine: int | None = None,
    name: str | None = None,
) -> tuple[Instance, GroundTruth]:
    """A random instance and its hidden ground truth.

    ``n_replicas`` replicas of ``n_models`` distinct models (give either or both: replicas
    default to one per model; models default to about ``n_replicas / 2``, at most 120) on
    ``n_machines`` machines of ``n_types`` types (or exactly ``type_names``) from the zoo.
    ``load`` is requested / capacity on vCPUs (the primary resource, per CPU and GPU pool);
    ``interference`` (low, medium, high) scales every model's pressure on shared resources.
    The instance carries every needed pair (true slowdown x lognormal noise of sigma
    ``noise``), ``n_setwise`` measured sets of 3-4 models (default ``n_models // 2``, 2..40),
    ``compose: additive`` and ``missing: error``.

    >>> inst, truth = generate(n_replicas=40, n_machines=12, n_types=4, load=0.7,
    ...                        interference="medium", seed=1)
    >>> sum(m.replicas for m in inst.models), len(inst.machine_ids())
    (40, 12)
    """
    if n_models is None and n_replicas is None:
        raise _bad("n_models", "give the number of models, of replicas, or both")
    if n_replicas is None:
        n_replicas = int(n_models)  # type: ignore[arg-type]
    if n_models is None:
        n_models = default_n_models(n_replicas, n_machines)
    if n_models < 1 or n_replicas < n_models:
        raise _bad(
            "n_replicas", f"expected n_replicas >= n_models >= 1 (got {n_replicas}, {n_models})"
        )
    if n_machines < 1:
        raise _bad("n_machines", "expected at least one machine")
    if not 0 < load <= 1:
        raise _bad("load", f"expected 0 < load <= 1 (got {load})")
    if interference not in LEVELS:
        raise _bad("interference", f"expected one of {list(LEVELS)} (got {interference!r})")
    if type_names:
        unknown = [t for t in type_names if t not in MACHINE_TYPES]
        if unknown:
            raise _bad(
                "type_names", f"unknown types {unknown}; expected some of {list(MACHINE_TYPES)}"
            )
        types = list(dict.fromkeys(type_names))
    else:
        types = _pick_types(n_types, _stream(seed, _TYPES))
    rng = _stream(seed, _MACHINES)
    if n_machines < len(types):
        types = sorted(rng.choice(types, n_machines, replace=False), key=list(MACHINE_TYPES).index)
    counts = _machine_counts(types, n_machines, rng)

    rng = _stream(seed, _MODELS)
    drafts = []
    gpu_share = sum(
        c for t, c in zip(types, counts, strict=True) if MACHINE_TYPES[t].kind == GPU
    ) / n_machines
    for zm in draw_models(n_models, rng):
        device, allowed = _allowed_types(types, gpu_share, rng)
        d = _Draft(zm, allowed, memory_gb=zm.memory_gb)
        if device == GPU:
            d.gpu_memory_gb = zm.gpu_memory_gb
        drafts.append(d)
    per_type = dict(zip(types, counts, strict=True))
    hostable = [sum(per_type[t] for t in d.allowed) for d in drafts]
    _spread_replicas(drafts, n_replicas, hostable, _stream(seed, _REPLICAS))
    _fit_requests(drafts, types, counts, load)
    machine_types = [t for t, c in zip(types, counts, strict=True) for _ in range(c)]
    placed = _plant(drafts, types, machine_types, max_models_per_machine)
    rng = _stream(seed, _SLO)
    for d in drafts:
        d.slo_factor = float(rng.uniform(*SLO_FACTOR))

    if n_setwise is None:
        n_setwise = max(2, min(40, n_models // 2))
    return _assemble(
        name or f"gen-{n_replicas}x{n_machines}-{interference}-s{seed}",
        placed,
        types,
        [{"type": t, "count": c} for t, c in zip(types, counts, strict=True)],
        drafts,
        interference=interference,
        seed=seed,
        noise=noise,
        n_setwise=n_setwise,
        objective=objective,
        slo=slo,
        max_models_per_machine=max_models_per_machine,
    )


def measure_campaign(
    instance: Instance,
    truth: GroundTruth,
    *,
    pairs: str = "all",
    n_sets: int = 0,
    max_degree: int = 4,
    noise: float = 0.025,
    alone: bool = False,
    seed: int = 0,
) -> list[Measurement]:
    """Profile ``instance``'s models against ``truth``, as a user's measurement campaign would.

    Rows: with ``alone``, each model alone on each type it runs on (slowdown 1 x noise);
    with ``pairs="all"``, every ordered pair on every type that hosts both (``"none"``: no
    pairs); ``n_sets`` random sets of 3..``max_degree`` models that fit on one machine, one
    row per member. Every value is the true slowdown x lognormal noise of sigma ``noise``.
    Write them with :func:`placement.formats.measurements.measurements_csv`.
    """
    if pairs not in ("all", "none"):
        raise _bad("pairs", f'expected "all" or "none" (got {pairs!r})')
    rng = np.random.default_rng([seed, 100])
    types = [t.name for t in instance.machine_types]
    hosted = {t: [m.name for m in instance.models if t in m.latency_ms] for t in types}
    out: list[Measurement] = []
    if alone:
        for t in types:
            for n in hosted[t]:
                out.append(Measurement(t, n, frozenset(), float(np.exp(rng.normal(0.0, noise)))))
    if pairs == "all":
        for t in types:
            names = hosted[t]
            if len(names) < 2:
                continue
            measured = truth.pair_matrix(t, names) * np.exp(
                rng.normal(0.0, noise, (len(names),) * 2)
            )
            for i, a in enumerate(names):
                for j, b in enumerate(names):
                    if i != j:
                        out.append(Measurement(t, a, frozenset((b,)), float(measured[i, j])))
    if n_sets > 0:
        capacity = {t.name: t.capacity for t in instance.machine_types}
        requests = {m.name: dict(m.requests) for m in instance.models}
        for m in _sample_sets(
            truth, types, hosted, requests, n_sets, max_degree, noise,
            np.random.default_rng([seed, 101]), instance.limits.max_models_per_machine,
        ):
            # _sample_sets checks the catalog capacity; recheck against this instance's types
            if _fits([m.target, *m.co_runners], requests, capacity[m.machine_type]):
                out.append(m)
    return out


PAPER_CLUSTERS: dict[str, list[str]] = {
    "v100+v100": ["v100", "v100"],
    "v100+cpu-32": ["v100", "cpu-32"],
    "v100+cpu-16": ["v100", "cpu-16"],
}


def paper_workload(
    cluster: Sequence[str],
    n_models: int,
    seed: int,
    *,
    interference: str = "medium",
    load: float = 0.6,
    noise: float = 0.025,
) -> tuple[Instance, GroundTruth]:
    """The seed paper's Table 5 setting: a small cluster (``PAPER_CLUSTERS``: two machines,
    {V100, V100}, {V100, cpu-32}, {V100, cpu-16}) and a workload of ``n_models`` distinct
    models arriving in file order, one replica each, each able to run on every type.

    The models, their order and SLO factors depend only on ``seed``, so one seed gives the
    same workload on each cluster; requests are scaled to ``load`` of the cluster's vCPUs.
    The objective is the paper's cumulative latency degradation (``added_latency``) with soft
    SLOs. Returns the instance and its ground truth.
    """
    unknown = [t for t in cluster if t not in MACHINE_TYPES]
    if unknown or not cluster:
        raise _bad("cluster", f"unknown types {unknown}; expected some of {list(MACHINE_TYPES)}")
    types = [t for t in MACHINE_TYPES if t in set(cluster)]
    rng = _stream(seed, _MODELS)
    drafts = [_Draft(zm, list(types), memory_gb=zm.memory_gb) for zm in draw_models(n_models, rng)]
    slo_rng = _stream(seed, _SLO)
    for d in drafts:
        d.slo_factor = float(slo_rng.uniform(*SLO_FACTOR))
    capacity = sum(MACHINE_TYPES[t].vcpus for t in cluster)
    smallest = min(MACHINE_TYPES[t].vcpus for t in cluster)
    base = sum(d.zoo.cpu_vcpus for d in drafts)
    for d in drafts:
        d.vcpus = max(0.05, round(min(smallest, d.zoo.cpu_vcpus * load * capacity / base), 2))
    machines = [{"id": f"m{i}", "type": t} for i, t in enumerate(cluster)]
    placed = _plant(drafts, types, list(cluster), None)
    return _assemble(
        f"paper-{'+'.join(cluster)}-{n_models}m-s{seed}",
        placed,
        types,
        machines,
        drafts,
        interference=interference,
        seed=seed,
        noise=noise,
        n_setwise=max(2, n_models // 2),
        objective="added_latency",
        slo="soft",
        max_models_per_machine=None,
    )
