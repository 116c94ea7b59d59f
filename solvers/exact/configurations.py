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

Small instances enumerate every configuration (the master is then exact). Large ones use column
generation (:mod:`solvers.exact.colgen`) with exact pricing: its Lagrangian bound is proved, and the
integer master over the generated columns is optimal when it meets that bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from solvers.metrics import residents
from solvers.problem import TOLERANCE, Problem
from solvers.result import Result

#: Beyond this many columns, enumeration stops and the caller switches to column generation.
#: Measured (benchmarks/results/exact): the 80x24 master (~93k columns) is enumerated in ~13 s
#: and proved optimal by HiGHS in ~2 s, CP-SAT ~14 s; 160x48 has millions.
DEFAULT_MAX_CONFIGURATIONS = 200_000
#: Measured cost of enumerating one configuration (its slowdowns, through the slowdown
#: function): ~140 us on generated instances. ``auto`` routing enumerates only what fits in
#: 35% of the time limit.
ENUMERATION_SECONDS = 1.5e-4


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


#: Configurations whose slowdowns are asked in one batch when the slowdown function has a batch
#: path (a learned predictor: one inference for thousands of sets).
PREFETCH_CHUNK = 4096


def prefetch_configurations(
    problem: Problem, items: Iterable[tuple[int, Iterable[int]]]
) -> int:
    """Ask the slowdown of every member of every ``(type, members)`` configuration in one batch
    (when the problem has a batch path; otherwise nothing: they are asked as needed)."""
    if problem.slowdown_batch_fn is None:
        return 0
    queries = []
    for t, members in items:
        everyone = frozenset(int(m) for m in members)
        if len(everyone) >= 2:
            queries += [(m, everyone - {m}, int(t)) for m in everyone]
    return problem.prefetch(queries)


def add_batch(
    problem: Problem, configs: Configurations, t: int, batch: list[tuple[int, ...]]
) -> None:
    """``configs.add`` for each configuration of ``batch`` (type ``t``), slowdowns prefetched."""
    prefetch_configurations(problem, ((t, ms) for ms in batch))
    for members in batch:
        configs.add(problem, t, members)


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
    batched = problem.slowdown_batch_fn is not None
    try:
        for t in range(problem.n_types):
            chunk: list[tuple[int, ...]] = []
            for members in _subsets(problem, t, max_configurations, budget, deadline):
                if not batched:
                    configs.add(problem, t, members)
                    continue
                chunk.append(members)
                if len(chunk) >= PREFETCH_CHUNK:
                    add_batch(problem, configs, t, chunk)
                    chunk = []
            if chunk:
                add_batch(problem, configs, t, chunk)
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
    problem: Problem,
    time_limit: float,
    seed: int,
    threads: int,
    starters: Sequence[Callable[..., Result]],
) -> np.ndarray | None:
    """The first feasible assignment of ``starters`` (solver functions, tried in order: local
    search, then greedy, as :mod:`solvers.catalog` composes them); hints and fallback for the
    exact solvers."""
    from solvers.metrics import violations

    for starter in starters:
        result = starter(problem, time_limit=time_limit, seed=seed, threads=threads)
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

    route = options.get("route", "auto")
    if route not in ("auto", "enumerate", "cg"):
        raise ValueError(f"route must be 'auto', 'enumerate' or 'cg' (got {route!r})")
    configs = None
    if route != "cg":
        limit = int(options.get("max_configurations", DEFAULT_MAX_CONFIGURATIONS))
        if route == "auto":
            # enumeration evaluates every configuration's slowdowns (~ENUMERATION_SECONDS each):
            # beyond what fits in a share of the limit, column generation does better
            limit = min(limit, max(1000, int(0.35 * time_limit / ENUMERATION_SECONDS)))
        configs = enumerate_configurations(
            problem, max_configurations=limit,
            deadline=start + (0.6 if route == "enumerate" else 0.4) * time_limit,
        )
    info["route"] = "enumerated" if configs is not None else "column-generation"
    # large instances lean on the warm start (its columns keep the restricted master feasible)
    share = 0.1 if configs is not None else 0.15
    warm_budget = float(options.get("warm_start_seconds", min(20.0, share * time_limit)))
    warm = None
    if options.get("warm_start", True):
        warm = warm_start(problem, warm_budget, seed, threads, options.get("starters", ()))
    if configs is None:
        configs = Configurations()
        from solvers.exact.colgen import add_assignment_columns

        # heuristics' machine contents as columns: the integer master is then feasible
        # whenever one of them is
        for assignment in heuristic_assignments(problem, seed, options.get("seeders", ())):
            add_assignment_columns(problem, configs, assignment)
        add_assignment_columns(problem, configs, warm)
    hint = counts_from_assignment(problem, configs, warm) if warm is not None else None
    if warm is not None and hint is None:
        warm = None  # the evaluator accepted it, the master would not: do not trust it
    info["warm_start"] = warm is not None

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
        if configs.complete:
            out = backend.solve_stage(problem, configs, stage, fixed, hint, max(0.05, share))
        else:
            out = _column_generation_stage(
                problem, configs, backend, stage, fixed, hint, max(0.05, share), options
            )
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
    info["columns"] = len(configs)
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
    # a stage's bound is valid lexicographically only if every earlier stage was proved
    earlier_proved = all(
        outcomes.get(s) is not None and outcomes[s].proved
        for s in plan[: plan.index(problem.objective)]
    )
    if primary is not None and primary.bound is not None and earlier_proved:
        bound = max(bound, primary.bound)
    if bound > objective:
        info["bound_clamped"] = bound  # rounding only; a real excess would be a bug
        bound = objective
    gap = relative_gap(objective, bound)
    optimal = all_proved and gap <= OPTIMALITY_GAP
    status = Status.OPTIMAL if optimal else Status.FEASIBLE
    return done(status, assignment, objective=objective, bound=bound, gap=gap)


