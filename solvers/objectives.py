"""What a goal means: the one home of the objectives (SPEC sections 2 and 9).

Everything a solver needs to know about ``objective.minimize`` lives here, so a new objective
or a new term (the move penalty of a running cluster) is one edit:

* :func:`machine_figures`: THE figures of one machine's content (slowdown of every resident
  from ``problem.slowdown``, degradation, added latency, SLO breaks). The evaluator, the
  heuristics engine and (through :func:`configuration_figures`, vectorized over many
  configurations) the exact columns all use it; nothing else computes them.
* :data:`GOALS`: one :class:`Goal` per objective name: its contribution per machine, how the
  contributions combine (sum or max), whether it is integer, which summary figure holds it,
  how a unit of degradation is valued, and what opening a machine costs. :func:`goal` looks a
  problem's goal up; :func:`trivial_bound` bounds it without search.
* :func:`rank`: the lexicographic order of SPEC section 9, smaller is better:
  ``(SLO violations, objective + move_penalty x counted moves, mean degradation, counted
  moves)``. With hard SLOs a violation is infeasible, so violations come first there too;
  without a ``current`` placement the move terms are 0. :func:`stages` lists the same goals
  for solvers that optimize them one after the other.
* :func:`better` and its :func:`slack`: ONE comparison with ONE :data:`TOLERANCE`, used
  for ranks, stage values, capacity sums and SLO checks alike.
* :func:`mean_weights`: the weights and denominator of the weighted mean degradation.

A problem is anything with the attributes of :class:`GoalProblem` (in practice
:class:`solvers.problem.Problem`, which takes :data:`ObjectiveName` and :data:`TOLERANCE` from
here, so this module cannot import it).

>>> goal("machines").integer, goal("max_degradation").combine
(True, 'max')
>>> better((0, 1.0, 0.2, 0), (0, 1.0 + 1e-12, 0.1, 0))  # the objectives tie: the mean decides
False
>>> better((0, 1.0, 0.1, 0), (0, 1.0, 0.2, 0))
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, get_args

import numpy as np

ObjectiveName = Literal["mean_degradation", "added_latency", "max_degradation", "machines", "cost"]
#: Every objective name, in SPEC order (the first is the default).
OBJECTIVES: tuple[ObjectiveName, ...] = get_args(ObjectiveName)
#: The lexicographic stage that comes before the objective with soft SLOs.
VIOLATIONS = "violations"
#: The stage that ranks placements equal on everything else (SPEC section 9).
MOVES = "moves"
#: The mean degradation as a stage after an objective stage that carries the move penalty.
PLAIN_TIE_BREAK = "mean_degradation_without_penalty"

#: THE tolerance. Absolute on capacity sums and SLO checks (``used <= capacity + TOLERANCE``,
#: ``latency <= slo + TOLERANCE``), so float sums of requests do not flip feasibility; relative
#: (with a floor of 1, see :func:`slack`) when two objective values are compared, so equal sums
#: in another order are a tie.
TOLERANCE = 1e-9


class GoalProblem(Protocol):
    """What this module reads of a problem (:class:`solvers.problem.Problem` has it all)."""

    objective: ObjectiveName
    slo_mode: Literal["hard", "soft"]
    move_penalty: float
    replica_model: np.ndarray  # [R]
    machine_type: np.ndarray  # [N]
    requests: np.ndarray  # [M, K]
    capacity: np.ndarray  # [T, K]
    solo_latency: np.ndarray  # [M, T]
    slo: np.ndarray  # [M]
    weight: np.ndarray  # [M]
    cost: np.ndarray  # [T]
    slowdown_batch_fn: object
    slowdown_sets_fn: object

    @property
    def n_types(self) -> int: ...
    @property
    def replicas_per_model(self) -> np.ndarray: ...
    @property
    def machines_per_type(self) -> np.ndarray: ...
    def slowdown(self, target: int, co_runners: Iterable[int], machine_type: int) -> float: ...
    def prefetch(self, queries: Iterable[tuple[int, Iterable[int], int]]) -> int: ...
    def set_slowdowns(
        self, machine_type: int, sets: Sequence[tuple[int, ...]]
    ) -> list[list[float]]: ...


# ---------------------------------------------------------------------------- comparison
def slack(reference: float) -> float:
    """How far a value may sit from ``reference`` and still count as equal to it."""
    return TOLERANCE * max(1.0, abs(float(reference)))


def better(new: Sequence[float], old: Sequence[float]) -> bool:
    """``new`` is lexicographically smaller than ``old``, each component beyond :func:`slack`
    (so float noise never counts as an improvement)."""
    for x, y in zip(new, old, strict=True):
        tol = TOLERANCE * max(1.0, abs(y))  # slack(y), inline: local search calls this a lot
        if x < y - tol:
            return True
        if x > y + tol:
            return False
    return False


# ---------------------------------------------------------------------------- weights
class MeanWeights(NamedTuple):
    """Weights of the weighted mean degradation: per model, and their sum over replicas
    (never 0). Every weight 0 means the unweighted mean: weights 1, denominator the replica
    count. Unpacks as ``weights, total``."""

    weights: np.ndarray  # [M]
    total: float


def mean_weights(problem: GoalProblem) -> MeanWeights:
    """The evaluator's weights (the one definition; solvers value degradation with it)."""
    total = float(problem.weight[problem.replica_model].sum())
    if total > 0:
        return MeanWeights(problem.weight, total)
    weights = np.ones_like(problem.weight)
    return MeanWeights(weights, float(weights[problem.replica_model].sum()) or 1.0)


