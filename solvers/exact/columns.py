"""The columns of the exact master: machine configurations with exact costs, and their store.

A *configuration* of machine type ``t`` is a set of distinct models that fits one machine of
``t`` (every resource, and ``max_models_per_machine``), each allowed on ``t``. Its cost under
every goal is computed once, exactly, with ``problem.slowdown`` on the *whole* set, so
set-wise entries, composition rules and learned predictors are all honoured: nothing here
assumes slowdowns are pairwise or monotone in the set.

Small instances enumerate every configuration (:func:`enumerate_configurations`; the master is
then exact); large ones grow the store by column generation (:mod:`solvers.exact.colgen`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from solvers.metrics import residents
from solvers.problem import TOLERANCE, Problem

#: Beyond this many columns, enumeration stops and the caller switches to column generation.
#: Measured (benchmarks/results/exact): the 80x24 master (~93k columns) is enumerated in ~13 s
#: and proved optimal by HiGHS in ~2 s, CP-SAT ~14 s; 160x48 has millions.
DEFAULT_MAX_CONFIGURATIONS = 200_000
#: Measured cost of enumerating one configuration (its slowdowns, through the slowdown
#: function): ~140 us on generated instances. ``auto`` routing enumerates only what fits in
#: 35% of the time limit.
ENUMERATION_SECONDS = 1.5e-4
#: Configurations whose slowdowns are asked in one batch when the slowdown function has a batch
#: path (a learned predictor: one inference for thousands of sets).
PREFETCH_CHUNK = 4096


@dataclass(frozen=True)
class ConfigurationCosts:
    """What one machine holding a configuration contributes to each goal."""

    degradation: float  # sum_m weight_m (s_m - 1), mean-degradation weights (not yet divided)
    added_latency: float  # sum_m weight_m solo_m (s_m - 1)
    max_degradation: float  # max_m (s_m - 1)
    violations: int  # members whose latency misses the SLO
    cost: float  # cost_per_hour of the machine


def mean_weights(problem: Problem) -> tuple[np.ndarray, float]:
    """Per-model weights and the denominator of the evaluator's mean degradation (it falls back
    to the unweighted mean when every weight is 0)."""
    counts = problem.replicas_per_model
    total = float((problem.weight * counts).sum())
    if total > 0:
        return problem.weight.astype(float), total
    return np.ones(problem.n_models), float(max(1, counts.sum()))


def degradation_weights(problem: Problem) -> list[float]:
    """The mean-degradation weight of each model as plain floats (the cost loop's inputs)."""
    return [float(w) for w in mean_weights(problem)[0]]


def configuration_costs(
    problem: Problem, t: int, members: tuple[int, ...], weights: list[float] | None = None
) -> ConfigurationCosts | None:
    """Exact costs of one machine of type ``t`` holding ``members``, via ``problem.slowdown``.

    None under hard SLOs as soon as one member misses its SLO (the rest need not be asked:
    the oracle can be slow, a learned predictor even more so)."""
    if weights is None:
        weights = degradation_weights(problem)
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


@dataclass
class Configurations:
    """The column store: one entry per configuration (parallel lists), each added once."""

    types: list[int] = field(default_factory=list)
    members: list[tuple[int, ...]] = field(default_factory=list)
    degradation: list[float] = field(default_factory=list)
    added_latency: list[float] = field(default_factory=list)
    max_degradation: list[float] = field(default_factory=list)
    violations: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
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
            self.weights = degradation_weights(problem)
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

    def add_many(self, problem: Problem, columns: list[tuple[int, tuple[int, ...]]]) -> int:
        """Add ``(type, members)`` columns, their slowdowns asked in one batch; how many were
        new."""
        before = len(self)
        prefetch_configurations(problem, columns)
        for t, members in columns:
            self.add(problem, t, members)
        return len(self) - before


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


# ---------------------------------------------------------------------------- enumeration
class TooManyConfigurations(Exception):
    """Enumeration exceeded its column budget or its deadline."""


def fitting_subsets(
    problem: Problem, t: int, limit: int, budget: list[int], deadline: float
) -> Iterator[tuple[int, ...]]:
    """Every non-empty subset of ``t``'s candidates fitting one machine of ``t`` (capacity and the
    per-machine limit only: the only pruning valid for arbitrary set slowdowns). ``budget[0]``
    counts the subsets yielded across calls; past ``limit`` or ``deadline`` it raises
    :class:`TooManyConfigurations`."""
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
                raise TooManyConfigurations
            if budget[0] % 2048 == 0 and time.perf_counter() > deadline:
                raise TooManyConfigurations
            yield tuple(chosen)
            if len(chosen) < slots:
                yield from dfs(i + 1, chosen, new)
            chosen.pop()

    yield from dfs(0, [], tuple(0.0 for _ in cap))


def count_configurations(problem: Problem, limit: int, deadline: float) -> int | None:
    """Capacity-feasible configurations over all types, or None beyond ``limit`` or past the
    deadline (cheap: no slowdown is evaluated)."""
    budget = [0]
    try:
        for t in range(problem.n_types):
            for _ in fitting_subsets(problem, t, limit, budget, deadline):
                pass
    except TooManyConfigurations:
        return None
    return budget[0]


def enumerate_configurations(
    problem: Problem, *, max_configurations: int = DEFAULT_MAX_CONFIGURATIONS, deadline: float
) -> Configurations | None:
    """Every usable configuration with exact costs, or None when there are more than
    ``max_configurations`` subsets to look at (or the deadline passes)."""
    # count first (capacity only, no slowdown calls: cheap) so that a hopeless enumeration
    # costs a fraction of a second, not the time limit
    if count_configurations(problem, max_configurations, deadline) is None:
        return None
    configs = Configurations()
    budget = [0]
    batched = problem.slowdown_batch_fn is not None
    try:
        for t in range(problem.n_types):
            chunk: list[tuple[int, tuple[int, ...]]] = []
            for members in fitting_subsets(problem, t, max_configurations, budget, deadline):
                if not batched:
                    configs.add(problem, t, members)
                    continue
                chunk.append((t, members))
                if len(chunk) >= PREFETCH_CHUNK:
                    configs.add_many(problem, chunk)
                    chunk = []
            if chunk:
                configs.add_many(problem, chunk)
    except TooManyConfigurations:
        return None
    configs.complete = True
    return configs


# ---------------------------------------------------------------------------- machine contents
def machine_contents(problem: Problem, assignment: np.ndarray) -> Iterator[tuple[int, list[int]]]:
    """``(type, models)`` of every machine in use by ``assignment``, machine order."""
    for n, reps in residents(problem, np.asarray(assignment)).items():
        yield int(problem.machine_type[n]), [int(problem.replica_model[r]) for r in reps]


def is_configuration(problem: Problem, t: int, models: list[int]) -> bool:
    """Distinct models, allowed on ``t``, fitting one machine of it (SLOs are the store's job)."""
    if len(set(models)) != len(models) or not problem.fits(models, t):
        return False
    return all(problem.allowed[m, t] for m in models)


def add_machine_contents(problem: Problem, configs: Configurations, assignment) -> int:
    """Each machine's content of ``assignment`` as a column (when usable); how many were new."""
    if assignment is None:
        return 0
    added = 0
    for t, models in machine_contents(problem, assignment):
        if not is_configuration(problem, t, models):
            continue
        before = len(configs)
        configs.add(problem, t, models)
        added += len(configs) - before
    return added
