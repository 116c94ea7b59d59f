"""The real profiler (SPEC section 10): co-location measured on this machine with ONNX Runtime.

A **phase** serves one co-location set on one CPU set (:class:`placement.measure.pool.
WorkerPool`); a **campaign** runs every set it needs ``repeats`` times, in a fresh random
order each round, so slow drifts of the machine spread over all sets instead of biasing the
last ones. Each set is **paired** with its baseline: right before it, each member runs alone,
so a set and its baseline see the same background load (a shared machine's load changes over
minutes; measured on this project's 2-core machine, pooling the solo runs of a whole round
instead gave ratios off by up to 2x when the background load moved).

Aggregation, per target in a set:

* ``slowdown`` = median over rounds of (its median latency in the set / its median latency in
  the solo run just before); ``slowdown_p99`` the same with 99th percentiles;
* ``slowdown_min`` / ``slowdown_max``: the spread of those per-round ratios;
* ``solo_ms`` = the median of all its solo runs;
* the run's **noise** is the median, over models and CPU sets, of the coefficient of
  variation of a model's solo median over all its solo runs.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from placement.measure.hardware import CpuSet, describe
from placement.measure.models import ModelSource
from placement.measure.pool import WorkerError, WorkerPool
from placement.measure.requests import Request

Group = tuple[str, ...]  # the models of a set, sorted
Progress = Callable[[str], None]

#: extra columns after SPEC section 8's four, in this order
EXTRA_COLUMNS = ("slowdown_p99", "slowdown_min", "slowdown_max", "latency_ms", "latency_p99_ms",
                 "solo_ms", "solo_p99_ms", "repeats")


@dataclass(frozen=True)
class Protocol:
    """How every phase runs."""

    seconds: float = 1.0
    warmup: float = 0.3
    rate: float | None = None  # requests per second per model (open loop), None: back to back
    repeats: int = 3
    threads: int = 1  # intra-op threads per model
    seed: int = 0


@dataclass(frozen=True)
class Stat:
    """One model's window in one phase, summarized."""

    median_ms: float
    p99_ms: float
    cpu_util: float
    rss_mb: float
    samples: int


@dataclass
class MachineProfile:
    """Everything measured on one CPU set."""

    machine_type: str
    hardware: CpuSet
    # per group, one entry per round; a group of one holds every solo run of that model
    runs: dict[Group, list[dict[str, Stat]]] = field(default_factory=dict)
    # per group of two or more, per round: each member's solo run just before the set
    baselines: dict[Group, list[dict[str, Stat]]] = field(default_factory=dict)

    def solo(self, name: str) -> tuple[float, float]:
        """Median and p99 latency alone (medians over all solo runs), in ms."""
        stats = [r[name] for r in self.runs[(name,)]]
        return (statistics.median(s.median_ms for s in stats),
                statistics.median(s.p99_ms for s in stats))

    def solo_stat(self, name: str, attr: str) -> float:
        return statistics.median(getattr(r[name], attr) for r in self.runs[(name,)])

    def solo_cv(self, name: str) -> float:
        medians = [r[name].median_ms for r in self.runs[(name,)]]
        if len(medians) < 2:
            return 0.0
        return float(np.std(medians, ddof=1) / np.mean(medians))

    def answer(self, target: str, group: Group) -> dict[str, float]:
        """The measurement of ``target`` in ``group`` (``group`` includes it)."""
        solo_ms, solo_p99 = self.solo(target)
        if len(group) == 1:
            return {"slowdown": 1.0, "slowdown_p99": 1.0, "slowdown_min": 1.0,
                    "slowdown_max": 1.0, "latency_ms": solo_ms, "latency_p99_ms": solo_p99,
                    "solo_ms": solo_ms, "solo_p99_ms": solo_p99,
                    "repeats": float(len(self.runs[group]))}
        stats = [r[target] for r in self.runs[group]]
        alone = [b[target] for b in self.baselines[group]]
        per_round = [s.median_ms / a.median_ms for s, a in zip(stats, alone, strict=True)]
        per_round_p99 = [s.p99_ms / a.p99_ms for s, a in zip(stats, alone, strict=True)]
        return {"slowdown": statistics.median(per_round),
                "slowdown_p99": statistics.median(per_round_p99),
                "slowdown_min": min(per_round), "slowdown_max": max(per_round),
                "latency_ms": statistics.median(s.median_ms for s in stats),
                "latency_p99_ms": statistics.median(s.p99_ms for s in stats),
                "solo_ms": solo_ms, "solo_p99_ms": solo_p99, "repeats": float(len(stats))}


def _summarize(name: str, latencies: np.ndarray, cpu_util: float, rss_mb: float) -> Stat:
    if len(latencies) == 0:
        raise WorkerError(f"model {name!r}: no request completed in the window; "
                          "expected a longer --seconds or a lower --rate")
    return Stat(float(np.median(latencies)), float(np.percentile(latencies, 99)),
                cpu_util, rss_mb, len(latencies))


