"""Configurations (what one machine holds) with exact costs: the columns of both exact solvers.

A *configuration* of machine type ``t`` is a set of distinct models that fits one machine of
``t`` (every resource, and ``max_models_per_machine``), each allowed on ``t``. Its cost under
every objective is computed once, exactly, with ``problem.slowdown`` on the *whole* set, so
set-wise entries, composition rules and learned predictors are all honoured: nothing here
assumes slowdowns are pairwise or monotone in the set.

Both ``cpsat`` and ``milp`` solve the same set-partitioning master over these columns (see
``docs/formulations.md``):

    x[c] in Z+            machines of type t(c) holding exactly configuration c
    sum_{c ∋ m} x[c] = replicas[m]          every replica placed, on distinct machines
    sum_{c: t(c)=t} x[c] <= machines[t]     identical machines are never told apart

Small instances enumerate every configuration (the master is then exact). Large ones fall back
to column generation (:func:`generate_columns`), whose integer master is a heuristic unless
its pricing was proved complete.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from solvers.metrics import residents
from solvers.problem import TOLERANCE, Problem

#: Beyond this many columns, enumeration stops and the caller switches to column generation.
DEFAULT_MAX_CONFIGURATIONS = 60_000


@dataclass
class Configurations:
    """Columns of the master, one entry per configuration (parallel arrays)."""

    types: list[int] = field(default_factory=list)
    members: list[tuple[int, ...]] = field(default_factory=list)
    degradation: list[float] = field(default_factory=list)  # sum_m weight_m (s_m - 1), mean-weights
    added_latency: list[float] = field(default_factory=list)  # sum_m weight_m solo_m (s_m - 1)
    max_degradation: list[float] = field(default_factory=list)  # max_m (s_m - 1)
    violations: list[int] = field(default_factory=list)  # members whose latency misses the SLO
    cost: list[float] = field(default_factory=list)  # cost_per_hour of the machine
    complete: bool = False  # True: every usable configuration of the problem is here
    index: dict[tuple[int, tuple[int, ...]], int] = field(default_factory=dict)
    weights: list[float] | None = None  # the mean-degradation weights, computed once

    def __len__(self) -> int:
        return len(self.members)

    def add(self, problem: Problem, t: int, members: Iterable[int]) -> int | None:
        """Add a configuration (exact costs); its column index, or None when unusable
        (a member misses its SLO under hard SLOs)."""
        key = (int(t), tuple(sorted(int(m) for m in members)))
        if key in self.index:
            return self.index[key]
        if self.weights is None:
            self.weights = _weights_of(problem)
        costs = configuration_costs(problem, key[0], key[1], self.weights)
        if costs is None or (problem.slo_mode == "hard" and costs.violations > 0):
            return None
        c = len(self.members)
        self.index[key] = c
        self.types.append(key[0])
        self.members.append(key[1])
        self.degradation.append(costs.degradation)
        self.added_latency.append(costs.added_latency)
        self.max_degradation.append(costs.max_degradation)
        self.violations.append(costs.violations)
        self.cost.append(costs.cost)
        return c


@dataclass(frozen=True)
class ConfigurationCosts:
    degradation: float
    added_latency: float
    max_degradation: float
    violations: int
    cost: float


def mean_weights(problem: Problem) -> tuple[np.ndarray, float]:
    """Per-model weights and the denominator of the evaluator's mean degradation (it falls back
    to the unweighted mean when every weight is 0)."""
    counts = problem.replicas_per_model
    total = float((problem.weight * counts).sum())
    if total > 0:
        return problem.weight.astype(float), total
    return np.ones(problem.n_models), float(max(1, counts.sum()))


def configuration_costs(
    problem: Problem, t: int, members: tuple[int, ...], weights: list[float] | None = None
) -> ConfigurationCosts | None:
    """Exact costs of one machine of type ``t`` holding ``members``, via ``problem.slowdown``.

    None under hard SLOs as soon as one member misses its SLO (the rest need not be asked:
    the oracle can be slow, a learned predictor even more so)."""
    if weights is None:
        weights = _weights_of(problem)
    hard = problem.slo_mode == "hard"
    everyone = frozenset(members)
    degradation = added = worst = 0.0
    violations = 0
    for m in members:
        s = problem.slowdown(m, everyone - {m}, t)
        solo = float(problem.solo_latency[m, t])
        if solo * s > problem.slo[m] + TOLERANCE:
            if hard:
                return None
            violations += 1
        d = s - 1.0
        degradation += weights[m] * d
        added += problem.weight[m] * (solo * s - solo)
        worst = max(worst, d)
    return ConfigurationCosts(degradation, added, worst, violations, float(problem.cost[t]))


def _weights_of(problem: Problem) -> list[float]:
    return [float(w) for w in mean_weights(problem)[0]]


def candidates(problem: Problem, t: int) -> list[int]:
    """Models that may appear in a configuration of type ``t``: allowed there, fitting alone and,
    under hard SLOs, meeting the SLO alone (slowdown >= 1, so no co-runner can help)."""
    if problem.machines_per_type[t] == 0:
        return []
    out = []
    counts = problem.replicas_per_model
    for m in range(problem.n_models):
        if counts[m] == 0 or not problem.allowed[m, t]:
            continue
        if not np.all(problem.requests[m] <= problem.capacity[t] + TOLERANCE):
            continue
        if problem.slo_mode == "hard" and problem.solo_latency[m, t] > problem.slo[m] + TOLERANCE:
            continue
        out.append(m)
    return out


class TooMany(Exception):
    """Enumeration exceeded its column budget or its deadline."""


def _subsets(problem: Problem, t: int, limit: int, budget: list[int], deadline: float):
    """Every non-empty subset of candidates fitting one machine of ``t`` (capacity and the
    per-machine limit only: the only pruning that is valid for arbitrary set slowdowns)."""
    models = candidates(problem, t)
    req = [tuple(float(v) for v in problem.requests[m]) for m in range(problem.n_models)]
    cap = tuple(float(v) + TOLERANCE for v in problem.capacity[t])
    slots = problem.slot_limit

    def dfs(start: int, chosen: list[int], used: tuple[float, ...]):
        for i in range(start, len(models)):
            m = models[i]
            new = tuple(u + r for u, r in zip(used, req[m], strict=True))
            if any(n > c for n, c in zip(new, cap, strict=True)):
                continue
            chosen.append(m)
            budget[0] += 1
            if budget[0] > limit:
                raise TooMany
            if budget[0] % 2048 == 0 and time.perf_counter() > deadline:
                raise TooMany
            yield tuple(chosen)
            if len(chosen) < slots:
                yield from dfs(i + 1, chosen, new)
            chosen.pop()

    yield from dfs(0, [], tuple(0.0 for _ in cap))


def enumerate_configurations(
    problem: Problem, *, max_configurations: int = DEFAULT_MAX_CONFIGURATIONS, deadline: float
) -> Configurations | None:
    """Every usable configuration with exact costs, or None when there are more than
    ``max_configurations`` subsets to look at (or the deadline passes)."""
    # count first (capacity only, no slowdown calls: cheap) so that a hopeless enumeration
    # costs a fraction of a second, not the time limit
    budget = [0]
    try:
        for t in range(problem.n_types):
            for _ in _subsets(problem, t, max_configurations, budget, deadline):
                pass
    except TooMany:
        return None
    configs = Configurations()
    budget = [0]
    try:
        for t in range(problem.n_types):
            for members in _subsets(problem, t, max_configurations, budget, deadline):
                configs.add(problem, t, members)
    except TooMany:
        return None
    configs.complete = True
    return configs


# ---------------------------------------------------------------------------- stages
def stages(problem: Problem) -> list[str]:
    """The lexicographic goals, most important first (SPEC: soft SLOs count violations first;
    ties and the second goal of machines/cost go to the lowest mean degradation)."""
    out = []
    if problem.slo_mode == "soft":
        out.append("violations")
    out.append(problem.objective)
    if problem.objective != "mean_degradation":
        out.append("mean_degradation")
    return out


def stage_coefficients(problem: Problem, configs: Configurations, stage: str) -> np.ndarray:
    """Per-column contribution to a linear goal (``max_degradation`` is not linear: callers
    model it with an epigraph variable over :attr:`Configurations.max_degradation`)."""
    if stage == "violations":
        return np.asarray(configs.violations, dtype=float)
    if stage == "mean_degradation":
        return np.asarray(configs.degradation, dtype=float) / mean_weights(problem)[1]
    if stage == "added_latency":
        return np.asarray(configs.added_latency, dtype=float)
    if stage == "machines":
        return np.ones(len(configs))
    if stage == "cost":
        return np.asarray(configs.cost, dtype=float)
    raise ValueError(f"stage {stage!r} has no linear coefficients")


def column_upper_bounds(problem: Problem, configs: Configurations) -> np.ndarray:
    """A configuration is used on at most min(machines of its type, replicas of each member)."""
    counts = problem.replicas_per_model
    machines = problem.machines_per_type
    return np.array(
        [
            min(int(machines[t]), *(int(counts[m]) for m in ms))
            for t, ms in zip(configs.types, configs.members, strict=True)
        ],
        dtype=np.int64,
    )


# ---------------------------------------------------------------------------- mapping
def assignment_from_counts(
    problem: Problem, configs: Configurations, counts: dict[int, int]
) -> np.ndarray:
    """A replica -> machine assignment realizing ``counts`` (column -> machines using it).

    Machines of a type are interchangeable, so each type's machines are filled in index order;
    a configuration holds each model once, so a model's replicas land on distinct machines."""
    assignment = np.full(problem.n_replicas, -1, dtype=np.int64)
    free_machines = {
        t: list(np.flatnonzero(problem.machine_type == t)[::-1]) for t in range(problem.n_types)
    }
    free_replicas = {
        m: list(np.flatnonzero(problem.replica_model == m)[::-1]) for m in range(problem.n_models)
    }
    for c in sorted(counts):
        for _ in range(int(counts[c])):
            n = free_machines[configs.types[c]].pop()
            for m in configs.members[c]:
                assignment[free_replicas[m].pop()] = n
    return assignment