def heuristic_assignments(
    problem: Problem, seed: int, seeders: Sequence[Callable[..., Result]]
) -> list[np.ndarray]:
    """Cheap heuristics' assignments (``seeders``: greedy, least-loaded, first-fit, as
    :mod:`solvers.catalog` composes them) that place everyone: their machines' contents seed the
    restricted master of column generation."""
    out = []
    for seeder in seeders:
        result = seeder(problem, time_limit=5.0, seed=seed)
        if result.assignment is not None and np.all(np.asarray(result.assignment) >= 0):
            out.append(np.asarray(result.assignment, dtype=np.int64))
    return out


def _column_generation_stage(
    problem: Problem,
    configs: Configurations,
    backend: MasterBackend,
    stage: str,
    fixed: list[tuple[str, float]],
    hint: dict[int, int] | None,
    time_limit: float,
    options: dict,
) -> StageOutcome:
    """One lexicographic stage without every column: column generation on the stage's LP with
    exact pricing (a proved Lagrangian bound), then the integer master over the generated
    columns (price-and-branch), diving on the LP if that finds nothing. ``proved`` only when
    the solution meets the proved bound."""
    from solvers.exact.colgen import ColumnGenerator, _meets, safe_bound

    start = time.perf_counter()
    deadline = start + time_limit
    # max degradation is not linear: mean degradation prices its columns, and bounds nothing
    pricing = stage if stage != "max_degradation" else "mean_degradation"
    generator = ColumnGenerator(problem, configs, pricing, fixed)
    target = stage_value(problem, configs, stage, hint) if hint else None
    cg = generator.run(
        start + float(options.get("cg_share", 0.6)) * time_limit,
        target=target if pricing == stage else None,
        node_budget=int(options.get("pricing_nodes", 20_000)),
    )
    info: dict = {"column_generation": cg.info}
    bound = safe_bound(stage, cg.bound) if cg.bound is not None and pricing == stage else None
    if bound is None:
        info["bound"] = (
            "none proved: "
            + ("max degradation is priced by mean degradation" if pricing != stage
               else "pricing did not complete a round" if cg.proved_pricing
               else "the slowdown structure was contradicted by the slowdown function")
        )
    if hint and bound is not None and _meets(stage, target, bound):
        info["proved_by"] = "warm start meets the Lagrangian bound"
        return StageOutcome(dict(hint), True, False, bound, [(0.0, target)], info=info)
    left = max(0.05, deadline - time.perf_counter())
    master_start = time.perf_counter() - start
    out = backend.solve_stage(problem, configs, stage, fixed, hint, left)
    info["restricted_master"] = {"proved": out.proved, **out.info}
    counts = out.counts
    if counts is None:
        generator.sync()
        dive = generator.dive(deadline)
        if dive is not None:
            counts = dive
            info["dive"] = True
    if counts is None:
        return StageOutcome(None, False, False, bound, info=info)
    value = stage_value(problem, configs, stage, counts)
    proved = bound is not None and _meets(stage, value, bound)
    incumbents = out.incumbents if out.counts is not None else [
        (time.perf_counter() - start, value)
    ]
    if out.counts is not None:  # the backend's times count from its own start
        incumbents = [(master_start + s, v) for s, v in incumbents]
    left = deadline - time.perf_counter()
    if not proved and pricing == stage and left > 2.0 and not info.get("dive"):
        # the time the integer master left: more pricing rounds, for a (better) proved bound
        # (only complete rounds give one); a quarter is kept for closing the gap
        more = generator.run(
            time.perf_counter() + 0.75 * left, target=value,
            node_budget=int(options.get("pricing_nodes", 20_000)),
        )
        info["more_column_generation"] = more.info
        if more.bound is not None:
            extra = safe_bound(stage, more.bound)
            bound = extra if bound is None else max(bound, extra)
            proved = _meets(stage, value, bound)
            if proved:
                info["proved_by"] = "incumbent meets the Lagrangian bound"
    if not proved and bound is not None and deadline - time.perf_counter() > 0.5:
        # close the gap: every column that could be in a better solution, then the integer
        # master over them is exact
        before = len(configs)
        if generator.columns_within(value - bound, deadline):
            info["gap_columns"] = len(configs) - before
            offset = time.perf_counter() - start
            again = backend.solve_stage(
                problem, configs, stage, fixed, counts, max(0.05, deadline - time.perf_counter())
            )
            info["gap_master"] = {"proved": again.proved, **again.info}
            if again.counts is not None:
                new_value = stage_value(problem, configs, stage, again.counts)
                if new_value <= value:
                    counts, value = again.counts, new_value
                    incumbents += [(offset + s, v) for s, v in again.incumbents]
            if again.proved:
                # optimal over a column set holding every column of any better solution
                proved, bound = True, min(value, again.bound if again.bound is not None
                                          else value)
            elif again.bound is not None:
                bound = max(bound, min(value, again.bound))
        else:
            info["gap_columns"] = "too many or out of time"
    return StageOutcome(counts, proved, False, bound, incumbents, info=info)