# ---------------------------------------------------------------------------- one machine
@dataclass(frozen=True)
class MachineFigures:
    """Exact figures of one machine's residents (models, since a model has at most one replica
    on a machine)."""

    models: tuple[int, ...]  # sorted, so equal sets give bit-equal sums
    slowdowns: tuple[float, ...]  # aligned with ``models``
    weighted_degradation: float  # sum of mean weight x (slowdown - 1)
    weighted_added_latency: float  # sum of weight x solo latency x (slowdown - 1), ms
    max_degradation: float  # 0 when empty
    slo_violations: int
    latencies: tuple[float, ...] = ()  # solo latency x slowdown, ms, aligned with ``models``
    slo_met: tuple[bool, ...] = ()  # aligned with ``models``


EMPTY_FIGURES = MachineFigures((), (), 0.0, 0.0, 0.0, 0)


def _figures(
    problem: GoalProblem,
    ordered: tuple[int, ...],
    machine_type: int,
    weights: np.ndarray,
    stop_at_violation: bool,
    known: Sequence[float] | None = None,
) -> MachineFigures | None:
    """The one computation behind :func:`machine_figures` and :func:`configuration_figures`;
    None when ``stop_at_violation`` and a member misses its SLO (the slowdown function may be
    slow, a learned predictor even more so: the rest is not asked). ``known``: the members'
    slowdowns already asked (:meth:`~solvers.problem.Problem.set_slowdowns`), in order."""
    if not ordered:
        return EMPTY_FIGURES
    members = frozenset(ordered) if known is None else frozenset()
    t = int(machine_type)
    slowdowns = []
    latencies = []
    met = []
    wdeg = 0.0
    wlat = 0.0
    worst = 0.0
    violations = 0
    for i, m in enumerate(ordered):
        s = problem.slowdown(m, members - {m}, t) if known is None else known[i]
        solo = float(problem.solo_latency[m, t])
        latency = solo * s
        ok = latency <= problem.slo[m] + TOLERANCE
        if not ok:
            if stop_at_violation:
                return None
            violations += 1
        slowdowns.append(s)
        latencies.append(latency)
        met.append(bool(ok))
        wdeg += float(weights[m]) * (s - 1.0)
        wlat += float(problem.weight[m]) * solo * (s - 1.0)
        worst = max(worst, s - 1.0)
    return MachineFigures(
        ordered, tuple(slowdowns), wdeg, wlat, worst, violations, tuple(latencies), tuple(met)
    )


def machine_figures(
    problem: GoalProblem,
    models: Iterable[int],
    machine_type: int,
    weights: np.ndarray | None = None,
) -> MachineFigures:
    """Figures of a set of distinct models sharing one machine of ``machine_type``, from THE
    slowdown function (never from the pairwise table). ``weights``: the mean-degradation
    weights (:func:`mean_weights`; pass them when calling often)."""
    if weights is None:
        weights = mean_weights(problem).weights
    ordered = tuple(sorted({int(m) for m in models}))
    figures = _figures(problem, ordered, machine_type, weights, stop_at_violation=False)
    assert figures is not None  # only stop_at_violation gives None
    return figures


@dataclass(frozen=True)
class ConfigurationFigures:
    """:func:`machine_figures` of many configurations of one type, as arrays ``[C]``."""

    usable: np.ndarray  # bool; False: a member misses its SLO and SLOs are hard (rest is 0)
    weighted_degradation: np.ndarray
    weighted_added_latency: np.ndarray
    max_degradation: np.ndarray
    slo_violations: np.ndarray  # int
    cost: np.ndarray  # cost_per_hour of the machine (the same for every column)

    def __len__(self) -> int:
        return int(self.usable.shape[0])


