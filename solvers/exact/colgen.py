"""Column generation for the configuration master: the restricted master LP, pricing rounds and
their proved Lagrangian bound, closing the gap, diving.

The restricted master LP is the LP relaxation of :mod:`solvers.exact.master`'s rows over the
columns generated so far, plus one artificial column per model; it lives in one HiGHS model,
warm-started between rounds, and grows a block of columns at a time. Its duals are ``pi_m``
(coverage, free), ``mu_t <= 0`` (machines of type ``t``) and ``nu_g <= 0`` (earlier goals
fixed as ``sum_c g_c x_c <= V_g``). Relaxing the coverage and fixed-goal rows, every
``(pi, nu)`` gives the Lagrangian bound

    L = pi . r + nu . V + sum_t N_t min(0, min_S f(S) - pi(S))

on the LP relaxation of the *full* master, hence on the integer optimum, provided the inner
minimum is exact or bounded from below (:mod:`solvers.exact.pricing`). A round whose every
type's search finished is *complete*; a complete round with no improving column solves the LP.

Rounds alternate. *Cheap* rounds (a node-budgeted search, plus local search in set space from
the LP's columns, :mod:`solvers.exact.pricing_heuristic`) move the LP for milliseconds a type;
an *exhaustive* round proves a bound and runs when a cheap round finds nothing (then at the LP
duals: the cheap rounds have converged them) or once the cheap rounds since the last exhaustive
one took as long as it did. Measured at 10,000 x 2,000 seed 2 (docs/formulations.md): the LP
converges in 21 s instead of not at all in 120 s, and the proved gap falls from 17.9% to 0.8%.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from solvers.exact.backend import ModelRefused
from solvers.exact.columns import Configurations
from solvers.exact.goals import meets, stage_coefficients
from solvers.exact.highs import new_highs, refusal
from solvers.exact.master import column_block, forbidden, master_rows
from solvers.exact.pricing import PricingStats, TypePricer, structure_contradicted
from solvers.exact.pricing_heuristic import local_search_columns
from solvers.problem import Problem

#: Improving columns added per type and round.
PER_TYPE = 60
#: Wentges smoothing: rounds price at ``SMOOTHING x center + (1 - SMOOTHING) x LP duals``, the
#: center being the duals of the best Lagrangian bound so far (0 turns it off). Measured on the
#: 320 x 96 generated instances (docs/formulations.md): fewer rounds to the same bound.
SMOOTHING = 0.5
#: Smoothing stops once the best bound is within this share of the LP value: near the end the
#: center (the best bound's duals) lags the LP duals, and each exhaustive round only halved the
#: bound's distance to the LP. Measured at 2,000 x 500 seed 2: the LP solved two exhaustive
#: rounds sooner (each ~2 s of pricing there, ~10 s at 10,000 x 2,000).
SMOOTH_UNTIL = 0.01
#: Columns of each type in the LP solution that start local-search pricing in a cheap round
#: (:mod:`solvers.exact.pricing_heuristic`), with as many of the round's best sets.
HEURISTIC_STARTS = 30


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
        smoothing: float | None = None,
    ) -> None:
        self.problem = problem
        self.smoothing = SMOOTHING if smoothing is None else smoothing
        self.center: tuple[np.ndarray, np.ndarray] | None = None  # (pi, mu) of the best bound
        self.last_smoothed = False
        self.configs = configs
        self.stage = stage
        self.rows = rows = master_rows(problem, fixed)
        M, T = problem.n_models, problem.n_types
        self.M, self.T = M, T
        # earlier linear goals as (goal, right-hand side): their duals weigh them in pricing
        self.linear_fixed = list(zip(rows.fixed_goals, rows.upper[M + T :].tolist(), strict=True))
        self.max_slowdown = None if rows.worst_cap is None else 1.0 + rows.worst_cap
        self.pricers = [TypePricer(problem, t, self.max_slowdown) for t in range(T)]
        self.stats = PricingStats()
        self.best_bound: float | None = None  # best Lagrangian bound of any run, and its duals
        self.best_duals = None
        # singletons: with the artificials they keep the restricted master feasible
        for t in range(T):
            for m in self.pricers[t].models:
                configs.add(problem, t, (m,))
        h = new_highs()
        h.setOptionValue("threads", 1)
        empty = np.array([], dtype=np.int32)
        self.check(h.addRows(rows.n_rows, rows.lower, rows.upper, 0, empty, empty,
                             np.array([])), "its rows")
        # artificials: cover a replica at a prohibitive price; expensive enough to be a last
        # resort, cheap enough that their duals do not make every set look improving
        costs = stage_coefficients(problem, configs, stage)
        self.big = 10.0 * max(1.0, float(np.abs(costs).max(initial=0.0))) * max(
            1, problem.slot_limit
        )
        for m in range(M):
            self.check(h.addCol(self.big, 0.0, highspy.kHighsInf, 1, np.array([m], dtype=np.int32),
                                np.array([1.0])), "an artificial column")
        self.h = h
        self.n_art = M
        self.in_lp = 0  # configs[0:in_lp] are LP columns (index n_art + c)
        self.sync()

    @staticmethod
    def check(status: highspy.HighsStatus, what: str) -> None:
        """HiGHS refuses a model with a coefficient it cannot take: say so, never go on with a
        model that silently lacks the refused part."""
        if status == highspy.HighsStatus.kError:
            raise ModelRefused(refusal(f"the column-generation LP ({what})"))

    # -------------------------------------------------------------- columns
    def sync(self) -> None:
        """Add the configurations not yet in the LP."""
        configs, start, stop = self.configs, self.in_lp, len(self.configs)
        if stop == start:
            return
        for c in range(start, stop):
            self.stats.structure_violations += structure_contradicted(
                self.problem, configs.types[c], configs.members[c]
            )
        starts, index, value = column_block(self.problem, configs, self.rows, start, stop)
        cost = stage_coefficients(self.problem, configs, self.stage)[start:stop]
        upper = np.where(forbidden(configs, self.rows, start, stop), 0.0, highspy.kHighsInf)
        self.check(self.h.addCols(stop - start, cost, np.zeros(stop - start), upper, index.size,
                                  starts[:-1], index, value), "new columns")
        self.in_lp = stop

    def add_columns(self, columns: list[tuple[int, tuple[int, ...]]]) -> int:
        added = self.configs.add_many(self.problem, columns)
        self.sync()
        return added

    # -------------------------------------------------------------- LP
    def solve_lp(self, deadline: float) -> bool:
        highspy.Highs.resetGlobalScheduler(True)
        self.h.setOptionValue("time_limit", max(0.05, deadline - time.perf_counter()))
        self.h.run()
        return self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def lp_values(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value)[self.n_art :]

    def artificial_mass(self) -> float:
        return float(np.asarray(self.h.getSolution().col_value)[: self.n_art].sum())

    def goal_weights(self, nu: np.ndarray) -> dict[str, float]:
        """The weight of each goal in a column's pricing cost: the stage's own, 1; each fixed
        earlier goal's, minus its row's dual."""
        alpha = {self.stage: 1.0}
        for (goal, _v), n in zip(self.linear_fixed, nu, strict=True):
            alpha[goal] = alpha.get(goal, 0.0) + float(-n)
        return alpha

    def lp_starts(self) -> dict[int, list[tuple[int, ...]]]:
        """Each type's columns in the current LP solution, the largest first (local search
        pricing starts there)."""
        x = self.lp_values()
        out: dict[int, list[tuple[int, ...]]] = {}
        for c in np.argsort(-x, kind="stable"):
            if x[c] <= 1e-9:
                break
            t = self.configs.types[c]
            if len(out.setdefault(t, [])) < HEURISTIC_STARTS:
                out[t].append(self.configs.members[c])
        return out

    def round(self, deadline: float, node_budget: int, per_type: int,
              smoothing: float = 0.0, heuristic: bool = False) -> tuple[float | None, int]:
        """One pricing round: (Lagrangian bound, columns added). With ``smoothing`` > 0 and a
        center, it prices at the smoothed duals (the bound is valid for any duals) and adds the
        sets that improve at the LP duals; none added is a mispricing, not a solved LP."""
        duals = np.asarray(self.h.getSolution().row_dual)
        M, T = self.M, self.T
        pi_lp = duals[:M]
        mu_lp = np.minimum(duals[M : M + T], 0.0)
        nu = np.minimum(duals[M + T :], 0.0)
        self.last_smoothed = smoothing > 0.0 and self.center is not None
        if self.last_smoothed:
            pi_c, mu_c = self.center
            pi = smoothing * pi_c + (1.0 - smoothing) * pi_lp
            mu = smoothing * mu_c + (1.0 - smoothing) * mu_lp
        else:
            pi, mu = pi_lp, mu_lp
        alpha = self.goal_weights(nu)
        complete = True
        min_rc = np.zeros(T)
        new: list[tuple[int, tuple[int, ...]]] = []
        starts = self.lp_starts() if heuristic and HEURISTIC_STARTS else {}
        for t in range(T):
            if self.problem.machines_per_type[t] == 0:
                continue
            priced = self.pricers[t].price(
                pi, float(mu[t]), alpha, self.configs, node_budget=node_budget,
                deadline=deadline, stats=self.stats, keep=2 * per_type,
            )
            complete &= priced.complete
            min_rc[t] = min(0.0, priced.lower)
            improving = priced.improving
            if self.last_smoothed:
                # rc at the LP duals = rc at the smoothed ones + (pi - pi_lp)(S)
                improving = [
                    (rc, ms) for rc, ms in improving
                    if rc + float(mu[t] - mu_lp[t]) + float((pi - pi_lp)[list(ms)].sum()) < -1e-9
                ]
            new += [(t, ms) for _rc, ms in improving[:per_type]]
            if t in starts:
                # local search from the LP's columns, at the LP duals
                searched = local_search_columns(
                    self.pricers[t], pi_lp, float(mu_lp[t]), alpha, self.configs,
                    starts[t] + [ms for _rc, ms in improving[:HEURISTIC_STARTS]],
                    stats=self.stats,
                )
                new += [(t, ms) for _rc, ms in searched[:per_type]]
                self.stats.local_search_columns += len(searched[:per_type])
        bound = None
        # min_rc[t] is each type's exact minimum (complete search) or a lower bound on it
        # (a truncated one: searched part and frontier bound): the bound below is proved either
        # way; only complete rounds say the LP is solved
        self.last_complete = complete
        self.last_duals = (pi, nu, min_rc)
        self.last_mu = mu
        if self.stats.structure_violations == 0:
            r = self.problem.replicas_per_model.astype(float)
            n = self.problem.machines_per_type.astype(float)
            value = float(pi @ r) + float(
                sum(nu_g * v for nu_g, (_g, v) in zip(nu, self.linear_fixed, strict=True))
            ) + float(n @ min_rc)
            bound = value - 1e-9 * (1.0 + abs(value))  # float noise in the sums
        return bound, self.add_columns(new)

    def run(self, deadline: float, *, target: float | None = None,
            node_budget: int = 20_000, per_type: int = PER_TYPE) -> CGResult:
        """Column generation until the LP is solved (no improving column, exactly), the bound
        meets ``target`` (an incumbent's value: then it is proved optimal), or the deadline."""
        out = CGResult()
        budget = node_budget
        # cheap rounds (a node-budgeted search and local search from the LP's columns) move
        # the LP; an exhaustive round when they find nothing, and after as much time in them
        # as the last exhaustive round took (a bound in time), then cheap again
        exact = False
        mispriced = False
        # the last optimal LP solution: adding columns voids HiGHS's, and a run the deadline
        # cuts still hands its last LP point to rounding
        last_x: np.ndarray | None = None
        last_artificial = 0.0
        cheap_dry = False  # the last cheap round found nothing: price at the LP duals
        cheap_since = 0.0  # seconds of cheap rounds since the last exhaustive one
        exhaustive_took = 0.0  # the last exhaustive round's seconds
        while time.perf_counter() < deadline:
            round_start = time.perf_counter()
            if not mispriced and not self.solve_lp(deadline):
                break
            out.rounds += 1
            out.lp_value = float(self.h.getInfo().objective_function_value)
            if not mispriced:
                last_x, last_artificial = self.lp_values().copy(), self.artificial_mass()
            near = out.bound is not None and out.lp_value - out.bound <= SMOOTH_UNTIL * max(
                abs(out.lp_value), 1e-9)
            bound, added = self.round(deadline, 10**12 if exact else budget, per_type,
                                      0.0 if mispriced or near or (exact and cheap_dry)
                                      else self.smoothing, heuristic=not exact)
            complete = self.last_complete
            # a smoothed round that adds nothing says nothing about the LP: price at its duals
            mispriced = added == 0 and self.last_smoothed
            if complete and bound is not None:
                out.complete_rounds += 1
            if bound is not None:
                if out.bound is None or bound > out.bound:
                    out.bound = bound
                # across runs: closing the gap needs the duals of the best bound ever proved
                if self.best_bound is None or bound > self.best_bound:
                    self.best_bound = bound
                    self.best_duals = self.last_duals
                    self.center = (self.last_duals[0], self.last_mu)
            if out.bound is not None:
                if out.lp_value - out.bound <= 1e-7 * max(1.0, abs(out.lp_value)):
                    break
                if target is not None and meets(self.stage, target, out.bound):
                    break
            if mispriced:
                continue
            took = time.perf_counter() - round_start
            cheap_dry = False
            if added == 0:
                if complete and bound is not None:
                    break  # complete round, nothing improving: the LP is optimal
                exact = cheap_dry = True  # the cheap search found nothing: search exhaustively
            elif exact:
                # it found improving columns: back to cheap rounds, which move the LP for a
                # fraction of the time
                exact, exhaustive_took, cheap_since = False, took, 0.0
            elif not complete:
                cheap_since += took
                if cheap_since >= exhaustive_took:
                    exact = True  # now and then an exhaustive round, for a bound in time
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
            "local_search_columns": self.stats.local_search_columns,
            "pricing_structure": "set-wise entries over composed pairs (monotone bounds)"
            if self.problem.structure is not None
            else "none known (e.g. a learned predictor): only cost >= 0 prunes",
            "structure_violations": self.stats.structure_violations,
            "columns": len(self.configs),
        }
        if self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            last_x, last_artificial = self.lp_values(), self.artificial_mass()
        if last_x is not None:
            out.lp_solution = {int(c): float(v) for c, v in enumerate(last_x) if v > 1e-9}
            out.info["artificial_mass"] = last_artificial
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
        alpha = self.goal_weights(nu)
        new: list[tuple[int, tuple[int, ...]]] = []
        for t in range(self.T):
            if self.problem.machines_per_type[t] == 0:
                continue
            threshold = float(min_rc[t]) + gap + 1e-9 * (1.0 + abs(gap))
            priced = self.pricers[t].price(
                pi, threshold, alpha, self.configs, node_budget=10**12, deadline=deadline,
                stats=self.stats, keep=limit + 1,
            )
            if not priced.complete or priced.overflow or len(priced.improving) > limit:
                return False
            new += [(t, ms) for _rc, ms in priced.improving]
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
            h.changeColBounds(n_art + c, value, highspy.kHighsInf)
            # everything already integral and positive stays at least there
            for j in np.flatnonzero((x >= 1 - 1e-6) & (frac <= 1e-6)):
                if int(j) not in fixed_lower:
                    fixed_lower[int(j)] = float(round(x[j]))
                    h.changeColBounds(n_art + int(j), fixed_lower[int(j)], highspy.kHighsInf)
        return None
