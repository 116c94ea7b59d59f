"""The hidden contention model of generated instances: the true slowdown of any co-location set.

Only the generator writes it and only ``evaluate --truth`` / ``compare --truth`` read it;
no solver and no predictor ever sees it (ARCHITECTURE: the truth lives apart). Instances
carry noisy *measurements* of it (pairs, a few sets); this module says what the world did.

The model
---------
Each machine type has shared resources, each with a capacity and a *shape*; each model has,
per type, a demand on each resource and, per resource, a sensitivity (the fraction of its
solo time that resource governs). With the interference level's ``intensity`` ``k``, the
utilization of resource ``r`` with the target alone is ``u0 = k*d_target/C`` and with its
co-runners ``u = k*(d_target + sum d_co)/C``. The target's slowdown is

    1 + sum_r sensitivity_r * shape_r(u, u0)

with each shape 0 at ``u == u0`` and non-decreasing in ``u`` (so adding a co-runner never
helps and every slowdown is >= 1):

* ``linear``: ``u - u0``. Frequency/SMT effects of busy neighbouring cores; a GPU's L2 and
  DRAM bandwidth, where measured pair slowdowns grow linearly with the co-runner's
  utilization (gpulet's and iGniter's fits; calibrated in docs/calibration.md).
* ``queue``: ``Q(u)/Q(u0) - 1`` with ``Q(u) = 1/(1 - c*tanh(u/c))``, ``c = queue_cap``. A
  bandwidth (host DRAM, PCIe) behaves like a server: waiting grows like 1/(1-utilization),
  capped smoothly below 1. Convex, so sets are *super-additive* near saturation.
* ``share``: ``E(u) - E(u0)`` with ``E(u) = 1 - 1/smax(1, u)``: a cache shared in proportion
  to footprints evicts that fraction of the target's working set. Bounded by 1, so once the
  cache is thrashed more co-runners add little: *sub-additive*.
* ``slice``: ``smax(1, u)/smax(1, u0) - 1``: compute units (GPU SMs) shared spatially are
  free until the sum of demands exceeds the device, then time-sliced. Pairs can be harmless
  and a triple costly.
* ``knee``: ``K(u) - K(u0)`` with ``K(u) = 0.1 u + 6 max(0, u - 0.6)``: a bandwidth with a
  hard knee. Not used by the zoo's own world; :func:`with_family` builds a world of them, a
  contention shape the generator's tuning never saw (for testing learning loops).

``smax(1, u) = (1 + u + sqrt((u - 1)^2 + smooth^2)) / 2`` is a smooth ``max(1, u)``.

The JSON format (``GroundTruth.to_json``)::

    {"format": "placement-ground-truth", "version": 1,
     "level": "medium", "intensity": 1.0, "params": {"queue_cap": 0.9, "smooth": 0.1},
     "machine_types": {"cpu-8": {"llc": {"capacity": 11.0, "shape": "share"}, ...}, ...},
     "models": {"resnet50": {"sensitivity": {"llc": 0.31, "mem_bw": 0.27, ...},
                             "demand": {"cpu-8": {"llc": 7.84, ...}, ...}}, ...}}

A resource a model has no demand for on a type counts as demand 0; a resource without a
sensitivity counts as sensitivity 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from placement.formats.errors import CrossCheckError, InputError
from placement.formats.files import write_json_atomic
from placement.formats.instance import load_json_model, validate_model
from placement.synthetic.zoo import (
    CPU,
    MACHINE_TYPES,
    REF_GPU_BW,
    REF_GPU_L2_MB,
    REF_GPU_SMS,
    ZooModel,
    solo_latency_ms,
)

FORMAT = "placement-ground-truth"
VERSION = 1
Shape = Literal["linear", "queue", "share", "slice", "knee"]
LEVELS: dict[str, float] = {"low": 0.5, "medium": 1.0, "high": 1.6}
QUEUE_CAP = 0.9
SMOOTH = 0.1
#: The ``knee`` shape: free below this utilization, then steep (see :func:`shape_value`).
KNEE_AT = 0.6
KNEE_SLOPE = 6.0


# --------------------------------------------------------------------------- shapes


def _smax1(u: Any, smooth: float) -> Any:
    return (1.0 + u + np.sqrt((u - 1.0) ** 2 + smooth * smooth)) / 2.0


def _queue(u: Any, cap: float) -> Any:
    return 1.0 / (1.0 - cap * np.tanh(u / cap))


def _knee(u: Any) -> Any:
    # a bandwidth with a hard knee: a little linear contention, then a sharp wall once the
    # sum of demands passes KNEE_AT (no smoothing: a kink no pair measurement reveals when
    # every pair stays below it)
    return 0.1 * u + KNEE_SLOPE * np.maximum(0.0, u - KNEE_AT)


def shape_value(shape: str, u: Any, u0: Any, *, queue_cap: float, smooth: float) -> Any:
    """Extra slowdown per unit sensitivity at utilization ``u`` (``u0`` = target alone)."""
    if shape == "linear":
        return u - u0
    if shape == "queue":
        return _queue(u, queue_cap) / _queue(u0, queue_cap) - 1.0
    if shape == "share":
        return 1.0 / _smax1(u0, smooth) - 1.0 / _smax1(u, smooth)
    if shape == "slice":
        return _smax1(u, smooth) / _smax1(u0, smooth) - 1.0
    if shape == "knee":
        return _knee(u) - _knee(u0)
    raise ValueError(f"unknown shape {shape!r}")


# --------------------------------------------------------------------------- file format

_NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceSpec(_Strict):
    capacity: _Pos
    shape: Shape


class ModelTruth(_Strict):
    sensitivity: dict[str, _NonNeg]
    demand: dict[str, dict[str, _NonNeg]]


class Params(_Strict):
    queue_cap: Annotated[float, Field(gt=0, lt=1)] = QUEUE_CAP
    smooth: _Pos = SMOOTH


class TruthFile(_Strict):
    format: Literal["placement-ground-truth"]
    version: Literal[1]
    level: str = "custom"
    intensity: _Pos
    params: Params = Field(default_factory=Params)
    machine_types: dict[str, dict[str, ResourceSpec]]
    models: dict[str, ModelTruth]

    @model_validator(mode="after")
    def _cross_check(self) -> TruthFile:
        problems: list[tuple[str, str]] = []
        known_resources = {r for res in self.machine_types.values() for r in res}
        for name, m in self.models.items():
            for r in m.sensitivity:
                if r not in known_resources:
                    problems.append(
                        (f"models.{name}.sensitivity.{r}",
                         f"unknown resource; expected one of {sorted(known_resources)}")
                    )
            for t, dem in m.demand.items():
                if t not in self.machine_types:
                    problems.append(
                        (f"models.{name}.demand.{t}",
                         f"unknown machine type; expected one of {sorted(self.machine_types)}")
                    )
                    continue
                for r in dem:
                    if r not in self.machine_types[t]:
                        problems.append(
                            (f"models.{name}.demand.{t}.{r}",
                             f"type {t!r} has no resource {r!r}; expected one of "
                             f"{sorted(self.machine_types[t])}")
                        )
        if problems:
            raise CrossCheckError(problems)
        return self


# --------------------------------------------------------------------------- the truth


class GroundTruth:
    """The true slowdown of any co-location set (a SlowdownSource).

    >>> truth = GroundTruth.load("instances/paper-7types.truth.json")  # from the repository root
    >>> round(truth.slowdown("googlenet", frozenset({"bert-large"}), "cpu-16"), 3)
    1.143
    >>> round(truth.slowdown("googlenet", frozenset({"bert-large", "lenet"}), "cpu-16"), 3)
    1.18
    """

    def __init__(
        self,
        machine_types: dict[str, dict[str, ResourceSpec]],
        models: dict[str, ModelTruth],
        *,
        intensity: float,
        level: str = "custom",
        queue_cap: float = QUEUE_CAP,
        smooth: float = SMOOTH,
    ):
        self.machine_types = machine_types
        self.models = models
        self.intensity = float(intensity)
        self.level = level
        self.queue_cap = float(queue_cap)
        self.smooth = float(smooth)

    # ----------------------------------------------------------------- the oracle
    def _check(self, names: Sequence[str], machine_type: str) -> None:
        if machine_type not in self.machine_types:
            raise KeyError(f"the ground truth has no machine type {machine_type!r}")
        for n in names:
            if n not in self.models:
                raise KeyError(f"the ground truth has no model {n!r}")

    def slowdown(self, target: str, co_runners: frozenset[str], machine_type: str) -> float:
        """True slowdown of ``target`` when ``co_runners`` share its ``machine_type`` machine."""
        if not co_runners:
            return 1.0
        self._check([target, *co_runners], machine_type)
        tm = self.models[target]
        own = tm.demand.get(machine_type, {})
        total = 1.0
        for r, spec in self.machine_types[machine_type].items():
            s = tm.sensitivity.get(r, 0.0)
            if s == 0.0:
                continue
            a = self.intensity * own.get(r, 0.0)
            b = self.intensity * sum(
                self.models[c].demand.get(machine_type, {}).get(r, 0.0) for c in sorted(co_runners)
            )
            u0, u = a / spec.capacity, (a + b) / spec.capacity
            total += s * float(
                shape_value(spec.shape, u, u0, queue_cap=self.queue_cap, smooth=self.smooth)
            )
        return max(1.0, total)

    def pair_matrix(self, machine_type: str, names: Sequence[str]) -> np.ndarray:
        """``out[i, j]`` = true slowdown of ``names[i]`` beside ``names[j]`` alone (diagonal 1).

        Vectorized, because a generated instance needs types x models^2 pairs."""
        self._check(names, machine_type)
        n = len(names)
        out = np.ones((n, n))
        for r, spec in self.machine_types[machine_type].items():
            d = np.array(
                [self.models[m].demand.get(machine_type, {}).get(r, 0.0) for m in names]
            ) * self.intensity
            s = np.array([self.models[m].sensitivity.get(r, 0.0) for m in names])
            if not s.any():
                continue
            u0 = d / spec.capacity
            u = (d[:, None] + d[None, :]) / spec.capacity
            out += s[:, None] * shape_value(
                spec.shape, u, u0[:, None], queue_cap=self.queue_cap, smooth=self.smooth
            )
        np.fill_diagonal(out, 1.0)
        return np.maximum(out, 1.0)

    # ----------------------------------------------------------------- files
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "level": self.level,
            "intensity": self.intensity,
            "params": {"queue_cap": self.queue_cap, "smooth": self.smooth},
            "machine_types": {
                t: {r: spec.model_dump() for r, spec in res.items()}
                for t, res in self.machine_types.items()
            },
            "models": {n: m.model_dump() for n, m in self.models.items()},
        }

    @classmethod
    def _from_file(cls, f: TruthFile) -> GroundTruth:
        return cls(
            f.machine_types,
            f.models,
            intensity=f.intensity,
            level=f.level,
            queue_cap=f.params.queue_cap,
            smooth=f.params.smooth,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "<truth>") -> GroundTruth:
        """Validate ``data``; raises :class:`InputError` naming ``source`` and the JSON path."""
        return cls._from_file(validate_model(TruthFile, data, source))

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """Read a truth file; raises :class:`InputError` naming the file and the JSON path."""
        return cls._from_file(load_json_model(TruthFile, path))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


def level_intensity(level: str) -> float:
    try:
        return LEVELS[level]
    except KeyError:
        raise InputError(
            "--interference", [("$", f"unknown level {level!r}; expected one of {list(LEVELS)}")]
        ) from None


# --------------------------------------------------------------------------- from the zoo

# Which shared resources each kind of machine has, and how each saturates (see module doc).
CPU_RESOURCES: dict[str, str] = {"cores": "linear", "llc": "share", "mem_bw": "queue"}
# GPU L2 and DRAM contention is linear in the co-runners' utilization, as in the linear models
# the gpulet and iGniter authors fit on measured pairs; with the queue shape the generated V100
# pairs had twice the measured spread (docs/calibration.md).
GPU_RESOURCES: dict[str, str] = {"sm": "slice", "l2": "linear", "dram": "linear", "pcie": "queue"}
# Scale of the L2 and DRAM sensitivities, fitted so that the median and 90th percentile of
# generated V100 pair slowdowns match the 1,500 measured iGniter ones (docs/calibration.md,
# benchmarks/calibration.py, tests/test_calibration.py).
GPU_MEMORY_SENSITIVITY = 0.65


def truth_from_zoo(
    models: Mapping[str, ZooModel],
    vcpus: Mapping[str, float],
    type_names: Sequence[str],
    level: str,
    rng: np.random.Generator,
) -> GroundTruth:
    """Draw the hidden contention model for ``models`` (name -> zoo profile) on ``type_names``.

    Demands follow the public solo profile (so a predictor can learn them from features);
    sensitivities get a hidden per-model factor (lognormal, sigma 0.25) that no feature shows,
    so no predictor can be exact. ``vcpus`` are the replicas' requested vCPUs (busy cores).
    """
    types = [MACHINE_TYPES[t] for t in type_names]
    machine_types: dict[str, dict[str, ResourceSpec]] = {}
    for t in types:
        if t.kind == CPU:
            caps = {"cores": t.vcpus, "llc": t.llc_mb, "mem_bw": t.mem_bw_gbps}
            shapes = CPU_RESOURCES
        else:
            caps = {"sm": 1.0, "l2": 1.0, "dram": 1.0, "pcie": t.pcie_gbps}
            shapes = GPU_RESOURCES
        machine_types[t.name] = {
            r: ResourceSpec(capacity=float(caps[r]), shape=shapes[r]) for r in shapes  # type: ignore[arg-type]
        }
    present = {r for res in machine_types.values() for r in res}
    ref_cpu = MACHINE_TYPES["cpu-16"]
    v100 = MACHINE_TYPES["v100"]
    out: dict[str, ModelTruth] = {}
    for name in sorted(models):  # sorted: the draws do not depend on dict order
        m = models[name]
        hidden = np.exp(rng.normal(0.0, 0.25, size=7))
        # CPU: the memory-bound fraction of solo time sets the bandwidth sensitivity.
        cpu_lat = solo_latency_ms(m, ref_cpu)
        mem_frac = min(1.0, m.cpu_traffic_mb * 0.5 / ref_cpu.mem_bw_gbps / cpu_lat)
        # GPU: the gpulet fit weighs the co-runner's L2 most, then DRAM (README of the data);
        # the overall scale of both is calibrated on real V100 pairs (GPU_MEMORY_SENSITIVITY).
        gpu_lat_ref = solo_latency_ms(m, v100) * 1.3  # ~ the RTX 2080 Ti the profile is from
        pcie_frac = min(1.0, m.input_mb / v100.pcie_gbps / solo_latency_ms(m, v100))
        sensitivity = {
            "cores": 0.15 * hidden[0],
            "llc": (0.15 + 0.35 * min(1.0, m.llc_mb / 20.0)) * hidden[1],
            "mem_bw": (0.15 + 0.6 * mem_frac) * hidden[2],
            "sm": (0.4 + m.sm_util) * hidden[3],
            "l2": GPU_MEMORY_SENSITIVITY * (0.3 + 2.0 * m.l2_util) * hidden[4],
            "dram": GPU_MEMORY_SENSITIVITY * (0.15 + 0.5 * m.dram_util) * hidden[5],
            "pcie": (0.05 + 0.5 * pcie_frac) * hidden[6],
        }
        demand: dict[str, dict[str, float]] = {}
        for t in types:
            if t.kind == CPU:
                demand[t.name] = {
                    "cores": float(vcpus.get(name, m.cpu_vcpus)),
                    "llc": m.llc_mb,
                    "mem_bw": m.mem_bw_gbps,
                }
            else:
                lat = solo_latency_ms(m, t)
                demand[t.name] = {
                    "sm": min(0.95, m.sm_util * (REF_GPU_SMS / t.sms) ** 0.5),
                    "l2": min(0.95, m.l2_util * (REF_GPU_L2_MB / t.llc_mb) ** 0.5),
                    "dram": min(
                        0.95, m.dram_util * (REF_GPU_BW / t.mem_bw_gbps) * (gpu_lat_ref / lat)
                    ),
                    # half the time copying inputs at the rate the GPU consumes them
                    "pcie": 0.5 * m.input_mb / lat,
                }
        out[name] = ModelTruth(
            # only the resources these types have: a CPU-only world's truth file names no GPU
            # resource, so it loads back (the file format refuses unknown resources)
            sensitivity={r: round(float(v), 6) for r, v in sensitivity.items()
                         if r in present},
            demand={t: {r: round(float(v), 6) for r, v in d.items()} for t, d in demand.items()},
        )
    return GroundTruth(machine_types, out, intensity=level_intensity(level), level=level)


#: Contention families: which shape each resource kind takes. ``zoo`` is the generator's own
#: world; ``knee`` turns every bandwidth into a hard-knee queue and the caches linear.
FAMILIES: dict[str, dict[str, str]] = {
    "zoo": {},
    "knee": {"queue": "knee", "share": "linear", "slice": "knee"},
}


def with_family(truth: GroundTruth, family: str) -> GroundTruth:
    """The same models, demands and sensitivities under another family's shapes."""
    if family not in FAMILIES:
        raise ValueError(f"unknown contention family {family!r}; expected one of {list(FAMILIES)}")
    swap = FAMILIES[family]
    machine_types = {
        t: {r: ResourceSpec(capacity=spec.capacity, shape=swap.get(spec.shape, spec.shape))
            for r, spec in res.items()}
        for t, res in truth.machine_types.items()
    }
    return GroundTruth(
        machine_types, truth.models, intensity=truth.intensity, level=f"{truth.level}+{family}",
        queue_cap=truth.queue_cap, smooth=truth.smooth,
    )
