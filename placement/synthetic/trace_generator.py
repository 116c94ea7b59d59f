"""Generated traces (SPEC section 9): a running cluster drawn from the zoo and a sequence of
arrivals, departures, scale changes, load changes, machine failures and recoveries, with the
generator's ground truth for every model that ever runs.

How: the kinds of the events are drawn first, which fixes how many models arrive; then one
instance holding the initial models and every arriving one (the *pool*) is drawn with
:func:`placement.synthetic.generator.generate`, so one ground truth covers them all. The trace
starts with the first ``n_models`` models of the pool, running where an interference-blind
packing (:func:`placement.synthetic.generator.pack`, as a default Kubernetes scheduler would)
put them; each arrival brings its model entry and the pool's measured interference entries
between it and the models running at that moment.

Every draw comes from ``numpy.random.default_rng([seed, stage])``: one seed, one trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from placement.cluster.events import check_trace
from placement.formats.errors import InputError
from placement.formats.trace import Trace
from placement.synthetic.generator import generate, pack
from placement.synthetic.truth import GroundTruth

#: Relative frequency of each kind of event (an impossible kind, such as `up` with no machine
#: down, is left out of that draw). Arrivals and departures are equally likely, so a long
#: trace keeps about as many models as it starts with.
EVENT_WEIGHTS = {"arrive": 0.175, "depart": 0.175, "scale": 0.2, "load": 0.25, "down": 0.1,
                 "up": 0.1}
LOAD_FACTORS = (0.6, 1.6)  # a load event's factor is drawn uniformly here (then capped to fit)
#: The most of the ready machines' capacity (every resource, summed) the running models may
#: request after an event. Above it a drawn arrival, scale-up, load rise or failure is replaced
#: by an event that keeps the cluster placeable (a departure, a smaller change, a load drop):
#: a trace whose cluster cannot hold its replicas measures the shortage, not the policies.
#: Packing is not checked (it is NP-hard and depends on the policy), so a policy may still meet
#: an event it cannot place; the headroom makes that rare.
CEILING = 0.85
MEAN_GAP = 1.0  # mean time between events (exponential gaps)
# Stream ids of this module's draws (the pool instance uses generate's own streams).
_KINDS, _DETAILS, _TIMES = 200, 201, 202


@dataclass
class _Running:
    """What the drawing needs to know of the cluster between events."""

    models: dict[str, int]  # active model -> replicas
    down: set[str] = field(default_factory=set)
    factor: dict[str, float] = field(default_factory=dict)  # load factor of a model (1 if none)


class _Headroom:
    """The check behind :data:`CEILING`, Hall's condition on aggregates: for every set ``S`` of
    machine types, the models that can only run on types in ``S`` (a type counts for a model
    when it has the model's latency and one replica, at its load, fits a machine of it) request
    at most ``CEILING`` of the ready machines of ``S`` (every resource), and have no more
    replicas than those machines hold (one replica of a model per machine;
    ``max_models_per_machine`` each)."""

    def __init__(self, pool) -> None:
        self.requests = {m.name: dict(m.requests) for m in pool.models}
        self.latency_types = {m.name: tuple(m.latency_ms) for m in pool.models}
        self.type_capacity = {t.name: dict(t.capacity) for t in pool.machine_types}
        self.machines = [(r.id, r.type, dict(r.capacity)) for r in pool.machine_records()]
        self.slots = pool.limits.max_models_per_machine
        names = sorted({t for _, t, _ in self.machines})
        # every subset of types for a few types; beyond, each type alone and all together
        if len(names) <= 8:
            self.type_sets = [frozenset(n for b, n in enumerate(names) if mask >> b & 1)
                              for mask in range(1, 1 << len(names))]
        else:
            self.type_sets = [frozenset([n]) for n in names] + [frozenset(names)]

    def fits(self, running: _Running, change: dict[str, tuple[int, float]] | None = None,
             down: set[str] | None = None) -> bool:
        """Whether the cluster keeps its headroom once ``change`` (model -> (replicas,
        factor)) applies and ``down`` (default: the machines down now) are down."""
        change = change or {}
        down = running.down if down is None else down
        plan = {name: (running.models[name], running.factor.get(name, 1.0))
                for name in running.models}
        plan.update(change)
        hosts = {name: self.hosts(name, factor) for name, (_count, factor) in plan.items()}
        if not all(hosts.values()):
            return False  # a replica too large for every machine
        # the ready machines' count and capacity per type, once; a type set sums its types'
        ready: dict[str, tuple[int, dict[str, float]]] = {}
        for mid, mtype, capacity in self.machines:
            if mid in down:
                continue
            count, total = ready.get(mtype, (0, {}))
            for k, v in capacity.items():
                total[k] = total.get(k, 0.0) + v
            ready[mtype] = (count + 1, total)
        for types in self.type_sets:
            supply: dict[str, float] = {}
            machines = 0
            for mtype in types & ready.keys():
                count, total = ready[mtype]
                machines += count
                for k, v in total.items():
                    supply[k] = supply.get(k, 0.0) + v
            demand: dict[str, float] = {}
            replicas = 0
            for name, (count, factor) in plan.items():
                if not hosts[name] <= types:
                    continue
                if hosts[name] == types and count > machines:
                    return False  # more replicas than machines to spread them on
                replicas += count
                for k, v in self.requests[name].items():
                    demand[k] = demand.get(k, 0.0) + count * factor * v
            if self.slots is not None and (
                    replicas > self.slots * machines):
                return False
            if any(v > CEILING * supply.get(k, 0.0) + 1e-9 for k, v in demand.items()):
                return False
        return True

    def hosts(self, name: str, factor: float) -> frozenset[str]:
        """The types whose machines can hold one replica of ``name`` at load ``factor``."""
        return frozenset(
            t for t in self.latency_types[name]
            if all(v * factor <= self.type_capacity[t].get(k, 0.0) + 1e-9
                   for k, v in self.requests[name].items())
        )


def generate_trace(
    n_events: int = 100,
    n_models: int = 30,
    n_replicas: int | None = None,
    n_machines: int = 12,
    n_types: int = 3,
    load: float = 0.7,
    interference: str = "medium",
    seed: int = 0,
    *,
    slo: str = "soft",
    start: str = "packed",
) -> tuple[Trace, GroundTruth]:
    """A trace of ``n_events`` events on a cluster of ``n_machines`` machines of ``n_types``
    types that starts with ``n_models`` models (``n_replicas`` replicas in all, default one
    per model) at about ``load`` (requested / capacity on vCPUs; the pool of initial and
    arriving models is drawn at ``min(1, load x pool / n_models)``).

    ``slo`` is the instance's SLO mode: ``soft`` by default, since a running cluster meets
    events that no placement within a move budget can serve without breaking an SLO, and a
    replay should count those violations rather than stop. ``start``: ``packed`` (the cluster
    runs where an interference-blind packing put it) or ``empty`` (no ``current``: the first
    policy places everything).

    >>> trace, truth = generate_trace(n_events=10, n_models=6, n_machines=4, seed=3)
    >>> len(trace.events), len(trace.instance.models)
    (10, 6)
    """
    if n_events < 0:
        raise InputError("generate-trace", [("n_events", "expected 0 or more events")])
    if n_models < 2:
        raise InputError("generate-trace", [("n_models", "expected at least 2 models")])
    if slo not in ("hard", "soft"):
        raise InputError("generate-trace", [("slo", f"expected hard or soft, got {slo!r}")])
    if start not in ("packed", "empty"):
        raise InputError("generate-trace", [("start", f"expected packed or empty, got "
                                                      f"{start!r}")])
    if n_replicas is not None and n_replicas < n_models:
        raise InputError("generate-trace", [("n_replicas", f"expected at least one replica "
                                             f"per model (>= {n_models})")])
    max_down = max(1, n_machines // 6)
    kinds = _draw_kinds(n_events, n_models, max_down, np.random.default_rng([seed, _KINDS]))
    pool_size = n_models + kinds.count("arrive")
    pool_replicas = (
        None if n_replicas is None else math.ceil(n_replicas * pool_size / n_models)
    )
    pool, truth = generate(
        n_models=pool_size,
        n_replicas=pool_replicas,
        n_machines=n_machines,
        n_types=n_types,
        load=min(1.0, load * pool_size / n_models),
        interference=interference,
        seed=seed,
        slo=slo,
        name=f"trace-{n_models}m-{n_machines}x{n_types}-{interference}-s{seed}",
    )
    data = pool.dump()
    pool_models = data["models"]
    first_models = {m["name"] for m in pool_models[:n_models]}
    initial = {**data, "models": pool_models[:n_models],
               "interference": _entries_among(data["interference"], first_models, None)}
    trace_instance = Trace.model_validate({"instance": initial}).instance
    placed = pack(trace_instance) if start == "packed" else None
    if placed is not None:
        initial["current"] = placed
    events = _draw_events(
        kinds, pool, pool_models[n_models:], first_models, max_down,
        np.random.default_rng([seed, _DETAILS]), np.random.default_rng([seed, _TIMES]),
    )
    trace = Trace.model_validate({"instance": initial, "events": events})
    check_trace(trace, "generate-trace")  # a generator bug, if anything, never a user's
    return trace, truth


def _draw_kinds(n_events: int, n_models: int, max_down: int, rng: np.random.Generator) -> list:
    """The kind of each event; departures keep at least half the initial models running."""
    active, down, out = n_models, 0, []
    for _ in range(n_events):
        possible = {
            "arrive": True,
            "depart": active > max(2, n_models // 2),
            "scale": True,
            "load": True,
            "down": down < max_down,
            "up": down > 0,
        }
        kinds = [k for k, ok in possible.items() if ok]
        weights = np.array([EVENT_WEIGHTS[k] for k in kinds])
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        active += {"arrive": 1, "depart": -1}.get(kind, 0)
        down += {"down": 1, "up": -1}.get(kind, 0)
        out.append(kind)
    return out


def _draw_events(
    kinds: list[str],
    pool,
    arriving: list[dict[str, Any]],
    start: set[str],
    max_down: int,
    rng: np.random.Generator,
    times: np.random.Generator,
) -> list[dict[str, Any]]:
    models = {m.name: m for m in pool.models}
    capacity = {t.name: t.capacity for t in pool.machine_types}
    machines = pool.machine_ids()
    per_type: dict[str, int] = {}
    for _, t in machines:
        per_type[t] = per_type.get(t, 0) + 1
    running = _Running({n: models[n].replicas for n in start})
    headroom = _Headroom(pool)
    pending = iter(arriving)
    inter = pool.dump()["interference"]
    at, out = 0.0, []
    for kind in kinds:
        at = round(at + float(times.exponential(MEAN_GAP)), 3)
        active = sorted(running.models)
        if kind == "arrive":
            entry = next(pending, None)
            if entry is not None and headroom.fits(
                    running, {entry["name"]: (entry["replicas"], 1.0)}):
                name = entry["name"]
                extra = _entries_among(inter, set(running.models) | {name}, name)
                running.models[name] = entry["replicas"]
                out.append({"at": at, "arrive": entry, "interference": extra})
                continue
            kind = "depart" if len(active) > 2 else "load"  # no room: one leaves instead
        if kind == "depart":
            name = active[int(rng.integers(len(active)))]
            del running.models[name]
            running.factor.pop(name, None)
            out.append({"at": at, "depart": name})
            continue
        if kind == "down":
            ready = [mid for mid, _ in machines if mid not in running.down]
            mid = ready[int(rng.integers(len(ready)))]
            if headroom.fits(running, down=running.down | {mid}):
                running.down.add(mid)
                out.append({"at": at, "down": mid})
                continue
            kind = "load"  # the others could not hold the load
        if kind == "up":
            down = sorted(running.down)
            if down:
                mid = down[int(rng.integers(len(down)))]
                running.down.discard(mid)
                out.append({"at": at, "up": mid})
                continue
            kind = "load"  # a failure drawn earlier was replaced: nothing to recover
        name = active[int(rng.integers(len(active)))]
        model = models[name]
        hostable = sum(per_type.get(t, 0) for t in model.latency_ms) - max_down
        now = running.models[name]
        factor_now = running.factor.get(name, 1.0)
        choices = [r for r in (now - 2, now - 1, now + 1, now + 2)
                   if 1 <= r <= hostable and headroom.fits(running, {name: (r, factor_now)})]
        if kind == "scale" and choices:
            replicas = int(choices[int(rng.integers(len(choices)))])
            running.models[name] = replicas
            out.append({"at": at, "scale": {"model": name, "replicas": replicas}})
            continue
        # a load change (also when the model cannot scale): capped so one replica fits a
        # machine and the cluster keeps its headroom
        fit = max(
            min(
                (capacity[t].get(k, 0.0) / v for k, v in model.requests.items() if v > 0),
                default=math.inf,
            )
            for t in model.latency_ms
        )
        factor = min(float(rng.uniform(*LOAD_FACTORS)), 0.8 * fit)
        factor = round(_room_for(headroom, running, name, now, factor), 3)
        running.factor[name] = factor
        out.append({"at": at, "load": {"model": name, "factor": factor}})
    return out


def _room_for(headroom: _Headroom, running: _Running, name: str, replicas: int,
              factor: float) -> float:
    """``factor``, lowered (halving the excess, down to the lowest factor drawn) until the
    cluster keeps its headroom; the lowest when even that does not (a factor already at or
    below it stays)."""
    low = LOAD_FACTORS[0]
    for _ in range(20):
        if factor <= low or headroom.fits(running, {name: (replicas, factor)}):
            return factor
        factor = low + (factor - low) / 2.0
    return low


def _entries_among(inter: dict[str, Any], names: set[str], involving: str | None) -> dict:
    """The pairwise and set-wise entries among ``names`` (with ``involving``: only those that
    mention that model)."""

    def keep(members: set[str]) -> bool:
        return members <= names and (involving is None or involving in members)

    return {
        **({"compose": inter["compose"], "missing": inter["missing"]} if involving is None
           else {}),
        "pairwise": [e for e in inter["pairwise"] if keep({e["target"], e["with"]})],
        "setwise": [e for e in inter["setwise"] if keep({e["target"], *e["with"]})],
    }
