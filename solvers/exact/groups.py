"""The configuration master of a running cluster (SPEC section 9): machine groups, placed
columns, moves.

Without cluster constraints, machines of one type are interchangeable and a column is a
configuration of a type (:mod:`solvers.exact.master`). A running cluster tells machines apart:
per-machine capacity, state (cordoned, down), labels for ``spread``, and the replicas each
runs now. Machines equal in all of that form a **group** (the filter tables' machine class:
a machine that runs replicas of ``current`` is a group of its own). A **placed column** is a
configuration (of the group's type) on a group; the master is

    x[j] in Z, 0 <= x[j] <= upper[j]            machines of group g(j) holding config c(j)
    sum_{j: m in c(j)} x[j] = replicas[m]       every replica placed, on distinct machines
    sum_{j: g(j)=g} x[j] <= machines[g]         a group holds as many machines as it has
    sum_{j: m in c(j), label(g(j))=v} x[j] <= 1 spread: one replica of m per label value v
    sum_j stays[j] x[j] >= kept - max_moves     the move budget
    minimize sum_j (cost[c(j)] - penalty stays[j]) x[j]  (+ penalty kept, a constant)

where ``stays[j]`` counts the models of config ``c(j)`` that run now on the (single) machine
of group ``g(j)`` and ``kept`` the replicas of ``current`` on machines that are not down:
counted moves are exactly ``kept - sum stays x`` (a replica of ``m`` whose machine keeps ``m``
stays; the others of ``current`` move and are counted; forced moves off a down machine are
not counted and down machines get no column). Columns a group cannot take (capacity,
replica limit, ``avoid``, a cordoned machine taking a model it does not run now, a spread
model on a machine without the label) are never made. The rows are a
:class:`~solvers.exact.master.MasterRows` and the result a
:class:`~solvers.exact.master.Master`, so every backend solves it unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from solvers.exact.columns import Configurations, is_configuration
from solvers.exact.goals import column_worst, fixed_slack
from solvers.exact.master import INF, Master, MasterRows, compressed
from solvers.metrics import residents
from solvers.objectives import (
    MOVES,
    PLAIN_TIE_BREAK,
    TIE_BREAK,
    TOLERANCE,
    column_coefficients,
    goal,
)
from solvers.problem import Problem


def has_cluster_constraints(problem: Problem) -> bool:
    """The problem tells machines of a type apart, or counts moves: it needs groups."""
    tables = problem.filter_tables
    return (
        problem.current is not None
        or problem.max_moves is not None
        or bool(problem.move_penalty)
        or not tables.only_self_conflicts
        or bool(tables.down.any())
        or not bool(tables.accepts_new.all())
        or bool((tables.spread_key >= 0).any())
        or not np.array_equal(tables.capacity, problem.capacity[problem.machine_type])
    )


def envelope(problem: Problem) -> Problem:
    """The problem with each type's capacity raised to the largest of its machines, so that
    enumerating configurations per type misses none a single machine could hold (each placed
    column is then checked against its own group)."""
    capacity = problem.capacity.copy()
    tables = problem.filter_tables
    for n in range(problem.n_machines):
        t = int(problem.machine_type[n])
        capacity[t] = np.maximum(capacity[t], tables.capacity[n])
    return dataclasses.replace(problem, capacity=capacity)


@dataclass(frozen=True)
class MachineGroups:
    """Groups of interchangeable machines (down machines are in none)."""

    machines: tuple[np.ndarray, ...]  # machine indices of each group, ascending
    of_machine: np.ndarray  # [N] group of each machine, -1 when down
    type: np.ndarray  # [G]
    home: tuple[frozenset[int], ...]  # models running now on the group's one machine
    kept: int  # replicas of current on machines that are not down

    def __len__(self) -> int:
        return len(self.machines)


def machine_groups(problem: Problem) -> MachineGroups:
    tables = problem.filter_tables
    live = np.flatnonzero(~tables.down)
    classes = tables.machine_class[live]
    machines: list[np.ndarray] = []
    of_machine = np.full(problem.n_machines, -1, dtype=np.int64)
    for cls in dict.fromkeys(classes.tolist()):
        members = live[classes == cls]
        of_machine[members] = len(machines)
        machines.append(members)
    home: list[frozenset[int]] = [frozenset()] * len(machines)
    kept = 0
    current = problem.current
    if current is not None:
        for r in np.flatnonzero(current >= 0).tolist():
            g = int(of_machine[current[r]])
            if g >= 0:
                kept += 1
                home[g] = home[g] | {int(problem.replica_model[r])}
    types = np.array([int(problem.machine_type[ms[0]]) for ms in machines], dtype=np.int64)
    return MachineGroups(tuple(machines), of_machine, types, tuple(home), kept)


@dataclass
class PlacedColumns:
    """Placed columns ``(group, configuration)``, each made once."""

    group: list[int] = dataclasses.field(default_factory=list)
    config: list[int] = dataclasses.field(default_factory=list)
    stays: list[int] = dataclasses.field(default_factory=list)
    index: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)
    kept: int = 0  # replicas of current on machines that are not down (groups.kept)

    def __len__(self) -> int:
        return len(self.group)

    def add(
        self, problem: Problem, groups: MachineGroups, configs: Configurations, g: int, c: int
    ) -> int | None:
        """The column of configuration ``c`` on group ``g`` (made when new), or None when the
        group cannot take it."""
        key = (g, c)
        if key in self.index:
            return self.index[key]
        members = configs.members[c]
        if configs.types[c] != groups.type[g] or not group_takes(problem, groups, g, members):
            return None
        self.index[key] = len(self.group)
        self.group.append(g)
        self.config.append(c)
        self.stays.append(len(groups.home[g].intersection(members)))
        return self.index[key]

    def add_all(
        self, problem: Problem, groups: MachineGroups, configs: Configurations, start: int = 0
    ) -> None:
        """Every configuration from ``start`` on, on every group of its type."""
        by_type: dict[int, list[int]] = {}
        for g, t in enumerate(groups.type.tolist()):
            by_type.setdefault(t, []).append(g)
        for c in range(start, len(configs)):
            for g in by_type.get(configs.types[c], ()):
                self.add(problem, groups, configs, g, c)


def group_takes(
    problem: Problem, groups: MachineGroups, g: int, members: tuple[int, ...]
) -> bool:
    """One machine of group ``g`` may hold exactly ``members``: the filter tables' capacity,
    limit, conflicts, machine state (a cordoned machine keeps only models it runs now) and
    spread labels. Allowed types and hard SLOs are the configuration store's checks."""
    tables = problem.filter_tables
    n = int(groups.machines[g][0])
    ms = list(members)
    if len(ms) > tables.limit[n]:
        return False
    used = problem.requests[ms].sum(axis=0)
    if not np.all(used <= tables.capacity[n] + TOLERANCE):
        return False
    if len(ms) > 1 and tables.conflicts[np.ix_(ms, ms)].sum() > len(ms):
        return False
    if not tables.accepts_new[n] and not groups.home[g].issuperset(ms):
        return False
    keys = tables.spread_key[ms]
    return bool(np.all(tables.spread_label[keys[keys >= 0], n] >= 0))


