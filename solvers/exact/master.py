"""The configuration master of one lexicographic stage, built once, apart from any backend.

    x[c] in Z, 0 <= x[c] <= upper[c]        machines of type t(c) holding configuration c
    sum_{c ∋ m} x[c] = replicas[m]          every replica placed, on distinct machines
    sum_{c: t(c)=t} x[c] <= machines[t]     identical machines are never told apart
    sum_c g_c x[c] <= V_g + slack           every earlier linear goal g fixed at its optimum
    minimize sum_c cost[c] x[c]             or, for the max goal, max{worst[c] : x[c] > 0}

An earlier *max* goal fixed at ``V`` is not a row: every column above it gets ``upper = 0``.
The max goal itself is an epigraph: CP-SAT states it with enforced bounds over its own integer
scale; MILP backends take :meth:`Master.linear_form`, where indicators ``u[c]`` and ``z`` model
it (``x[c] <= upper[c] u[c]``, ``z >= worst[c] u[c]``, minimize ``z``).

The rows and the columns' entries are defined here once; the backends (CP-SAT, HiGHS, CBC) and
the column-generation LP (its relaxation, grown a block of columns at a time) translate them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from solvers.exact.columns import Configurations
from solvers.exact.goals import (
    column_worst,
    fixed_slack,
    is_linear,
    stage_coefficients,
)
from solvers.problem import Problem

INF = float("inf")


@dataclass(frozen=True)
class MasterRows:
    """The rows of a stage's master: coverage (one per model), machines (one per type), then one
    per earlier linear goal; and the cap an earlier max goal puts on columns."""

    lower: np.ndarray  # [R]
    upper: np.ndarray  # [R]
    names: tuple[str, ...]
    integral: np.ndarray  # [R] bool: integer coefficients and bounds (a CP-SAT row as it is)
    n_models: int
    n_types: int
    fixed_goals: tuple[str, ...]  # the goal of each fixed-goal row, in row order
    worst_cap: float | None  # columns whose worst degradation exceeds this are forbidden

    @property
    def n_rows(self) -> int:
        return int(self.lower.size)


def master_rows(problem: Problem, fixed: list[tuple[str, float]]) -> MasterRows:
    """The rows, for the earlier goals ``fixed`` as ``(goal, optimum)``."""
    M, T = problem.n_models, problem.n_types
    replicas = problem.replicas_per_model.astype(float)
    linear = [(goal, value) for goal, value in fixed if is_linear(goal)]
    caps = [value + fixed_slack(goal, value) for goal, value in fixed if not is_linear(goal)]
    lower = np.concatenate([replicas, np.full(T + len(linear), -INF)])
    upper = np.concatenate([
        replicas,
        problem.machines_per_type.astype(float),
        [value + fixed_slack(goal, value) for goal, value in linear],
    ])
    names = (
        *(f"cover_{m}" for m in range(M)),
        *(f"machines_{t}" for t in range(T)),
        *(f"fixed_{goal}" for goal, _ in linear),
    )
    integral = np.concatenate([np.ones(M + T, dtype=bool), np.zeros(len(linear), dtype=bool)])
    return MasterRows(
        lower, upper, names, integral, M, T, tuple(goal for goal, _ in linear),
        caps[0] if caps else None,
    )


def column_block(
    problem: Problem, configs: Configurations, rows: MasterRows, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of columns ``start:stop`` in compressed-column form ``(starts, index,
    value)``, rows ascending within a column: its members' coverage rows, its type's machine
    row, and every fixed goal it contributes to."""
    members = configs.members[start:stop]
    n = len(members)
    sizes = np.fromiter((len(ms) for ms in members), dtype=np.int64, count=n)
    row = [np.fromiter((m for ms in members for m in ms), dtype=np.int64, count=int(sizes.sum()))]
    col = [np.repeat(np.arange(n), sizes)]
    value = [np.ones(row[0].size)]
    row.append(rows.n_models + np.asarray(configs.types[start:stop], dtype=np.int64))
    col.append(np.arange(n))
    value.append(np.ones(n))
    for g, goal in enumerate(rows.fixed_goals):
        coef = stage_coefficients(problem, configs, goal)[start:stop]
        nz = np.flatnonzero(coef)
        row.append(np.full(nz.size, rows.n_models + rows.n_types + g))
        col.append(nz)
        value.append(coef[nz])
    return compressed(np.concatenate(row), np.concatenate(col), np.concatenate(value), n)