def configuration_figures(
    problem: GoalProblem,
    configurations: Sequence[Iterable[int]],
    machine_type: int,
    weights: np.ndarray | None = None,
) -> ConfigurationFigures:
    """Figures of each configuration (a set of distinct models on one machine of
    ``machine_type``), for exact columns. The slowdowns of all of them are asked in one batch
    when the problem has a batch path. Under hard SLOs a configuration with a member that
    misses its SLO is marked unusable and its remaining members are not asked."""
    if weights is None:
        weights = mean_weights(problem).weights
    t = int(machine_type)
    ordered = [tuple(sorted({int(m) for m in ms})) for ms in configurations]
    known: list[list[float]] | None = None
    if problem.slowdown_sets_fn is not None:
        # whole sets in one call: no per-member keys built, asked or cached on the way
        known = problem.set_slowdowns(t, ordered)
    elif problem.slowdown_batch_fn is not None:
        problem.prefetch(
            (m, frozenset(ms) - {m}, t) for ms in ordered if len(ms) >= 2 for m in ms
        )
    hard = problem.slo_mode == "hard"
    C = len(ordered)
    usable = np.zeros(C, dtype=bool)
    wdeg, wlat, worst = np.zeros(C), np.zeros(C), np.zeros(C)
    violations = np.zeros(C, dtype=np.int64)
    for c, ms in enumerate(ordered):
        figures = _figures(problem, ms, t, weights, stop_at_violation=hard,
                           known=None if known is None else known[c])
        if figures is None:
            continue
        usable[c] = True
        wdeg[c] = figures.weighted_degradation
        wlat[c] = figures.weighted_added_latency
        worst[c] = figures.max_degradation
        violations[c] = figures.slo_violations
    cost = np.full(C, float(problem.cost[t]))
    return ConfigurationFigures(usable, wdeg, wlat, worst, violations, cost)


# ---------------------------------------------------------------------------- the goals
@dataclass(frozen=True)
class Goal:
    """One objective of SPEC section 2, as every solver needs it.

    ``figure``: the attribute of a summary (:class:`solvers.metrics.Metrics`, or
    :class:`Totals`) holding the objective's value. ``combine``: how per-machine contributions
    (:meth:`contribution`) make the value: ``sum`` (then divided by ``divisor``), or ``max``.
    ``integer``: every value is a whole number (bounds may be rounded up; not once a move
    penalty is added, see :func:`integral`). ``degradation_unit``: what one unit of a model's
    degradation is worth to this goal, for pairwise estimates (:func:`degradation_value`).
    ``prices_machines``: the goal is a price of the machines used (``machines``, ``cost``):
    opening one costs :func:`opening_price`.
    """

    name: ObjectiveName
    figure: str
    combine: Literal["sum", "max"]
    integer: bool
    machine_figure: str  # MachineFigures attribute summed or maxed, or "price" of an open one
    divisor: Literal["one", "mean_weights"] = "one"
    degradation_unit: Literal["mean_weight", "weighted_latency"] = "mean_weight"
    prices_machines: bool = False
    price: Literal["one", "cost"] = "one"

    def contribution(self, figures: MachineFigures, price: float) -> float:
        """What one machine with these figures adds to the goal (before ``divisor``);
        ``price``: :func:`opening_price` of its type."""
        if self.machine_figure == "price":
            return float(price) if figures.models else 0.0
        return float(getattr(figures, self.machine_figure))

    def change(
        self,
        before: MachineFigures,
        after: MachineFigures,
        price: float,
        elsewhere: float = 0.0,
    ) -> float:
        """The goal's change when one machine goes from ``before`` to ``after``, for choosing
        among machines in one step (sums: the difference, undivided; max: the resulting max,
        ``elsewhere`` being the largest contribution of the other machines)."""
        if self.combine == "max":
            return max(elsewhere, self.contribution(after, price))
        return self.contribution(after, price) - self.contribution(before, price)

    def value(self, summary: object) -> float:
        """The objective's value in a summary that has the attribute ``figure``."""
        return float(getattr(summary, self.figure))


