"""``greedy``: the seed paper's interference-aware scheduler, as a score plugin for the engine.

Replicas in file order, each to the feasible machine that adds the least predicted
degradation, ties to the least loaded. "Feasible" includes, when SLOs are hard, every replica on
the machine, the new one too) still meeting its SLO. What "least degradation" means follows the
objective (SPEC section 2), as its :class:`~solvers.objectives.Goal` says: the exact key is

    (new SLO violations, the goal's change on the machine, added weighted degradation,
     current utilization)

where the goal's change (:meth:`~solvers.objectives.Goal.change`) is the added weighted
degradation (``mean_degradation``), the added weighted latency (``added_latency``), the
resulting max degradation (``max_degradation``), or what opening the machine costs (1 for
``machines``, its cost for ``cost``, 0 when it is already open). "Added" counts the new
replica's degradation and the change of every resident's. With soft SLOs nothing is filtered
for SLOs, but the number of new SLO violations comes first in the key. The utilization ends
every key ("ties to the least loaded").

The pre-score that picks the shortlist is the same key computed from the additive pairwise
table (:class:`~solvers.heuristics.engine.PairwiseLoad`), with the new replica's own predicted
SLO miss first; the decision is always on the exact slowdown function (see
:mod:`solvers.heuristics.engine`).
"""

from __future__ import annotations

import time

import numpy as np

from solvers.heuristics.engine import (
    DEFAULT_SHORTLIST,
    MachineState,
    PairwiseLoad,
    Placement,
    Score,
    heuristic_result,
    place,
)
from solvers.objectives import (
    TOLERANCE,
    MachineFigures,
    degradation_value,
    goal,
    opening_price,
)
from solvers.problem import Problem
from solvers.result import Result


class LeastAddedDegradation(Score):
    """Score of the interference-aware greedy; ``count_violations`` puts new SLO violations
    first (soft SLOs, and the SLO-blind start of a repair)."""

    exact = True

    def __init__(self, problem: Problem, count_violations: bool) -> None:
        self.problem = problem
        self.goal = goal(problem)
        self.price = opening_price(problem)  # [T]
        self.count_violations = count_violations
        # a degradation is worth its weighted solo ms (added_latency) or its mean weight
        self.own_value = degradation_value(problem)
        self.load = PairwiseLoad(problem, self.own_value)
        self.resident_worst = np.zeros((problem.n_machines, problem.n_models))
        self._top2: tuple[float, float, int] = (0.0, 0.0, -1)
        self._utilization = np.zeros(problem.n_machines)  # of this step's candidates

    # ------------------------------------------------------------------ pre-score
    def prescore(self, state: MachineState, model: int, machines: np.ndarray) -> list[np.ndarray]:
        p = self.problem
        types = state.type[machines]
        own = self.load.own[machines, model]
        added = self.own_value[model, types] * own + self.load.inflicted[machines, model]
        own_latency = p.solo_latency[model, types] * (1.0 + own)
        keys = [(own_latency > p.slo[model] + TOLERANCE).astype(float)]
        if self.goal.prices_machines:
            keys.append((state.count[machines] == 0) * self.price[types])
        elif self.goal.combine == "max":
            self._remember_top2(state)
            machine_max = np.maximum(own, self.resident_worst[machines, model])
            keys.append(np.maximum(machine_max, self._max_excluding(machines)))
        keys.append(added)
        utilization = state.utilization(machines)
        self._utilization[machines] = utilization
        keys.append(utilization)
        return keys

    def _remember_top2(self, state: MachineState) -> None:
        worst = state.max_degradation
        if worst.size == 0:
            self._top2 = (0.0, 0.0, -1)
            return
        first = int(np.argmax(worst))
        rest = np.delete(worst, first)
        self._top2 = (float(worst[first]), float(rest.max()) if rest.size else 0.0, first)

    def _max_excluding(self, machines: np.ndarray) -> np.ndarray:
        """Largest machine max degradation among all machines but each of ``machines``."""
        top, second, where = self._top2
        return np.where(machines == where, second, top)

    def _max_excluding_one(self, machine: int) -> float:
        top, second, where = self._top2
        return second if machine == where else top

    # ------------------------------------------------------------------ exact key
    def exact_key(
        self, state: MachineState, model: int, machine: int, after: MachineFigures
    ) -> tuple[float, ...]:
        before = state.figures[machine]
        new_violations = after.slo_violations - before.slo_violations
        if not self.count_violations:
            new_violations = 0
        price = float(self.price[int(state.type[machine])])
        elsewhere = self._max_excluding_one(machine) if self.goal.combine == "max" else 0.0
        change = self.goal.change(before, after, price, elsewhere)
        added = after.weighted_degradation - before.weighted_degradation
        return (new_violations, change, added, float(self._utilization[machine]))

    # ------------------------------------------------------------------ reserve
    def placed(self, state: MachineState, model: int, machine: int) -> None:
        self.load.add(machine, model)
        if self.goal.combine == "max":
            # per candidate model x: worst resident degradation if x joined (additive estimate)
            figures = state.figures[machine]
            pair = self.problem.pair_slowdown[int(state.type[machine])]
            worst = np.zeros(self.problem.n_models)
            for b, s in zip(figures.models, figures.slowdowns, strict=True):
                np.maximum(worst, (s - 1.0) + (pair[b, :] - 1.0), out=worst)
            self.resident_worst[machine] = worst


def greedy_placement(
    problem: Problem,
    *,
    deadline: float | None = None,
    respect_slo: bool = True,
    shortlist: int = DEFAULT_SHORTLIST,
    order: np.ndarray | None = None,
    keep_going: bool = False,
) -> Placement:
    """One greedy cycle. Hard SLOs filter when ``problem.slo_mode`` is hard;
    ``respect_slo=False`` gives the SLO-blind variant (SLOs scored as if soft) that local search
    repairs from. ``order`` and ``keep_going`` pass to :func:`~solvers.heuristics.engine.place`
    (the ``greedy`` solver itself uses neither: file order, stop at the first replica it cannot
    place)."""
    hard = respect_slo and problem.slo_mode == "hard"
    score = LeastAddedDegradation(problem, count_violations=True)
    return place(
        problem,
        score,
        order=order,
        hard_slo=hard,
        shortlist=shortlist,
        deadline=deadline,
        keep_going=keep_going,
    )


def greedy(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    shortlist: int = DEFAULT_SHORTLIST,
    **options,
) -> Result:
    """SPEC section 6. ``shortlist``: machines re-scored exactly per replica (default 8)."""
    started = time.perf_counter()
    placement = greedy_placement(problem, deadline=started + time_limit, shortlist=shortlist)
    return heuristic_result(problem, placement, "greedy", started)