def counts_from_assignment(
    problem: Problem, configs: Configurations, assignment: np.ndarray
) -> dict[int, int] | None:
    """Column counts of an assignment (adding its configurations as columns), or None when the
    assignment is not a valid point of the master (e.g. it breaks a hard SLO or a capacity)."""
    counts: dict[int, int] = {}
    if np.any(np.asarray(assignment) < 0):
        return None
    for n, reps in residents(problem, np.asarray(assignment)).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        if len(set(models)) != len(models) or not problem.fits(models, t):
            return None
        if not all(problem.allowed[m, t] for m in models):
            return None
        c = configs.add(problem, t, models)
        if c is None:
            return None
        counts[c] = counts.get(c, 0) + 1
    return counts


# ---------------------------------------------------------------------------- bounds
def trivial_bound(problem: Problem) -> float:
    """A lower bound on the primary objective that needs no search (used when the master is
    restricted and its own bound is not valid)."""
    if problem.objective in ("mean_degradation", "added_latency", "max_degradation"):
        return 0.0
    # machines / cost: each resource's total request must fit the capacity of the machines
    # used; a fractional knapsack over types (cheapest capacity first) bounds it from below.
    demand = problem.requests[problem.replica_model].sum(axis=0)
    per_machine = (
        np.ones(problem.n_types) if problem.objective == "machines" else problem.cost.astype(float)
    )
    best = float(max(problem.replicas_per_model, default=0) > 0)
    if problem.objective == "machines":
        best = float(max(problem.replicas_per_model, default=0))
    for k in range(demand.shape[0]):
        need = demand[k]
        if need <= TOLERANCE:
            continue
        order = sorted(
            (t for t in range(problem.n_types) if problem.capacity[t, k] > 0),
            key=lambda t: per_machine[t] / problem.capacity[t, k],
        )
        total = 0.0
        for t in order:
            take = min(float(problem.machines_per_type[t]), need / problem.capacity[t, k])
            total += take * per_machine[t]
            need -= take * problem.capacity[t, k]
            if need <= TOLERANCE:
                break
        if problem.objective == "machines":
            total = math.ceil(total - 1e-9)
        best = max(best, total)
    return best