GOALS: dict[ObjectiveName, Goal] = {
    "mean_degradation": Goal(
        "mean_degradation", "mean_degradation", "sum", False, "weighted_degradation",
        divisor="mean_weights",
    ),
    "added_latency": Goal(
        "added_latency", "weighted_added_latency_ms", "sum", False, "weighted_added_latency",
        degradation_unit="weighted_latency",
    ),
    "max_degradation": Goal("max_degradation", "max_degradation", "max", False, "max_degradation"),
    "machines": Goal("machines", "machines_used", "sum", True, "price", prices_machines=True),
    "cost": Goal(
        "cost", "cost_per_hour", "sum", False, "price", prices_machines=True, price="cost"
    ),
}
#: The tie-break of every objective, and the second goal of ``machines`` and ``cost``.
TIE_BREAK: ObjectiveName = "mean_degradation"


def goal(problem_or_name: GoalProblem | str) -> Goal:
    """The :class:`Goal` of a problem (its ``objective``) or of an objective name."""
    name = problem_or_name if isinstance(problem_or_name, str) else problem_or_name.objective
    try:
        return GOALS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(
            f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVES)}"
        ) from None


def integral(problem: GoalProblem) -> bool:
    """Every value of the problem's objective is a whole number: integer goal, no move
    penalty (a penalty makes ``machines`` fractional, so bounds must not be rounded then)."""
    return goal(problem).integer and not problem.move_penalty


def opening_price(problem: GoalProblem) -> np.ndarray:
    """[T] what opening a machine of each type costs the goal when it prices machines (1 per
    machine, or its ``cost_per_hour``); 1 otherwise."""
    if goal(problem).price == "cost":
        return problem.cost.astype(float)
    return np.ones(problem.n_types)


def degradation_value(problem: GoalProblem) -> np.ndarray:
    """[M, T] what one unit of a model's degradation on a type is worth to the goal: its solo
    latency x weight for ``added_latency``, its mean weight otherwise (0 where disallowed).
    For pairwise estimates (pre-scores), never for decisions."""
    if goal(problem).degradation_unit == "weighted_latency":
        value = problem.weight[:, None] * problem.solo_latency
    else:
        value = np.repeat(mean_weights(problem).weights[:, None], problem.n_types, axis=1)
    return np.nan_to_num(value)


# ---------------------------------------------------------------------------- rank
class Totals(NamedTuple):
    """The summary figures a rank needs, for solvers that keep them incrementally (the same
    attribute names as :class:`solvers.metrics.Metrics`; a tuple, since local search builds
    one per candidate)."""

    slo_violations: int
    mean_degradation: float
    weighted_added_latency_ms: float
    max_degradation: float
    machines_used: int
    cost_per_hour: float


Rank = tuple[float, float, float, float]


class Summary(Protocol):
    """What :func:`rank` reads of a summary (besides the goal's own figure)."""

    slo_violations: int
    mean_degradation: float


def rank(problem: GoalProblem, summary: Summary, moves: int = 0) -> Rank:
    """SPEC section 9's order, smaller is better: (SLO violations, objective + move penalty x
    counted moves, mean degradation, counted moves). ``summary``: a
    :class:`~solvers.metrics.Metrics` or :class:`Totals`. Compare ranks with :func:`better`."""
    objective = float(getattr(summary, GOALS[problem.objective].figure))
    if moves and problem.move_penalty:
        objective += problem.move_penalty * moves
    return (
        float(summary.slo_violations),
        objective,
        float(summary.mean_degradation),
        float(moves),
    )


def stages(problem: GoalProblem) -> list[str]:
    """The goals of :func:`rank`, most important first, for solvers that optimize them in turn
    (lexicographically): violations with soft SLOs (hard ones are constraints), the objective,
    the mean degradation when it is not the objective already, counted moves last once the
    problem has a ``current`` placement. With a move penalty the objective stage includes it,
    so the mean degradation is a stage of its own even when it is the objective
    (:data:`PLAIN_TIE_BREAK`: the same figure without the penalty)."""
    out: list[str] = []
    if problem.slo_mode == "soft":
        out.append(VIOLATIONS)
    out.append(problem.objective)
    has_current = has_moves(problem)
    if problem.objective != TIE_BREAK:
        out.append(TIE_BREAK)
    elif has_current and problem.move_penalty:
        out.append(PLAIN_TIE_BREAK)
    if has_current:
        out.append(MOVES)
    return out


def has_moves(problem: GoalProblem) -> bool:
    """The problem has replicas in a ``current`` placement (moves can be counted)."""
    current = getattr(problem, "current", None)
    return current is not None and bool((np.asarray(current) >= 0).any())


