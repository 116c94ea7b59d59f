"""Ejection-chain repair: seat the replicas a construction left unplaced by moving residents.

A construction (the engine, in any order) can strand a replica: every machine that may host
its model is full, or already holds a replica of it, or would break a hard SLO. Often a
resident of one of those machines could live elsewhere. :class:`Repair` tries, for each
unplaced replica ``x`` (most constrained first):

* depth 0, *insert*: ``x`` onto a machine that takes it as it is;
* depth 1, *eject*: ``x`` onto machine ``n`` in place of a resident ``q``, and ``q`` inserted
  elsewhere (onto any machine, ``n`` included, if it fits there beside ``x``);
* depth 2, *chain*: as depth 1, but ``q`` itself ejects a resident ``q2`` of another machine,
  and ``q2`` is inserted (into ``n`` too: that is a swap of ``q`` and ``q2`` around ``x``).

Depths are tried in turn (iterative deepening), so a short chain is always preferred. Among
the chains found at one depth (a few, ``successes``), the best by
:func:`~solvers.objectives.rank` (SLO violations, objective, mean degradation) wins; every
chain places one more replica, so the lexicographic goal is (unplaced, violations,
objective). Each move is applied to the state and undone after it is scored (no copies), and
only machines the chain has not yet changed may eject, so a chain never undoes itself.

Feasibility: the filter tables of the problem (allowed types, machine state, capacity, the
per-machine limit, conflicts, spread) are applied through
:class:`~solvers.heuristics.engine.MachineState`; under hard SLOs every machine a chain changes
is checked exactly (THE slowdown function, :func:`~solvers.objectives.machine_figures`) after
the change, so a repaired placement breaks no SLO. With soft SLOs violations are only scored.

Cost: candidates are filtered vectorized over all placed replicas and ranked by an additive
pairwise estimate; the breadth of each depth is capped (``breadth``) and the clock is read
before every exact evaluation, so the repair is cheap at thousands of replicas.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from solvers.heuristics.engine import MachineState
from solvers.objectives import (
    TOLERANCE,
    MachineFigures,
    Rank,
    Totals,
    better,
    degradation_value,
    goal,
    mean_weights,
    opening_price,
    rank,
)
from solvers.problem import Problem

Key = tuple[float, float, float]  # (new SLO violations, the goal's change, added degradation)
#: (replica, its machine before, its machine after, figures of both before), to undo a move.
Undo = tuple[int, int, int, MachineFigures | None, MachineFigures | None]
Plan = list[tuple[int, int]]  # (replica, target machine) moves, applied in order

#: Ejection candidates examined for the unplaced replica: ``BREADTH[d]``, ``d`` the depth left.
BREADTH = {1: 96, 2: 32}
#: Ejection candidates examined for a resident that a chain has ejected.
NESTED_BREADTH = 12
#: Successful chains collected at one level before the best is taken.
SUCCESSES = {1: 3, 2: 2}
#: Machines tried with several residents ejected at once, for the stranded replica and for a
#: resident that a chain has ejected.
CLEARINGS = 16
NESTED_CLEARINGS = 4
#: Exact evaluations of one insertion inside a chain (the top-level insertion walks all).
INNER_WALK = 48


class Repair:
    """A partial placement, repaired in place; ``state.assignment`` holds the result."""

    def __init__(
        self,
        problem: Problem,
        assignment: np.ndarray,
        *,
        deadline: float,
        max_depth: int = 2,
        shortlist: int = 8,
    ) -> None:
        self.problem = problem
        self.state = MachineState.from_assignment(problem, assignment)
        self.deadline = deadline
        self.max_depth = max(0, int(max_depth))
        self.shortlist = max(1, int(shortlist))
        self.hard = problem.slo_mode == "hard"
        self.goal = goal(problem)
        self.price = opening_price(problem)  # [T]
        self.weight_sum = mean_weights(problem).total
        self.own_value = degradation_value(problem)  # [M, T]
        self.resident_value = self.own_value.T  # [T, M]
        self.pair_excess = np.nan_to_num(problem.pair_slowdown - 1.0)  # [T, M, M]
        self.may_host = self.state.may_host(self.hard)  # [M, N]
        self.inserted = 0
        self.ejections = 0
        self.chains_tried = 0
        self.interrupted = False

    # ------------------------------------------------------------------ clock and key
    def out_of_time(self) -> bool:
        if time.perf_counter() > self.deadline:
            self.interrupted = True
        return self.interrupted

    @property
    def unplaced(self) -> np.ndarray:
        return np.flatnonzero(self.state.assignment < 0)

    def key(self) -> Rank:
        """:func:`~solvers.objectives.rank` of the placed replicas, from the per-machine exact
        figures (unplaced replicas are counted apart)."""
        s, p = self.state, self.problem
        occupied = s.count > 0
        totals = Totals(
            slo_violations=int(s.slo_violations.sum()),
            mean_degradation=float(s.weighted_degradation.sum()) / self.weight_sum,
            weighted_added_latency_ms=float(s.weighted_added_latency.sum()),
            max_degradation=float(s.max_degradation.max()) if s.count.size else 0.0,
            machines_used=int(occupied.sum()),
            cost_per_hour=float(p.cost[s.type[occupied]].sum()),
        )
        return rank(p, totals)

    def _local_key(self, machine: int, after: MachineFigures) -> Key:
        """What adding to ``machine`` changes (for choosing an insertion): new violations, the
        goal's change on the machine (a max goal: the machine's own max), added degradation."""
        before = self.state.figures[machine]
        price = float(self.price[int(self.state.type[machine])])
        added = after.weighted_degradation - before.weighted_degradation
        change = self.goal.change(before, after, price)
        return (float(after.slo_violations - before.slo_violations), change, added)

    # ------------------------------------------------------------------ apply and undo
    def _move(self, replica: int, target: int) -> Undo:
        s = self.state
        model = int(self.problem.replica_model[replica])
        source = int(s.assignment[replica])
        undo = (
            replica,
            source,
            target,
            s.figures[source] if source >= 0 else None,
            s.figures[target] if target >= 0 else None,
        )
        if source >= 0:
            after = s.figures_with(source, remove=(model,))
            s.set_machine(source, after.models, after)
        if target >= 0:
            after = s.figures_with(target, add=(model,))
            s.set_machine(target, after.models, after)
        s.assignment[replica] = target
        return undo

    def _undo(self, undos: Sequence[Undo]) -> None:
        s = self.state
        for replica, source, target, source_before, target_before in reversed(undos):
            if target >= 0 and target_before is not None:
                s.set_machine(target, target_before.models, target_before)
            if source >= 0 and source_before is not None:
                s.set_machine(source, source_before.models, source_before)
            s.assignment[replica] = source

    def apply(self, plan: Plan) -> None:
        for replica, target in plan:
            self._move(replica, target)

    # ------------------------------------------------------------------ estimates
    def _estimate(self, model: int, machines: np.ndarray) -> np.ndarray:
        """Additive pairwise estimate of the weighted degradation ``model`` adds to each of
        ``machines`` (its own and the residents'); ranks, never decides."""
        s = self.state
        types = s.type[machines]
        residents = s.hosts[machines]  # [k, M]
        own = (residents * self.pair_excess[types, model, :]).sum(axis=1)
        inflicted = (
            residents * self.resident_value[types] * self.pair_excess[types, :, model]
        ).sum(axis=1)
        return self.own_value[model, types] * own + inflicted

    def _hosts_now(self) -> np.ndarray:
        """[M, N] bool: machines that could take one more replica of each model as things
        stand (filter tables, not yet the exact SLO), vectorized over every model at once."""
        s, p = self.state, self.problem
        fits = s.tables.fits(s.used[None, :, :], p.requests[:, None, :], s.capacity[None, :, :])
        return self.may_host & ~s.conflicting_all().T & (s.count < s.limit)[None, :] & fits

    # ------------------------------------------------------------------ depth 0
    def _insertion(self, model: int, walk: int | None) -> tuple[int, MachineFigures] | None:
        """The best machine that takes ``model`` as it is (exactly checked), or None."""
        s = self.state
        mask = s.without_empty_twins(s.feasible(model, self.hard))
        machines = np.flatnonzero(mask)
        if machines.size == 0:
            return None
        keys: list[np.ndarray] = [machines, s.count[machines], self._estimate(model, machines)]
        if self.goal.prices_machines:
            keys.append((s.count[machines] == 0) * self.price[s.type[machines]])
        ranked = machines[np.lexsort(tuple(keys))]
        best: tuple[int, MachineFigures] | None = None
        best_key: tuple[float, ...] | None = None
        good = 0
        for seen, n in enumerate(ranked.tolist(), start=1):
            if self.out_of_time() or (walk is not None and seen > walk):
                break
            after = s.figures_with(n, add=(model,))
            if self.hard and after.slo_violations > 0:
                continue
            key = (*self._local_key(n, after), int(s.count[n]), n)
            if best_key is None or key < best_key:
                best, best_key = (n, after), key
            good += 1
            if good >= self.shortlist:
                break
        return best

    # ------------------------------------------------------------------ depth >= 1
    def _ejections(self, model: int, locked: frozenset[int], depth: int) -> list[int]:
        """Residents ``q`` whose machine could take ``model`` in their place (capacity,
        limit, types, anti-affinity; not yet the exact SLO), best first: those whose own
        model can go elsewhere as things stand, then by the estimated added degradation."""
        s, p = self.state, self.problem
        replicas = np.flatnonzero(s.assignment >= 0)
        machines = s.assignment[replicas]
        models = p.replica_model[replicas]
        ok = self.may_host[model, machines] & ~s.conflicts_after_swap(machines, models, model)
        if self.problem.filter_tables.spread_key[model] >= 0:
            ok &= s.spread_allows(model)[machines]
        if locked:
            ok &= ~np.isin(machines, np.fromiter(locked, dtype=np.int64))
        ok &= s.tables.fits(
            s.used[machines] - p.requests[models], p.requests[model], s.capacity[machines]
        )
        replicas, machines, models = replicas[ok], machines[ok], models[ok]
        if replicas.size == 0:
            return []
        elsewhere = self._hosts_now().sum(axis=1)
        movable = elsewhere[models] > 0
        if depth <= 1:  # the resident must go straight somewhere
            replicas, machines, models = replicas[movable], machines[movable], models[movable]
            movable = movable[movable]
            if replicas.size == 0:
                return []
        t = s.type[machines]
        estimate = self._estimate(model, machines) - (
            self.own_value[model, t] * self.pair_excess[t, model, models]
        )
        order = np.lexsort((replicas, estimate, ~movable))
        breadth = NESTED_BREADTH if locked else BREADTH.get(depth, BREADTH[2])
        return replicas[order][:breadth].tolist()

    def _clearings(self, model: int, locked: frozenset[int]) -> list[tuple[int, list[int]]]:
        """Machines that could take ``model`` once several residents leave, each with the
        residents to eject: the largest (relative to capacity, on the resources short) that can
        go elsewhere first, until ``model`` fits; then any that may stay is kept. Fewest
        ejections first, at most ``CLEARINGS`` (``NESTED_CLEARINGS`` inside a chain)."""
        s, p = self.state, self.problem
        req = p.requests
        possible = self.may_host[model] & ~s.conflicting(model) & (s.count >= 2)
        if s.tables.spread_key[model] >= 0:
            possible &= s.spread_allows(model)
        candidates = np.flatnonzero(possible)
        if locked:
            candidates = candidates[~np.isin(candidates, np.fromiter(locked, dtype=np.int64))]
        if candidates.size == 0:
            return []
        elsewhere = self._hosts_now().sum(axis=1)
        residents_of: dict[int, list[int]] = {}
        for r in np.flatnonzero(np.isin(s.assignment, candidates)).tolist():
            residents_of.setdefault(int(s.assignment[r]), []).append(r)
        out: list[tuple[tuple[int, float, int], int, list[int]]] = []
        for n in candidates.tolist():
            cap = s.capacity[n]
            need = s.used[n] + req[model] - cap  # > 0 where short
            if not np.any(need > TOLERANCE) and s.count[n] < s.limit[n]:
                continue  # fits as it is: an insertion, or an SLO conflict (single ejections)
            residents = residents_of.get(n, [])
            short = need > TOLERANCE
            scale = np.where(cap > 0, cap, 1.0)

            def weight(r: int, short: np.ndarray = short, scale: np.ndarray = scale) -> float:
                m = int(p.replica_model[r])
                return float((req[m][short] / scale[short]).max()) if short.any() else 0.0

            ranked = sorted(
                residents,
                key=lambda r: (elsewhere[p.replica_model[r]] == 0, -weight(r), r),
            )
            used = s.used[n] + req[model]
            count = int(s.count[n]) + 1
            ejected: list[int] = []
            limit = int(s.limit[n])
            for r in ranked:
                if np.all(used <= cap + TOLERANCE) and count <= limit:
                    break
                used = used - req[p.replica_model[r]]
                count -= 1
                ejected.append(r)
            if not (np.all(used <= cap + TOLERANCE) and count <= limit):
                continue
            for r in list(reversed(ejected)):  # keep whoever may stay
                back = used + req[p.replica_model[r]]
                if np.all(back <= cap + TOLERANCE) and count + 1 <= limit:
                    used, count = back, count + 1
                    ejected.remove(r)
            if len(ejected) < 2 or any(elsewhere[p.replica_model[r]] == 0 for r in ejected):
                continue  # single ejections are the other neighbourhood; stuck ones are hopeless
            size = float(sum(weight(r) for r in ejected))
            out.append(((len(ejected), size, n), n, ejected))
        out.sort(key=lambda item: item[0])
        return [(n, ejected) for _, n, ejected in out[: NESTED_CLEARINGS if locked else CLEARINGS]]

    def _best_chain(
        self, replica: int, depth: int, locked: frozenset[int], walk: int | None
    ) -> tuple[Rank, Plan] | None:
        """The best way to seat the (unplaced) ``replica`` with chains of ``depth`` ejections
        at most, on the current state (left unchanged); the key is of the whole state after."""
        model = int(self.problem.replica_model[replica])
        direct = self._insertion(model, walk)
        if direct is not None:
            undo = self._move(replica, direct[0])
            key = self.key()
            self._undo([undo])
            return key, [(replica, direct[0])]
        if depth == 0:
            return None
        s = self.state
        candidates = [(int(s.assignment[q]), [q]) for q in self._ejections(model, locked, depth)]
        candidates += self._clearings(model, locked)
        found: list[tuple[Rank, Plan]] = []
        for n, ejected in candidates:
            if self.out_of_time():
                break
            self.chains_tried += 1
            found_here = self._eject(replica, model, n, ejected, depth, locked)
            if found_here is not None:
                found.append(found_here)
                if len(found) >= SUCCESSES.get(depth, 1):
                    break
        if not found:
            return None
        best = found[0]
        for candidate in found[1:]:
            if better(candidate[0], best[0]):
                best = candidate
        return best

    def _eject(
        self,
        replica: int,
        model: int,
        machine: int,
        ejected: list[int],
        depth: int,
        locked: frozenset[int],
    ) -> tuple[Rank, Plan] | None:
        """Seat ``replica`` on ``machine`` in place of ``ejected``, then re-seat each of those
        with ``depth - 1`` more ejections; the key and plan if all succeed (state unchanged)."""
        undos = [self._move(q, -1) for q in ejected]
        plan: Plan = [(q, -1) for q in ejected]
        after = self.state.figures_with(machine, add=(model,))
        if self.hard and after.slo_violations > 0:
            self._undo(undos)
            return None
        undos.append(self._move(replica, machine))
        plan.append((replica, machine))
        locked = locked | {machine}
        result: tuple[Rank, Plan] | None = None
        for q in ejected:
            rest = self._best_chain(q, depth - 1, locked, INNER_WALK)
            if rest is None:
                break
            undos.extend(self._move(r, target) for r, target in rest[1])
            plan.extend(rest[1])
        else:
            result = (self.key(), plan)
        self._undo(undos)
        return result

    # ------------------------------------------------------------------ loop
    def run(self, order: Sequence[int] | np.ndarray) -> int:
        """Seat the unplaced replicas, visited in ``order`` (a permutation of all replicas),
        pass after pass while any gets seated; returns how many remain unplaced."""
        rank = np.empty(self.problem.n_replicas, dtype=np.int64)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(self.problem.n_replicas)
        progress = True
        while progress:
            progress = False
            pending = self.unplaced
            for r in pending[np.argsort(rank[pending], kind="stable")].tolist():
                for depth in range(self.max_depth + 1):
                    if self.out_of_time():
                        return int(self.unplaced.size)
                    chain = self._best_chain(r, depth, frozenset(), None)
                    if chain is not None:
                        self.apply(chain[1])
                        self.inserted += 1
                        self.ejections += sum(1 for _, target in chain[1] if target < 0)
                        progress = True
                        break
        return int(self.unplaced.size)
