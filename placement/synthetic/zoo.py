"""The model zoo and the machine-type catalog the generator draws from.

Everything here is *public* knowledge a user would have measured alone (solo profiles,
hardware sheets); the hidden contention model is in :mod:`placement.synthetic.truth`.

Resource convention (one vocabulary for mixed CPU/GPU clusters)
---------------------------------------------------------------
Every machine type has ``vcpus`` and ``memory_gb`` (host RAM); GPU types, which are
single-GPU VMs, also have ``gpu_memory_gb``. A model's ``requests`` apply on any type (SPEC
section 2), so:

* a GPU-only model requests a few host ``vcpus`` (its serving threads), host ``memory_gb``
  and its ``gpu_memory_gb`` footprint; a CPU type has no GPU memory, so it cannot host it;
* a CPU-capable model (CPU-only or portable) requests the ``vcpus`` it computes on and its
  host ``memory_gb``; a portable model run on a GPU type (e.g. through ONNX Runtime, which
  takes the GPU when there is one) does not reserve GPU memory, because a request that a
  CPU type lacks would forbid the CPU types.

Sources and calibration
-----------------------
* Model sizes (``gflops`` = GMACs per batch-1 inference as usually quoted, ``params_m``):
  torchvision model cards, the BERT/DistilBERT/GPT-2 papers, the YOLOv5 README (16.5 GFLOPs
  at 640 px = 8.2 GMACs).
* GPU solo utilizations (SM, L2, DRAM at batch 1) and GPU memory: measured on an RTX 2080 Ti
  by Choi et al., "Serving Heterogeneous Machine Learning Models on Multi-GPU Servers with
  Spatio-Temporal Sharing" (gpulet, USENIX ATC 2022), repository casys-kaist/glet
  (``/work/shared/data/gpu_solo_profiles_glet.csv``, ``gpu_model_memory_glet.csv``). Models
  the gpulet authors did not profile borrow the profile of the closest profiled one
  (noted per model in ``ZOO``).
* Latency on GPUs is a roofline with a per-layer launch cost, anchored on MLPerf Inference
  (single stream, batch 1): ResNet-50 on an A100 with TensorRT about 0.49 ms; the other GPUs
  are scaled by their relative effective batch-1 throughput (tensor cores, int8 support,
  clocks) and memory bandwidth from the vendors' data sheets. Only the A100 figure is an
  anchor; the others are estimates (V100 ~1.5x, T4 ~2.2x, P100 ~3.4x, P4 ~4.4x the A100).
* Latency on CPUs is calibrated on Shah et al., "SLA-Driven Performance Prediction for
  Co-Hosted DNNs" (``/work/shared/data/cpu_cohosting_shah.csv``): BERT alone on 6 pinned
  cores takes about 78-86 ms at 4-6 requests/s; our formula gives ~76 ms on ``cpu-32`` and
  ~101 ms on ``cpu-8`` with 6 vCPUs.
* GPU interference (in :mod:`placement.synthetic.truth`) is calibrated on 750 pairs measured
  on a V100 under MPS by Xu et al., "iGniter" (IEEE TPDS 2022; repository icloud-ecnu/igniter,
  ``/work/shared/data/igniter_v100_pairs.csv``): generated V100 pair slowdowns have their
  median and 90th percentile (docs/calibration.md). iGniter's solo latencies (ResNet-50 batch
  1: 2.46 ms, with its serving path) are not used: they would contradict the MLPerf anchor.
* Prices: public on-demand prices per hour of comparable single-GPU or CPU VMs (AWS c5,
  g4dn, p3; GCP a2, P100/P4 attached to n1-standard-8), rounded; for cost objectives only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# --------------------------------------------------------------------------- machine types

CPU, GPU = "cpu", "gpu"


@dataclass(frozen=True)
class MachineTypeSpec:
    """One machine type: its capacity (what requests are checked against), its price, and the
    hardware numbers the latency formulas and the hidden contention model use."""

    name: str
    kind: str  # CPU or GPU
    vcpus: float
    memory_gb: float
    gpu_memory_gb: float  # 0 on CPU types
    cost_per_hour: float
    llc_mb: float  # last-level cache: CPU LLC of the VM's share of the socket, GPU L2
    mem_bw_gbps: float  # DRAM bandwidth (host for CPU types, device for GPU types)
    pcie_gbps: float  # effective host-to-device bandwidth; 0 on CPU types
    sms: int  # GPU streaming multiprocessors; 0 on CPU types
    compute_gmac_per_ms: float  # effective batch-1 rate: whole GPU, or one vCPU on a CPU type
    launch_ms: float  # per-layer launch / framework dispatch cost at batch 1

    def capacity(self) -> dict[str, float]:
        cap = {"vcpus": self.vcpus, "memory_gb": self.memory_gb}
        if self.kind == GPU:
            cap["gpu_memory_gb"] = self.gpu_memory_gb
        return cap

    def features(self) -> dict[str, float]:
        """Hardware description for predictors (what a data sheet says)."""
        return {
            "is_gpu": 1.0 if self.kind == GPU else 0.0,
            "vcpus": self.vcpus,
            "memory_gb": self.memory_gb,
            "gpu_memory_gb": self.gpu_memory_gb,
            "llc_mb": self.llc_mb,
            "mem_bw_gbps": self.mem_bw_gbps,
            "pcie_gbps": self.pcie_gbps,
            "sms": float(self.sms),
        }


# CPU types: one Xeon family (AWS c5-like, 2 GB per vCPU); bigger VMs get a bigger share of
# the socket's LLC and memory channels, so they interfere less (the seed paper's finding).
# GPU types: single-GPU VMs; numbers from NVIDIA data sheets (SMs, L2, DRAM bandwidth).
MACHINE_TYPES: dict[str, MachineTypeSpec] = {
    t.name: t
    for t in [
        MachineTypeSpec("cpu-8", CPU, 8, 16, 0, 0.34, 11.0, 20.0, 0, 0, 0.035, 0.02),
        MachineTypeSpec("cpu-16", CPU, 16, 32, 0, 0.68, 22.0, 40.0, 0, 0, 0.035, 0.02),
        MachineTypeSpec("cpu-32", CPU, 32, 64, 0, 1.36, 44.0, 80.0, 0, 0, 0.035, 0.02),
        MachineTypeSpec("p4", GPU, 8, 30, 8, 0.98, 2.0, 192.0, 12.0, 20, 2.5, 0.005),
        MachineTypeSpec("t4", GPU, 8, 32, 16, 0.75, 4.0, 320.0, 12.0, 40, 5.5, 0.004),
        MachineTypeSpec("p100", GPU, 8, 52, 16, 1.84, 4.0, 732.0, 12.0, 56, 3.0, 0.004),
        MachineTypeSpec("v100", GPU, 8, 61, 16, 3.06, 6.0, 900.0, 12.0, 80, 8.0, 0.003),
        MachineTypeSpec("a100", GPU, 12, 85, 40, 3.67, 40.0, 1555.0, 25.0, 108, 11.5, 0.002),
    ]
}
CPU_TYPES = [n for n, t in MACHINE_TYPES.items() if t.kind == CPU]
GPU_TYPES = [n for n, t in MACHINE_TYPES.items() if t.kind == GPU]

# The GPU the gpulet utilizations were measured on (RTX 2080 Ti): 68 SMs, 5.5 MB L2, 616 GB/s.
REF_GPU_SMS, REF_GPU_L2_MB, REF_GPU_BW = 68, 5.5, 616.0

# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ZooModel:
    """One model's solo profile. ``gpu_*_util`` are fractions at batch 1 on the reference GPU."""

    name: str
    task: str  # cv (classification), det (detection), seg (segmentation), nlp
    gflops: float  # GMACs per batch-1 inference
    params_m: float  # millions of parameters
    depth: int  # layers that launch kernels (drives the batch-1 launch overhead)
    input_mb: float  # bytes per request copied host -> device (fp32 input tensor)
    sm_util: float
    l2_util: float
    dram_util: float
    gpu_memory_gb: float
    cpu_vcpus: float  # vCPUs a CPU deployment asks for (before the generator's load scaling)
    profile: str  # GPU profile: "glet X" measured by gpulet, "~X xF" borrowed from X, scaled

    @property
    def memory_gb(self) -> float:
        """Host memory: fp32 weights plus a runtime (framework, buffers) of 0.5 GB."""
        return round(self.params_m * 4 / 1000 + 0.5, 2)

    @property
    def llc_mb(self) -> float:
        """Hot working set in the CPU cache: part of the weights plus activations."""
        return round(min(40.0, 2.0 + 0.1 * self.params_m + 0.8 * self.gflops), 2)

    @property
    def cpu_traffic_mb(self) -> float:
        """DRAM traffic per CPU inference: fp32 weights plus spilled activations."""
        return self.params_m * 4 + self.gflops * 20

    @property
    def mem_bw_gbps(self) -> float:
        """DRAM bandwidth while serving back-to-back on the reference CPU type (cpu-16)."""
        return round(self.cpu_traffic_mb / solo_latency_ms(self, MACHINE_TYPES["cpu-16"]), 3)

    @property
    def gpu_host_vcpus(self) -> float:
        """Host threads feeding the GPU: pre/post-processing grows with the input size."""
        return 1.0 if self.input_mb < 1.0 else 2.0

    def features(self) -> dict[str, float]:
        """What a user measures alone, for predictors (SPEC section 8)."""
        return {
            "gflops": self.gflops,
            "params_m": self.params_m,
            "depth": float(self.depth),
            "input_mb": self.input_mb,
            "llc_mb": self.llc_mb,
            "mem_bw_gbps": self.mem_bw_gbps,
            "sm_util": self.sm_util,
            "l2_util": self.l2_util,
            "dram_util": self.dram_util,
            "gpu_memory_gb": self.gpu_memory_gb,
        }


