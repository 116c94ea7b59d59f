"""Exact pricing for column generation: the configuration of one machine type with the least
reduced cost, by a depth-first search with lower bounds.

A configuration ``S`` of type ``t`` prices out at ``rc(S) = f(S) - pi(S) - mu_t`` with
``f(S) = sum_g alpha_g g(S)`` (the stage's goal, weight 1, and every fixed earlier goal, weight
``-nu_g``). The search walks each type's candidates in dual order and evaluates ``f`` exactly
(``problem.slowdown``) on every set that may improve; it cuts a branch when a *lower bound* on
``rc`` of every superset cannot beat the best found:

* with ``problem.structure`` (set-wise entries over composed pairs): a member's slowdown in any
  superset of ``S`` is at least ``min(composed(S), min{setwise(t, i, W) : W ⊇ S})`` (composition
  of values >= 1 never decreases), so costs, SLOs and the max-degradation cap are bounded from
  below for the whole branch;
* without it (a learned predictor): only ``f >= 0`` is known, which is still valid but rarely
  prunes enough to finish.

Every exact value is checked against its lower bound; a violation (the structure does not
describe the slowdown function) is counted, and the caller then claims no bound. A search cut
short by its node budget or the deadline still returns a proved lower bound: the minimum of
what it searched and, for every branch it left, the branch's bound (the prefix's cost minus the
best ``room`` gains ``pi_j - cost_j`` of the candidates left, at the prefix's slowdown bounds).
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np

from solvers.exact.columns import Configurations, candidates
from solvers.exact.pricing_kernel import RULES, price_search
from solvers.objectives import (
    LinearTerms,
    column_coefficients,
    configuration_figures,
    linear_terms,
    mean_weights,
)
from solvers.problem import TOLERANCE, Problem

#: Improving sets a pricing call keeps (the best by reduced cost).
KEEP = 400
#: Sets the compiled search kept that are evaluated exactly in one batch (the deadline is
#: checked between batches).
EVALUATION_CHUNK = 512


@dataclass
class PricingStats:
    nodes: int = 0
    exact_evaluations: int = 0
    structure_violations: int = 0
    local_search_columns: int = 0  # improving columns local-search pricing proposed


@dataclass(frozen=True)
class PricingResult:
    """What one type's pricing found."""

    lower: float  # lower bound on min_S f(S) - pi(S) (0: the empty set); exact when complete
    improving: list[tuple[float, tuple[int, ...]]]  # (rc - mu, members), best first
    complete: bool  # the search finished (neither node budget nor deadline cut it)
    overflow: bool = False  # more sets beat the threshold than ``keep``: some are not listed


@dataclass(frozen=True)
class CostTerms:
    """``f`` of a configuration of one type, split the way the bounds need it."""

    per_member: np.ndarray  # [k] weight of each candidate's degradation (s - 1)
    per_violation: float  # weight of each member missing its SLO
    per_machine: float  # the configuration's constant part (machines, cost)


