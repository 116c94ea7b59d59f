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

Where a replica may go is THE filter, compiled once into :class:`HostTables`
(``problem.filter_tables``): allowed types, per-machine capacity and replica limit, conflicts
(anti-affinity, ``avoid``), machine state and spread. Every solver reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from solvers.objectives import TOLERANCE, ObjectiveName

__all__ = [
    "TOLERANCE",
    "HostTables",
    "ObjectiveName",
    "Problem",
    "SlowdownBatchFn",
    "SlowdownFn",
    "SlowdownKey",
    "SlowdownSetsFn",
    "SlowdownStructure",
]

SlowdownFn = Callable[[int, frozenset[int], int], float]
#: Most slowdowns :class:`Problem` keeps; on full the cache is cleared (SPEC section 12: memory
#: proportional to the instance, not to the number of sets tried). ~300 bytes an entry.
SLOWDOWN_CACHE_SIZE = 250_000
SlowdownKey = tuple[int, frozenset[int], int]
#: Many ``slowdown_fn`` questions answered in one call (same values, same order), e.g. one
#: learned-predictor inference for thousands of co-location sets instead of one each.
SlowdownBatchFn = Callable[[list[SlowdownKey]], Sequence[float]]
#: Every member's slowdown in each of many sets of one machine type: ``fn(t, sets)`` with each
#: set a sorted tuple of models gives, per set, ``slowdown_fn(m, set - {m}, t)`` for each member
#: ``m`` in the set's order (an exact enumeration costs whole configurations).
SlowdownSetsFn = Callable[[int, Sequence[tuple[int, ...]]], Sequence[Sequence[float]]]

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


@dataclass(frozen=True)
class HostTables:
    """THE filter "may a replica of model ``m`` go on machine ``n``", compiled once into tables.

    Every heuristic (:class:`solvers.heuristics.engine.MachineState`), the repair, exhaustive,
    the diagnosis and :meth:`Problem.fits` read these tables; the exact enumeration may too.
    A replica of ``m`` may join machine ``n`` holding models ``H`` when

    * ``may_host[m, n]``: the type of ``n`` is allowed for ``m`` (a solo latency exists) and
      ``n`` takes new replicas (``accepts_new``); with hard SLOs also ``meets_slo_alone``;
    * no model of ``H`` conflicts with ``m`` (``conflicts[m]``: the model itself, so replicas of
      one model never share a machine, and ``avoid`` pairs);
    * ``len(H) < limit[n]`` and, for every resource, ``used + requests[m] <= capacity[n] +
      TOLERANCE``;
    * ``spread``: when ``spread_key[m] >= 0``, ``n`` has that label (``spread_label[key, n] >=
      0``) and no other replica of ``m`` sits on a machine with the same value.

    Defaults mean "no constraint"; the running-cluster fields (SPEC section 9: machine state,
    per-machine capacity, ``avoid``, ``spread``) fill them.
    """

    allowed: np.ndarray  # [M, T] bool: the model has a solo latency on the type
    meets_slo_alone: np.ndarray  # [M, T] bool: allowed and solo latency <= SLO + TOLERANCE
    capacity: np.ndarray  # [N, K] what each machine offers
    limit: np.ndarray  # [N] int: most replicas a machine may hold
    conflicts: np.ndarray  # [M, M] bool, symmetric; True on the diagonal
    accepts_new: np.ndarray  # [N] bool: ready (cordoned and down machines take no new replica)
    down: np.ndarray  # [N] bool: hosts nothing; moves off it are forced
    spread_key: np.ndarray  # [M] int: label key the model spreads over, -1 for none
    spread_label: np.ndarray  # [L, N] int: value id of label key l on machine n, -1 if absent
    #: [N] int: machines with equal class are interchangeable when empty (same type, capacity,
    #: limit, state and labels, and no replica of ``current`` on them); symmetry breaking
    #: (heuristics, exhaustive) tries only the first empty machine of a class.
    machine_class: np.ndarray

    @property
    def only_self_conflicts(self) -> bool:
        """No ``avoid`` pair: a model conflicts with itself alone (the fast path)."""
        return not self.conflicts.any() or bool(
            np.array_equal(self.conflicts, np.eye(self.conflicts.shape[0], dtype=bool))
        )

    def may_host(self, machine_type: np.ndarray, hard_slo: bool) -> np.ndarray:
        """[M, N] bool: the model-level part of the filter (type, machine state, the SLO
        alone when ``hard_slo``), for machines of types ``machine_type`` ([N])."""
        by_type = self.meets_slo_alone if hard_slo else self.allowed
        return by_type[:, machine_type] & self.accepts_new[None, :]

    def fits(self, used: np.ndarray, request: np.ndarray, capacity: np.ndarray) -> np.ndarray:
        """``used + request <= capacity + TOLERANCE`` on every resource (last axis): the one
        capacity test, vectorized over whatever the leading axes are."""
        return np.all(used + request <= capacity + TOLERANCE, axis=-1)