def _m(name, task, gflops, params, depth, input_mb, sm, l2, dram, gmem_mb, vcpus, profile):
    return ZooModel(
        name, task, gflops, params, depth, input_mb, sm / 100, l2 / 100, dram / 100,
        round(gmem_mb / 1000, 3), vcpus, profile,
    )


_IMG = 0.6  # 3x224x224 fp32
# name, task, GMACs, Mparams, depth, input MB, SM%, L2%, DRAM%, GPU MB, CPU vCPUs, GPU profile
ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in [
        _m("resnet50", "cv", 4.1, 25.6, 54, _IMG, 19.6, 15.4, 27.9, 1820, 4, "glet resnet50"),
        _m("resnet18", "cv", 1.8, 11.7, 21, _IMG, 15.7, 12.3, 24.0, 900, 2, "~resnet50 x0.8"),
        _m("resnet101", "cv", 7.8, 44.5, 105, _IMG, 22.0, 17.0, 30.0, 2600, 6, "~resnet50 x1.1"),
        _m("mobilenet-v2", "cv", 0.3, 3.5, 53, _IMG, 9.1, 8.6, 21.8, 464, 1, "glet mobilenet_v2"),
        _m("efficientnet-b0", "cv", 0.39, 5.3, 82, _IMG, 9.5, 8.8, 22.5, 560, 2, "~mobilenet_v2"),
        _m("mnasnet1.0", "cv", 0.33, 4.4, 52, _IMG, 9.5, 8.0, 20.0, 1550, 1, "glet mnasnet1_0"),
        _m("squeezenet", "cv", 0.35, 1.2, 26, _IMG, 8.0, 6.0, 16.0, 300, 1, "~mnasnet x0.85"),
        _m("googlenet", "cv", 1.5, 6.6, 57, _IMG, 10.2, 7.4, 15.9, 1720, 2, "glet googlenet"),
        _m("inception-v3", "cv", 5.7, 23.8, 94, 1.07, 16.0, 11.0, 22.0, 2100, 4, "~googlenet x1.5"),
        _m("densenet161", "cv", 7.8, 28.7, 161, _IMG, 13.4, 9.0, 18.3, 1220, 6, "glet densenet161"),
        _m("vgg16", "cv", 15.5, 138.4, 16, _IMG, 41.6, 31.0, 56.0, 2920, 8, "glet vgg16"),
        _m("vit-b16", "cv", 17.6, 86.6, 48, _IMG, 35.0, 20.0, 35.0, 1100, 8, "~bert x2"),
        _m("ssd-mobilenet", "det", 1.2, 6.8, 70, 1.08, 13.3, 10.6, 20.5, 640, 2, "glet ssd-mbv1"),
        _m("yolo-v5s", "det", 8.2, 7.2, 60, 4.9, 25.0, 16.0, 30.0, 900, 4, "~ssd x1.9"),
        _m("unet", "seg", 16.0, 31.0, 23, 0.79, 38.0, 28.0, 50.0, 2400, 8, "~vgg16 x0.9"),
        _m("lenet", "cv", 0.0004, 0.06, 5, 0.003, 7.8, 2.4, 11.3, 50, 1, "glet lenet"),
        _m("bert-base", "nlp", 11.2, 110.0, 100, 0.001, 16.7, 9.2, 29.0, 500, 4, "glet bert"),
        _m("bert-large", "nlp", 39.5, 340.0, 196, 0.001, 30.0, 14.0, 38.0, 1400, 8, "~bert x1.8"),
        _m("distilbert", "nlp", 5.6, 66.0, 50, 0.001, 14.0, 8.0, 26.0, 330, 2, "~bert x0.85"),
        _m("gpt2", "nlp", 14.5, 124.0, 110, 0.001, 18.0, 10.0, 33.0, 600, 4, "~bert x1.1"),
    ]
}


