"""``local-search``: greedy, then improving moves and swaps until a local optimum or the limit.

Neighbourhoods: *move* one replica to another machine; *swap* two replicas of different models
on different machines. A candidate is compared with the incumbent by
:func:`solvers.objectives.rank` (SLO violations, objective, mean degradation) and
:func:`solvers.objectives.better`, but computed incrementally: only the two touched machines
are re-evaluated, exactly, with THE slowdown function
(:func:`solvers.objectives.machine_figures`); the totals are re-summed from the per-machine
figures after each accepted step so no drift accumulates. The returned objective is
recomputed by the evaluator, and the result is never worse than greedy's (checked on the
evaluator's figures).

Hard SLOs: moves that add a violation never improve the key, so a feasible start stays
feasible. When greedy (file order, the paper's rule, left as it is) cannot place everything,
local search builds another start (:func:`_construct`): the same engine and score with the
replicas most constrained first (:func:`~solvers.heuristics.engine.most_constrained_order`); else an
ejection-chain repair (:mod:`solvers.heuristics.repair`) of the partial placements, which seats the
stranded replicas by moving residents aside (minimizing unplaced replicas, then violations,
then the objective) and breaks no hard SLO; else, as before, the first complete placement
among SLO-blind greedy (hard SLOs only), least-loaded and first-fit decreasing, from which the
search minimizes violations first. If any violation remains under hard SLOs, the answer is
UNKNOWN, never an SLO-breaking placement.

Anytime and deterministic: the clock is read before every exact evaluation; neighbourhoods are
visited in an order drawn from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from solvers.heuristics.baselines import FirstFit, LeastLoaded, size_order
from solvers.heuristics.engine import (
    MachineState,
    PairwiseLoad,
    Placement,
    most_constrained_order,
    move_budget_note,
    over_move_budget,
    place,
    unsolved_result,
)
from solvers.heuristics.greedy import greedy_placement
from solvers.heuristics.repair import Repair
from solvers.metrics import evaluate_assignment, sort_key, violations
from solvers.objectives import (
    MachineFigures,
    Rank,
    Totals,
    better,
    counted_moves,
    degradation_value,
    goal,
    mean_weights,
    opening_price,
    rank,
)
from solvers.problem import Problem
from solvers.result import Result, Status

#: Move targets evaluated exactly per replica before the best improving one is taken.
DEFAULT_SHORTLIST = 16


class Search:
    """Incumbent placement with per-machine figures and the totals the key needs."""

    def __init__(
        self,
        problem: Problem,
        assignment: np.ndarray,
        *,
        seed: int,
        deadline: float,
        shortlist: int = DEFAULT_SHORTLIST,
    ) -> None:
        self.problem = problem
        self.state = MachineState.from_assignment(problem, assignment)
        self.rng = np.random.default_rng(seed)
        self.deadline = deadline
        self.shortlist = max(1, int(shortlist))
        self.hard = problem.slo_mode == "hard"
        self.weight_sum = mean_weights(problem).total
        self.price = opening_price(problem)  # [T]
        self.own_value = degradation_value(problem)  # [M, T]
        self.load = PairwiseLoad(problem, self.own_value)
        for r, n in enumerate(self.state.assignment.tolist()):
            self.load.add(n, int(problem.replica_model[r]))
        self.current = problem.current
        self.max_moves = problem.max_moves
        #: counted moves of the incumbent from ``current`` (SPEC section 9)
        self.counted = counted_moves(self.current, self.state.assignment, down_machines(problem))
        self.moves = 0
        self.swaps = 0
        self.evaluations = 0
        self.interrupted = False
        self.local_optimum = False
        self._refresh()

    # ------------------------------------------------------------------ key
    def _refresh(self) -> None:
        s = self.state
        self.violations = int(s.slo_violations.sum())
        self.weighted_degradation = float(s.weighted_degradation.sum())
        self.weighted_added_latency = float(s.weighted_added_latency.sum())
        occupied = s.count > 0
        self.machines_used = int(occupied.sum())
        self.cost = float(self.problem.cost[s.type[occupied]].sum())
        worst = s.max_degradation
        top = np.argsort(-worst, kind="stable")[:3]
        self.top_worst = [(float(worst[n]), int(n)) for n in top]
        self.key = self.key_with(())

    def _max_excluding(self, changes: Sequence[tuple[int, MachineFigures]]) -> float:
        """The largest machine max degradation among the machines ``changes`` leaves alone."""
        for value, n in self.top_worst:
            if all(n != changed for changed, _ in changes):
                return value
        return 0.0

    def key_with(
        self, changes: Sequence[tuple[int, MachineFigures]], moves_change: int = 0
    ) -> Rank:
        """The rank of the incumbent with the figures of the given machines replaced and its
        counted moves changed by ``moves_change``."""
        s, p = self.state, self.problem
        violations = self.violations
        wdeg = self.weighted_degradation
        wlat = self.weighted_added_latency
        used = self.machines_used
        cost = self.cost
        worst = 0.0
        for n, after in changes:
            before = s.figures[n]
            violations += after.slo_violations - before.slo_violations
            wdeg += after.weighted_degradation - before.weighted_degradation
            wlat += after.weighted_added_latency - before.weighted_added_latency
            opened = int(bool(after.models)) - int(bool(before.models))
            used += opened
            cost += opened * float(p.cost[s.type[n]])
            worst = max(worst, after.max_degradation)
        worst = max(worst, self._max_excluding(changes))
        totals = Totals(violations, wdeg / self.weight_sum, wlat, worst, used, cost)
        return rank(p, totals, self.counted + moves_change)

    # ------------------------------------------------------------------ moves of current
    def moves_change(self, replica: int, target: int) -> int:
        """How the counted moves change when ``replica`` goes to ``target``: +1 leaving the
        machine it runs on now, -1 going back there, 0 for new replicas and those of a ``down``
        machine (forced)."""
        if self.current is None:
            return 0
        home = int(self.current[replica])
        if home < 0 or self.state.tables.down[home]:
            return 0
        return int(target != home) - int(int(self.state.assignment[replica]) != home)

    def pinned_by_budget(self, replica: int) -> bool:
        """The replica runs where it ran and the budget is spent: any move of it is counted
        (a swap bringing its partner home is the one exception, left out), so it stays."""
        return (
            self.max_moves is not None
            and self.counted >= self.max_moves
            and self.moves_change(replica, -1) > 0
        )

    def within_budget(self, change: int) -> bool:
        """A step changing the counted moves by ``change`` keeps them within ``max_moves``
        (a step that lowers them is always allowed)."""
        return self.max_moves is None or change <= 0 or self.counted + change <= self.max_moves

    # ------------------------------------------------------------------ clock
    def out_of_time(self) -> bool:
        if time.perf_counter() > self.deadline:
            self.interrupted = True
        return self.interrupted

    # ------------------------------------------------------------------ moves
    def _move_order(self, model: int, targets: np.ndarray) -> np.ndarray:
        """Targets ranked by an additive pairwise estimate, so good moves are met first."""
        s = self.state
        types = s.type[targets]
        added = (
            self.own_value[model, types] * self.load.own[targets, model]
            + self.load.inflicted[targets, model]
        )
        opens = (s.count[targets] == 0) * self.price[types]
        return targets[np.lexsort((targets, added, opens))]

    def try_move(self, replica: int) -> bool:
        s = self.state
        model = int(self.problem.replica_model[replica])
        source = int(s.assignment[replica])
        if self.pinned_by_budget(replica):
            return False
        mask = s.feasible(model, self.hard, replica=replica)
        mask[source] = False
        targets = np.flatnonzero(s.without_empty_twins(mask))
        if targets.size == 0:
            return False
        source_after = s.figures_with(source, remove=(model,))
        best: tuple[int, MachineFigures, int] | None = None
        best_key = self.key
        for seen, n in enumerate(self._move_order(model, targets).tolist(), start=1):
            if self.out_of_time():
                break
            change = self.moves_change(replica, n)
            if not self.within_budget(change):
                continue
            after = s.figures_with(n, add=(model,))
            key = self.key_with(((source, source_after), (n, after)), change)
            self.evaluations += 1
            if better(key, best_key):
                best, best_key = (n, after, change), key
            if best is not None and seen >= self.shortlist:
                break
        if best is None:
            return False
        target, target_after, change = best
        self.counted += change
        s.set_machine(source, source_after.models, source_after)
        s.set_machine(target, target_after.models, target_after)
        s.assignment[replica] = target
        self.load.remove(source, model)
        self.load.add(target, model)
        self.moves += 1
        self._refresh()
        return True

    def move_pass(self) -> bool:
        improved = False
        for r in self.rng.permutation(self.problem.n_replicas).tolist():
            if self.out_of_time():
                break
            improved |= self.try_move(r)
        return improved

    # ------------------------------------------------------------------ swaps
    def _swap_partners(self, replica: int) -> np.ndarray:
        """Replicas (of higher index, so each pair is seen once a pass) that ``replica`` can
        trade machines with: filters of both machines, vectorized over all replicas."""
        s, p = self.state, self.problem
        a = int(s.assignment[replica])
        m1 = int(p.replica_model[replica])
        machine = s.assignment
        models = p.replica_model
        ok = (machine != a) & (models != m1) & (np.arange(p.n_replicas) > replica)
        ok &= s.may_host(self.hard)[models, a] & s.may_host(self.hard)[m1, machine]
        ok &= ~s.conflicts_after_swap(a, m1, models) & ~s.conflicts_after_swap(machine, models, m1)
        ok &= s.spread_kept_by_swap(a, machine, m1, models)
        if self.max_moves is not None and self.current is not None:
            ok &= self._swaps_within_budget(replica, a)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return idx
        req = p.requests
        b = machine[idx]
        fits = s.tables.fits
        on_a = fits(s.used[a] - req[m1], req[models[idx]], s.capacity[a])
        on_b = fits(s.used[b] - req[models[idx]], req[m1], s.capacity[b])
        return idx[on_a & on_b]

    def _swaps_within_budget(self, replica: int, a: int) -> np.ndarray:
        """[R] bool: swapping ``replica`` (on machine ``a``) with each replica keeps the
        counted moves within the budget (vectorized :meth:`moves_change` of both sides)."""
        assert self.current is not None and self.max_moves is not None
        home = self.current
        machine = self.state.assignment
        tracked = home >= 0
        tracked[tracked] = ~self.state.tables.down[home[tracked]]
        change = np.where(tracked, (a != home).astype(int) - (machine != home), 0)
        first = self.moves_change(replica, -1)  # placeholder target: any machine but home
        home1 = int(home[replica])
        if tracked[replica]:
            first = (machine != home1).astype(int) - int(a != home1)
        total = change + first
        return (total <= 0) | (self.counted + total <= self.max_moves)

    def try_swap(self, r1: int, r2: int) -> bool:
        s, p = self.state, self.problem
        a, b = int(s.assignment[r1]), int(s.assignment[r2])
        m1, m2 = int(p.replica_model[r1]), int(p.replica_model[r2])
        change = self.moves_change(r1, b) + self.moves_change(r2, a)
        if not self.within_budget(change):
            return False
        a_after = s.figures_with(a, add=(m2,), remove=(m1,))
        b_after = s.figures_with(b, add=(m1,), remove=(m2,))
        self.evaluations += 1
        if not better(self.key_with(((a, a_after), (b, b_after)), change), self.key):
            return False
        self.counted += change
        s.set_machine(a, a_after.models, a_after)
        s.set_machine(b, b_after.models, b_after)
        s.assignment[r1], s.assignment[r2] = b, a
        self.load.remove(a, m1)
        self.load.add(a, m2)
        self.load.remove(b, m2)
        self.load.add(b, m1)
        self.swaps += 1
        self._refresh()
        return True

    def swap_pass(self) -> bool:
        """First improvement: the first improving partner of each replica is taken."""
        improved = False
        for r1 in self.rng.permutation(self.problem.n_replicas).tolist():
            if self.pinned_by_budget(r1):
                continue
            for r2 in self._swap_partners(r1).tolist():
                if self.out_of_time():
                    return improved
                if self.try_swap(r1, r2):
                    improved = True
                    break
        return improved

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Moves until none improves, then swaps; back to moves after any improving swap."""
        while not self.out_of_time():
            if self.move_pass():
                continue
            if self.interrupted:
                return
            if self.swap_pass():
                continue
            self.local_optimum = not self.interrupted
            return


