"""What the machine says about itself: CPU model, cores and caches of a CPU set, memory.

Values are recorded as the system reports them (``/proc/cpuinfo``, ``/sys/devices/system/cpu``,
``/proc/meminfo``); a virtual machine may report odd ones (a whole host's L3 to a 2-vCPU
guest), and those are what the catalog records, because they are what was read.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class CpuSet:
    """The hardware of one CPU set (the profiler's "machine")."""

    cpus: tuple[int, ...]
    cpu_model: str
    cores: int  # distinct physical cores among the CPUs
    threads_per_core: int
    cache_kb: dict[str, float] = field(default_factory=dict)  # "L1d", "L1i", "L2", "L3" per cpu
    memory_gb: float = 0.0

    def features(self) -> dict[str, float]:
        """Numbers for predictors (SPEC section 2, ``machine_types[].features``)."""
        out = {
            "vcpus": float(len(self.cpus)),
            "cores": float(self.cores),
            "threads_per_core": float(self.threads_per_core),
            "memory_gb": round(self.memory_gb, 3),
        }
        if "L1d" in self.cache_kb:
            out["l1d_kb"] = self.cache_kb["L1d"]
        if "L2" in self.cache_kb:
            out["l2_mb"] = round(self.cache_kb["L2"] / 1024, 4)
        if "L3" in self.cache_kb:
            out["llc_mb"] = round(self.cache_kb["L3"] / 1024, 4)
        elif "L2" in self.cache_kb:
            out["llc_mb"] = round(self.cache_kb["L2"] / 1024, 4)
        return out


def parse_cpus(text: str) -> tuple[int, ...]:
    """``"0"``, ``"0,1"``, ``"0-3,6"`` -> sorted CPU ids; ValueError names what is wrong."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty item in CPU list {text!r}")
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"expected CPU ids like 0,1 or 0-3, got {text!r}")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise ValueError(f"empty CPU range {part!r}")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def allowed_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


def _size_kb(text: str) -> float | None:
    units = {"K": 1.0, "M": 1024.0, "G": 1024.0 * 1024.0}
    text = text.strip()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text) / 1024.0 if text.isdigit() else None


def cpu_model() -> str:
    text = _read(Path("/proc/cpuinfo")) or ""
    for line in text.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _caches(cpu: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for index in sorted((SYS_CPU / f"cpu{cpu}" / "cache").glob("index*")):
        level, kind = _read(index / "level"), _read(index / "type")
        size = _size_kb(_read(index / "size") or "")
        if level is None or size is None:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind or "", "")
        out[f"L{level}{suffix}"] = size
    return out


def _memory_gb() -> float:
    text = _read(Path("/proc/meminfo")) or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024.0 * 1024.0)
    return 0.0


def describe(cpus: tuple[int, ...]) -> CpuSet:
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topo = SYS_CPU / f"cpu{cpu}" / "topology"
        cores.add((_read(topo / "physical_package_id") or "0", _read(topo / "core_id") or str(cpu)))
    return CpuSet(
        cpus=cpus,
        cpu_model=cpu_model(),
        cores=len(cores),
        threads_per_core=max(1, round(len(cpus) / max(1, len(cores)))),
        cache_kb=_caches(cpus[0]),
        memory_gb=_memory_gb(),
    )
