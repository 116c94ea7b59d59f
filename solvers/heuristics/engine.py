"""The heuristic engine: one placement cycle with a filter and a score plugin.

Modelled on the Kubernetes scheduling framework. Replicas are visited one at a time (file
order unless told otherwise); for each one the engine

1. **filters** the machines, vectorized over all of them, with the problem's filter tables
   (:class:`~solvers.problem.HostTables`): allowed type (a solo latency exists), machine state,
   capacity for every resource, the per-machine replica limit, conflicts (another replica of
   the same model, an ``avoid`` pair), spread and, when asked, the hard SLO;
2. **scores** the survivors with a :class:`Score` plugin, lower is better, ties broken by fewer
   replicas and then by machine index (SPEC section 6, ``least-loaded``);
3. **reserves** the winner and tells the plugin (``placed``), so it can update its own state.

A new heuristic is a new :class:`Score`, not a new loop.

Speed. Per-machine state lives in NumPy arrays (used resources ``[N, K]``, replica count ``[N]``,
"hosts model" matrix ``[N, M]``, per-machine interference figures ``[N]``) so the filter and the
pre-score are a handful of array operations per replica. Empty machines of one class
(:attr:`~solvers.problem.HostTables.machine_class`: the type, when there are no cluster
constraints) are interchangeable, so a symmetric score needs only the lowest-index one.

Exactness. The slowdown of a set may be set-wise, composed by any rule, or predicted by a
learned model, so it is not additive in general. A score may therefore be two-stage: a cheap
vectorized *pre-score* over all candidates (for the interference-aware greedy: the pairwise
table ``problem.pair_slowdown`` composed additively, see :class:`PairwiseLoad`) ranks them,
and the best few (``shortlist``, 8 by default) are then evaluated exactly with
``problem.slowdown`` (:func:`solvers.objectives.machine_figures`), and the decision is taken
on the exact figures.
The hard-SLO filter is always exact: a machine is dropped only after its exact figures show a
replica there missing its SLO, and the shortlist counts only machines that pass. The one
vectorized SLO filter is exact too: a model whose solo latency on a type already exceeds its
SLO can never meet it there, since slowdowns are at least 1.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solvers.diagnosis import diagnose, hosting_machines, no_solution_message
from solvers.metrics import evaluate_assignment
from solvers.objectives import (
    EMPTY_FIGURES,
    MachineFigures,
    counted_moves,
    goal,
    machine_figures,
    mean_weights,
)
from solvers.problem import Problem
from solvers.result import Result, Status

#: How many machines the exact slowdown function re-scores per replica after the pre-score.
DEFAULT_SHORTLIST = 8
#: Co-location sets whose exact figures one state remembers before it starts over.
FIGURES_CACHE_SIZE = 500_000


class MachineState:
    """A partial placement, per machine, as arrays the filters and scores vectorize over.

    ``track_figures`` keeps the exact interference figures of every machine up to date (the
    interference-aware scores and the SLO filter need them; interference-blind baselines skip
    the cost).
    """

    def __init__(self, problem: Problem, track_figures: bool = True) -> None:
        self.problem = problem
        self.track_figures = track_figures
        self.weights = mean_weights(problem).weights
        N, K, M = problem.n_machines, len(problem.resource_names), problem.n_models
        tables = problem.filter_tables
        self.tables = tables
        self.type = problem.machine_type
        self.capacity = tables.capacity  # [N, K]
        self.used = np.zeros((N, K))
        self.count = np.zeros(N, dtype=np.int64)
        self.hosts = np.zeros((N, M), dtype=bool)
        self.assignment = np.full(problem.n_replicas, -1, dtype=np.int64)
        self.limit = tables.limit  # [N]
        self.figures: list[MachineFigures] = [EMPTY_FIGURES] * N
        self.weighted_degradation = np.zeros(N)
        self.weighted_added_latency = np.zeros(N)
        self.max_degradation = np.zeros(N)
        self.slo_violations = np.zeros(N, dtype=np.int64)
        self._may_host = tables.may_host(self.type, hard_slo=False)  # [M, N]
        self._may_host_hard = tables.may_host(self.type, hard_slo=True)  # [M, N]
        self._only_self_conflicts = tables.only_self_conflicts
        # The next replica of a model re-tries mostly unchanged machines: remember their sets.
        self._figures_cache: dict[tuple[tuple[int, ...], int], MachineFigures] = {}

    # ------------------------------------------------------------------ filter
    def feasible(
        self, model: int, hard_slo: bool = False, replica: int | None = None
    ) -> np.ndarray:
        """[N] bool: machines that may take one more replica of ``model`` (every check of the
        filter tables but the exact SLO check of the residents, which needs
        :meth:`figures_with`). ``replica``: the replica to place, so that a cordoned machine
        it runs on now (``problem.current``) may keep it."""
        ok = (self._may_host_hard if hard_slo else self._may_host)[model]
        current = self.problem.current
        if replica is not None and current is not None and current[replica] >= 0:
            home = int(current[replica])
            if not self.tables.down[home]:
                by_type = self.tables.meets_slo_alone if hard_slo else self.tables.allowed
                ok = ok.copy()
                ok[home] = by_type[model, self.type[home]]
        ok = ok & ~self.conflicting(model) & (self.count < self.limit)
        ok &= self.tables.fits(self.used, self.problem.requests[model], self.capacity)
        if self.tables.spread_key[model] >= 0:
            ok &= self.spread_allows(model)
        return ok

    def conflicting(self, model: int) -> np.ndarray:
        """[N] bool: machines holding a model that conflicts with ``model`` (itself, or an
        ``avoid`` pair)."""
        if self._only_self_conflicts:
            return self.hosts[:, model]
        return (self.hosts & self.tables.conflicts[model]).any(axis=1)

    def conflicting_all(self) -> np.ndarray:
        """[N, M] bool: :meth:`conflicting` for every model at once."""
        if self._only_self_conflicts:
            return self.hosts
        conflicts = self.tables.conflicts.astype(np.int64)
        return (self.hosts.astype(np.int64) @ conflicts) > 0

    def may_host(self, hard_slo: bool) -> np.ndarray:
        """[M, N] bool: the model-level part of the filter (allowed type, machine state, the
        SLO alone when ``hard_slo``)."""
        return self._may_host_hard if hard_slo else self._may_host

    def conflicts_after_swap(
        self, machines: np.ndarray | int, leaving: np.ndarray | int, joining: np.ndarray | int
    ) -> np.ndarray:
        """Bool, broadcast over the arguments: model ``joining`` would conflict with a resident
        of machine ``machines`` once model ``leaving`` has left it (a swap)."""
        machines, leaving, joining = np.broadcast_arrays(machines, leaving, joining)
        if self._only_self_conflicts:
            return self.hosts[machines, joining]
        conflicts = self.tables.conflicts
        count = (self.hosts[machines] & conflicts[joining]).sum(axis=1)
        count -= conflicts[joining, leaving] & self.hosts[machines, leaving]
        return count > 0

    def spread_kept_by_swap(
        self, a: int, machines: np.ndarray, model: int, partners: np.ndarray
    ) -> np.ndarray:
        """Bool per partner: trading ``model`` on machine ``a`` for ``partners`` on ``machines``
        keeps every spread constraint. Conservative: a model with a spread key only trades
        between machines with the same value of its label."""
        key = self.tables.spread_key
        labels = self.tables.spread_label
        machines, partners = np.broadcast_arrays(machines, partners)
        ok = np.ones(machines.shape, dtype=bool)
        if key[model] >= 0:
            ok &= labels[key[model], machines] == labels[key[model], a]
        partner_key = key[partners]
        keyed = partner_key >= 0
        if keyed.any():
            same = labels[partner_key[keyed], machines[keyed]] == labels[partner_key[keyed], a]
            ok[keyed] &= same
        return ok

    def spread_allows(self, model: int) -> np.ndarray:
        """[N] bool: machines with the model's spread label, on a value none of its replicas
        uses yet."""
        labels = self.tables.spread_label[self.tables.spread_key[model]]
        taken = np.unique(labels[self.hosts[:, model]])
        return (labels >= 0) & ~np.isin(labels, taken)

    def without_empty_twins(self, mask: np.ndarray) -> np.ndarray:
        """Keep only the lowest-index empty machine of each class: the others score alike."""
        empty = np.flatnonzero(mask & (self.count == 0))
        if empty.size <= 1:
            return mask
        _, first = np.unique(self.tables.machine_class[empty], return_index=True)
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
    keep_current: bool = True,
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
    if keep_current and problem.current is not None:
        replicas = _keep_current(state, score, replicas, hard_slo)

    def stuck(r: int) -> Placement | None:
        skipped.append(r)
        if keep_going:
            return None
        return Placement(state.assignment, state, unplaced=r, skipped=tuple(skipped))

    for r in replicas:
        if deadline is not None and time.perf_counter() > deadline:
            return Placement(state.assignment, state, timed_out=True, skipped=tuple(skipped))
        model = int(problem.replica_model[r])
        mask = state.feasible(model, hard_slo, replica=r)
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


def _keep_current(
    state: MachineState, score: Score, replicas: Sequence[int] | range, hard_slo: bool
) -> list[int]:
    """Seat every replica of ``current`` on the machine it runs on, in ``replicas`` order, when
    the filter still lets it stay there (not ``down``; capacity, limit, conflicts, spread and,
    with ``hard_slo``, every SLO on that machine). Returns the replicas left to place: new
    ones and those that must move, in their order. The score hears of every seat
    (``placed``), so its own state matches."""
    problem = state.problem
    current = problem.current
    assert current is not None
    rest: list[int] = []
    for r in replicas:
        home = int(current[r])
        if home < 0 or state.tables.down[home]:
            rest.append(r)
            continue
        model = int(problem.replica_model[r])
        if not state.feasible(model, hard_slo, replica=r)[home]:
            rest.append(r)
            continue
        figures = None
        if state.track_figures:
            figures = state.figures_with(home, add=(model,))
            if hard_slo and figures.slo_violations > 0:
                rest.append(r)
                continue
        state.add(r, home, figures)
        score.placed(state, model, home)
    return rest


def most_constrained_order(problem: Problem) -> np.ndarray:
    """Replicas, most constrained model first: fewest machines that can host one replica of
    the model alone (allowed type, capacity, and the SLO alone when SLOs are hard; see
    :func:`~solvers.diagnosis.hosting_machines`), then largest request relative to the largest
    capacity of that resource among the types present, then file order. File order strands a model
    with few possible hosts once others have filled them; this order seats it first.

    A different ORDER for the same engine (``place(..., order=most_constrained_order(p))``),
    not a different loop.
    """
    n_hosts = hosting_machines(problem).sum(axis=1)  # [M]
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
    if placement.complete and over_move_budget(problem, placement.assignment):
        return unsolved_result(
            problem, None, solver, started, note=move_budget_note(problem, placement.assignment)
        )
    if placement.complete:
        assignment = placement.assignment.copy()
        objective = goal(problem).value(evaluate_assignment(problem, assignment))
        return Result(
            Status.FEASIBLE,
            assignment,
            objective=objective,
            seconds=time.perf_counter() - started,
            info={"solver": solver},
        )
    return unsolved_result(problem, placement, solver, started)


def over_move_budget(problem: Problem, assignment: np.ndarray) -> bool:
    """The assignment counts more moves than ``limits.max_moves`` allows."""
    if problem.max_moves is None:
        return False
    return counted_moves(problem.current, assignment, problem.filter_tables.down) > (
        problem.max_moves
    )


def move_budget_note(problem: Problem, assignment: np.ndarray) -> str:
    """Why a heuristic's complete placement was not returned: its moves exceed the budget."""
    moves = counted_moves(problem.current, assignment, problem.filter_tables.down)
    return (
        f"the placement found needs {moves} counted moves, more than limits.max_moves "
        f"({problem.max_moves})"
    )


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