class TypePricer:
    """Exact pricing on one machine type: the static part (candidates, capacities, caps,
    the slowdown structure restricted to the type); :meth:`price` runs one search."""

    def __init__(self, problem: Problem, t: int, max_slowdown: float | None) -> None:
        self.problem = problem
        self.t = t
        self.max_slowdown = max_slowdown  # a fixed max-degradation goal, as a slowdown cap
        self.models = candidates(problem, t)
        k = len(self.models)
        self.k = k
        idx = np.asarray(self.models, dtype=np.int64)
        self.req = problem.requests[idx] if k else np.zeros((0, problem.requests.shape[1]))
        self.cap = problem.capacity[t] + TOLERANCE
        self.slots = problem.slot_limit
        solo = problem.solo_latency[idx, t] if k else np.zeros(0)
        self.solo = solo
        # per-member slowdown caps: hard SLOs and a fixed max-degradation goal
        caps = np.full(k, np.inf)
        if problem.slo_mode == "hard":
            caps = np.minimum(caps, (problem.slo[idx] + TOLERANCE) / solo)
        if max_slowdown is not None:
            caps = np.minimum(caps, max_slowdown)
        self.caps = caps
        self.slo_limit = (problem.slo[idx] + TOLERANCE) / solo  # for violation counts
        self.idx = idx
        self.weights = mean_weights(problem).weights
        self._terms: dict[str, LinearTerms] = {}
        structure = problem.structure
        self.structured = structure is not None
        if structure is not None:
            pair = structure.compose_pair[t][np.ix_(idx, idx)].astype(float).copy()
            np.fill_diagonal(pair, 1.0)
            self.pair = pair
            self.rule = structure.compose
            local = {m: i for i, m in enumerate(self.models)}
            entries = []
            for tt, target, with_, value in structure.setwise:
                if tt != t or target not in local or not all(w in local for w in with_):
                    continue  # a set no column of this type can have
                mask = 0
                for w in with_:
                    mask |= 1 << local[w]
                entries.append((local[target], mask | (1 << local[target]), float(value)))
            self.entries = entries
            # the same entries as arrays for the compiled search (local candidate indices)
            self.entry_target = np.array([e[0] for e in entries], dtype=np.int64)
            self.entry_value = np.array([e[2] for e in entries], dtype=float)
            self.entry_in = np.array(
                [[bool(e[1] >> i & 1) for i in range(k)] for e in entries], dtype=bool
            ).reshape(len(entries), k)

    def cost_terms(self, alpha: dict[str, float]) -> CostTerms:
        """``f``'s parts for stage weights ``alpha`` (:func:`solvers.objectives.linear_terms`
        of each stage, weighted)."""
        per_member = np.zeros(self.k)
        per_violation = per_machine = 0.0
        for stage, weight in alpha.items():
            terms = self._terms.get(stage)
            if terms is None:
                terms = self._terms[stage] = linear_terms(self.problem, stage)
            per_member = per_member + weight * terms.per_degradation[self.idx, self.t]
            per_machine += weight * float(terms.per_machine[self.t])
            per_violation += weight * terms.per_violation
        return CostTerms(per_member, per_violation, per_machine)

    def exact_cost(self, alpha: dict[str, float], members: tuple[int, ...]) -> float | None:
        """``f`` of a configuration from its exact figures (:mod:`solvers.objectives`, as the
        column store computes them); None when it is no column (a hard SLO missed, or above a
        fixed max degradation)."""
        problem = self.problem
        figures = configuration_figures(problem, [members], self.t, self.weights)
        if not figures.usable[0] or (problem.slo_mode == "hard" and figures.slo_violations[0]):
            return None
        if self.max_slowdown is not None and figures.max_degradation[0] + 1.0 > self.max_slowdown:
            return None
        return sum(
            weight * float(column_coefficients(problem, figures, stage)[0])
            for stage, weight in alpha.items()
        )

    def exact_costs(self, alpha: dict[str, float], sets: list[tuple[int, ...]]) -> np.ndarray:
        """:meth:`exact_cost` of many sets at once (their slowdowns asked in one batch); nan
        for a set that is no column."""
        problem = self.problem
        if not sets:
            return np.zeros(0)
        figures = configuration_figures(problem, sets, self.t, self.weights)
        cost = np.zeros(len(sets))
        for stage, weight in alpha.items():
            cost += weight * np.asarray(column_coefficients(problem, figures, stage), float)
        bad = ~figures.usable
        if problem.slo_mode == "hard":
            bad |= figures.slo_violations > 0
        if self.max_slowdown is not None:
            bad |= figures.max_degradation + 1.0 > self.max_slowdown
        return np.where(bad, np.nan, cost)

    def price_compiled(
        self,
        pi: np.ndarray,
        mu: float,
        alpha: dict[str, float],
        configs: Configurations,
        *,
        node_budget: int,
        deadline: float,
        stats: PricingStats,
        keep: int,
    ) -> PricingResult:
        """:meth:`price` by the compiled search on lower-bounded costs; the sets it keeps are
        then evaluated exactly (in one batch) and checked against their lower bounds."""
        order = np.argsort(-pi[self.idx], kind="stable")
        terms = self.cost_terms(alpha)
        duals = pi[self.idx][order]
        position = np.empty(self.k, dtype=np.int64)
        position[order] = np.arange(self.k)
        frontier, complete, nodes, kept, values, _n, _n_below = price_search(
            self.req[order], self.cap, int(self.slots), duals, terms.per_member[order],
            float(terms.per_violation), self.slo_limit[order], self.caps[order],
            float(terms.per_machine), self.pair[np.ix_(order, order)], RULES[self.rule],
            position[self.entry_target], self.entry_in[:, order], self.entry_value,
            float(mu), int(keep), int(min(node_budget, 2**62)), float(deadline),
        )
        stats.nodes += int(nodes)
        by_value = np.argsort(values, kind="stable")  # the most promising evaluated first
        kept, values = kept[by_value], values[by_value]
        sets = [tuple(sorted(self.models[order[i]] for i in row if i >= 0)) for row in kept]
        # exact evaluation in chunks, within the deadline (closing the gap may keep 50,000)
        costs = np.full(len(sets), np.inf)  # inf: not evaluated, its lower bound stands
        for at in range(0, len(sets), EVALUATION_CHUNK):
            if at and time.perf_counter() > deadline:
                complete = False
                break
            costs[at : at + EVALUATION_CHUNK] = self.exact_costs(
                alpha, sets[at : at + EVALUATION_CHUNK]
            )
            stats.exact_evaluations += len(sets[at : at + EVALUATION_CHUNK])
        improving = []
        # every set left out has f_lb - pi >= cutoff, so the exact values of the kept ones
        # tighten the search's lower bound: while the kept list has room every set below the
        # threshold is kept; once it is full the search prunes at its worst value, and sets it
        # never met may lie anywhere above that, below the threshold too (counting the sets
        # below it, n_below == keep once claimed the threshold: a bound above the optimum)
        overflow = len(values) >= keep
        cutoff = float(values.max()) if overflow and len(values) else float(mu) - 1e-9
        tightened = min(0.0, cutoff)
        for rc_lb, ms, f in zip(values.tolist(), sets, costs, strict=True):
            if math.isnan(f):
                continue  # no column: its lower bound does not count
            if math.isinf(f):
                tightened = min(tightened, rc_lb)  # not evaluated in time
                continue
            pi_sum = float(sum(pi[m] for m in ms))
            f_lb = rc_lb + pi_sum
            if f < f_lb - 1e-9 * (1.0 + abs(f_lb)):
                stats.structure_violations += 1
            rc = f - pi_sum
            tightened = min(tightened, rc)
            if rc - mu < -1e-9 and (self.t, ms) not in configs.index:
                improving.append((rc - mu, ms))
        improving.sort()
        lower = min(float(frontier), tightened)
        return PricingResult(float(lower), improving, bool(complete), overflow=overflow)

    def compose(self, acc: np.ndarray, j: int) -> np.ndarray:
        """Every candidate's composed slowdown once candidate ``j`` joins."""
        col = self.pair[:, j]
        if self.rule == "additive":
            return acc + (col - 1.0)
        if self.rule == "multiplicative":
            return acc * col
        return np.maximum(acc, col)

    def price(
        self,
        pi: np.ndarray,
        mu: float,
        alpha: dict[str, float],
        configs: Configurations,
        *,
        node_budget: int,
        deadline: float,
        stats: PricingStats,
        keep: int = KEEP,
        compiled: bool = True,
    ) -> PricingResult:
        """The sets whose reduced cost beats ``mu`` (at most ``keep``, best first), and a lower
        bound on the minimum of ``f - pi`` over this type's sets. ``alpha``: weights of the
        goals in ``f``. With a slowdown structure the compiled search
        (:mod:`solvers.exact.pricing_kernel`) runs unless ``compiled`` is False."""
        if self.k == 0:
            return PricingResult(0.0, [], True)
        if self.structured and compiled:
            return self.price_compiled(pi, mu, alpha, configs, node_budget=node_budget,
                                       deadline=deadline, stats=stats, keep=keep)
        search = PricingSearch(self, pi, mu, alpha, configs, node_budget=node_budget,
                               deadline=deadline, stats=stats, keep=keep)
        return search.run()