# ---------------------------------------------------------------------------- goals
def placed_coefficients(
    problem: Problem, configs: Configurations, placed: PlacedColumns, stage: str
) -> tuple[np.ndarray, float]:
    """[J] each placed column's contribution to a summing stage and the stage's constant: the
    objective carries the move penalty (``-penalty x stays``, constant ``penalty x kept``),
    :data:`MOVES` counts ``kept - sum stays x``."""
    stays = np.asarray(placed.stays, dtype=float)
    kept = float(placed.kept)
    if stage == MOVES:
        return -stays, kept
    if stage == WORST_CAP:
        raise ValueError("the worst-degradation cap is a max, it has no linear coefficients")
    name = TIE_BREAK if stage == PLAIN_TIE_BREAK else stage
    coef = column_coefficients(problem, configs.figures(), name)[np.asarray(placed.config, int)]
    if stage == problem.objective and problem.move_penalty:
        return coef - problem.move_penalty * stays, problem.move_penalty * kept
    return coef, 0.0


#: A fixed stage that only caps the worst degradation of every column used (the plain max
#: part of a ``max_degradation`` objective that carries a move penalty; its moves part is
#: fixed by a :data:`MOVES` row beside it).
WORST_CAP = "worst_cap"


def is_linear_stage(stage: str) -> bool:
    """The stage sums over columns (else it is a max over the columns used)."""
    if stage == WORST_CAP:
        return False
    return stage in (MOVES, PLAIN_TIE_BREAK) or stage == "violations" or (
        goal(stage).combine == "sum"
    )


