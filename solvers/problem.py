"""The numeric placement problem every solver sees.

A :class:`Problem` knows nothing of JSON or files. Models, machine types, machines, replicas and
resources are integer indices; names are kept only to write messages a user can read.

Interference reaches solvers in two forms:

* ``slowdown(target, co_runners, machine_type)``: THE slowdown function (set-wise entries,
  composition rules, learned predictors all sit behind it). It is the authority: every
  objective and every SLO check is computed with it.
* ``pair_slowdown[t, a, b]``: the slowdown of model ``a`` when model ``b`` is its only
  co-runner on type ``t`` (``slowdown(a, {b}, t)`` tabulated), for vectorized scoring and for
  pricing in exact formulations.
* ``structure`` (optional, :class:`SlowdownStructure`): how the slowdown function is built, when
  it is the instance's measured data (set-wise entries over composed pairs). Exact pricing uses
  it for *lower bounds* only; every cost is still ``slowdown``'s value. ``None`` (a learned
  predictor, a ground truth, a hand-written function) means: no structure is known, assume
  nothing (no monotonicity).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SlowdownFn = Callable[[int, frozenset[int], int], float]
SlowdownKey = tuple[int, frozenset[int], int]
#: Many ``slowdown_fn`` questions answered in one call (same values, same order), e.g. one
#: learned-predictor inference for thousands of co-location sets instead of one each.
SlowdownBatchFn = Callable[[list[SlowdownKey]], Sequence[float]]
ObjectiveName = Literal["mean_degradation", "added_latency", "max_degradation", "machines", "cost"]

@dataclass(frozen=True)
class SlowdownStructure:
    """What ``Problem.slowdown`` is made of, for valid lower bounds on supersets.

    ``slowdown(i, S, t)`` with ``S`` non-empty is ``setwise[(t, i, S)]`` when that entry exists,
    else the pairwise values ``compose_pair[t, i, j]`` (each >= 1) of ``j in S`` composed by
    ``compose`` (``additive``: 1 + sum(v - 1), ``multiplicative``: prod v, ``max``: max v; a
    single co-runner composes to its pair value). Composition of values >= 1 never decreases
    when co-runners are added, so for any ``S' ⊇ S``:
    ``slowdown(i, S', t) >= min(composed(S), min{setwise(t, i, W) : W ⊇ S})``.
    """

    compose: Literal["additive", "multiplicative", "max"]
    compose_pair: np.ndarray  # [T, M, M] pair values used by the composition (>= 1; 1 on diag)
    setwise: tuple[tuple[int, int, frozenset[int], float], ...]  # (type, target, W, value)


#: Slack on capacity and SLO comparisons, so float sums of requests do not flip feasibility.
TOLERANCE = 1e-9


@dataclass
class Problem:
    model_names: tuple[str, ...]
    type_names: tuple[str, ...]
    machine_ids: tuple[str, ...]
    resource_names: tuple[str, ...]
    replica_ids: tuple[str, ...]
    replica_model: np.ndarray  # [R] model index of each replica
    machine_type: np.ndarray  # [N] type index of each machine
    requests: np.ndarray  # [M, K] what one replica of each model reserves
    capacity: np.ndarray  # [T, K] capacity of one machine of each type
    solo_latency: np.ndarray  # [M, T] ms; nan where the model cannot run on the type
    slo: np.ndarray  # [M] ms
    weight: np.ndarray  # [M]
    cost: np.ndarray  # [T] per hour
    pair_slowdown: np.ndarray  # [T, M, M], 1.0 on the diagonal
    slowdown_fn: SlowdownFn
    objective: ObjectiveName = "mean_degradation"
    slo_mode: Literal["hard", "soft"] = "hard"
    max_per_machine: int | None = None
    name: str = "instance"
    structure: SlowdownStructure | None = None  # None: nothing known (e.g. a learned predictor)
    slowdown_batch_fn: SlowdownBatchFn | None = None  # optional: slowdown_fn for many at once
    _cache: dict[tuple[int, frozenset[int], int], float] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_replicas(self) -> int:
        return int(self.replica_model.shape[0])

    @property
    def n_machines(self) -> int:
        return int(self.machine_type.shape[0])

    @property
    def n_models(self) -> int:
        return len(self.model_names)

    @property
    def n_types(self) -> int:
        return len(self.type_names)

    @property
    def allowed(self) -> np.ndarray:
        """[M, T] bool: the model has a solo latency on the type."""
        return ~np.isnan(self.solo_latency)

    @property
    def replicas_per_model(self) -> np.ndarray:
        return np.bincount(self.replica_model, minlength=self.n_models)

    @property
    def machines_per_type(self) -> np.ndarray:
        return np.bincount(self.machine_type, minlength=self.n_types)

    @property
    def slot_limit(self) -> int:
        """Most replicas one machine may hold (the per-machine limit, else the model count)."""
        cap = self.n_models if self.max_per_machine is None else self.max_per_machine
        return min(cap, self.n_models)

    # ------------------------------------------------------------------ interference
    def slowdown(self, target: int, co_runners: Iterable[int], machine_type: int) -> float:
        """Slowdown of model ``target`` beside models ``co_runners`` on ``machine_type`` (>= 1)."""
        key = (int(target), frozenset(int(c) for c in co_runners), int(machine_type))
        value = self._cache.get(key)
        if value is None:
            value = 1.0 if not key[1] else max(1.0, float(self.slowdown_fn(*key)))
            self._cache[key] = value
        return value

    def prefetch(self, queries: Iterable[tuple[int, Iterable[int], int]]) -> int:
        """Fill the slowdown cache for the queries it lacks, in one ``slowdown_batch_fn`` call
        (one by one without it); how many were asked. Values are the ones :meth:`slowdown`
        would give: callers prefetch what they are about to ask, then ask as usual."""
        cache = self._cache
        missing: dict[SlowdownKey, None] = {}
        for target, co_runners, machine_type in queries:
            key = (int(target), frozenset(int(c) for c in co_runners), int(machine_type))
            if key[1] and key not in cache:
                missing[key] = None
        if not missing:
            return 0
        keys = list(missing)
        if self.slowdown_batch_fn is None:
            for key in keys:
                self.slowdown(*key)
            return len(keys)
        values = self.slowdown_batch_fn(keys)
        if len(values) != len(keys):
            raise ValueError(f"slowdown_batch_fn gave {len(values)} values for {len(keys)} queries")
        for key, value in zip(keys, values, strict=True):
            cache[key] = max(1.0, float(value))
        return len(keys)

    def set_slowdowns(self, models: Iterable[int], machine_type: int) -> dict[int, float]:
        """Slowdown of each model in a co-location set (one machine's residents)."""
        members = frozenset(int(m) for m in models)
        return {m: self.slowdown(m, members - {m}, machine_type) for m in members}

    def fits(self, models: Iterable[int], machine_type: int) -> bool:
        """Capacity and per-machine limit of a set of distinct models on one machine."""
        ms = list(models)
        if self.max_per_machine is not None and len(ms) > self.max_per_machine:
            return False
        used = self.requests[ms].sum(axis=0) if ms else np.zeros(len(self.resource_names))
        return bool(np.all(used <= self.capacity[machine_type] + TOLERANCE))

    def with_objective(self, objective: ObjectiveName, slo_mode: str | None = None) -> Problem:
        """The same problem with another goal; shares the slowdown cache."""
        from dataclasses import replace

        return replace(
            self, objective=objective, slo_mode=slo_mode or self.slo_mode, _cache=self._cache
        )