def down_machines(problem: Problem) -> np.ndarray:
    """[N] bool: machines that are down (moves off them are forced, not counted)."""
    return problem.filter_tables.down


def _fallback_start(
    problem: Problem, deadline: float
) -> tuple[np.ndarray | None, str, Placement | None]:
    """A complete placement to repair when greedy gets stuck: greedy's order and score without
    the SLO filter (stuck on SLOs), else the capacity-only baselines (stuck on packing, since
    spreading or packing by size may fit what greedy's co-location choices do not)."""
    attempts: list[tuple[str, Callable[[], Placement]]] = [
        ("least-loaded", lambda: place(problem, LeastLoaded(), deadline=deadline)),
        (
            "first-fit decreasing",
            lambda: place(problem, FirstFit(), order=size_order(problem), deadline=deadline),
        ),
    ]
    if problem.slo_mode == "hard":
        blind = (
            "SLO-blind greedy",
            lambda: greedy_placement(problem, deadline=deadline, respect_slo=False),
        )
        attempts.insert(0, blind)
    last: Placement | None = None
    for name, attempt in attempts:
        last = attempt()
        if last.complete:
            return last.assignment.copy(), f"repair from {name}", last
        if last.timed_out:
            break
    return None, "", last


def _construct(
    problem: Problem, first: Placement, deadline: float, info: dict[str, Any]
) -> tuple[np.ndarray | None, str, Placement | None]:
    """A complete start when file-order greedy (``first``, run with ``keep_going``) is not one.

    1. greedy's score in the most-constrained-first order (same engine, another order);
    2. ejection-chain repair (:mod:`solvers.heuristics.repair`) of the partial greedy
       placements (file order and most constrained first), the one with fewer unplaced
       replicas first;
    3. :func:`_fallback_start`.

    Starts from 1 and 2 respect hard SLOs; 3 may not, and the search then minimizes
    violations first. ``info`` receives what the repair did.
    """
    order = most_constrained_order(problem)
    constrained = greedy_placement(problem, deadline=deadline, order=order, keep_going=True)
    if constrained.complete:
        return constrained.assignment.copy(), "greedy, most constrained first", constrained
    partials = [("greedy", first), ("greedy, most constrained first", constrained)]
    partials.sort(key=lambda item: np.inf if item[1].timed_out else len(item[1].skipped))
    for name, partial in partials:
        if partial.timed_out or time.perf_counter() > deadline:
            break
        repair = Repair(problem, partial.assignment, deadline=deadline)
        left = repair.run(order)
        info.setdefault("repair", []).append(
            {
                "from": name,
                "unplaced_before": len(partial.skipped),
                "unplaced_after": left,
                "ejections": repair.ejections,
                "chains_tried": repair.chains_tried,
            }
        )
        if left == 0 and not violations(problem, repair.state.assignment):
            return repair.state.assignment.copy(), f"repair of {name} by ejection chains", None
    if time.perf_counter() > deadline:
        return None, "", constrained
    return _fallback_start(problem, deadline)


