"""Generated instances with a hidden ground truth (SPEC section 7).

``generate`` draws machine types and models from :mod:`placement.synthetic.zoo`, a hidden
contention model (:mod:`placement.synthetic.truth`), and writes an instance holding only what
a user would have measured. The steps live in their own modules: the random streams and
model drafts (:mod:`~placement.synthetic.drafts`), the planted packing that proves the instance
feasible (:mod:`~placement.synthetic.packing`), the instance and truth built from them
(:mod:`~placement.synthetic.assembly`), the seed paper's workloads
(:mod:`~placement.synthetic.paper`) and the measurement campaign for predictor work
(:mod:`~placement.synthetic.campaign`). This module draws a general instance and names the
synthetic world's entry points in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from placement.formats.instance import Instance
from placement.synthetic.assembly import assemble
from placement.synthetic.campaign import measure_campaign
from placement.synthetic.drafts import (
    MACHINES_STREAM,
    MODELS_STREAM,
    REPLICAS_STREAM,
    SLO_FACTOR,
    SLO_STREAM,
    TYPES_STREAM,
    Draft,
    draw_models,
    option_error,
    stream,
)
from placement.synthetic.packing import pack, plant
from placement.synthetic.paper import PAPER_CLUSTERS, paper_workload
from placement.synthetic.truth import LEVELS, GroundTruth
from placement.synthetic.zoo import CPU, CPU_TYPES, GPU, GPU_TYPES, MACHINE_TYPES

MAX_DEFAULT_MODELS = 120  # keeps the pairwise table (types x models^2) to a few MB of JSON
DROP_TYPE_P = 0.1  # a model is not built for one of its device's types (e.g. no TensorRT plan)

__all__ = ["PAPER_CLUSTERS", "default_n_models", "generate", "measure_campaign", "pack",
           "paper_workload"]


def default_n_models(n_replicas: int, n_machines: int) -> int:
    """About two replicas per model, at most MAX_DEFAULT_MODELS distinct models, and enough
    models that each needs at most half the machines (replicas are anti-affine)."""
    spread = math.ceil(2 * n_replicas / max(1, n_machines))
    return max(1, min(n_replicas, max(MAX_DEFAULT_MODELS, spread), max(n_replicas // 2, spread)))


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
    drafts: list[Draft], n_replicas: int, hostable: list[int], rng: np.random.Generator
) -> None:
    """One replica each, the rest by popularity (lognormal), none above its hostable machines."""
    room = np.array(hostable) - 1
    if n_replicas - len(drafts) > int(room.sum()):
        raise option_error(
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


def _fit_requests(drafts: list[Draft], machine_types: list[str], counts: list[int], load: float):
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
        raise option_error("n_models", "give the number of models, of replicas, or both")
    if n_replicas is None:
        n_replicas = int(n_models)  # type: ignore[arg-type]
    if n_models is None:
        n_models = default_n_models(n_replicas, n_machines)
    if n_models < 1 or n_replicas < n_models:
        raise option_error(
            "n_replicas", f"expected n_replicas >= n_models >= 1 (got {n_replicas}, {n_models})"
        )
    if n_machines < 1:
        raise option_error("n_machines", "expected at least one machine")
    if not 0 < load <= 1:
        raise option_error("load", f"expected 0 < load <= 1 (got {load})")
    if interference not in LEVELS:
        raise option_error("interference", f"expected one of {list(LEVELS)} (got {interference!r})")
    if type_names:
        unknown = [t for t in type_names if t not in MACHINE_TYPES]
        if unknown:
            raise option_error(
                "type_names", f"unknown types {unknown}; expected some of {list(MACHINE_TYPES)}"
            )
        types = list(dict.fromkeys(type_names))
    else:
        types = _pick_types(n_types, stream(seed, TYPES_STREAM))
    rng = stream(seed, MACHINES_STREAM)
    if n_machines < len(types):
        types = sorted(rng.choice(types, n_machines, replace=False), key=list(MACHINE_TYPES).index)
    counts = _machine_counts(types, n_machines, rng)

    rng = stream(seed, MODELS_STREAM)
    drafts = []
    gpu_share = sum(
        c for t, c in zip(types, counts, strict=True) if MACHINE_TYPES[t].kind == GPU
    ) / n_machines
    for zm in draw_models(n_models, rng):
        device, allowed = _allowed_types(types, gpu_share, rng)
        d = Draft(zm, allowed, memory_gb=zm.memory_gb)
        if device == GPU:
            d.gpu_memory_gb = zm.gpu_memory_gb
        drafts.append(d)
    per_type = dict(zip(types, counts, strict=True))
    hostable = [sum(per_type[t] for t in d.allowed) for d in drafts]
    _spread_replicas(drafts, n_replicas, hostable, stream(seed, REPLICAS_STREAM))
    _fit_requests(drafts, types, counts, load)
    machine_types = [t for t, c in zip(types, counts, strict=True) for _ in range(c)]
    placed = plant(drafts, types, machine_types, max_models_per_machine)
    rng = stream(seed, SLO_STREAM)
    for d in drafts:
        d.slo_factor = float(rng.uniform(*SLO_FACTOR))

    if n_setwise is None:
        n_setwise = max(2, min(40, n_models // 2))
    return assemble(
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
