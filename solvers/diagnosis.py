"""Why an instance has no solution, in words a user can act on.

These checks are necessary conditions, cheap and exact: each message names a model, a group of
models or a resource and says what fails.

* per model: no machine of a type it may run on, no such machine it fits alone, its SLO missed
  even alone (hard SLOs);
* per group of models (:func:`crowded_groups`): a flow of replicas to the machines that may
  host them (networkx), each machine taking at most one replica of a model and at most as many
  replicas as its limit and its capacity allow (:func:`machine_slots`). When the flow cannot
  carry every replica, the minimum cut names a set of models whose replicas together have fewer
  places than replicas (a Hall violator), shrunk to a smallest such group;
* overall: the per-machine limit and every resource, summed over the cluster.

When none fires and a solver still finds nothing, the caller says so plainly (the instance may
be too tight for the heuristic, or the time limit too short).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from solvers.objectives import TOLERANCE
from solvers.problem import Problem

#: Deficient groups named at most, and the largest group shrunk to a smallest one.
MAX_GROUPS = 3
MAX_SHRINK = 40
#: Prefixes of the models by decreasing size whose flow is checked.
MAX_PREFIXES = 32
#: Models named in one message.
LISTED = 10


def hosting_machines(problem: Problem) -> np.ndarray:
    """[M, N] bool: a replica of the model, alone, may go on the machine by the filter tables
    (allowed type, machine state, the SLO alone when SLOs are hard) and fits its capacity."""
    tables = problem.filter_tables
    hard = problem.slo_mode == "hard"
    may = tables.may_host(problem.machine_type, hard)
    current = problem.current
    if current is not None:  # a cordoned machine may keep the models it runs now
        kept = current >= 0
        machines = current[kept]
        models = problem.replica_model[kept]
        by_type = tables.meets_slo_alone if hard else tables.allowed
        stay = ~tables.down[machines] & by_type[models, problem.machine_type[machines]]
        may = may.copy()
        may[models[stay], machines[stay]] = True
    fits = tables.fits(0.0, problem.requests[:, None, :], tables.capacity[None, :, :])
    spreading = tables.spread_key >= 0
    if spreading.any():  # a machine without the model's spread label cannot host it
        may = may.copy()
        may[spreading] &= tables.spread_label[tables.spread_key[spreading]] >= 0
    return may & fits & (tables.limit > 0)[None, :]


def spread_short(problem: Problem, hosting: np.ndarray) -> list[tuple[int, int]]:
    """(model, distinct values) for every model with a ``spread`` key whose replicas outnumber
    the distinct values of that label among the machines that may host it (one replica a
    value)."""
    tables = problem.filter_tables
    out = []
    for m in np.flatnonzero(tables.spread_key >= 0).tolist():
        labels = tables.spread_label[tables.spread_key[m], hosting[m]]
        values = int(np.unique(labels[labels >= 0]).size)
        if problem.replicas_per_model[m] > values:
            out.append((m, values))
    return out


def machine_slots(
    problem: Problem, hosting: np.ndarray, models: list[int] | None = None
) -> np.ndarray:
    """[N] an upper bound on the replicas of ``models`` (default: all) each machine can hold at
    once: its limit, and for every resource the most distinct such models that may go there
    whose smallest requests fit."""
    tables = problem.filter_tables
    slots = tables.limit.copy()
    present = problem.replicas_per_model > 0
    if models is not None:
        present &= np.isin(np.arange(problem.n_models), models)
    for n in range(problem.n_machines):
        candidates = hosting[:, n] & present
        if not candidates.any():
            slots[n] = 0
            continue
        requests = np.sort(problem.requests[candidates], axis=0)  # per resource, ascending
        within = np.cumsum(requests, axis=0) <= tables.capacity[n] + TOLERANCE
        slots[n] = min(int(slots[n]), int(within.sum(axis=0).min(initial=candidates.sum())))
    return slots


def _flow_network(
    models: list[int], counts: np.ndarray, hosting: np.ndarray, slots: np.ndarray
) -> nx.DiGraph:
    """source -> model (its replicas) -> machine group (one replica of a model per machine)
    -> sink (the group's slots). Machines that host the same models with the same slots are one
    group: a flow into the group always splits over its machines."""
    graph = nx.DiGraph()
    signature = np.vstack([hosting[models], slots[None, :]]).T  # [N, |models| + 1]
    groups, group_of = np.unique(signature, axis=0, return_inverse=True)
    group_of = group_of.reshape(-1)
    sizes = np.bincount(group_of, minlength=len(groups))
    for g, size in enumerate(sizes.tolist()):
        graph.add_edge(("group", g), "sink", capacity=int(size * groups[g, -1]))
    for i, m in enumerate(models):
        graph.add_edge("source", ("model", m), capacity=int(counts[m]))
        for g in np.flatnonzero(groups[:, i]).tolist():
            graph.add_edge(("model", m), ("group", g), capacity=int(sizes[g]))
    return graph


def _shortfall(
    problem: Problem, models: list[int], hosting: np.ndarray
) -> tuple[int, int, list[int]]:
    """(replicas ``models`` ask for, most the flow can place, the minimum cut's model side).
    Slots count only these models, so a smaller group gets the tighter bound it deserves."""
    counts = problem.replicas_per_model
    slots = machine_slots(problem, hosting, models)
    graph = _flow_network(models, counts, hosting, slots)
    placed, (source_side, _) = nx.minimum_cut(graph, "source", "sink")
    group = sorted(n[1] for n in source_side if isinstance(n, tuple) and n[0] == "model")
    return int(counts[models].sum()), int(placed), group


def crowded_groups(problem: Problem, hosting: np.ndarray | None = None) -> list[list[int]]:
    """Groups of models whose replicas cannot all be placed on the machines that may host them
    (Hall violators of the flow of :func:`_flow_network`), each shrunk to a smallest group that
    still falls short; disjoint, at most :data:`MAX_GROUPS`.

    The slot bound of a machine is tight only among models too large to share it, so the flow
    is asked of the largest models first (every prefix of the models by decreasing size, at
    most :data:`MAX_PREFIXES` of them), then of all."""
    if hosting is None:
        hosting = hosting_machines(problem)
    counts = problem.replicas_per_model

    def short(models: list[int]) -> bool:
        asked, placed, _ = _shortfall(problem, models, hosting)
        return placed < asked

    by_size = [int(m) for m in _largest_first(problem, hosting) if counts[m] > 0]
    found: list[list[int]] = []
    while len(found) < MAX_GROUPS:
        taken = {m for group in found for m in group}
        remaining = [m for m in by_size if m not in taken]
        group: list[int] | None = None
        for length in _prefix_lengths(len(remaining)):
            asked, placed, cut = _shortfall(problem, remaining[:length], hosting)
            if placed < asked:
                group = cut if cut and short(cut) else remaining[:length]
                break
        if group is None:
            break
        if len(group) <= MAX_SHRINK:
            for m in sorted(group, key=lambda m: (counts[m], m)):
                rest = [x for x in group if x != m]
                if rest and short(rest):
                    group = rest
        found.append(sorted(group))
    return found


def _largest_first(problem: Problem, hosting: np.ndarray) -> np.ndarray:
    """Models that some machine may host, by decreasing size (the largest request relative to
    the largest capacity of that resource among the machines), then index."""
    capacity = problem.filter_tables.capacity
    biggest = capacity.max(axis=0) if capacity.shape[0] else np.zeros(capacity.shape[1])
    req = problem.requests
    rel = np.divide(req, biggest, out=np.where(req > 0, np.inf, 0.0), where=biggest > 0)
    size = rel.max(axis=1) if rel.shape[1] else np.zeros(problem.n_models)
    models = np.flatnonzero(hosting.any(axis=1))
    return models[np.lexsort((models, -size[models]))]


def _prefix_lengths(n: int) -> list[int]:
    """1, 2, ..., then geometrically spaced up to ``n`` (always included)."""
    lengths = set(range(1, min(n, MAX_PREFIXES // 2) + 1))
    lengths.update(np.unique(np.geomspace(1, max(n, 1), MAX_PREFIXES // 2).astype(int)).tolist())
    return sorted(x for x in lengths | {n} if 1 <= x <= n)


def _group_message(problem: Problem, group: list[int], hosting: np.ndarray) -> str:
    names = problem.model_names
    counts = problem.replicas_per_model
    machines = int(hosting[group].any(axis=0).sum())
    if len(group) == 1:
        m = group[0]
        return (
            f"model {names[m]} asks for {counts[m]} replicas on distinct machines, but only "
            f"{machines} machines can host it"
        )
    _, placed, _ = _shortfall(problem, group, hosting)
    listed = ", ".join(names[m] for m in group[:LISTED])
    if len(group) > LISTED:
        listed += f" and {len(group) - LISTED} more"
    return (
        f"models {listed} compete for too few machines: together they ask for "
        f"{int(counts[group].sum())} replicas, but the {machines} machines that may host them "
        f"can take at most {placed} of these replicas (one replica of a model per machine, "
        "within each machine's capacity and replica limit)"
    )


def diagnose(problem: Problem) -> list[str]:
    """Reasons no assignment can exist; empty when no simple reason is found."""
    reasons: list[str] = []
    names, types = problem.model_names, problem.type_names
    tables = problem.filter_tables
    hosting = hosting_machines(problem)
    allowed = tables.may_host(problem.machine_type, hard_slo=False) | hosting  # [M, N]
    fits = tables.fits(0.0, problem.requests[:, None, :], tables.capacity[None, :, :])
    count = problem.replicas_per_model
    for m, name in enumerate(names):
        if count[m] == 0:
            continue
        if not allowed[m].any():
            listed = [types[t] for t in np.flatnonzero(tables.allowed[m])]
            reasons.append(
                f"model {name} runs only on {', '.join(listed) or 'no type'}, and the instance "
                "has no machine of those types"
            )
        elif not (allowed[m] & fits[m]).any():
            reasons.append(
                f"model {name} fits no machine type it may run on: its requests exceed the "
                "capacity of every allowed type"
            )
        elif not hosting[m].any():
            solo = problem.solo_latency[m, problem.machine_type]
            best = np.nanmin(np.where(allowed[m] & fits[m], solo, np.nan))
            reasons.append(
                f"model {name} misses its SLO even alone: best solo latency {best:g} ms > "
                f"slo_ms {problem.slo[m]:g}"
            )
    for m, values in spread_short(problem, hosting):
        reasons.append(
            f"model {names[m]} asks for {count[m]} replicas on machines with distinct values of "
            f"its spread label, but the machines that may host it carry {values} distinct "
            f"value{'s' if values != 1 else ''}"
        )
    reasons += [_group_message(problem, g, hosting) for g in crowded_groups(problem, hosting)]
    limit = problem.max_per_machine
    if limit is not None and problem.n_replicas > limit * problem.n_machines:
        reasons.append(
            f"{problem.n_replicas} replicas exceed {problem.n_machines} machines x "
            f"max_models_per_machine {limit}"
        )
    if problem.max_moves is not None:
        needed = moves_needed_at_least(problem)
        if needed > problem.max_moves:
            reasons.append(
                f"the current placement needs at least {needed} counted moves (replicas that "
                f"no longer fit, or conflict, where they run), limits.max_moves is "
                f"{problem.max_moves}"
            )
    total_demand = problem.requests[problem.replica_model].sum(axis=0)
    total_capacity = tables.capacity[~tables.down].sum(axis=0)
    for k, res in enumerate(problem.resource_names):
        if total_demand[k] > total_capacity[k] + TOLERANCE:
            reasons.append(
                f"resource {res}: the replicas request {total_demand[k]:g} in all, the machines "
                f"offer {total_capacity[k]:g}"
            )
    return reasons


def moves_needed_at_least(problem: Problem) -> int:
    """A lower bound on the counted moves any placement needs (SPEC section 9), machine by
    machine: residents of ``current`` that cannot stay even alone (type, capacity, the SLO
    alone when hard), and among the others the most of: the excess over the replica limit,
    for each resource the fewest residents whose removal makes the rest fit (largest first),
    repeated replicas of a model, and a matching of ``avoid`` pairs (one of each pair moves).
    Replicas on ``down`` machines move without counting. 0 without ``current``."""
    current = problem.current
    if current is None:
        return 0
    tables = problem.filter_tables
    hard = problem.slo_mode == "hard"
    by_type = tables.meets_slo_alone if hard else tables.allowed
    total = 0
    for n in np.unique(current[current >= 0]).tolist():
        if tables.down[n]:
            continue
        residents = problem.replica_model[current == n]
        t = int(problem.machine_type[n])
        alone = np.array([
            by_type[m, t] and tables.fits(0.0, problem.requests[m], tables.capacity[n])
            for m in residents.tolist()
        ], dtype=bool)
        staying = residents[alone]
        models, counts = np.unique(staying, return_counts=True)
        need = [int(len(staying) - tables.limit[n]), int((counts - 1).sum())]
        demand = problem.requests[staying]
        for k in range(demand.shape[1]):
            sizes = np.sort(demand[:, k])[::-1]
            excess = sizes.sum() - tables.capacity[n, k]
            removed = 0
            while excess > TOLERANCE and removed < sizes.size:
                excess -= sizes[removed]
                removed += 1
            need.append(removed)
        matched: set[int] = set()
        pairs = 0
        for a in models.tolist():
            for b in models.tolist():
                if a < b and tables.conflicts[a, b] and not {a, b} & matched:
                    matched |= {a, b}
                    pairs += 1
        need.append(pairs)
        total += int((~alone).sum()) + max(0, *need)
    return total


def no_solution_message(problem: Problem, reasons: list[str], proved: bool) -> list[str]:
    if reasons:
        return reasons
    if proved:
        return [
            "no assignment meets capacity, anti-affinity and every SLO together; each model fits "
            "alone, so the conflict is interference between models or packing: add machines, "
            "relax SLOs, or use objective.slo = soft"
        ]
    return [
        "no solution found within the limits; every model can be placed alone, so try a longer "
        "--time-limit or an exact solver (cpsat, milp) to prove infeasibility"
    ]