def stage_is_integer(stage: str) -> bool:
    """Violations and counted moves are counts; an objective as :attr:`Goal.integer` says."""
    if stage == PLAIN_TIE_BREAK:
        return False
    return stage in (VIOLATIONS, MOVES) or goal(stage).integer


def column_coefficients(
    problem: GoalProblem, figures: ConfigurationFigures, stage: str
) -> np.ndarray:
    """[C] each column's contribution to a stage that sums over machines (``max`` goals have
    none: model them with an epigraph variable over ``figures.max_degradation``)."""
    if stage == VIOLATIONS:
        return figures.slo_violations.astype(float)
    g = goal(stage)
    if g.combine != "sum":
        raise ValueError(f"stage {stage!r} is a max, it has no linear coefficients")
    if g.machine_figure == "price":
        return figures.cost.copy() if g.price == "cost" else np.ones(len(figures))
    values = np.asarray(getattr(figures, g.machine_figure), dtype=float)
    if g.divisor == "mean_weights":
        values = values / mean_weights(problem).total
    return values


def trivial_bound(problem: GoalProblem) -> float:
    """A lower bound on the problem's objective that needs no search.

    Degradation goals: 0. Goals that price machines: every resource's total request must fit
    the machines used, so a fractional knapsack over types (cheapest capacity first) bounds
    the price from below; ``machines`` also needs as many machines as the largest replica
    count (replicas of a model go on distinct machines), and is rounded up when integral.
    """
    g = goal(problem)
    if not g.prices_machines:
        return 0.0
    per_machine = opening_price(problem)
    most_replicas = int(max(problem.replicas_per_model, default=0))
    present = problem.machines_per_type > 0
    if most_replicas == 0 or not present.any():
        best = 0.0
    elif g.price == "one":
        best = float(most_replicas)
    else:  # at least one machine is open, and the cheapest present type is the least it costs
        best = float(per_machine[present].min())
    demand = problem.requests[problem.replica_model].sum(axis=0)
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
        if integral(problem):
            total = math.ceil(total - TOLERANCE)
        best = max(best, total)
    return best


def counted_moves(current: np.ndarray | None, assignment: np.ndarray, down: np.ndarray) -> int:
    """Replicas of ``current`` ([R] machine index, -1 when new) that ``assignment`` puts on
    another machine, except moves off a machine that is ``down`` ([N] bool): those are
    forced and not counted (SPEC section 9). 0 without a current placement."""
    if current is None:
        return 0
    assignment = np.asarray(assignment)
    placed_before = current >= 0
    moved = placed_before & (assignment >= 0) & (assignment != current)
    forced = np.zeros_like(moved)
    forced[placed_before] = down[current[placed_before]]
    return int((moved & ~forced).sum())


# ---------------------------------------------------------------------------- pricing terms
# Added for the exact solvers' pricing (solvers/exact/pricing.py): a summing stage split per
# resident, so that lower bounds on slowdowns give lower bounds on a configuration's value.
@dataclass(frozen=True)
class LinearTerms:
    """One machine of type ``t`` holding the models ``S`` adds to a summing stage
    ``per_machine[t] + sum_{m in S} per_degradation[m, t] x (slowdown_m - 1)
    + per_violation x (members of S missing their SLO)``: the same value as
    :func:`column_coefficients`, split by what it depends on."""

    per_machine: np.ndarray  # [T]
    per_degradation: np.ndarray  # [M, T] (0 where the model cannot run)
    per_violation: float


def linear_terms(problem: GoalProblem, stage: str) -> LinearTerms:
    """:class:`LinearTerms` of a summing stage (violations, or a goal combined by ``sum``)."""
    M, T = problem.weight.shape[0], problem.n_types
    nothing = np.zeros((M, T))
    if stage == VIOLATIONS:
        return LinearTerms(np.zeros(T), nothing, 1.0)
    g = goal(stage)
    if g.combine != "sum":
        raise ValueError(f"stage {stage!r} is a max, it has no linear terms")
    if g.machine_figure == "price":
        price = problem.cost.astype(float) if g.price == "cost" else np.ones(T)
        return LinearTerms(price, nothing, 0.0)
    if g.machine_figure == "weighted_added_latency":
        per = problem.weight[:, None] * np.nan_to_num(problem.solo_latency)
    else:  # weighted_degradation
        per = np.repeat(np.asarray(mean_weights(problem).weights, float)[:, None], T, axis=1)
    if g.divisor == "mean_weights":
        per = per / mean_weights(problem).total
    return LinearTerms(np.zeros(T), per, 0.0)