def placed_stage_value(
    problem: Problem,
    configs: Configurations,
    placed: PlacedColumns,
    stage: str,
    counts: dict[int, int],
) -> float:
    """A stage's value for column counts (the move penalty included in the objective)."""
    if not is_linear_stage(stage):
        worst = column_worst(configs)[np.asarray(placed.config, int)]
        value = max((float(worst[j]) for j, k in counts.items() if k > 0), default=0.0)
        if stage == problem.objective and problem.move_penalty and stage != WORST_CAP:
            stays = sum(placed.stays[j] * k for j, k in counts.items())
            value += problem.move_penalty * (placed.kept - stays)
        return value
    coef, constant = placed_coefficients(problem, configs, placed, stage)
    return constant + float(sum(coef[j] * k for j, k in counts.items()))


# ---------------------------------------------------------------------------- master
def build_group_master(
    problem: Problem,
    groups: MachineGroups,
    configs: Configurations,
    placed: PlacedColumns,
    stage: str,
    fixed: list[tuple[str, float]],
) -> Master:
    """The master of ``stage`` over every placed column, earlier stages ``fixed`` (module
    docstring). A stage's constant is left out of its cost (add it to the bound)."""
    M, G, J = problem.n_models, len(groups), len(placed)
    tables = problem.filter_tables
    members = [configs.members[c] for c in placed.config]
    group = np.asarray(placed.group, dtype=np.int64)
    rows_r: list[np.ndarray] = []
    rows_c: list[np.ndarray] = []
    rows_v: list[np.ndarray] = []
    sizes = np.fromiter((len(ms) for ms in members), dtype=np.int64, count=J)
    rows_r.append(np.fromiter((m for ms in members for m in ms), np.int64, int(sizes.sum())))
    rows_c.append(np.repeat(np.arange(J), sizes))
    rows_v.append(np.ones(rows_r[0].size))
    rows_r.append(M + group)
    rows_c.append(np.arange(J))
    rows_v.append(np.ones(J))
    lower = [*problem.replicas_per_model.astype(float), *([-INF] * G)]
    upper = [*problem.replicas_per_model.astype(float),
             *(float(len(ms)) for ms in groups.machines)]
    names = [*(f"cover_{m}" for m in range(M)), *(f"machines_{g}" for g in range(G))]
    integral = [True] * (M + G)

    def add_row(cols: np.ndarray, values: np.ndarray, lo: float, hi: float, name: str,
                whole: bool) -> None:
        rows_r.append(np.full(cols.size, len(lower)))
        rows_c.append(cols)
        rows_v.append(values)
        lower.append(lo)
        upper.append(hi)
        names.append(name)
        integral.append(whole)

    for m in np.flatnonzero(tables.spread_key >= 0).tolist():
        labels = tables.spread_label[tables.spread_key[m]]
        holding = np.array([m in ms for ms in members], dtype=bool)
        value_of = np.array([labels[groups.machines[g][0]] for g in group.tolist()], np.int64)
        for v in np.unique(value_of[holding]).tolist():
            cols = np.flatnonzero(holding & (value_of == v))
            add_row(cols, np.ones(cols.size), -INF, 1.0, f"spread_{m}_{v}", True)
    stays = np.asarray(placed.stays, dtype=float)
    if problem.max_moves is not None and groups.kept:
        cols = np.flatnonzero(stays)
        add_row(cols, stays[cols], float(groups.kept - problem.max_moves), INF, "move_budget",
                True)
    worst_cap: float | None = None
    worst_all = column_worst(configs)[np.asarray(placed.config, int)] if J else np.zeros(0)
    for fixed_stage, value in fixed:
        if fixed_stage == WORST_CAP or (fixed_stage == problem.objective
                                         and problem.move_penalty):
            room = fixed_slack(PLAIN_TIE_BREAK, value)  # a real value (a penalty makes it so)
        else:
            room = fixed_slack(fixed_stage, value)
        if is_linear_stage(fixed_stage):
            coef, constant = placed_coefficients(problem, configs, placed, fixed_stage)
            cols = np.flatnonzero(coef)
            whole = fixed_stage == MOVES
            add_row(cols, coef[cols], -INF, value - constant + room, f"fixed_{fixed_stage}",
                    whole)
            if whole:  # an integral row needs an integral right side
                upper[-1] = float(np.floor(upper[-1]))
        else:
            cap = value + room
            worst_cap = cap if worst_cap is None else min(worst_cap, cap)
    starts, index, value_arr = compressed(
        np.concatenate(rows_r), np.concatenate(rows_c), np.concatenate(rows_v), J
    )
    rows = MasterRows(
        np.asarray(lower, float), np.asarray(upper, float), tuple(names),
        np.asarray(integral, dtype=bool), M, G, (), worst_cap,
    )
    sizes_g = np.array([len(ms) for ms in groups.machines], dtype=np.int64)
    counts = problem.replicas_per_model
    col_upper = np.array(
        [min(int(sizes_g[g]), *(int(counts[m]) for m in ms)) for g, ms in zip(
            group.tolist(), members, strict=True)],
        dtype=np.int64,
    )
    if worst_cap is not None:
        col_upper = np.where(worst_all > worst_cap, 0, col_upper)
    if is_linear_stage(stage):
        coef, _ = placed_coefficients(problem, configs, placed, stage)
        return Master(rows, starts, index, value_arr, col_upper, coef, None)
    cost = np.zeros(J)
    if stage == problem.objective and problem.move_penalty:
        cost = -problem.move_penalty * stays
    return Master(rows, starts, index, value_arr, col_upper, cost, worst_all)