def local_search(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    shortlist: int = DEFAULT_SHORTLIST,
    **options,
) -> Result:
    """SPEC section 6. ``seed`` orders the neighbourhoods; ``shortlist``: move targets
    evaluated per replica before the best improving one is taken (all when none improves)."""
    started = time.perf_counter()
    deadline = started + time_limit
    hard = problem.slo_mode == "hard"
    # keep_going changes nothing when greedy completes; otherwise it leaves a partial to repair
    first = greedy_placement(problem, deadline=deadline, keep_going=True)
    greedy_assignment = first.assignment.copy() if first.complete else None
    origin = "greedy"
    start = greedy_assignment
    construction: dict[str, Any] = {}
    if start is None:
        if first.timed_out:
            return unsolved_result(problem, first, "local-search", started)
        start, origin, last = _construct(problem, first, deadline, construction)
        if start is None:
            result = unsolved_result(problem, last or first, "local-search", started)
            result.info.update(construction)
            return result

    search = Search(problem, start, seed=seed, deadline=deadline, shortlist=shortlist)
    search.run()
    final = search.state.assignment.copy()
    metrics = evaluate_assignment(problem, final)
    down = down_machines(problem)
    if greedy_assignment is not None:
        reference = evaluate_assignment(problem, greedy_assignment)
        if better(
            sort_key(problem, reference, counted_moves(problem.current, greedy_assignment, down)),
            sort_key(problem, metrics, counted_moves(problem.current, final, down)),
        ):
            final, metrics = greedy_assignment, reference
    info = {
        "solver": "local-search",
        "start": origin,
        "moves": search.moves,
        "swaps": search.swaps,
        "evaluations": search.evaluations,
        "local_optimum": search.local_optimum,
        **construction,
    }
    broken = violations(problem, final, check_slo=False)
    if broken:  # never expected (every move is filtered): refuse rather than return it
        result = unsolved_result(
            problem,
            None,
            "local-search",
            started,
            note=f"local search built an invalid placement (a bug, please report): {broken[0]}",
        )
        result.info.update({k: v for k, v in info.items() if k != "solver"})
        return result
    if over_move_budget(problem, final):
        result = unsolved_result(
            problem, None, "local-search", started, note=move_budget_note(problem, final)
        )
        result.info.update({k: v for k, v in info.items() if k != "solver"})
        return result
    if hard and metrics.slo_violations:
        result = unsolved_result(
            problem,
            None,
            "local-search",
            started,
            note=f"local search could repair the {origin} placement only down to "
            f"{metrics.slo_violations} SLO violations",
        )
        result.info.update({k: v for k, v in info.items() if k != "solver"})
        return result
    return Result(
        Status.FEASIBLE,
        final,
        objective=goal(problem).value(metrics),
        seconds=time.perf_counter() - started,
        info=info,
    )
