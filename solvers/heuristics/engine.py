"""The heuristic engine: one placement cycle with a filter and a score plugin.

Modelled on the Kubernetes scheduling framework. Replicas are visited one at a time (file
order unless told otherwise); for each one the engine

1. **filters** the machines, vectorized over all of them: allowed type (a solo latency exists),
   capacity for every resource (with :data:`~solvers.problem.TOLERANCE`), the per-machine
   replica limit, anti-affinity (no other replica of the same model there) and, when asked,
   the hard SLO;
2. **scores** the survivors with a :class:`Score` plugin, lower is better, ties broken by fewer
   replicas and then by machine index (SPEC section 6, ``least-loaded``);
3. **reserves** the winner and tells the plugin (``placed``), so it can update its own state.

A new heuristic is a new :class:`Score`, not a new loop.

Speed. Per-machine state lives in NumPy arrays (used resources ``[N, K]``, replica count ``[N]``,
"hosts model" matrix ``[N, M]``, per-machine interference figures ``[N]``) so the filter and the
pre-score are a handful of array operations per replica. Empty machines of one type are
interchangeable, so a symmetric score needs only the lowest-index one of each type.

Exactness. The slowdown of a set may be set-wise, composed by any rule, or predicted by a
learned model, so it is not additive in general. A score may therefore be two-stage: a cheap
vectorized *pre-score* over all candidates (for the interference-aware greedy: the pairwise
table ``problem.pair_slowdown`` composed additively, see :class:`PairwiseLoad`) ranks them,
and the best few (``shortlist``, 8 by default) are then evaluated exactly with
``problem.slowdown`` (:func:`machine_figures`), and the decision is taken on the exact figures.
The hard-SLO filter is always exact: a machine is dropped only after its exact figures show a
replica there missing its SLO, and the shortlist counts only machines that pass. The one
vectorized SLO filter is exact too: a model whose solo latency on a type already exceeds its
SLO can never meet it there, since slowdowns are at least 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from solvers.diagnosis import diagnose, no_solution_message
from solvers.diagnosis import hosts as hostable_types
from solvers.metrics import evaluate_assignment
from solvers.problem import TOLERANCE, Problem
from solvers.result import Result, Status

#: How many machines the exact slowdown function re-scores per replica after the pre-score.
DEFAULT_SHORTLIST = 8
#: Co-location sets whose exact figures one state remembers before it starts over.
FIGURES_CACHE_SIZE = 500_000


def mean_weights(problem: Problem) -> np.ndarray:
    """[M] weights of the weighted mean degradation, as the evaluator uses them (unweighted
    when every weight is 0)."""
    total = float(problem.weight[problem.replica_model].sum())
    return problem.weight if total > 0 else np.ones_like(problem.weight)


def degradation_value(problem: Problem) -> np.ndarray:
    """[M, T] what one unit of a model's degradation on a type is worth in the objective: its
    solo latency x weight for ``added_latency``, its mean weight otherwise (0 where disallowed).
    Used by the pairwise pre-scores of local search and repair."""
    if problem.objective == "added_latency":
        value = problem.weight[:, None] * problem.solo_latency
    else:
        value = np.repeat(mean_weights(problem)[:, None], problem.n_types, axis=1)
    return np.nan_to_num(value)


def weight_total(problem: Problem) -> float:
    """Denominator of the weighted mean degradation (never 0)."""
    return float(mean_weights(problem)[problem.replica_model].sum()) or 1.0


@dataclass(frozen=True)
class MachineFigures:
    """Exact interference figures of one machine's residents (models, since a model has at
    most one replica per machine)."""

    models: tuple[int, ...]  # sorted, so equal sets give bit-equal sums
    slowdowns: tuple[float, ...]  # aligned with ``models``
    weighted_degradation: float  # sum of mean weight x (slowdown - 1)
    weighted_added_latency: float  # sum of weight x solo latency x (slowdown - 1), ms
    max_degradation: float  # 0 when empty
    slo_violations: int


EMPTY_FIGURES = MachineFigures((), (), 0.0, 0.0, 0.0, 0)


def machine_figures(
    problem: Problem, models: Iterable[int], machine_type: int, weights: np.ndarray
) -> MachineFigures:
    """Figures of a set of models sharing one machine of ``machine_type``, from THE slowdown
    function (never from the pairwise table), with the evaluator's SLO test."""
    ordered = tuple(sorted(int(m) for m in models))
    if not ordered:
        return EMPTY_FIGURES
    members = frozenset(ordered)
    t = int(machine_type)
    slowdowns = tuple(problem.slowdown(m, members - {m}, t) for m in ordered)
    wdeg = 0.0
    wlat = 0.0
    worst = 0.0
    violations = 0
    for m, s in zip(ordered, slowdowns, strict=True):
        solo = float(problem.solo_latency[m, t])
        wdeg += float(weights[m]) * (s - 1.0)
        wlat += float(problem.weight[m]) * solo * (s - 1.0)
        worst = max(worst, s - 1.0)
        if not solo * s <= problem.slo[m] + TOLERANCE:
            violations += 1
    return MachineFigures(ordered, slowdowns, wdeg, wlat, worst, violations)