@dataclass
class PricingSearch:
    """One pricing search: the state of the DFS over one type's candidates, its steps named."""

    pricer: TypePricer
    pi: np.ndarray
    mu: float
    alpha: dict[str, float]
    configs: Configurations
    node_budget: int
    deadline: float
    stats: PricingStats
    keep: int
    best: float = 0.0  # the empty set
    found: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)  # heap by -(rc-mu)
    complete: bool = True
    nodes: int = 0
    frontier: float = math.inf  # lower bound on rc of every set a truncated search left unseen

    def __post_init__(self) -> None:
        pricer = self.pricer
        self.order = sorted(range(pricer.k), key=lambda i: -self.pi[pricer.models[i]])
        self.order_arr = np.asarray(self.order, dtype=np.int64)
        self.req_ordered = pricer.req[self.order_arr]
        self.duals = np.array([self.pi[m] for m in pricer.models])
        terms = pricer.cost_terms(self.alpha)
        self.per_member = terms.per_member  # per member: a (s - 1)
        self.per_violation = terms.per_violation
        self.per_machine = terms.per_machine
        # member costs at slowdown 1: the lower bound without structure
        self.unit = self.member_cost(np.ones(pricer.k), slice(None))

    # -------------------------------------------------------------- steps
    def member_cost(self, lb: np.ndarray, where: np.ndarray | slice) -> np.ndarray:
        """Each member's part of ``f`` at slowdown ``lb``."""
        out = self.per_member[where] * (lb - 1.0)
        if self.per_violation:
            out = out + self.per_violation * (lb > self.pricer.slo_limit[where])
        return out

    def gains_bound(self, gains: np.ndarray, ok: np.ndarray, room: int) -> float:
        """The most ``room`` of the candidates ``ok`` can lower the reduced cost by."""
        gains = gains[ok & (gains > 0)]
        if gains.size > room:
            gains = np.partition(gains, gains.size - room)[gains.size - room :]
        return float(gains.sum())

    def region_bound(self, p: int, n_chosen: int, used: np.ndarray, lb_pre, rc_pre: float) -> float:
        """Lower bound on rc of prefix + X, X a non-empty subset of order[p:] (each member of X
        adds at most pi - its cost at the prefix's slowdown bound; the prefix's own costs only
        rise)."""
        pricer = self.pricer
        room = pricer.slots - n_chosen
        if p >= pricer.k or room <= 0:
            return math.inf
        rest = self.order_arr[p:]
        ok = (used + pricer.req[rest] <= pricer.cap).all(axis=1)
        if pricer.structured:
            ok &= lb_pre[rest] <= pricer.caps[rest]
            gains = self.duals[rest] - self.member_cost(lb_pre[rest], rest)
        else:
            gains = self.duals[rest] - self.unit[rest]
        if not ok.any():
            return math.inf
        return rc_pre - self.gains_bound(gains, ok, room)

    def cut_short(self, p: int, n_chosen: int, used: np.ndarray, lb_pre, rc_pre: float) -> None:
        """The search stops here: what it leaves from position ``p`` on is bounded."""
        self.complete = False
        self.frontier = min(self.frontier, self.region_bound(p, n_chosen, used, lb_pre, rc_pre))

    def slowdown_bounds(self, acc, entries, mask: int, j: int):
        """After ``j`` joins: composed slowdowns, the set-wise entries still matchable, and each
        candidate's slowdown lower bound in every superset."""
        new_acc = self.pricer.compose(acc, j)
        new_entries = [e for e in entries if not (mask & ~e[1])]
        lb = new_acc.copy()
        for target, _w, value in new_entries:
            if value < lb[target]:
                lb[target] = value
        return new_acc, new_entries, lb

    def consider(self, chosen: list[int], f_lb: float, pi_sum: float) -> None:
        """The set ``chosen``: evaluated exactly when its bound may improve (a column), else its
        lower bound still counts for the minimum (the Lagrangian bound)."""
        pricer, mu = self.pricer, self.mu
        rc_lb = f_lb - pi_sum
        found = self.found
        worth = mu - 1e-9 if len(found) < self.keep else mu + min(-1e-9, -found[0][0])
        if not rc_lb < worth:
            self.best = min(self.best, rc_lb)
            return
        ms = tuple(sorted(pricer.models[i] for i in chosen))
        self.stats.exact_evaluations += 1
        f = pricer.exact_cost(self.alpha, ms)
        if f is None:
            if pricer.structured:
                self.best = min(self.best, rc_lb)  # not a configuration: its bound still holds
            return
        if f < f_lb - 1e-9 * (1.0 + abs(f_lb)):
            self.stats.structure_violations += 1
        rc = f - pi_sum
        self.best = min(self.best, rc)
        if rc - mu < -1e-9 and (pricer.t, ms) not in self.configs.index:
            item = (-(rc - mu), ms)
            if len(found) < self.keep:
                heapq.heappush(found, item)
            elif item > found[0]:
                heapq.heapreplace(found, item)

    def extension_gains(self, p: int, chosen: list[int], used: np.ndarray, lb, acc, entries):
        """For the candidates after position ``p``: which may still join (capacity, caps) and
        how much each could lower the reduced cost at most."""
        pricer = self.pricer
        rest = np.asarray(self.order[p + 1 :])
        fits = (used + pricer.req[rest] <= pricer.cap).all(axis=1)
        if not pricer.structured:
            return fits, self.duals[rest] - self.unit[rest]
        ok = fits & (lb[rest] <= pricer.caps[rest])
        gains = self.duals[rest] - self.member_cost(lb[rest], rest)
        if pricer.rule != "max":
            # members with no set-wise entry left to match keep their composed slowdown in every
            # superset: adding j raises it by at least (additive) pair-1, (multiplicative)
            # acc*(pair-1); these raises add up (new-new interactions are left out: >= 0)
            touched = {e[0] for e in entries}
            clean = [i for i in chosen if i not in touched]
            if clean:
                cl = np.asarray(clean)
                rise = pricer.pair[cl[:, None], rest] - 1.0
                if pricer.rule == "multiplicative":
                    rise = rise * acc[cl][:, None]
                gains = gains - self.per_member[cl] @ rise
        return ok, gains

    def dfs(self, pos: int, chosen: list[int], mask: int, used: np.ndarray, acc, entries,
            pi_sum: float, lb_pre, rc_pre: float) -> None:
        pricer = self.pricer
        k = pricer.k
        if pos >= k:
            return
        # capacity of every extension at once (one NumPy call, not one per candidate)
        fit_all = np.all(used + self.req_ordered[pos:] <= pricer.cap, axis=1).tolist()
        for p in range(pos, k):
            if not self.complete:
                # a deeper call ran out of nodes or time: bound what this one leaves
                self.cut_short(p, len(chosen), used, lb_pre, rc_pre)
                return
            if not fit_all[p - pos]:
                continue
            j = self.order[p]
            new_used = used + pricer.req[j]
            self.nodes += 1
            # the clock every node: with a learned predictor one node can cost tens of ms
            if self.nodes > self.node_budget or time.perf_counter() > self.deadline:
                self.cut_short(p, len(chosen), used, lb_pre, rc_pre)
                return
            chosen.append(j)
            new_mask = mask | (1 << j)
            members = np.asarray(chosen)
            if pricer.structured:
                new_acc, new_entries, lb = self.slowdown_bounds(acc, entries, new_mask, j)
                if (lb[members] > pricer.caps[members]).any():
                    chosen.pop()  # no superset is a usable configuration
                    continue
                f_lb = self.per_machine + float(self.member_cost(lb[members], members).sum())
            else:
                new_acc, new_entries, lb = acc, entries, None
                f_lb = self.per_machine + float(self.unit[members].sum())
            new_pi = pi_sum + self.duals[j]
            rc_lb = f_lb - new_pi
            self.consider(chosen, f_lb, new_pi)
            if len(chosen) < pricer.slots and p + 1 < k:
                ok, gains = self.extension_gains(p, chosen, new_used, lb, new_acc, new_entries)
                room = pricer.slots - len(chosen)
                found = self.found
                worth = self.mu if len(found) < self.keep else self.mu + min(0.0, -found[0][0])
                if (rc_lb - self.gains_bound(gains, ok, room) < max(self.best, worth) - 1e-12
                        and ok.any()):
                    self.dfs(p + 1, chosen, new_mask, new_used, new_acc, new_entries, new_pi,
                             lb, rc_lb)
            chosen.pop()

    def run(self) -> PricingResult:
        pricer = self.pricer
        k = pricer.k
        if pricer.structured:
            acc0, entries0, lb0 = np.ones(k), list(pricer.entries), np.ones(k)
        else:
            acc0, entries0, lb0 = None, None, None
        # the root's "prefix" is the empty set: every member at slowdown >= 1, f >= per_machine
        self.dfs(0, [], 0, np.zeros(pricer.req.shape[1]), acc0, entries0, 0.0, lb0,
                 self.per_machine)
        self.stats.nodes += self.nodes
        improving = sorted(((-neg, ms) for neg, ms in self.found))
        # complete: best is the exact minimum; truncated: best over what was searched and the
        # frontier's bound over what was not -- a valid lower bound either way
        return PricingResult(min(self.best, self.frontier), improving, self.complete)


def structure_contradicted(problem: Problem, t: int, members: tuple[int, ...]) -> int:
    """How many members' exact slowdowns fall below the structure's lower bound (a safety net:
    a structure that does not describe the slowdown function voids every bound)."""
    structure = problem.structure
    if structure is None:
        return 0
    contradictions = 0
    for m in members:
        others = frozenset(members) - {m}
        if not others:
            continue
        pairs = [float(structure.compose_pair[t, m, o]) for o in others]
        if structure.compose == "additive":
            lb = 1.0 + sum(v - 1.0 for v in pairs)
        elif structure.compose == "multiplicative":
            lb = float(np.prod(pairs))
        else:
            lb = max(pairs)
        for tt, target, w, v in structure.setwise:
            if tt == t and target == m and w >= others:
                lb = min(lb, v)
        if problem.slowdown(m, others, t) < lb - 1e-9 * (1.0 + lb):
            contradictions += 1
    return contradictions