# ---------------------------------------------------------------------------- column generation
@dataclass
class ColumnGeneration:
    configs: Configurations
    lp_value: float | None  # restricted master LP optimum at the end
    bound: float | None  # Lagrangian (Farley) bound, only when a pricing round was complete
    rounds: int
    complete_pricing: bool


def generate_columns(
    problem: Problem,
    configs: Configurations,
    *,
    stage: str,
    deadline: float,
    node_budget: int = 20_000,
    columns_per_round: int = 30,
) -> ColumnGeneration:
    """Column generation for the LP relaxation of the master on one linear goal.

    Restricted master LP with HiGHS (artificial columns of big cost keep it feasible); pricing
    by DFS over each type's candidates, costs computed exactly for every set it looks at. The
    reduced cost of a set S on type t is cost(S) - sum_{m in S} pi_m - mu_t; cost(S) >= 0 for
    every goal, so a branch is cut when the best possible dual mass of its completion cannot
    make it negative: a valid prune even for non-monotone set slowdowns. When a round explores
    every type within ``node_budget`` nodes, pricing is exact and the Lagrangian bound
    ``sum_m pi_m r_m + sum_t N_t min(0, min rc_t)`` is a proved lower bound on the goal.
    """
    import highspy

    counts = problem.replicas_per_model
    machines = problem.machines_per_type
    weights_denominator = mean_weights(problem)[1]
    M, T = problem.n_models, problem.n_types
    cand = [candidates(problem, t) for t in range(T)]

    def column_cost(c: int) -> float:
        if stage == "violations":
            return float(configs.violations[c])
        if stage == "mean_degradation":
            return configs.degradation[c] / weights_denominator
        if stage == "added_latency":
            return configs.added_latency[c]
        if stage == "machines":
            return 1.0
        if stage == "cost":
            return configs.cost[c]
        raise ValueError(stage)

    # singletons first: together with artificials they make the restricted master feasible
    for t in range(T):
        for m in cand[t]:
            configs.add(problem, t, (m,))

    # artificial columns must cost more than any real cover, but not so much that their duals
    # drown the pricing (every set then looks improving and the DFS cannot prune)
    big = 10.0 * max(
        [1.0] + [abs(column_cost(c)) for c in range(len(configs))]
    ) * max(1, problem.slot_limit)
    best_bound: float | None = None
    lp_value: float | None = None
    rounds = 0
    complete = False
    while time.perf_counter() < deadline:
        rounds += 1
        highspy.Highs.resetGlobalScheduler(True)  # see solvers.milp: one scheduler per process
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("time_limit", max(0.1, deadline - time.perf_counter()))
        inf = highspy.kHighsInf
        # rows: M coverage (= r_m), then T machine rows (<= N_t)
        for m in range(M):
            h.addRow(float(counts[m]), float(counts[m]), 0, [], [])
        for t in range(T):
            h.addRow(-inf, float(machines[t]), 0, [], [])
        for m in range(M):  # artificial: covers a replica at a prohibitive price
            h.addCol(big, 0.0, inf, 1, [m], [1.0])
        for c in range(len(configs)):
            rows = [*configs.members[c], M + configs.types[c]]
            h.addCol(column_cost(c), 0.0, inf, len(rows), rows, [1.0] * len(rows))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        lp_value = float(h.getInfo().objective_function_value)
        duals = list(h.getSolution().row_dual)
        pi = np.array(duals[:M])
        mu = np.array(duals[M:])
        found: list[tuple[float, int, tuple[int, ...]]] = []
        min_rc = np.zeros(T)
        exhausted = True
        for t in range(T):
            nodes = [0]  # a budget per type, so one large type cannot starve the others
            rc_t, new, done = _price(
                problem, t, cand[t], pi, float(mu[t]), configs, column_cost_of=stage,
                denominator=weights_denominator, node_budget=node_budget, nodes=nodes,
                deadline=deadline,
            )
            min_rc[t] = min(0.0, rc_t)
            exhausted &= done
            found += [(rc, t, ms) for rc, ms in new]
        if exhausted:
            complete = True
            # relax the coverage rows only: L(pi) = pi.r + sum_t N_t min(0, min_S cost(S) - pi(S))
            lagrange = float(pi @ counts) + float((machines * min_rc).sum())
            best_bound = lagrange if best_bound is None else max(best_bound, lagrange)
        found.sort()
        added = 0
        for _rc, t, ms in found[: columns_per_round * T]:
            before = len(configs)
            configs.add(problem, t, ms)
            added += len(configs) - before
        if added == 0:
            break
    return ColumnGeneration(configs, lp_value, best_bound, rounds, complete)