def compressed(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries ``(row, column, value)`` in compressed-column form, rows ascending per column."""
    order = np.lexsort((rows, cols))
    starts = np.zeros(n_cols + 1, dtype=np.int32)
    starts[1:] = np.cumsum(np.bincount(cols, minlength=n_cols))
    return starts, rows[order].astype(np.int32), values[order].astype(float)


def by_rows(
    starts: np.ndarray, index: np.ndarray, value: np.ndarray, n_rows: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Compressed columns read by rows: per row, its columns (ascending) and coefficients."""
    cols = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(n_rows + 1))
    cols, values = cols[order], value[order]
    return [(cols[bounds[r] : bounds[r + 1]], values[bounds[r] : bounds[r + 1]])
            for r in range(n_rows)]


def column_upper_bounds(problem: Problem, configs: Configurations, rows: MasterRows) -> np.ndarray:
    """A configuration is used on at most min(machines of its type, replicas of each member);
    on none when it breaks an earlier max goal."""
    counts = problem.replicas_per_model
    machines = problem.machines_per_type
    upper = np.array(
        [
            min(int(machines[t]), *(int(counts[m]) for m in ms))
            for t, ms in zip(configs.types, configs.members, strict=True)
        ],
        dtype=np.int64,
    )
    return np.where(forbidden(configs, rows, 0, len(configs)), 0, upper)


def forbidden(configs: Configurations, rows: MasterRows, start: int, stop: int) -> np.ndarray:
    """Columns ``start:stop`` an earlier max goal rules out (worst value above its optimum)."""
    if rows.worst_cap is None:
        return np.zeros(stop - start, dtype=bool)
    return column_worst(configs)[start:stop] > rows.worst_cap