# ---------------------------------------------------------------------------- assignments
def assignment_from_placed(
    problem: Problem,
    groups: MachineGroups,
    configs: Configurations,
    placed: PlacedColumns,
    counts: dict[int, int],
) -> np.ndarray:
    """Replica -> machine realizing placed column counts: a group's machines filled in index
    order, a replica of ``current`` kept on its machine whenever the column there holds its
    model, the other replicas of a model (new, moving, forced) placed on the rest."""
    assignment = np.full(problem.n_replicas, -1, dtype=np.int64)
    current = problem.current
    free_machines = {g: list(ms[::-1]) for g, ms in enumerate(groups.machines)}
    chosen: list[tuple[int, int]] = []  # (machine, column)
    for j in sorted(counts):
        for _ in range(int(counts[j])):
            chosen.append((int(free_machines[placed.group[j]].pop()), j))
    taken = np.zeros(problem.n_replicas, dtype=bool)
    rest: list[tuple[int, int]] = []  # (machine, model) still to fill
    for n, j in chosen:
        for m in configs.members[placed.config[j]]:
            home = np.flatnonzero(
                (problem.replica_model == m) & ~taken
                & ((current == n) if current is not None else False)
            )
            if home.size:
                assignment[home[0]] = n
                taken[home[0]] = True
            else:
                rest.append((n, m))
    for n, m in rest:
        r = np.flatnonzero((problem.replica_model == m) & ~taken)[0]
        assignment[r] = n
        taken[r] = True
    return assignment


def placed_counts(
    problem: Problem,
    groups: MachineGroups,
    configs: Configurations,
    placed: PlacedColumns,
    assignment: np.ndarray,
) -> dict[int, int] | None:
    """Placed column counts of an assignment (adding its columns), or None when it is not a
    point of the master (a machine content the store or the group refuses)."""
    assignment = np.asarray(assignment)
    if np.any(assignment < 0):
        return None
    counts: dict[int, int] = {}
    for n, reps in residents(problem, assignment).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        g = int(groups.of_machine[n])
        if g < 0 or not is_configuration(problem, t, models):
            return None
        c = configs.add(problem, t, sorted(models))
        if c is None:
            return None
        j = placed.add(problem, groups, configs, g, c)
        if j is None:
            return None
        counts[j] = counts.get(j, 0) + 1
    return counts


def neighbour_columns(
    problem: Problem,
    groups: MachineGroups,
    configs: Configurations,
    placed: PlacedColumns,
    assignment: np.ndarray,
) -> int:
    """Columns one step from each machine content of ``assignment`` (a model added, removed or
    swapped for another), on the machine's group: what a restricted master needs to choose a
    few moves well when every configuration is too many. How many columns were new."""
    before = len(placed)
    allowed = problem.allowed
    for n, reps in residents(problem, np.asarray(assignment)).items():
        g = int(groups.of_machine[n])
        if g < 0:
            continue
        t = int(problem.machine_type[n])
        content = {int(problem.replica_model[r]) for r in reps}
        others = [m for m in np.flatnonzero(allowed[:, t]).tolist() if m not in content]
        candidates = [content | {m} for m in others]
        candidates += [content - {x} for x in content if len(content) > 1]
        candidates += [(content - {x}) | {m} for x in content for m in others]
        keys = [(t, tuple(sorted(c))) for c in candidates
                if group_takes(problem, groups, g, tuple(sorted(c)))]
        configs.add_many(problem, keys)
        for key in keys:
            c = configs.index.get(key)
            if c is not None:
                placed.add(problem, groups, configs, g, c)
    return len(placed) - before