def _price(
    problem: Problem,
    t: int,
    models: list[int],
    pi: np.ndarray,
    mu: float,
    configs: Configurations,
    *,
    column_cost_of: str,
    denominator: float,
    node_budget: int,
    nodes: list[int],
    deadline: float,
    max_found: int = 200,
) -> tuple[float, list[tuple[float, tuple[int, ...]]], bool]:
    """Most negative reduced costs ``cost(S) - pi(S)`` of sets on type ``t`` (mu_t excluded, the
    Lagrangian bound wants it so), the sets with ``cost(S) - pi(S) - mu < 0`` and whether the
    search was complete."""
    req = problem.requests
    cap = problem.capacity[t] + TOLERANCE
    slots = problem.slot_limit
    order = sorted(models, key=lambda m: -pi[m])
    weights = _weights_of(problem)
    positive = [max(0.0, pi[m]) for m in order]
    best = 0.0  # the empty set
    found: list[tuple[float, tuple[int, ...]]] = []
    complete = True

    def cost_of(ms: tuple[int, ...]) -> float | None:
        costs = configuration_costs(problem, t, ms, weights)
        if costs is None:
            return None
        return {
            "violations": float(costs.violations),
            "mean_degradation": costs.degradation / denominator,
            "added_latency": costs.added_latency,
            "machines": 1.0,
            "cost": costs.cost,
        }[column_cost_of]

    def dfs(start: int, chosen: list[int], used: np.ndarray, dual_mass: float) -> None:
        nonlocal best, complete
        for i in range(start, len(order)):
            if not complete:
                return
            # cost >= 0, so the best this branch can reach is -(dual mass + top remaining duals)
            room = slots - len(chosen)
            optimistic = dual_mass + sum(positive[i : i + room])
            # nothing below: neither a better minimum (for the bound) nor a column (rc < mu)
            if -optimistic >= max(best, mu) - 1e-12:
                return
            m = order[i]
            new = used + req[m]
            if np.any(new > cap):
                continue
            nodes[0] += 1
            if nodes[0] > node_budget or (nodes[0] % 1024 == 0 and time.perf_counter() > deadline):
                complete = False
                return
            chosen.append(m)
            ms = tuple(sorted(chosen))
            cost = cost_of(ms)
            if cost is not None:
                rc = cost - (dual_mass + pi[m])
                best = min(best, rc)
                if rc - mu < -1e-9 and (t, ms) not in configs.index:
                    found.append((rc - mu, ms))
                    if len(found) >= max_found:  # enough for this round; bound not proved
                        complete = False
                        return
            if len(chosen) < slots:
                dfs(i + 1, chosen, new, dual_mass + pi[m])
            chosen.pop()

    dfs(0, [], np.zeros(req.shape[1]), 0.0)
    return best, found, complete