def measure_groups(sources: Sequence[ModelSource], machine_type: str, cpus: tuple[int, ...],
                   groups: Iterable[Group], protocol: Protocol,
                   progress: Progress | None = None) -> MachineProfile:
    """Measure every group on ``cpus``, ``protocol.repeats`` rounds, each set right after its
    members alone; a model in no group of two or more is measured alone once per round."""
    groups = list(dict.fromkeys(tuple(sorted(g)) for g in groups))
    members = sorted({n for g in groups for n in g})
    sets = [g for g in groups if len(g) > 1]
    lonely = [(n,) for n in members if not any(n in g for g in sets)]
    profile = MachineProfile(machine_type, describe(cpus), {(n,): [] for n in members})
    profile.runs.update({g: [] for g in sets})
    profile.baselines = {g: [] for g in sets}
    by_name = {s.name: s for s in sources}
    rng = np.random.default_rng([protocol.seed, 7])
    with WorkerPool([by_name[n] for n in members], cpus, protocol.threads,
                    seed=protocol.seed) as pool:

        def phase(group: Group, rnd: int) -> dict[str, Stat]:
            results = pool.run(list(group), warmup=protocol.warmup, seconds=protocol.seconds,
                               rate=protocol.rate, seed=protocol.seed * 1_000_003 + rnd)
            return {n: _summarize(n, r.latencies_ms, r.cpu_util, r.rss_mb)
                    for n, r in results.items()}

        order = sets + lonely
        for rnd in range(protocol.repeats):
            for k, idx in enumerate(rng.permutation(len(order))):
                group = order[int(idx)]
                alone = {n: phase((n,), rnd)[n] for n in group}
                for n, stat in alone.items():
                    profile.runs[(n,)].append({n: stat})
                if len(group) > 1:
                    profile.baselines[group].append(alone)
                    profile.runs[group].append(phase(group, rnd))
                if progress is not None:
                    progress(f"{machine_type}: round {rnd + 1}/{protocol.repeats}, set "
                             f"{k + 1}/{len(order)} ({'+'.join(group)})")
    return profile


def campaign_groups(names: Sequence[str], n_sets: int, seed: int) -> list[Group]:
    """Every pair, then ``n_sets`` distinct sets of 3 drawn at random (all of them when there
    are fewer)."""
    names = sorted(names)
    pairs = list(itertools.combinations(names, 2))
    triples = list(itertools.combinations(names, 3))
    if n_sets < len(triples):
        rng = np.random.default_rng([seed, 3])
        picked = sorted(rng.choice(len(triples), n_sets, replace=False).tolist())
        triples = [triples[i] for i in picked]
    return [*pairs, *triples]


def profile_machine(sources: Sequence[ModelSource], machine_type: str, cpus: tuple[int, ...],
                    n_sets: int, protocol: Protocol,
                    progress: Progress | None = None) -> MachineProfile:
    """Solo, every pair and ``n_sets`` sampled sets of 3 on one CPU set."""
    groups = campaign_groups([s.name for s in sources], n_sets, protocol.seed)
    groups = groups or [(s.name,) for s in sources]
    return measure_groups(sources, machine_type, cpus, groups, protocol, progress)


def profile_rows(profile: MachineProfile) -> list[tuple[Request, dict[str, float]]]:
    """One row per member of every measured set, solo rows first."""
    out = []
    for group in profile.runs:
        for target in group:
            request = Request(profile.machine_type, target, frozenset(group) - {target})
            out.append((request, profile.answer(target, group)))
    return out


def answer_requests(requests: Sequence[Request], sources: Sequence[ModelSource],
                    cpus_by_type: Mapping[str, tuple[int, ...]], protocol: Protocol,
                    progress: Progress | None = None,
                    ) -> tuple[list[dict[str, float]], list[MachineProfile]]:
    """Measure exactly the sets the requests name (each set once, whatever the number of
    requests it answers) and answer every request in order."""
    profiles: dict[str, MachineProfile] = {}
    for machine_type in dict.fromkeys(r.machine_type for r in requests):
        groups = [tuple(sorted(r.members)) for r in requests if r.machine_type == machine_type]
        profiles[machine_type] = measure_groups(
            sources, machine_type, cpus_by_type[machine_type], groups, protocol, progress
        )
    answers = [profiles[r.machine_type].answer(r.target, tuple(sorted(r.members)))
               for r in requests]
    return answers, list(profiles.values())


def noise(profiles: Sequence[MachineProfile]) -> float:
    """Median coefficient of variation of a model's solo median over its solo runs."""
    cvs = [p.solo_cv(g[0]) for p in profiles for g in p.runs if len(g) == 1]
    return float(statistics.median(cvs)) if cvs else 0.0
