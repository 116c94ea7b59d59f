"""Heuristic pricing: improving configurations of one type by local search in set space.

Exhaustive pricing (:mod:`solvers.exact.pricing`) is what proves a bound, but on a large machine
type (32 CPUs holding ~13 models out of ~80 candidates, small pairwise slowdowns) one exhaustive
search takes 5-30 M nodes, 7-45 s at 10,000 x 2,000. Most rounds of column generation only need
*some* improving columns to move the LP; this module finds them in milliseconds.

From each start (the type's columns in the LP basis, and the best sets the last search found),
best-improvement moves on the set (add a candidate, drop a member, swap one for another) under a
pairwise proxy of the reduced cost

    rc(S) ~ per_machine + sum_{i<j in S} W_ij - pi(S),  W_ij = a_i (p_ij - 1) + a_j (p_ji - 1)

(exact for additive composition without set-wise entries; a proxy otherwise), keeping capacity,
the slot limit and each member's slowdown cap. Every local optimum is then evaluated exactly
(:meth:`~solvers.exact.pricing.TypePricer.exact_costs`) and kept only when its exact reduced
cost improves: a proxy never makes a column.
"""

from __future__ import annotations

import numpy as np

from solvers.exact.columns import Configurations
from solvers.exact.pricing import PricingStats, TypePricer

#: Moves one local search makes at most (sets hold tens of members: a start is rarely more than
#: a few dozen moves from its local optimum).
MAX_MOVES = 64


def local_search_columns(
    pricer: TypePricer,
    pi: np.ndarray,
    mu: float,
    alpha: dict[str, float],
    configs: Configurations,
    starts: list[tuple[int, ...]],
    *,
    stats: PricingStats,
) -> list[tuple[float, tuple[int, ...]]]:
    """Improving configurations (``(rc - mu, members)``, best first, not yet in ``configs``)
    found by local search from ``starts`` (sets of models). Needs the slowdown structure (the
    proxy's pairs); without it, none."""
    if not pricer.structured or pricer.k == 0 or not starts:
        return []
    k = pricer.k
    a = pricer.cost_terms(alpha).per_member
    rise = pricer.pair - 1.0  # rise[i, j]: i's slowdown added by j (diagonal 0)
    np.fill_diagonal(rise, 0.0)
    own = a[:, None] * rise
    pair_cost = own + own.T
    duals = pi[pricer.idx]
    req, cap, caps = pricer.req, pricer.cap, pricer.caps
    local = {m: i for i, m in enumerate(pricer.models)}
    optima: dict[tuple[int, ...], None] = {}  # the local optima, in the starts' order
    for start in starts:
        if not all(m in local for m in start):
            continue
        members = sorted(local[m] for m in start)
        inside = np.zeros(k, dtype=bool)
        inside[members] = True
        load = pair_cost[:, members].sum(axis=1)  # each candidate's pair costs with the set
        slow = 1.0 + rise[:, members].sum(axis=1)  # each candidate's composed slowdown with it
        used = req[members].sum(axis=0)
        for _ in range(MAX_MOVES):
            move = _best_move(members, inside, load, slow, used, duals, pair_cost, rise, req,
                              cap, caps, pricer.slots)
            if move is None:
                break
            drop, add = move
            if drop is not None:
                members.remove(drop)
                inside[drop] = False
                load -= pair_cost[:, drop]
                slow -= rise[:, drop]
                used = used - req[drop]
            if add is not None:
                members.append(add)
                inside[add] = True
                load += pair_cost[:, add]
                slow += rise[:, add]
                used = used + req[add]
        if members:
            optima[tuple(sorted(pricer.models[i] for i in members))] = None
    sets = [ms for ms in optima if (pricer.t, ms) not in configs.index]
    if not sets:
        return []
    costs = pricer.exact_costs(alpha, sets)
    stats.exact_evaluations += len(sets)
    improving = []
    for ms, f in zip(sets, costs.tolist(), strict=True):
        if np.isnan(f):
            continue  # no column (a cap or a hard SLO the proxy missed)
        rc = f - float(pi[list(ms)].sum())
        if rc - mu < -1e-9:
            improving.append((rc - mu, ms))
    improving.sort()
    return improving


def _best_move(members, inside, load, slow, used, duals, pair_cost, rise, req, cap, caps,
               slots) -> tuple[int | None, int | None] | None:
    """The move (drop, add) that lowers the proxy reduced cost most, or None at a local
    optimum. Adding ``q`` changes it by ``load[q] - pi_q``, dropping ``i`` by
    ``pi_i - load[i]``, swapping ``i`` for ``q`` by both minus ``W_iq``."""
    outside = ~inside
    mem = np.asarray(members, dtype=np.int64)
    # caps: q's own slowdown with the set, and every member's once q joins (swaps: checked as
    # if nothing left, which is conservative)
    capped = outside & (slow <= caps)
    if mem.size:
        capped &= (slow[mem][:, None] + rise[mem] <= caps[mem][:, None]).all(axis=0)
    add_gain = np.where(capped, load - duals, np.inf)
    best, move = -1e-12, None
    if mem.size < slots:
        fits = capped & (used + req <= cap).all(axis=1)
        if fits.any():
            q = int(np.argmin(np.where(fits, add_gain, np.inf)))
            if add_gain[q] < best:
                best, move = float(add_gain[q]), (None, q)
    if mem.size:
        drop_gain = duals[mem] - load[mem]
        i = int(np.argmin(drop_gain))
        if drop_gain[i] < best:
            best, move = float(drop_gain[i]), (int(mem[i]), None)
        swap = drop_gain[:, None] + add_gain[None, :] - pair_cost[mem]
        room = used[None, None, :] - req[mem][:, None, :] + req[None, :, :] <= cap
        swap = np.where(room.all(axis=2), swap, np.inf)
        flat = int(np.argmin(swap))
        r, q = divmod(flat, swap.shape[1])
        if swap[r, q] < best:
            move = (int(mem[r]), int(q))
    return move