# ---------------------------------------------------------------------------- the shared driver
@dataclass
class StageOutcome:
    """What a backend reports for one lexicographic stage."""

    counts: dict[int, int] | None  # column -> machines; None when no solution was found
    proved: bool  # the backend's own status says optimal (for this stage)
    infeasible: bool  # the backend proved the stage model has no solution
    bound: float | None  # proved lower bound on the stage goal, in true (unscaled) units
    incumbents: list[tuple[float, float]] = field(default_factory=list)  # (seconds, value)
    info: dict = field(default_factory=dict)


class MasterBackend:
    """One way to solve the master for one stage (CP-SAT, PuLP+HiGHS, PuLP+CBC)."""

    name = "backend"

    def solve_stage(
        self,
        problem: Problem,
        configs: Configurations,
        stage: str,
        fixed: list[tuple[str, float]],
        hint: dict[int, int] | None,
        time_limit: float,
    ) -> StageOutcome:  # pragma: no cover - interface
        raise NotImplementedError


def stage_value(
    problem: Problem, configs: Configurations, stage: str, counts: dict[int, int]
) -> float:
    """A goal's value for column counts (true units); equals the evaluator's on the assignment."""
    if stage == "max_degradation":
        return max((configs.max_degradation[c] for c, k in counts.items() if k > 0), default=0.0)
    coef = stage_coefficients(problem, configs, stage)
    return float(sum(coef[c] * k for c, k in counts.items()))


