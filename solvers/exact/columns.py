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
from solvers.objectives import ConfigurationFigures, configuration_figures, mean_weights
from solvers.problem import TOLERANCE, Problem

#: Beyond this many columns, enumeration stops and the caller switches to column generation.
#: Measured (benchmarks/results/exact): the 80x24 master (~93k columns) is enumerated in ~13 s
#: and proved optimal by HiGHS in ~2 s, CP-SAT ~14 s; 160x48 has millions.
DEFAULT_MAX_CONFIGURATIONS = 200_000
#: Measured cost of enumerating one configuration (its slowdowns, through the slowdown
#: function): ~140 us on generated instances. ``auto`` routing enumerates only what fits in
#: 35% of the time limit.
ENUMERATION_SECONDS = 1.5e-4
#: Configurations whose figures are computed in one batch (and, when the slowdown function has a
#: batch path, a learned predictor, their slowdowns asked in one inference). A batch cannot be
#: interrupted: with a learned predictor 512 configurations take ~0.3 s on one core (4096 took
#: seconds and overran the time limit), and the deadline is checked after each.
FIGURES_CHUNK = 512


@dataclass
class Configurations:
    """The column store: one entry per configuration (parallel lists), each added once with its
    figures from :func:`solvers.objectives.configuration_figures` (the one per-machine
    computation); :meth:`figures` gives them as arrays for the goals' coefficients."""

    types: list[int] = field(default_factory=list)
    members: list[tuple[int, ...]] = field(default_factory=list)
    weighted_degradation: list[float] = field(default_factory=list)
    weighted_added_latency: list[float] = field(default_factory=list)
    max_degradation: list[float] = field(default_factory=list)
    slo_violations: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    complete: bool = False  # True: every usable configuration of the problem is here
    index: dict[tuple[int, tuple[int, ...]], int] = field(default_factory=dict)
    weights: np.ndarray | None = None  # the mean-degradation weights, looked up once
    _arrays: ConfigurationFigures | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.members)

    def figures(self) -> ConfigurationFigures:
        """Every column's figures as arrays (rebuilt only after the store grew)."""
        if self._arrays is None or len(self._arrays) != len(self):
            self._arrays = ConfigurationFigures(
                np.ones(len(self), dtype=bool),
                np.asarray(self.weighted_degradation, dtype=float),
                np.asarray(self.weighted_added_latency, dtype=float),
                np.asarray(self.max_degradation, dtype=float),
                np.asarray(self.slo_violations, dtype=np.int64),
                np.asarray(self.cost, dtype=float),
            )
        return self._arrays

    def add(self, problem: Problem, t: int, members: Iterable[int]) -> int | None:
        """Add a configuration; its column index, or None when unusable (a member misses its
        SLO under hard SLOs)."""
        key = (int(t), tuple(sorted(int(m) for m in members)))
        self.add_many(problem, [key])
        return self.index.get(key)

    def add_many(self, problem: Problem, columns: Iterable[tuple[int, Iterable[int]]]) -> int:
        """Add ``(type, members)`` configurations in order, the figures of each type's new ones
        computed in one batch (one slowdown query batch with a learned predictor); how many
        were new and usable."""
        if self.weights is None:
            self.weights = mean_weights(problem).weights
        new: dict[tuple[int, tuple[int, ...]], None] = {}
        for t, members in columns:
            key = (int(t), tuple(sorted(int(m) for m in members)))
            if key not in self.index:
                new[key] = None
        by_type: dict[int, list[tuple[int, ...]]] = {}
        for t, members in new:
            by_type.setdefault(t, []).append(members)
        figures = {
            t: configuration_figures(problem, sets, t, self.weights) for t, sets in by_type.items()
        }
        position = {t: 0 for t in by_type}
        before = len(self)
        for t, members in new:
            i = position[t]
            position[t] += 1
            f = figures[t]
            if not f.usable[i] or (problem.slo_mode == "hard" and f.slo_violations[i] > 0):
                continue
            self.index[(t, members)] = len(self.members)
            self.types.append(t)
            self.members.append(members)
            self.weighted_degradation.append(float(f.weighted_degradation[i]))
            self.weighted_added_latency.append(float(f.weighted_added_latency[i]))
            self.max_degradation.append(float(f.max_degradation[i]))
            self.slo_violations.append(int(f.slo_violations[i]))
            self.cost.append(float(f.cost[i]))
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
    try:
        for t in range(problem.n_types):
            chunk: list[tuple[int, tuple[int, ...]]] = []
            for members in fitting_subsets(problem, t, max_configurations, budget, deadline):
                chunk.append((t, members))
                if len(chunk) >= FIGURES_CHUNK:
                    configs.add_many(problem, chunk)
                    chunk = []
                    if time.perf_counter() > deadline:
                        raise TooManyConfigurations
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
