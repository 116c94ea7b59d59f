"""The catalog a profile writes: an instance file describing what was measured (SPEC 10).

* one machine type per CPU set, named by the user: ``capacity`` = the set's CPUs and the
  machine's memory; ``features`` = what the system reports (cores, caches, memory; see
  :mod:`placement.measure.hardware`);
* one machine of each type, so the file is a valid instance as it stands;
* each model: ``latency_ms`` = median solo latency per type; ``requests`` = the CPU it used
  alone (cores busy, the largest over types) and its resident memory; ``slo_ms`` = a
  placeholder, ``slo_factor`` x its slowest solo latency (set your own); ``features`` = FLOPs
  and parameter bytes from the graph, measured CPU utilization, resident memory and solo
  latency, and two ratios a predictor can set against the machine's (``llc_mb``: parameter
  MB that want the cache; ``mem_bw_gbps``: parameter bytes touched per inference over the solo
  latency);
* the measured pairs and sets as ``pairwise`` and ``setwise`` entries (additive composition
  for sets not measured), capped at the instance format's largest slowdown
  (``MAX_SLOWDOWN``; the measurements CSV keeps the value measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx

from placement.formats.limits import MAX_SLOWDOWN
from placement.measure.models import ModelSource, graph_features
from placement.measure.profiler import MachineProfile


def _round(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def build_catalog(name: str, profiles: Sequence[MachineProfile], sources: Sequence[ModelSource],
                  slo_factor: float = 3.0) -> dict[str, Any]:
    machine_types = [
        {"name": p.machine_type,
         "capacity": {"vcpus": float(len(p.hardware.cpus)),
                      "memory_gb": round(p.hardware.memory_gb, 3)},
         "features": p.hardware.features()}
        for p in profiles
    ]
    models = []
    for src in sources:
        on = [p for p in profiles if (src.name,) in p.runs]
        if not on:
            continue
        graph = graph_features(onnx.load(str(src.path)))
        latency = {p.machine_type: _round(p.solo(src.name)[0]) for p in on}
        cpu = max(p.solo_stat(src.name, "cpu_util") for p in on)
        rss = max(p.solo_stat(src.name, "rss_mb") for p in on)
        fastest = min(on, key=lambda p: p.solo(src.name)[0])
        solo_ms, solo_p99 = fastest.solo(src.name)
        models.append({
            "name": src.name,
            "requests": {"vcpus": round(cpu, 3), "memory_gb": round(rss / 1024, 3)},
            "slo_ms": _round(slo_factor * max(latency.values())),
            "latency_ms": latency,
            "features": {
                "gflops": _round(graph.gflops),
                "param_mb": _round(graph.param_mb),
                "touched_mb": _round(graph.touched_mb),
                "cpu_util": round(cpu, 4),
                "rss_mb": round(rss, 2),
                "solo_ms": _round(solo_ms),
                "solo_p99_ms": _round(solo_p99),
                "llc_mb": _round(graph.param_mb),
                "mem_bw_gbps": _round(graph.touched_mb / solo_ms),
            },
        })
    pairwise, setwise = [], []
    for p in profiles:
        for group in p.runs:
            if len(group) < 2:
                continue
            for target in group:
                others = [n for n in group if n != target]
                value = min(MAX_SLOWDOWN, _round(p.answer(target, group)["slowdown"], 5))
                if len(group) == 2:
                    pairwise.append({"machine_type": p.machine_type, "target": target,
                                     "with": others[0], "slowdown": value})
                else:
                    setwise.append({"machine_type": p.machine_type, "target": target,
                                    "with": others, "slowdown": value})
    return {
        "name": name,
        "machine_types": machine_types,
        "machines": [{"type": p.machine_type, "count": 1} for p in profiles],
        "models": models,
        "interference": {"pairwise": pairwise, "setwise": setwise, "compose": "additive",
                         "missing": "error"},
    }