class MachineState:
    """A partial placement, per machine, as arrays the filters and scores vectorize over.

    ``track_figures`` keeps the exact interference figures of every machine up to date (the
    interference-aware scores and the SLO filter need them; interference-blind baselines skip
    the cost).
    """

    def __init__(self, problem: Problem, track_figures: bool = True) -> None:
        self.problem = problem
        self.track_figures = track_figures
        self.weights = mean_weights(problem)
        N, K, M = problem.n_machines, len(problem.resource_names), problem.n_models
        self.type = problem.machine_type
        self.capacity = problem.capacity[self.type]  # [N, K]
        self.used = np.zeros((N, K))
        self.count = np.zeros(N, dtype=np.int64)
        self.hosts = np.zeros((N, M), dtype=bool)
        self.assignment = np.full(problem.n_replicas, -1, dtype=np.int64)
        self.limit = problem.max_per_machine if problem.max_per_machine is not None else M
        self.figures: list[MachineFigures] = [EMPTY_FIGURES] * N
        self.weighted_degradation = np.zeros(N)
        self.weighted_added_latency = np.zeros(N)
        self.max_degradation = np.zeros(N)
        self.slo_violations = np.zeros(N, dtype=np.int64)
        allowed = problem.allowed
        self._allowed = allowed[:, self.type]  # [M, N]
        solo = np.where(allowed, problem.solo_latency, np.inf)
        self._solo_meets_slo = (solo <= problem.slo[:, None] + TOLERANCE)[:, self.type]  # [M, N]
        # The next replica of a model re-tries mostly unchanged machines: remember their sets.
        self._figures_cache: dict[tuple[tuple[int, ...], int], MachineFigures] = {}

    # ------------------------------------------------------------------ filter
    def feasible(self, model: int, hard_slo: bool = False) -> np.ndarray:
        """[N] bool: machines that may take one more replica of ``model`` (all checks but the
        exact SLO check of the residents, which needs :meth:`figures_with`)."""
        ok = self._allowed[model] & ~self.hosts[:, model] & (self.count < self.limit)
        ok &= np.all(self.used + self.problem.requests[model] <= self.capacity + TOLERANCE, axis=1)
        if hard_slo:
            ok &= self._solo_meets_slo[model]
        return ok

    def without_empty_twins(self, mask: np.ndarray) -> np.ndarray:
        """Keep only the lowest-index empty machine of each type: the others score alike."""
        empty = np.flatnonzero(mask & (self.count == 0))
        if empty.size <= 1:
            return mask
        _, first = np.unique(self.type[empty], return_index=True)
        out = mask.copy()
        out[empty] = False
        out[empty[first]] = True
        return out

    def utilization(self, machines: np.ndarray) -> np.ndarray:
        """Largest used/capacity over the resources (a used resource of capacity 0 is inf)."""
        used = self.used[machines]
        cap = self.capacity[machines]
        ratio = np.divide(used, cap, out=np.where(used > 0, np.inf, 0.0), where=cap > 0)
        return ratio.max(axis=1) if ratio.shape[1] else np.zeros(len(machines))

    # ------------------------------------------------------------------ exact figures
    def figures_with(
        self, machine: int, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> MachineFigures:
        """Exact figures of ``machine`` after adding and removing models."""
        models = (
            set(self.figures[machine].models)
            if self.track_figures
            else set(np.flatnonzero(self.hosts[machine]).tolist())
        )
        models.difference_update(int(m) for m in remove)
        models.update(int(m) for m in add)
        key = (tuple(sorted(models)), int(self.type[machine]))
        figures = self._figures_cache.get(key)
        if figures is None:
            if len(self._figures_cache) >= FIGURES_CACHE_SIZE:
                self._figures_cache.clear()
            figures = machine_figures(self.problem, key[0], key[1], self.weights)
            self._figures_cache[key] = figures
        return figures

    # ------------------------------------------------------------------ reserve
    def set_machine(
        self, machine: int, models: Sequence[int], figures: MachineFigures | None = None
    ) -> None:
        """Make ``models`` the residents of ``machine`` (used resources recomputed, not
        accumulated, so no float drift survives a move)."""
        ms = list(models)
        self.used[machine] = self.problem.requests[ms].sum(axis=0) if ms else 0.0
        self.count[machine] = len(ms)
        self.hosts[machine] = False
        self.hosts[machine, ms] = True
        if self.track_figures:
            if figures is None:
                figures = machine_figures(self.problem, ms, int(self.type[machine]), self.weights)
            self.figures[machine] = figures
            self.weighted_degradation[machine] = figures.weighted_degradation
            self.weighted_added_latency[machine] = figures.weighted_added_latency
            self.max_degradation[machine] = figures.max_degradation
            self.slo_violations[machine] = figures.slo_violations

    def add(self, replica: int, machine: int, figures: MachineFigures | None = None) -> None:
        model = int(self.problem.replica_model[replica])
        if figures is None and not self.track_figures:  # the fast path of blind baselines
            self.used[machine] += self.problem.requests[model]
            self.count[machine] += 1
            self.hosts[machine, model] = True
        else:
            if figures is None:
                figures = self.figures_with(machine, add=(model,))
            self.set_machine(machine, figures.models, figures)
        self.assignment[replica] = machine

    @classmethod
    def from_assignment(cls, problem: Problem, assignment: np.ndarray) -> MachineState:
        state = cls(problem, track_figures=True)
        state.assignment = np.asarray(assignment, dtype=np.int64).copy()
        per_machine: dict[int, list[int]] = {}
        for r, n in enumerate(state.assignment.tolist()):
            if n >= 0:
                per_machine.setdefault(n, []).append(int(problem.replica_model[r]))
        for n, models in per_machine.items():
            state.set_machine(n, sorted(models))
        return state


class PairwiseLoad:
    """Additive pairwise interference of every machine's residents, for vectorized pre-scores.

    ``own[n, x]``: sum over residents b of n of (pair_slowdown[t_n, x, b] - 1), the additive
    estimate of model x's degradation if it joined n. ``inflicted[n, x]``: sum over residents b
    of value[b, t_n] x (pair_slowdown[t_n, b, x] - 1), the estimate of what x would add to the
    residents, valued per resident by ``value`` ([M, T]: the mean weight for degradation, weight
    x solo latency for added latency). Exact only for additive pairwise data; used to rank,
    never to decide.
    """

    def __init__(self, problem: Problem, value: np.ndarray) -> None:
        self.problem = problem
        self.value = np.nan_to_num(value)
        N, M = problem.n_machines, problem.n_models
        self.own = np.zeros((N, M))
        self.inflicted = np.zeros((N, M))

    def add(self, machine: int, model: int, sign: float = 1.0) -> None:
        t = int(self.problem.machine_type[machine])
        pair = self.problem.pair_slowdown[t]
        self.own[machine] += sign * (pair[:, model] - 1.0)
        self.inflicted[machine] += sign * self.value[model, t] * (pair[model, :] - 1.0)

    def remove(self, machine: int, model: int) -> None:
        self.add(machine, model, -1.0)


class Score:
    """A score plugin. Lower is better; the engine breaks ties by replica count, then index.

    ``symmetric``: the score of an empty machine depends on its type only (so the engine may
    prune empty twins). ``exact``: re-rank a shortlist with :meth:`exact_key` on exact figures.
    """

    symmetric: bool = True
    exact: bool = False

    def prescore(self, state: MachineState, model: int, machines: np.ndarray) -> list[np.ndarray]:
        """Keys (most significant first), each aligned with ``machines``."""
        raise NotImplementedError

    def exact_key(
        self, state: MachineState, model: int, machine: int, after: MachineFigures
    ) -> tuple[float, ...]:
        """Key of placing ``model`` on ``machine``, given the machine's exact figures after."""
        raise NotImplementedError

    def placed(self, state: MachineState, model: int, machine: int) -> None:
        """Called after each reservation (the state already holds it)."""


@dataclass
class Placement:
    """What one engine run produced."""

    assignment: np.ndarray  # [R], -1 where unplaced
    state: MachineState
    unplaced: int | None = None  # the first replica no machine could take
    timed_out: bool = False
    skipped: tuple[int, ...] = ()  # every replica left unplaced (``keep_going`` runs)

    @property
    def complete(self) -> bool:
        return self.unplaced is None and not self.timed_out


def place(
    problem: Problem,
    score: Score,
    *,
    order: Sequence[int] | np.ndarray | None = None,
    hard_slo: bool = False,
    shortlist: int = DEFAULT_SHORTLIST,
    deadline: float | None = None,
    keep_going: bool = False,
) -> Placement:
    """Run one placement cycle; stops at the first replica that no machine can take.

    ``hard_slo``: drop a machine when, after adding, some replica there (the new one included)
    would miss its SLO. ``deadline``: a ``time.perf_counter()`` instant. ``keep_going``: leave
    a replica that no machine can take unplaced and go on with the next (a partial placement
    for :mod:`solvers.heuristics.repair`; the result is still not ``complete``).
    """
    state = MachineState(problem, track_figures=hard_slo or score.exact)
    replicas = range(problem.n_replicas) if order is None else [int(r) for r in order]
    shortlist = max(1, int(shortlist))
    skipped: list[int] = []

    def stuck(r: int) -> Placement | None:
        skipped.append(r)
        if keep_going:
            return None
        return Placement(state.assignment, state, unplaced=r, skipped=tuple(skipped))

    for r in replicas:
        if deadline is not None and time.perf_counter() > deadline:
            return Placement(state.assignment, state, timed_out=True, skipped=tuple(skipped))
        model = int(problem.replica_model[r])
        mask = state.feasible(model, hard_slo)
        if score.symmetric:
            mask = state.without_empty_twins(mask)
        machines = np.flatnonzero(mask)
        if machines.size == 0:
            if (done := stuck(r)) is not None:
                return done
            continue
        keys = score.prescore(state, model, machines)
        ranked = machines[np.lexsort((machines, state.count[machines], *reversed(keys)))]
        if not (hard_slo or score.exact):
            choice, figures = int(ranked[0]), None
        else:
            choice, figures = _decide_exactly(state, score, model, ranked, hard_slo, shortlist)
            if choice < 0:
                if (done := stuck(r)) is not None:
                    return done
                continue
        state.add(r, choice, figures)
        score.placed(state, model, choice)
    first = skipped[0] if skipped else None
    return Placement(state.assignment, state, unplaced=first, skipped=tuple(skipped))


def most_constrained_order(problem: Problem) -> np.ndarray:
    """Replicas, most constrained model first: fewest machines that can host one replica of
    the model alone (allowed type, capacity, and the SLO alone when SLOs are hard; see
    :func:`~solvers.diagnosis.hosts`), then largest request relative to the largest capacity
    of that resource among the types present, then file order. File order strands a model
    with few possible hosts once others have filled them; this order seats it first.

    A different ORDER for the same engine (``place(..., order=most_constrained_order(p))``),
    not a different loop.
    """
    n_hosts = hostable_types(problem).astype(np.int64) @ problem.machines_per_type  # [M]
    present = problem.machines_per_type > 0
    biggest = problem.capacity[present].max(axis=0) if present.any() else problem.capacity.max(0)
    req = problem.requests
    rel = np.divide(req, biggest, out=np.where(req > 0, np.inf, 0.0), where=biggest > 0)
    size = rel.max(axis=1) if rel.shape[1] else np.zeros(problem.n_models)
    model = problem.replica_model
    index = np.arange(problem.n_replicas)
    return np.lexsort((index, -size[model], n_hosts[model]))


def _decide_exactly(
    state: MachineState,
    score: Score,
    model: int,
    ranked: np.ndarray,
    hard_slo: bool,
    shortlist: int,
) -> tuple[int, MachineFigures | None]:
    """Walk the pre-ranked machines, evaluate them exactly, return the best (or -1).

    The walk stops once ``shortlist`` machines that pass the SLO filter and add no SLO
    violation have been seen; machines that add violations (soft SLOs) are compared too but
    do not count, so a pre-score blind to SLOs cannot crowd the good machines out.
    """
    best = -1
    best_key: tuple[float, ...] | None = None
    best_figures: MachineFigures | None = None
    good = 0
    for n in ranked.tolist():
        after = state.figures_with(n, add=(model,))
        if hard_slo and after.slo_violations > 0:
            continue
        if not score.exact:
            return n, after
        key = (*score.exact_key(state, model, n, after), int(state.count[n]), n)
        if best_key is None or key < best_key:
            best, best_key, best_figures = n, key, after
        if after.slo_violations <= state.slo_violations[n]:
            good += 1
            if good >= shortlist:
                break
    return best, best_figures


def heuristic_result(problem: Problem, placement: Placement, solver: str, started: float) -> Result:
    """The :class:`Result` of a heuristic: FEASIBLE with the evaluator's objective when every
    replica is placed, else UNKNOWN with a diagnosis a user can act on."""
    if placement.complete:
        assignment = placement.assignment.copy()
        objective = evaluate_assignment(problem, assignment).objective(problem.objective)
        return Result(
            Status.FEASIBLE,
            assignment,
            objective=objective,
            seconds=time.perf_counter() - started,
            info={"solver": solver},
        )
    return unsolved_result(problem, placement, solver, started)


def unsolved_result(
    problem: Problem, placement: Placement | None, solver: str, started: float, note: str = ""
) -> Result:
    """UNKNOWN with the simple reasons of :func:`~solvers.diagnosis.diagnose`, or what the
    heuristic itself got stuck on."""
    reasons = diagnose(problem)
    messages = no_solution_message(problem, reasons, proved=False)
    if placement is not None and placement.timed_out:
        placed = int((placement.assignment >= 0).sum())
        messages.append(
            f"{solver} reached the time limit after placing {placed} of {problem.n_replicas} "
            "replicas"
        )
    elif placement is not None and placement.unplaced is not None:
        r = placement.unplaced
        model = problem.model_names[int(problem.replica_model[r])]
        placed = int((placement.assignment >= 0).sum())
        messages.append(
            f"{solver} found no machine for replica {problem.replica_ids[r]} (model {model}) "
            f"after placing {placed} of {problem.n_replicas} replicas"
        )
    if note:
        messages.append(note)
    return Result(
        Status.UNKNOWN,
        None,
        seconds=time.perf_counter() - started,
        info={"solver": solver, "diagnosis": messages},
    )