def host_tables(
    *,
    machine_type: np.ndarray,
    capacity: np.ndarray,
    solo_latency: np.ndarray,
    slo: np.ndarray,
    max_per_machine: int | None,
    machine_capacity: np.ndarray | None = None,
    avoid: np.ndarray | None = None,
    accepts_new: np.ndarray | None = None,
    down: np.ndarray | None = None,
    spread_key: np.ndarray | None = None,
    spread_label: np.ndarray | None = None,
    current: np.ndarray | None = None,
) -> HostTables:
    """Compile the filter tables. The optional arguments are the cluster constraints of SPEC
    section 9 (per-machine ``capacity`` [N, K], ``avoid`` [M, M] bool, ``accepts_new`` and
    ``down`` [N] bool from machine states, ``spread_key`` [M] and ``spread_label`` [L, N],
    ``current`` [R] machine per replica, -1 if new); ``None`` means no such constraint."""
    M, N = solo_latency.shape[0], machine_type.shape[0]
    allowed = ~np.isnan(solo_latency)
    solo = np.where(allowed, solo_latency, np.inf)
    meets = allowed & (solo <= slo[:, None] + TOLERANCE)
    conflicts = np.eye(M, dtype=bool)
    if avoid is not None:
        conflicts |= avoid | avoid.T
    limit = M if max_per_machine is None else int(max_per_machine)
    down_mask = np.zeros(N, dtype=bool) if down is None else np.asarray(down, dtype=bool)
    accepts = np.ones(N, dtype=bool) if accepts_new is None else np.asarray(accepts_new, bool)
    per_machine = capacity[machine_type] if machine_capacity is None else machine_capacity
    labels = np.zeros((0, N), dtype=np.int64) if spread_label is None else spread_label
    limits = np.full(N, limit, dtype=np.int64)
    accepts &= ~down_mask
    return HostTables(
        allowed=allowed,
        meets_slo_alone=meets,
        capacity=per_machine,
        limit=limits,
        conflicts=conflicts,
        accepts_new=accepts,
        down=down_mask,
        spread_key=np.full(M, -1, dtype=np.int64) if spread_key is None else spread_key,
        spread_label=labels,
        machine_class=_machine_classes(
            machine_type, per_machine, limits, accepts, down_mask, labels, current
        ),
    )


def _machine_classes(
    machine_type: np.ndarray,
    capacity: np.ndarray,
    limit: np.ndarray,
    accepts_new: np.ndarray,
    down: np.ndarray,
    labels: np.ndarray,
    current: np.ndarray | None,
) -> np.ndarray:
    """[N] class of each machine: equal rows of everything the filter and the goals read of a
    machine. Without cluster constraints the class is the type."""
    N = machine_type.shape[0]
    if N == 0:
        return np.zeros(0, dtype=np.int64)
    columns = [machine_type, capacity, limit, accepts_new, down, labels.T]
    if current is not None:
        hosted = np.zeros(N, dtype=bool)
        hosted[current[current >= 0]] = True
        columns.append(np.where(hosted, np.arange(N), -1))  # a machine with current replicas
    rows = np.column_stack(columns).astype(float)
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    # number classes by their first machine, so classes follow machine order
    order = np.argsort(np.argsort(first))
    return order[inverse.reshape(-1)].astype(np.int64)


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
    slowdown_sets_fn: SlowdownSetsFn | None = None  # optional: whole sets at once
    move_penalty: float = 0.0  # added to the objective per counted move (SPEC section 9)
    current: np.ndarray | None = None  # [R] machine index each replica runs on now, -1 if new
    max_moves: int | None = None  # at most this many counted moves (SPEC section 9)
    #: THE filter, compiled once (``__post_init__``); pass one built by :func:`host_tables` to
    #: add cluster constraints.
    hosting: HostTables | None = None
    _cache: dict[tuple[int, frozenset[int], int], float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.hosting is None:
            self.hosting = host_tables(
                machine_type=self.machine_type,
                capacity=self.capacity,
                solo_latency=self.solo_latency,
                slo=self.slo,
                max_per_machine=self.max_per_machine,
                current=self.current,
            )

    @property
    def filter_tables(self) -> HostTables:
        """The filter tables (:class:`HostTables`), never None after construction."""
        assert self.hosting is not None  # set by __post_init__
        return self.hosting

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
        """[M, T] bool: the model has a solo latency on the type (the filter's table)."""
        return self.filter_tables.allowed

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
            if len(self._cache) >= SLOWDOWN_CACHE_SIZE:
                self._cache.clear()
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
        if len(cache) + len(keys) > SLOWDOWN_CACHE_SIZE:
            cache.clear()  # room for the batch, so what is prefetched is there when asked
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

    def set_slowdowns(
        self, machine_type: int, sets: Sequence[tuple[int, ...]]
    ) -> list[list[float]]:
        """Per set (a sorted tuple of distinct models), each member's :meth:`slowdown` in it, in
        the set's order: through ``slowdown_sets_fn`` in one call when there is one (the values
        are not cached here: the source caches per set), else :meth:`slowdown` per member."""
        t = int(machine_type)
        if self.slowdown_sets_fn is None:
            out = []
            for group in sets:
                members = frozenset(group)
                out.append([self.slowdown(m, members - {m}, t) for m in group])
            return out
        answers = self.slowdown_sets_fn(t, sets)
        if len(answers) != len(sets):
            raise ValueError(f"slowdown_sets_fn gave {len(answers)} answers for {len(sets)} sets")
        return [
            [1.0] * len(group) if len(group) < 2 else [max(1.0, float(v)) for v in values]
            for group, values in zip(sets, answers, strict=True)
        ]

    def fits(self, models: Iterable[int], machine_type: int) -> bool:
        """Distinct ``models`` may share one machine of ``machine_type`` (no override of its
        capacity): capacity, the per-machine limit and conflicts, from the filter tables."""
        ms = [int(m) for m in models]
        tables = self.filter_tables
        if len(ms) > self.slot_limit:
            return False
        if len(ms) > 1 and tables.conflicts[np.ix_(ms, ms)].sum() > len(ms):
            return False
        used = self.requests[ms].sum(axis=0) if ms else np.zeros(len(self.resource_names))
        return bool(tables.fits(used, 0.0, self.capacity[machine_type]))