def fixed_slack(stage: str, value: float) -> float:
    """Room left on an earlier goal when it is fixed for the next stage: integer goals get none;
    float goals a hair, so float ties the evaluator treats as equal are not cut off."""
    if stage in ("violations", "machines"):
        return 1e-6
    return 1e-9 + 1e-9 * abs(value)


def strictly_better(a: tuple, b: tuple, tol: float = 1e-9) -> bool:
    """Lexicographic a < b, ignoring float noise (equal sums in another order are a tie)."""
    for x, y in zip(a, b, strict=True):
        if x < y - tol * max(1.0, abs(y)):
            return True
        if x > y + tol * max(1.0, abs(y)):
            return False
    return False


def warm_start(
    problem: Problem, time_limit: float, seed: int, threads: int
) -> np.ndarray | None:
    """An assignment from ``local-search`` (or ``greedy``) when those solvers exist and find one
    that is feasible; hints and fallback for the exact solvers."""
    from solvers import registry
    from solvers.metrics import violations

    for name in ("local-search", "greedy"):
        try:
            result = registry.run(name, problem, time_limit=time_limit, seed=seed, threads=threads)
        except (ImportError, KeyError):
            continue
        if result.assignment is not None and not violations(problem, result.assignment):
            return np.asarray(result.assignment, dtype=np.int64)
    return None