# --------------------------------------------------------------------------- latency


def solo_latency_ms(model: ZooModel, mtype: MachineTypeSpec, vcpus: float | None = None) -> float:
    """Solo batch-1 latency of ``model`` on ``mtype``, in ms.

    GPU: ``layers x launch + GMACs / rate + fp16 weights / bandwidth`` (a roofline with launch
    overhead; ResNet-50 on A100: 0.108 + 0.357 + 0.033 = 0.50 ms against MLPerf's ~0.49 ms).
    CPU: ``layers x dispatch + GMACs / (per-vCPU rate x vCPUs^0.85) + fp32 traffic x
    miss fraction / bandwidth``; the exponent is intra-op parallel efficiency, the miss
    fraction falls as a bigger VM's LLC holds more of the working set.
    """
    if mtype.kind == GPU:
        return (
            model.depth * mtype.launch_ms
            + model.gflops / mtype.compute_gmac_per_ms
            + model.params_m * 2 / mtype.mem_bw_gbps
        )
    cores = min(vcpus if vcpus is not None else model.cpu_vcpus, mtype.vcpus)
    miss = max(0.25, 1.0 - mtype.llc_mb / (4 * model.llc_mb + 1e-9))
    return (
        model.depth * mtype.launch_ms
        + model.gflops / (mtype.compute_gmac_per_ms * cores**0.85)
        + model.cpu_traffic_mb * miss / mtype.mem_bw_gbps
    )


# --------------------------------------------------------------------------- variants


def zoo_names() -> list[str]:
    return list(ZOO)


def variant(base: ZooModel, k: int, rng: np.random.Generator) -> ZooModel:
    """A sibling of ``base`` named ``<base>-v<k>``: same architecture family, other size
    (fine-tuned head, other input resolution), so the zoo can supply hundreds of models."""
    size = float(np.exp(rng.normal(0.0, 0.3)))
    util = float(np.exp(rng.normal(0.0, 0.15)))

    def clip(x: float) -> float:
        return round(min(0.95, max(0.01, x)), 4)

    return replace(
        base,
        name=f"{base.name}-v{k}",
        gflops=round(base.gflops * size, 4),
        params_m=round(base.params_m * float(np.exp(rng.normal(0.0, 0.2))), 3),
        input_mb=round(base.input_mb * (size if base.task != "language" else 1.0), 4),
        sm_util=clip(base.sm_util * util * math.sqrt(size)),
        l2_util=clip(base.l2_util * util),
        dram_util=clip(base.dram_util * util),
        gpu_memory_gb=round(base.gpu_memory_gb * size**0.5, 3),
    )