@dataclass(frozen=True)
class LinearForm:
    """The master as one MILP in arrays (HiGHS's and PuLP's input): the columns ``x`` first, then
    for a max goal the indicators ``u`` (one per column in ``used``) and ``z``."""

    n_x: int
    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # [n_cols] bool
    col_names: list[str]
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_names: list[str]
    starts: np.ndarray  # compressed columns
    index: np.ndarray
    value: np.ndarray
    used: np.ndarray  # x columns with an indicator (max goal only)
    worst: np.ndarray | None

    @property
    def n_cols(self) -> int:
        return int(self.cost.size)

    def start_vector(self, counts: dict[int, int]) -> np.ndarray:
        """Every column's value for column counts (indicators and ``z`` follow from them)."""
        values = np.zeros(self.n_cols)
        for c, k in counts.items():
            values[c] = float(k)
        if self.worst is not None:
            for j, c in enumerate(self.used):
                values[self.n_x + j] = 1.0 if counts.get(int(c), 0) > 0 else 0.0
            values[-1] = max((self.worst[c] for c, k in counts.items() if k > 0), default=0.0)
        return values

    def row_entries(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per row, its columns (ascending) and their coefficients."""
        return by_rows(self.starts, self.index, self.value, self.row_lower.size)


@dataclass(frozen=True)
class Master:
    """One stage's master: rows, configuration columns (entries, bounds, all integer), costs."""

    rows: MasterRows
    starts: np.ndarray  # [C + 1] compressed columns
    index: np.ndarray  # [nnz] row of each entry
    value: np.ndarray  # [nnz]
    upper: np.ndarray  # [C] int64
    cost: np.ndarray  # [C] linear objective; zeros when the stage minimizes the max goal
    worst: np.ndarray | None  # [C] the max goal's column values when the stage minimizes it

    @property
    def n_columns(self) -> int:
        return int(self.upper.size)

    def row_entries(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per row, its columns (ascending) and their coefficients."""
        return by_rows(self.starts, self.index, self.value, self.rows.n_rows)

    def linear_form(self) -> LinearForm:
        """The MILP of this master (the max goal through indicators and an epigraph ``z``)."""
        C = self.n_columns
        rows = self.rows
        upper = self.upper.astype(float)
        row_lower, row_upper = list(rows.lower), list(rows.upper)
        row_names = list(rows.names)
        col_names = [f"x{c:07d}" for c in range(C)]
        integer = np.ones(C, dtype=bool)
        col_lower, col_upper, cost = np.zeros(C), upper, self.cost.astype(float)
        starts, index, value = self.starts, self.index, self.value
        used = np.zeros(0, dtype=np.int64)
        if self.worst is not None:
            worst = self.worst
            used = np.flatnonzero((worst > 0) & (upper > 0))
            k = used.size
            n = rows.n_rows
            # x_c - upper_c u_c <= 0 (row n + j); z - worst_c u_c >= 0 (row n + k + j)
            u, z = C + np.arange(k), C + k
            entry_cols = np.repeat(np.arange(C), np.diff(starts))
            starts, index, value = compressed(
                np.concatenate([index, n + np.arange(k), n + np.arange(k),
                                n + k + np.arange(k), n + k + np.arange(k)]),
                np.concatenate([entry_cols, used, u, u, np.full(k, z)]),
                np.concatenate([value, np.ones(k), -upper[used], -worst[used], np.ones(k)]),
                C + k + 1,
            )
            row_lower += [-INF] * k + [0.0] * k
            row_upper += [0.0] * k + [INF] * k
            row_names += [f"use_{c}" for c in used] + [f"worst_{c}" for c in used]
            col_names += [f"u{c:07d}" for c in used] + ["z_max_degradation"]
            integer = np.concatenate([integer, np.ones(k, dtype=bool), [False]])
            col_lower = np.concatenate([col_lower, np.zeros(k), [0.0]])
            col_upper = np.concatenate([col_upper, np.ones(k), [INF]])
            # the max through z, plus the columns' own costs (a move penalty)
            cost = np.concatenate([self.cost.astype(float), np.zeros(k), [1.0]])
        return LinearForm(
            C, cost, col_lower, col_upper, integer, col_names, np.asarray(row_lower, dtype=float),
            np.asarray(row_upper, dtype=float), row_names, starts, index, value, used,
            self.worst,
        )


def build_master(
    problem: Problem, configs: Configurations, stage: str, fixed: list[tuple[str, float]]
) -> Master:
    """The master of ``stage`` over every column of ``configs``, earlier goals ``fixed``."""
    rows = master_rows(problem, fixed)
    starts, index, value = column_block(problem, configs, rows, 0, len(configs))
    upper = column_upper_bounds(problem, configs, rows)
    if is_linear(stage):
        return Master(rows, starts, index, value, upper,
                      stage_coefficients(problem, configs, stage), None)
    return Master(rows, starts, index, value, upper, np.zeros(len(configs)),
                  column_worst(configs))


def residual(master: Master, fixed_counts: dict[int, int]) -> Master:
    """The master of what ``fixed_counts`` (columns already used that many times) leaves: every
    row's bounds less the fixed columns' activity, every column's upper bound less its fixed
    count. A solution of it plus ``fixed_counts`` is a solution of ``master`` (the rows are
    linear; an earlier max goal is a column bound, kept)."""
    x = np.zeros(master.n_columns)
    for c, k in fixed_counts.items():
        x[c] = float(k)
    cols = np.repeat(np.arange(master.n_columns), np.diff(master.starts))
    activity = np.bincount(master.index, weights=master.value * x[cols],
                           minlength=master.rows.n_rows)
    rows = replace(master.rows, lower=master.rows.lower - activity,
                   upper=master.rows.upper - activity)
    upper = np.maximum(master.upper - x.astype(np.int64), 0)
    return replace(master, rows=rows, upper=upper)