def solve_exact(
    problem: Problem,
    backend: MasterBackend,
    *,
    solver: str,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    **options,
):
    """The exact solvers' common path: diagnose, build columns, warm start, lexicographic stages,
    map back, and recompute every figure with the one evaluator."""
    from solvers.diagnosis import diagnose, no_solution_message
    from solvers.metrics import evaluate_assignment, sort_key, violations
    from solvers.result import OPTIMALITY_GAP, Result, Status, relative_gap

    start = time.perf_counter()
    deadline = start + time_limit
    info: dict = {"solver": solver, "backend": backend.name}

    def done(status: Status, assignment: np.ndarray | None, **kw) -> Result:
        return Result(status, assignment, seconds=time.perf_counter() - start, info=info, **kw)

    reasons = diagnose(problem)
    if reasons:
        info["diagnosis"] = reasons
        return done(Status.INFEASIBLE, None)

    configs = enumerate_configurations(
        problem,
        max_configurations=int(options.get("max_configurations", DEFAULT_MAX_CONFIGURATIONS)),
        deadline=start + 0.4 * time_limit,
    )
    info["route"] = "enumerated" if configs is not None else "column-generation"
    # large instances lean on the warm start (its columns keep the restricted master feasible)
    share = 0.1 if configs is not None else 0.25
    warm_budget = float(options.get("warm_start_seconds", min(30.0, share * time_limit)))
    warm = None
    if options.get("warm_start", True):
        warm = warm_start(problem, warm_budget, seed, threads)
    if configs is None:
        configs = Configurations()
    hint = counts_from_assignment(problem, configs, warm) if warm is not None else None
    if warm is not None and hint is None:
        warm = None  # the evaluator accepted it, the master would not: do not trust it
    info["warm_start"] = warm is not None

    colgen: ColumnGeneration | None = None
    if not configs.complete:
        pricing_stage = problem.objective if problem.objective != "max_degradation" else (
            "mean_degradation"
        )
        colgen = generate_columns(
            problem, configs, stage=pricing_stage,
            deadline=time.perf_counter() + 0.3 * max(0.0, deadline - time.perf_counter()),
        )
        info["column_generation"] = {
            "rounds": colgen.rounds,
            "complete_pricing": colgen.complete_pricing,
            "lp_value": colgen.lp_value,
            "lagrangian_bound": colgen.bound,
        }
    info["columns"] = len(configs)

    plan = stages(problem)
    fixed: list[tuple[str, float]] = []
    counts: dict[int, int] | None = None
    outcomes: dict[str, StageOutcome] = {}
    all_proved = True
    for i, stage in enumerate(plan):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05 and counts is not None:
            all_proved = False
            break
        share = remaining if i == len(plan) - 1 else remaining * 0.7
        stage_start = time.perf_counter() - start
        out = backend.solve_stage(problem, configs, stage, fixed, hint, max(0.05, share))
        out.incumbents = [(stage_start + s, v) for s, v in out.incumbents]
        outcomes[stage] = out
        if out.infeasible and counts is None:
            if configs.complete:
                info["diagnosis"] = no_solution_message(problem, [], proved=True)
                return done(Status.INFEASIBLE, None)
            break
        if out.counts is None:
            all_proved = False
            break
        counts = hint = out.counts
        fixed.append((stage, stage_value(problem, configs, stage, counts)))
        if not out.proved:
            all_proved = False
            break
    info["stages"] = {
        s: {"proved": o.proved, "bound": o.bound, **o.info} for s, o in outcomes.items()
    }
    primary = outcomes.get(problem.objective)
    if primary is not None:
        info["incumbents"] = primary.incumbents

    assignment = assignment_from_counts(problem, configs, counts) if counts is not None else None
    if assignment is not None and violations(problem, assignment):
        info["master_error"] = violations(problem, assignment)[:5]
        assignment = None
    if warm is not None and (
        assignment is None
        or strictly_better(
            sort_key(problem, evaluate_assignment(problem, warm)),
            sort_key(problem, evaluate_assignment(problem, assignment)),
        )
    ):
        # a time-limited master may end worse than its own hint; never return worse than it
        assignment, all_proved = warm, False
        info["returned_warm_start"] = True
    if assignment is None:
        info["diagnosis"] = no_solution_message(problem, [], proved=False)
        return done(Status.UNKNOWN, None)

    metrics = evaluate_assignment(problem, assignment)
    objective = metrics.objective(problem.objective)
    bound = trivial_bound(problem)
    # the stage bound is valid lexicographically only if every earlier stage was proved
    earlier_proved = all(
        outcomes.get(s) is not None and outcomes[s].proved
        for s in plan[: plan.index(problem.objective)]
    )
    if configs.complete and primary is not None and primary.bound is not None and earlier_proved:
        bound = max(bound, primary.bound)
    elif (
        colgen is not None and colgen.bound is not None and problem.slo_mode == "hard"
        and problem.objective != "max_degradation"
    ):
        bound = max(bound, colgen.bound)
    if bound > objective:
        info["bound_clamped"] = bound  # rounding only; a real excess would be a bug
        bound = objective
    gap = relative_gap(objective, bound)
    optimal = all_proved and gap <= OPTIMALITY_GAP and (configs.complete or len(plan) == 1)
    status = Status.OPTIMAL if optimal else Status.FEASIBLE
    return done(status, assignment, objective=objective, bound=bound, gap=gap)
