"""Column generation for the configuration master, with exact pricing and proved bounds.

The restricted master LP (HiGHS, warm-started between rounds) gives duals ``pi_m`` (coverage,
free), ``mu_t <= 0`` (machines of type ``t``) and ``nu_g <= 0`` (earlier lexicographic goals
fixed as ``sum_c g_c x_c <= V_g``). A configuration ``S`` of type ``t`` prices out at

    rc(S) = f(S) - pi(S) - mu_t,    f(S) = stage_cost(S) + sum_g (-nu_g) g(S)

and, relaxing the coverage and fixed-goal rows, every ``(pi, nu)`` gives the Lagrangian bound

    L = pi . r + nu . V + sum_t N_t min(0, min_S f(S) - pi(S))

on the LP relaxation of the *full* master, hence on the integer optimum -- provided the inner
minimum is exact. Pricing is a DFS over each type's candidate models that evaluates ``f``
exactly (``problem.slowdown``) and cuts a branch when a *lower bound* on ``rc`` of every
superset cannot beat the best found:

* with ``problem.structure`` (set-wise entries over composed pairs): a member's slowdown in any
  superset of ``S`` is at least ``min(composed(S), min{setwise(t, i, W) : W ⊇ S})`` (composition
  of values >= 1 never decreases), so costs, SLOs and the max-degradation cap are bounded from
  below for the whole branch;
* without it (a learned predictor): only ``f >= 0`` is known, which is still valid but rarely
  prunes enough to finish: the round is then incomplete and proves nothing.

Every exact value the DFS computes is checked against its lower bound; a violation (the
structure does not describe the slowdown function) marks pricing heuristic and no bound is
claimed. A round whose every type's DFS finished is *complete* (its minimum is exact, and a
complete round with no improving column solves the LP). A round cut short by its node budget or
the deadline still gives a proved bound: ``min`` of what it searched and, for every branch it
left, the branch's lower bound (prefix cost minus the best ``room`` gains ``pi_j - cost_j`` of
the candidates left, at the prefix's slowdown bounds), so partial pricing bounds too.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np

from solvers.exact.configurations import (
    Configurations,
    candidates,
    fixed_slack,
    mean_weights,
    prefetch_configurations,
    stage_coefficients,
)
from solvers.exact.highs import new_highs
from solvers.problem import TOLERANCE, Problem

INTEGER_GOALS = ("violations", "machines")


def _goal_of_column(problem: Problem, configs: Configurations, goal: str, c: int) -> float:
    if goal == "violations":
        return float(configs.violations[c])
    if goal == "mean_degradation":
        return configs.degradation[c] / mean_weights(problem)[1]
    if goal == "added_latency":
        return configs.added_latency[c]
    if goal == "machines":
        return 1.0
    if goal == "cost":
        return configs.cost[c]
    raise ValueError(goal)


@dataclass
class PricingStats:
    nodes: int = 0
    exact_evaluations: int = 0
    structure_violations: int = 0


class TypePricer:
    """Exact pricing on one machine type (see the module docstring for the bounds)."""

    def __init__(self, problem: Problem, t: int, max_slowdown: float | None) -> None:
        self.problem = problem
        self.t = t
        self.models = candidates(problem, t)
        k = len(self.models)
        self.k = k
        idx = np.asarray(self.models, dtype=np.int64)
        self.req = problem.requests[idx] if k else np.zeros((0, problem.requests.shape[1]))
        self.cap = problem.capacity[t] + TOLERANCE
        self.slots = problem.slot_limit
        solo = problem.solo_latency[idx, t] if k else np.zeros(0)
        self.solo = solo
        hard = problem.slo_mode == "hard"
        # per-member slowdown caps: hard SLOs and a fixed max-degradation goal
        caps = np.full(k, np.inf)
        if hard:
            caps = np.minimum(caps, (problem.slo[idx] + TOLERANCE) / solo)
        if max_slowdown is not None:
            caps = np.minimum(caps, max_slowdown)
        self.caps = caps
        self.slo_limit = (problem.slo[idx] + TOLERANCE) / solo  # for violation counts
        weights, denominator = mean_weights(problem)
        self.deg_w = weights[idx] / denominator
        self.add_w = problem.weight[idx] * solo
        structure = problem.structure
        self.structured = structure is not None
        if self.structured:
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

    # -------------------------------------------------------------- bounds
    def _compose(self, acc: np.ndarray, j: int) -> np.ndarray:
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
        keep: int = 400,
    ) -> tuple[float, list[tuple[float, tuple[int, ...]]], bool]:
        """(lower bound on min_S f(S) - pi(S) (0 for the empty set), improving sets with their
        rc - mu, complete?). ``alpha``: weights of the goals in f (stage 1, fixed goals -nu)."""
        problem, t = self.problem, self.t
        k = self.k
        if k == 0:
            return 0.0, [], True
        order = sorted(range(k), key=lambda i: -pi[self.models[i]])
        pil = np.array([pi[m] for m in self.models])
        a_lin = alpha.get("mean_degradation", 0.0) * self.deg_w + alpha.get(
            "added_latency", 0.0
        ) * self.add_w  # per member: a (s - 1)
        a_vio = alpha.get("violations", 0.0)
        beta = alpha.get("machines", 0.0) + alpha.get("cost", 0.0) * float(problem.cost[t])
        structured = self.structured

        def member_cost(lb: np.ndarray, where: np.ndarray | slice) -> np.ndarray:
            out = a_lin[where] * (lb - 1.0)
            if a_vio:
                out = out + a_vio * (lb > self.slo_limit[where])
            return out

        best = 0.0  # the empty set
        found: list[tuple[float, tuple[int, ...]]] = []  # max-heap by -(rc - mu)
        complete = True
        nodes = 0
        weights_list = None

        def exact_f(ms_global: tuple[int, ...]) -> float | None:
            nonlocal weights_list
            from solvers.exact.configurations import _weights_of, configuration_costs

            if weights_list is None:
                weights_list = _weights_of(problem)
            costs = configuration_costs(problem, t, ms_global, weights_list)
            stats.exact_evaluations += 1
            if costs is None:
                return None
            if problem.slo_mode == "hard" and costs.violations:
                return None
            cap_max = self.caps_apply_max
            if cap_max is not None and costs.max_degradation + 1.0 > cap_max:
                return None
            f = beta
            f += alpha.get("mean_degradation", 0.0) * costs.degradation / mean_weights(problem)[1]
            f += alpha.get("added_latency", 0.0) * costs.added_latency
            f += a_vio * costs.violations
            return f

        req, cap, slots = self.req, self.cap, self.slots
        ones = np.ones(k)
        unit = np.zeros(k)  # member costs at slowdown 1 (lower bound without structure)
        unit = member_cost(ones, slice(None))
        caps = self.caps
        order_arr = np.asarray(order, dtype=np.int64)
        req_ordered = req[order_arr]
        frontier = math.inf  # lower bound on rc of every set a truncated search left unseen

        def region_lb(p: int, n_chosen: int, used: np.ndarray, lb_pre, rc_pre: float) -> float:
            """Lower bound on rc of prefix + X, X a non-empty subset of order[p:] (each member
            of X adds at most pi - its cost at the prefix's slowdown bound; the prefix's own
            costs only rise)."""
            room = slots - n_chosen
            if p >= k or room <= 0:
                return math.inf
            rest = order_arr[p:]
            ok = (used + req[rest] <= cap).all(axis=1)
            if structured:
                ok &= lb_pre[rest] <= caps[rest]
                gains = pil[rest] - member_cost(lb_pre[rest], rest)
            else:
                gains = pil[rest] - unit[rest]
            if not ok.any():
                return math.inf
            gains = gains[ok & (gains > 0)]
            if gains.size > room:
                gains = np.partition(gains, gains.size - room)[gains.size - room :]
            return rc_pre - float(gains.sum())

        def dfs(pos: int, chosen: list[int], mask: int, used: np.ndarray, acc, entries,
                pi_sum: float, lb_pre, rc_pre: float) -> None:
            nonlocal best, complete, nodes, frontier
            if pos >= k:
                return
            # capacity of every extension at once (one NumPy call, not one per candidate)
            fit_all = np.all(used + req_ordered[pos:] <= cap, axis=1).tolist()
            for p in range(pos, k):
                if not complete:
                    # a deeper call ran out of nodes or time: bound what this one leaves
                    frontier = min(frontier, region_lb(p, len(chosen), used, lb_pre, rc_pre))
                    return
                if not fit_all[p - pos]:
                    continue
                j = order[p]
                new_used = used + req[j]
                nodes += 1
                if nodes > node_budget or (nodes % 512 == 0 and time.perf_counter() > deadline):
                    complete = False
                    frontier = min(frontier, region_lb(p, len(chosen), used, lb_pre, rc_pre))
                    return
                chosen.append(j)
                new_mask = mask | (1 << j)
                if structured:
                    new_acc = self._compose(acc, j)
                    new_entries = [e for e in entries if not (new_mask & ~e[1])]
                    lb = new_acc.copy()
                    for target, _w, value in new_entries:
                        if value < lb[target]:
                            lb[target] = value
                    members = np.asarray(chosen)
                    if (lb[members] > caps[members]).any():
                        chosen.pop()  # no superset is a usable configuration
                        continue
                    f_lb = beta + float(member_cost(lb[members], members).sum())
                else:
                    new_acc, new_entries = acc, entries
                    lb = None
                    members = np.asarray(chosen)
                    f_lb = beta + float(unit[members].sum())
                new_pi = pi_sum + pil[j]
                rc_lb = f_lb - new_pi
                # the lower bound is a valid value for the minimum (the Lagrangian bound);
                # sets that may be columns are evaluated exactly by the slowdown function
                worth = mu - 1e-9 if len(found) < keep else mu + min(-1e-9, -found[0][0])
                if rc_lb < worth:
                    ms = tuple(sorted(self.models[i] for i in chosen))
                    f = exact_f(ms)
                    if f is not None:
                        if f < f_lb - 1e-9 * (1.0 + abs(f_lb)):
                            stats.structure_violations += 1
                        rc = f - new_pi
                        best = min(best, rc)
                        if rc - mu < -1e-9 and (t, ms) not in configs.index:
                            item = (-(rc - mu), ms)
                            if len(found) < keep:
                                heapq.heappush(found, item)
                            elif item > found[0]:
                                heapq.heapreplace(found, item)
                    elif structured:
                        best = min(best, rc_lb)  # not a configuration: its bound is still valid
                else:
                    best = min(best, rc_lb)
                if len(chosen) < slots and p + 1 < k:
                    rest = np.asarray(order[p + 1 :])
                    fits = (new_used + req[rest] <= cap).all(axis=1)
                    if structured:
                        ok = fits & (lb[rest] <= caps[rest])
                        gains = pil[rest] - member_cost(lb[rest], rest)
                        if self.rule != "max":
                            # members with no set-wise entry left to match keep their composed
                            # slowdown in every superset: adding j raises it by at least
                            # (additive) pair-1, (multiplicative) acc*(pair-1); these raises
                            # add up (new-new interactions are left out: >= 0)
                            touched = {e[0] for e in new_entries}
                            clean = [i for i in chosen if i not in touched]
                            if clean:
                                cl = np.asarray(clean)
                                rise = self.pair[cl[:, None], rest] - 1.0
                                if self.rule == "multiplicative":
                                    rise = rise * new_acc[cl][:, None]
                                gains = gains - a_lin[cl] @ rise
                    else:
                        ok = fits
                        gains = pil[rest] - unit[rest]
                    gains = gains[ok & (gains > 0)]
                    room = slots - len(chosen)
                    if gains.size > room:
                        gains = np.partition(gains, gains.size - room)[gains.size - room :]
                    worth = mu if len(found) < keep else mu + min(0.0, -found[0][0])
                    if rc_lb - float(gains.sum()) < max(best, worth) - 1e-12 and ok.any():
                        dfs(p + 1, chosen, new_mask, new_used, new_acc, new_entries, new_pi,
                            lb, rc_lb)
                chosen.pop()

        if structured:
            acc0 = np.ones(k)
            entries0 = list(self.entries)
        else:
            acc0, entries0 = None, None
        # the root's "prefix" is the empty set: every member at slowdown >= 1, f >= beta
        dfs(0, [], 0, np.zeros(req.shape[1]), acc0, entries0, 0.0, ones if structured else None,
            beta)
        stats.nodes += nodes
        improving = sorted(((-neg, ms) for neg, ms in found))
        # complete: best is the exact minimum; truncated: best over what was searched and the
        # frontier's bound over what was not -- a valid lower bound either way
        return min(best, frontier), improving, complete

    caps_apply_max: float | None = None


@dataclass
class CGResult:
    lp_value: float | None = None
    bound: float | None = None  # proved Lagrangian bound (None: no complete round)
    rounds: int = 0
    complete_rounds: int = 0
    proved_pricing: bool = True  # False once the structure was caught lying
    lp_solution: dict[int, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


class ColumnGenerator:
    """Restricted master LP for one lexicographic stage plus exact pricing."""

    def __init__(
        self,
        problem: Problem,
        configs: Configurations,
        stage: str,
        fixed: list[tuple[str, float]],
    ) -> None:
        import highspy

        self.highspy = highspy
        self.problem = problem
        self.configs = configs
        self.stage = stage
        self.linear_fixed = [(g, v + fixed_slack(g, v)) for g, v in fixed if g != "max_degradation"]
        max_fixed = [v for g, v in fixed if g == "max_degradation"]
        self.max_slowdown = (
            1.0 + max_fixed[0] + fixed_slack("max_degradation", max_fixed[0])
            if max_fixed else None
        )
        self.pricers = [
            TypePricer(problem, t, self.max_slowdown) for t in range(problem.n_types)
        ]
        for pr in self.pricers:
            pr.caps_apply_max = self.max_slowdown
        self.stats = PricingStats()
        self.best_bound: float | None = None  # best Lagrangian bound of any run, and its duals
        self.best_duals = None
        M, T = problem.n_models, problem.n_types
        self.M, self.T = M, T
        # singletons: with the artificials they keep the restricted master feasible
        for t in range(T):
            for m in self.pricers[t].models:
                configs.add(problem, t, (m,))
        h = new_highs()
        h.setOptionValue("threads", 1)
        inf = highspy.kHighsInf
        r = problem.replicas_per_model.astype(float)
        n = problem.machines_per_type.astype(float)
        lower = [*r, *([-inf] * T), *([-inf] * len(self.linear_fixed))]
        upper = [*r, *n, *(v for _g, v in self.linear_fixed)]
        h.addRows(len(lower), np.array(lower), np.array(upper), 0, np.array([], dtype=np.int32),
                  np.array([], dtype=np.int32), np.array([]))
        # artificials: cover a replica at a prohibitive price; expensive enough to be a last
        # resort, cheap enough that their duals do not make every set look improving
        costs = [self.column_cost(c) for c in range(len(configs))]
        self.big = 10.0 * max([1.0, *map(abs, costs)]) * max(1, problem.slot_limit)
        for m in range(M):
            h.addCol(self.big, 0.0, inf, 1, np.array([m], dtype=np.int32), np.array([1.0]))
        self.h = h
        self.n_art = M
        self.in_lp = 0  # configs[0:in_lp] are LP columns (index n_art + c)
        self.sync()

    # -------------------------------------------------------------- columns
    def column_cost(self, c: int) -> float:
        return _goal_of_column(self.problem, self.configs, self.stage, c)

    def column_allowed(self, c: int) -> bool:
        cap = self.max_slowdown
        return cap is None or self.configs.max_degradation[c] + 1.0 <= cap

    def sync(self) -> None:
        """Add the configurations not yet in the LP."""
        configs = self.configs
        new = range(self.in_lp, len(configs))
        if not len(new):
            return
        M = self.M
        starts, index, value, cost, upper = [], [], [], [], []
        for c in new:
            self.check_structure(c)
            starts.append(len(index))
            rows = [*configs.members[c], M + configs.types[c]]
            coefs = [1.0] * len(rows)
            for g, (goal, _v) in enumerate(self.linear_fixed):
                gv = _goal_of_column(self.problem, configs, goal, c)
                if gv != 0:
                    rows.append(M + self.T + g)
                    coefs.append(gv)
            index += rows
            value += coefs
            cost.append(self.column_cost(c))
            upper.append(self.highspy.kHighsInf if self.column_allowed(c) else 0.0)
        self.h.addCols(
            len(cost), np.array(cost), np.zeros(len(cost)), np.array(upper), len(index),
            np.array(starts, dtype=np.int32), np.array(index, dtype=np.int32), np.array(value),
        )
        self.in_lp = len(configs)

    def check_structure(self, c: int) -> None:
        """Every column's exact slowdowns must respect the structure's lower bounds (a safety
        net: a structure that does not describe the slowdown function voids every bound)."""
        structure = self.problem.structure
        if structure is None:
            return
        t, members = self.configs.types[c], self.configs.members[c]
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
            if self.problem.slowdown(m, others, t) < lb - 1e-9 * (1.0 + lb):
                self.stats.structure_violations += 1

    def add_columns(self, columns: list[tuple[int, tuple[int, ...]]]) -> int:
        before = len(self.configs)
        prefetch_configurations(self.problem, columns)
        for t, ms in columns:
            self.configs.add(self.problem, t, ms)
        self.sync()
        return len(self.configs) - before

    # -------------------------------------------------------------- LP
    def solve_lp(self, deadline: float) -> bool:
        self.highspy.Highs.resetGlobalScheduler(True)
        self.h.setOptionValue("time_limit", max(0.05, deadline - time.perf_counter()))
        self.h.run()
        return self.h.getModelStatus() == self.highspy.HighsModelStatus.kOptimal

    def lp_values(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value)[self.n_art :]

    def artificial_mass(self) -> float:
        return float(np.asarray(self.h.getSolution().col_value)[: self.n_art].sum())

    def round(self, deadline: float, node_budget: int, per_type: int) -> tuple[float | None, int]:
        """One pricing round on the current LP duals: (Lagrangian bound if complete, added)."""
        duals = np.asarray(self.h.getSolution().row_dual)
        M, T = self.M, self.T
        pi = duals[:M]
        mu = np.minimum(duals[M : M + T], 0.0)
        nu = np.minimum(duals[M + T :], 0.0)
        alpha = {self.stage: 1.0}
        for (goal, _v), n in zip(self.linear_fixed, nu, strict=True):
            alpha[goal] = alpha.get(goal, 0.0) + float(-n)
        complete = True
        min_rc = np.zeros(T)
        new: list[tuple[int, tuple[int, ...]]] = []
        for t in range(T):
            if self.problem.machines_per_type[t] == 0:
                continue
            best, improving, done = self.pricers[t].price(
                pi, float(mu[t]), alpha, self.configs, node_budget=node_budget,
                deadline=deadline, stats=self.stats,
            )
            complete &= done
            min_rc[t] = min(0.0, best)
            new += [(t, ms) for _rc, ms in improving[:per_type]]
        bound = None
        # min_rc[t] is each type's exact minimum (complete search) or a lower bound on it
        # (a truncated one: searched part and frontier bound): the bound below is proved either
        # way; only complete rounds say the LP is solved
        self.last_complete = complete
        self.last_duals = (pi, nu, min_rc)
        if self.stats.structure_violations == 0:
            r = self.problem.replicas_per_model.astype(float)
            n = self.problem.machines_per_type.astype(float)
            value = float(pi @ r) + float(
                sum(nu_g * v for nu_g, (_g, v) in zip(nu, self.linear_fixed, strict=True))
            ) + float(n @ min_rc)
            bound = value - 1e-9 * (1.0 + abs(value))  # float noise in the sums
        return bound, self.add_columns(new)

    def run(self, deadline: float, *, target: float | None = None,
            node_budget: int = 20_000, per_type: int = 60) -> CGResult:
        """Column generation until the LP is solved (no improving column, exactly), the bound
        meets ``target`` (an incumbent's value: then it is proved optimal), or the deadline."""
        out = CGResult()
        budget = node_budget
        exact = False  # first cheap rounds (the duals are poor), then exhaustive ones
        while time.perf_counter() < deadline:
            if not self.solve_lp(deadline):
                break
            out.rounds += 1
            out.lp_value = float(self.h.getInfo().objective_function_value)
            bound, added = self.round(deadline, 10**12 if exact else budget, per_type)
            complete = self.last_complete
            if complete and bound is not None:
                out.complete_rounds += 1
            if bound is not None:
                if out.bound is None or bound > out.bound:
                    out.bound = bound
                # across runs: closing the gap needs the duals of the best bound ever proved
                if self.best_bound is None or bound > self.best_bound:
                    self.best_bound = bound
                    self.best_duals = self.last_duals
            if out.bound is not None:
                if out.lp_value - out.bound <= 1e-7 * max(1.0, abs(out.lp_value)):
                    break
                if target is not None and _meets(self.stage, target, out.bound):
                    break
            if added == 0:
                if complete and bound is not None:
                    break  # complete round, nothing improving: the LP is optimal
                exact = True  # the cheap search found nothing: search exhaustively
            elif not complete and not exact and out.rounds % 5 == 0:
                exact = True  # now and then an exhaustive round, for a bound
        if self.stats.structure_violations:
            out.proved_pricing = False
            out.bound = None
        out.info = {
            "rounds": out.rounds,
            "complete_rounds": out.complete_rounds,
            "lp_value": out.lp_value,
            "lagrangian_bound": out.bound,
            "pricing_nodes": self.stats.nodes,
            "pricing_evaluations": self.stats.exact_evaluations,
            "pricing_structure": "set-wise entries over composed pairs (monotone bounds)"
            if self.problem.structure is not None
            else "none known (e.g. a learned predictor): only cost >= 0 prunes",
            "structure_violations": self.stats.structure_violations,
            "columns": len(self.configs),
        }
        if self.h.getModelStatus() == self.highspy.HighsModelStatus.kOptimal:
            x = self.lp_values()
            out.lp_solution = {int(c): float(v) for c, v in enumerate(x) if v > 1e-9}
            out.info["artificial_mass"] = self.artificial_mass()
        return out

    # -------------------------------------------------------------- closing the gap
    def columns_within(self, gap: float, deadline: float, limit: int = 50_000) -> bool:
        """Add every configuration whose Lagrangian reduced cost (at the best bound's duals)
        exceeds its type's minimum by at most ``gap`` = incumbent - bound: no other column can
        be in a solution better than the incumbent, since for every solution x
        ``value(x) >= L + sum_c (f_c - pi(c) - m_t(c)) x_c``. True when the search was exhaustive
        (then the integer master over the columns is exact)."""
        if self.best_duals is None or self.stats.structure_violations:
            return False
        pi, nu, min_rc = self.best_duals
        alpha = {self.stage: 1.0}
        for (goal, _v), n in zip(self.linear_fixed, nu, strict=True):
            alpha[goal] = alpha.get(goal, 0.0) + float(-n)
        new: list[tuple[int, tuple[int, ...]]] = []
        for t in range(self.T):
            if self.problem.machines_per_type[t] == 0:
                continue
            threshold = float(min_rc[t]) + gap + 1e-9 * (1.0 + abs(gap))
            _best, sets, done = self.pricers[t].price(
                pi, threshold, alpha, self.configs, node_budget=10**12, deadline=deadline,
                stats=self.stats, keep=limit + 1,
            )
            if not done or len(sets) > limit:
                return False
            new += [(t, ms) for _rc, ms in sets]
        self.add_columns(new)
        return self.stats.structure_violations == 0

    # -------------------------------------------------------------- diving
    def dive(self, deadline: float, *, node_budget: int = 5_000, per_type: int = 30,
             rounds_per_fix: int = 3) -> dict[int, int] | None:
        """A feasible integer solution by diving: fix the largest fractional column up, re-solve
        the LP with a few pricing rounds, repeat until integral (or infeasible: None)."""
        h = self.h
        n_art = self.n_art
        fixed_lower: dict[int, float] = {}
        while time.perf_counter() < deadline:
            for _ in range(rounds_per_fix):
                if not self.solve_lp(deadline):
                    return None
                _bound, added = self.round(deadline, node_budget, per_type)
                if added == 0:
                    break
            if not self.solve_lp(deadline):
                return None
            if self.artificial_mass() > 1e-6:
                return None
            x = self.lp_values()
            frac = np.abs(x - np.round(x))
            if np.all(frac <= 1e-6):
                return {int(c): int(round(v)) for c, v in enumerate(x) if round(v) > 0}
            # the column closest to its next integer above (most "decided"), ties: larger x
            cand = np.flatnonzero(frac > 1e-6)
            up = np.ceil(x[cand]) - x[cand]
            c = int(cand[np.lexsort((-x[cand], up))[0]])
            value = float(math.ceil(x[c] - 1e-9))
            fixed_lower[c] = value
            h.changeColBounds(n_art + c, value, self.highspy.kHighsInf)
            # everything already integral and positive stays at least there
            for j in np.flatnonzero((x >= 1 - 1e-6) & (frac <= 1e-6)):
                if int(j) not in fixed_lower:
                    fixed_lower[int(j)] = float(round(x[j]))
                    h.changeColBounds(n_art + int(j), fixed_lower[int(j)], self.highspy.kHighsInf)
        return None


def _meets(stage: str, value: float, bound: float) -> bool:
    """The bound proves ``value`` optimal for the stage (integer goals: rounded up)."""
    from solvers.result import OPTIMALITY_GAP, relative_gap

    if stage in INTEGER_GOALS:
        return math.ceil(bound - 1e-6) >= value - 1e-6
    return relative_gap(value, bound) <= OPTIMALITY_GAP


def safe_bound(stage: str, bound: float) -> float:
    """Integer goals: the bound rounded up (it is proved, so the optimum is at least that)."""
    if stage in INTEGER_GOALS:
        return float(math.ceil(bound - 1e-6))
    return bound


def add_assignment_columns(problem: Problem, configs: Configurations, assignment) -> int:
    """Each machine's content of a heuristic assignment as a column (when usable)."""
    from solvers.metrics import residents

    if assignment is None:
        return 0
    added = 0
    for n, reps in residents(problem, np.asarray(assignment)).items():
        t = int(problem.machine_type[n])
        models = [int(problem.replica_model[r]) for r in reps]
        if len(set(models)) != len(models) or not problem.fits(models, t):
            continue
        if not all(problem.allowed[m, t] for m in models):
            continue
        before = len(configs)
        configs.add(problem, t, models)
        added += len(configs) - before
    return added


__all__ = [
    "CGResult",
    "ColumnGenerator",
    "TypePricer",
    "add_assignment_columns",
    "safe_bound",
    "stage_coefficients",
]
