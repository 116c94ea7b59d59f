"""What each event of a trace does to a cluster (SPEC section 9), as pure functions.

``apply_event(state, event)`` returns a new :class:`ClusterState` and never changes its input,
so a simulator can keep every state and a policy can look at the state before and after.
An event that does not make sense where it happens (a model that departs twice, a machine
that does not exist, an arriving model without its interference pairs) raises
:class:`EventError`; :func:`load_trace` replays a whole trace once to report such problems as
bad input, naming the event.

Replicas that leave (a departing model, a scale-down) stay in ``current`` until a policy
places the cluster again: they still run until then, and the next solution lists them in
``info.departed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from placement.formats.errors import InputError
from placement.formats.instance import Instance, pydantic_problems
from placement.formats.trace import Event, Trace


class EventError(ValueError):
    """An event that cannot happen in the state it meets; ``problems`` are (path inside the
    event, what was expected) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


@dataclass(frozen=True)
class ClusterState:
    """The cluster between events: the instance (with ``current``) and each model's requests
    at the start of the trace or at its arrival, which ``load`` factors scale."""

    instance: Instance
    base_requests: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    at: float = 0.0


def initial_state(instance: Instance) -> ClusterState:
    """The state at the start of a trace."""
    base = {m.name: MappingProxyType(dict(m.requests)) for m in instance.models}
    return ClusterState(instance, MappingProxyType(base), 0.0)


def with_current(state: ClusterState, assignment: Mapping[str, str]) -> ClusterState:
    """The state after a policy placed the cluster: ``current`` becomes ``assignment``."""
    data = state.instance.dump()
    data["current"] = dict(assignment)
    return ClusterState(_validated(data, "current"), state.base_requests, state.at)


def apply_event(state: ClusterState, event: Event) -> ClusterState:
    """The state after ``event``; raises :class:`EventError` when it cannot happen here."""
    data = state.instance.dump()
    base = dict(state.base_requests)
    models = {m["name"]: m for m in data["models"]}
    kind = event.kind
    if kind == "arrive":
        assert event.arrive is not None
        name = event.arrive.name
        if name in models:
            raise EventError([("arrive.name", f"model {name!r} is already in the cluster; "
                                              "expected a new name")])
        arriving = event.arrive.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["models"].append(arriving)
        extra = event.interference
        if extra is not None:
            inter = data.setdefault("interference", {})
            inter.setdefault("pairwise", []).extend(
                e.model_dump(mode="json", by_alias=True) for e in extra.pairwise
            )
            inter.setdefault("setwise", []).extend(
                e.model_dump(mode="json", by_alias=True) for e in extra.setwise
            )
        base[name] = MappingProxyType(dict(event.arrive.requests))
    elif kind == "depart":
        name = _known_model(models, event.depart, "depart")
        _remove_model(data, name)
        base.pop(name, None)
    elif kind == "scale":
        assert event.scale is not None
        name = _known_model(models, event.scale.model, "scale.model")
        models[name]["replicas"] = event.scale.replicas
    elif kind == "load":
        assert event.load is not None
        name = _known_model(models, event.load.model, "load.model")
        models[name]["requests"] = {k: v * event.load.factor for k, v in base[name].items()}
    else:  # down / up
        machine = event.down if kind == "down" else event.up
        _set_machine_state(data, state.instance, machine, "down" if kind == "down" else "ready",
                           kind)
    return ClusterState(_validated(data, kind), MappingProxyType(base), event.at)


def replay(trace: Trace) -> list[ClusterState]:
    """The state at the start and after each event (no policy: ``current`` never changes)."""
    states = [initial_state(trace.instance)]
    for event in trace.events:
        states.append(apply_event(states[-1], event))
    return states


def load_trace(path: str | Path) -> Trace:
    """Read a trace and replay its events once; any problem is an :class:`InputError` naming
    the file and the event (``events[7].depart: ...``)."""
    trace = Trace.load(path)
    check_trace(trace, str(path))
    return trace


def check_trace(trace: Trace, source: str = "<trace>") -> None:
    """Raise :class:`InputError` at the first event that cannot happen where it does."""
    state = initial_state(trace.instance)
    for i, event in enumerate(trace.events):
        try:
            state = apply_event(state, event)
        except EventError as exc:
            raise InputError(source, [(f"events[{i}].{p}", m) for p, m in exc.problems]) from None


# --------------------------------------------------------------------------- helpers


def _known_model(models: Mapping[str, Any], name: str | None, path: str) -> str:
    if name not in models:
        raise EventError([(path, f"no model {name!r} in the cluster at this point; expected "
                                 f"one of {sorted(models)[:8]}")])
    return name


def _remove_model(data: dict[str, Any], name: str) -> None:
    """Drop a model with the interference entries and ``avoid`` names that mention it."""
    data["models"] = [m for m in data["models"] if m["name"] != name]
    for m in data["models"]:
        if name in m.get("avoid", []):
            m["avoid"] = [a for a in m["avoid"] if a != name]
    inter = data.get("interference", {})
    inter["pairwise"] = [
        e for e in inter.get("pairwise", []) if name not in (e["target"], e["with"])
    ]
    inter["setwise"] = [
        e for e in inter.get("setwise", []) if e["target"] != name and name not in e["with"]
    ]


def _set_machine_state(
    data: dict[str, Any], instance: Instance, machine: str | None, new_state: str, path: str
) -> None:
    """Set one machine's state. Groups (``count``) are written out machine by machine first,
    since a state belongs to one machine; ids stay the same."""
    records = instance.machine_records()
    if machine not in {r.id for r in records}:
        shown = [r.id for r in records][:8]
        raise EventError([(path, f"no machine {machine!r}; expected a machine id such as "
                                 f"{shown}")])
    data["machines"] = [
        {"id": r.id, "type": r.type, "state": new_state if r.id == machine else r.state,
         **_overrides(instance, r.type, r.capacity), "labels": r.labels}
        for r in records
    ]


def _overrides(instance: Instance, machine_type: str, capacity: dict[str, float]) -> dict:
    type_capacity = next(t.capacity for t in instance.machine_types if t.name == machine_type)
    changed = {k: v for k, v in capacity.items() if type_capacity.get(k) != v}
    return {"capacity": changed} if changed else {}


def _validated(data: dict[str, Any], path: str) -> Instance:
    """The changed instance, validated; its problems are the event's (an arrival's missing or
    wrong interference entries are its ``interference``'s)."""
    try:
        return Instance.model_validate(data)
    except ValidationError as exc:
        raise EventError([
            ("interference" if path == "arrive" and p.startswith("interference") else path,
             f"{p}: {m}")
            for p, m in pydantic_problems(exc)
        ]) from None
