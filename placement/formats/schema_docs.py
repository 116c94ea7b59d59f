"""What each field of the instance and solution files means, as ``placement schema`` shows it.

One table, keyed by the schema class and the field's JSON name, applied to every class of the
instance schema by :func:`describe_fields` (its ``json_schema_extra``). The wording follows SPEC
section 2; the ranges are added by pydantic from :mod:`placement.formats.limits`.
"""

from __future__ import annotations

from typing import Any

FIELD_DOCS: dict[str, dict[str, str]] = {
    "Instance": {
        "$schema": "optional URL or path of this JSON Schema, for editors; ignored",
        "name": "the instance's name, copied into every solution",
        "machine_types": "kinds of server; at least one",
        "machines": "the machines, one by one ({id, type}) or in groups ({type, count})",
        "models": "the inference services to place; at least one",
        "interference": "measured or predicted slowdowns under co-location",
        "objective": "what to minimize and how SLOs count",
        "limits": "optional caps on a placement",
        "current": "a running cluster: replica id -> machine id where it runs now; ids of "
        "replicas the instance no longer has are departures",
    },
    "MachineType": {
        "name": "unique name of the type",
        "capacity": "resources of one machine of the type (any names: vcpus, memory_gb, "
        "gpu_pct...), as Kubernetes node capacity",
        "cost_per_hour": "cost of one machine of the type per hour; default 0",
        "features": "numbers describing the hardware, read by learned predictors; default {}",
    },
    "MachineEntry": {
        "type": "the machine type's name",
        "id": "one machine's unique id (give id or count, not both)",
        "count": "a group of this many machines, with ids <type>/<k>, k from 0 per type",
        "state": "ready (default); cordoned: takes no replica not already there; down: hosts "
        "nothing",
        "capacity": "per-resource override of the type's capacity for this machine",
        "labels": "string map such as {\"zone\": \"eu-1a\"}, read by models[].spread",
    },
    "Model": {
        "name": "unique name of the model",
        "requests": "what one replica reserves per resource, as Kubernetes pod requests",
        "slo_ms": "latency bound in milliseconds; met when solo latency x slowdown <= slo_ms",
        "latency_ms": "solo latency in milliseconds per machine type; a type absent here cannot "
        "host the model",
        "replicas": "how many replicas, each on its own machine; default 1",
        "weight": "importance in weighted means; default 1",
        "features": "numbers describing the model, read by learned predictors; default {}",
        "avoid": "model names whose replicas never share a machine with this model's",
        "spread": "a label key: the model's replicas go to machines with distinct values of it",
    },
    "PairwiseEntry": {
        "machine_type": "the machine type this was measured on",
        "target": "the model slowed down",
        "with": "its only co-runner",
        "slowdown": "target's latency beside `with` / its latency alone (values below 1 read "
        "as 1)",
    },
    "SetwiseEntry": {
        "machine_type": "the machine type this was measured on",
        "target": "the model slowed down",
        "with": "its co-runners, exactly this set (each model at most once)",
        "slowdown": "target's latency beside the set / its latency alone (values below 1 read "
        "as 1)",
    },
    "Interference": {
        "pairwise": "slowdown of a target with one co-runner, per machine type",
        "setwise": "slowdown of a target with exactly a set of co-runners, per machine type",
        "compose": "how a set's slowdown follows from pairs when no setwise entry matches: "
        "additive 1 + sum(s - 1), multiplicative prod(s), or max(s)",
        "missing": "a needed pair without an entry: error (refuse the file), a slowdown to "
        "assume, or predict (ask the predictor the user names)",
    },
    "Objective": {
        "minimize": "mean_degradation (weighted), added_latency (weighted sum, ms), "
        "max_degradation, machines (fewest used) or cost (cost_per_hour of used machines)",
        "slo": "hard: every replica meets its SLO or the instance is infeasible; soft: fewest "
        "violations first, then the objective",
        "move_penalty": "added to the objective per counted move, in the objective's unit",
    },
    "Limits": {
        "max_models_per_machine": "at most this many replicas on one machine",
        "max_moves": "at most this many counted moves from `current`",
    },
    # ------------------------------------------------------------------ the solution file
    "Solution": {
        "instance": "the instance's name",
        "solver": "the solver that produced the assignment (auto says which it ran)",
        "status": "optimal (proved), feasible (not proved optimal), infeasible (proved none "
        "exists) or unknown (none found in the time limit)",
        "objective": "the value of objective.minimize for this assignment",
        "bound": "the solver's proved bound on the objective (null for heuristics)",
        "gap": "(objective - bound) / max(|objective|, 1e-9); null for heuristics",
        "solve_seconds": "seconds from the start of compiling to the solver's answer",
        "assignment": "replica id -> machine id",
        "replicas": "per replica: its machine, slowdown, latency and SLO, from the evaluator",
        "machines": "per used machine: its replicas and the resources they use",
        "summary": "the placement's figures, from the one evaluator",
        "moves": "replicas of `current` placed on another machine",
        "diagnosis": "why there is no solution, in words a user can act on",
        "info": "what the solver reports about its run (backend, stages, predictor load time)",
    },
    "ReplicaFigures": {
        "model": "the replica's model",
        "machine": "the machine it is placed on",
        "machine_type": "that machine's type",
        "slowdown": "latency with its co-runners / latency alone (>= 1)",
        "latency_ms": "solo latency on the type x slowdown, in milliseconds",
        "slo_ms": "the model's latency bound in milliseconds",
        "slo_met": "latency_ms <= slo_ms",
    },
    "MachineFigures": {
        "type": "the machine's type",
        "replicas": "the replica ids placed on it",
        "used": "per resource, the sum of the requests placed on it",
    },
    "Summary": {
        "mean_degradation": "weighted mean of slowdown - 1 over all replicas",
        "p99_degradation": "99th percentile of degradation over replicas (nearest rank)",
        "max_degradation": "largest degradation of any replica",
        "total_added_latency_ms": "sum of weighted added latency (latency - solo latency), ms",
        "slo_violations": "replicas whose latency exceeds their SLO",
        "machines_used": "machines hosting at least one replica",
        "cost_per_hour": "sum of cost_per_hour over used machines",
        "moves": "counted moves from `current`",
        "forced_moves": "moves off `down` machines (not counted)",
    },
    "Move": {
        "replica": "the replica that moves",
        "from": "the machine it runs on now",
        "to": "the machine it is placed on",
        "forced": "it left a `down` machine (not counted against limits.max_moves)",
    },
}


def describe_fields(schema: dict[str, Any], cls: type) -> None:
    """Give every property of ``cls``'s schema its description from :data:`FIELD_DOCS` (a rule
    the field's type states, such as what a name may hold, is kept in parentheses)."""
    docs = FIELD_DOCS.get(cls.__name__, {})
    for name, prop in schema.get("properties", {}).items():
        if name in docs:
            rule = prop.get("description")  # a type's own rule, e.g. what a name may hold
            prop["description"] = f"{docs[name]} ({rule})" if rule else docs[name]
