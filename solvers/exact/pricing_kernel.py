"""The pricing search compiled (numba): the structured branch-and-bound of
:mod:`solvers.exact.pricing` on lower-bounded costs, about a microsecond a node.

The search minimizes ``f_lb(S) - pi(S)`` over one type's capacity-feasible sets, where
``f_lb`` is ``f`` with every member's slowdown replaced by its structure lower bound
``min(composed(S - i), min{setwise(t, i, W) : W ⊇ S - i})`` (exact for a set no set-wise entry
can match, below it otherwise). Its minimum is therefore a proved lower bound on
``min_S f(S) - pi(S)`` (the Lagrangian bound needs no more), and the sets it keeps (the best
``f_lb - pi`` below a threshold) are the candidates the caller evaluates exactly. A branch is cut
when the prefix's bound minus the most its extensions can gain (the least of: the best ``room``
positive gains, and for each resource the fractional-knapsack optimum of the gains in what is
left of it) cannot beat the best found or the threshold. A search stopped by its node budget or
the deadline bounds every branch left on its stack the same way, so its result stays a bound.

Measured on the 320 x 96 generated instances (7 types, 120 models): ~1 us a node against ~100 us
for the Python search, and the knapsack bound cuts the tree by a further 10-100x.
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np

#: Composition rules as the kernel numbers them.
RULES = {"additive": 0, "multiplicative": 1, "max": 2}
#: The clock is read every this many nodes (a call out of compiled code costs ~1 us).
CLOCK_EVERY = 256


@nb.njit(cache=True)
def _now() -> float:
    with nb.objmode(t="float64"):
        t = time.perf_counter()
    return t


@nb.njit(cache=True, nogil=True)
def _gain_bound(gains, ok, start, room, free, req, enough, vals, idx, ratio):
    """The most a subset of the candidates ``ok[start:]`` (at most ``room`` of them, fitting
    ``free`` on every resource) can add: min of the top-``room`` positive gains and each
    resource's fractional knapsack. -1 when no candidate may join. A cheap bound first (all
    positive gains; each resource's capacity left times its best gain per unit): when it is at
    most ``enough`` it is returned as it is (the caller cuts the branch either way).
    ``vals``, ``idx``, ``ratio``: work arrays of the candidates' length."""
    k = gains.shape[0]
    R = req.shape[1]
    n_ok = 0
    n = 0
    total_pos = 0.0
    for q in range(start, k):
        if ok[q]:
            n_ok += 1
            if gains[q] > 0.0:
                vals[n] = gains[q]
                idx[n] = q
                total_pos += gains[q]
                n += 1
    if n_ok == 0:
        return -1.0
    if n == 0:
        return 0.0
    cheap = total_pos
    for r in range(R):
        best_ratio = 0.0
        for i in range(n):
            w = req[idx[i], r]
            if w <= 1e-12:
                best_ratio = np.inf
                break
            if vals[i] / w > best_ratio:
                best_ratio = vals[i] / w
        if best_ratio < np.inf and free[r] * best_ratio < cheap:
            cheap = free[r] * best_ratio
    if cheap <= enough:
        return cheap
    best = total_pos
    if room < n:
        order = np.argsort(-vals[:n])
        best = 0.0
        for r in range(room):
            best += vals[order[r]]
    for r in range(R):
        for i in range(n):
            w = req[idx[i], r]
            ratio[i] = vals[i] / w if w > 1e-12 else np.inf
        by = np.argsort(-ratio[:n])
        left = free[r]
        total = 0.0
        for i in range(n):
            j = by[i]
            w = req[idx[j], r]
            if w <= left or w <= 1e-12:
                total += vals[j]
                left -= w
            else:
                total += vals[j] * left / w
                break
        if total < best:
            best = total
    return best


@nb.njit(cache=True, nogil=True)
def _interaction_bound(gains, ok, start, room, cost, row_order, dirty, idx, in_set, ptr, paid,
                       v):
    """The most a subset ``X`` of the candidates ``ok[start:]`` with positive gain (at most
    ``room``) can add once the new members' slowdowns on each other are counted: a member ``q``
    with no set-wise entry left to match (``dirty[q]`` False) has its slowdown raised by at least
    ``pair[q, j] - 1`` by every other new member ``j`` (additive: exactly that; multiplicative:
    ``acc * prod`` is at least ``acc + sum``), so its cost by ``cost[q, j] = a_q (pair[q, j] -
    1) >= 0``. Hence ``gain(X) <= sum_{q in X} (g_q - the |X| - 1 least cost[q, j] over the
    candidates)``, and the bound is the largest over ``|X| = 1..room`` of the top-``|X|`` sum.
    Members with a gain of at most 0 only lower a set's gain (costs are >= 0), so they are left
    out. ``row_order[q]``: ``cost[q]`` ascending (precomputed once a search). ``idx``,
    ``in_set``, ``ptr``, ``paid``, ``v``: work arrays of the candidates' length (``in_set``
    all False on entry and on return)."""
    k = gains.shape[0]
    n = 0
    for q in range(start, k):
        if ok[q] and gains[q] > 0.0:
            idx[n] = q
            in_set[q] = True
            n += 1
    if n < 2:
        for i in range(n):
            in_set[idx[i]] = False
        return np.inf
    m = min(room, n)
    for i in range(n):
        ptr[i] = 0
        paid[i] = 0.0
    best = 0.0
    for size in range(1, m + 1):
        positive = 0.0
        for i in range(n):
            q = idx[i]
            if size > 1 and not dirty[q]:
                # the next least cost of q among the other candidates
                t = ptr[i]
                while True:
                    j = row_order[q, t]
                    t += 1
                    if j != q and in_set[j]:
                        break
                ptr[i] = t
                paid[i] += cost[q, j]
            v[i] = gains[q] - paid[i]
            if v[i] > 0.0:
                positive += v[i]
        if positive <= best:
            break  # every larger set: each v only falls, and a top sum is at most the positives
        # the top-``size`` sum, by partial selection (sizes stay small: the break above)
        total = 0.0
        for t in range(size):
            top = t
            for i in range(t + 1, n):
                if v[i] > v[top]:
                    top = i
            v[t], v[top] = v[top], v[t]
            total += v[t]
        if total > best:
            best = total
    for i in range(n):
        in_set[idx[i]] = False
    return best


@nb.njit(cache=True, nogil=True)
def _lower_slowdowns(acc_row, bad_row, e_target, e_value, out):
    """Each candidate's slowdown lower bound: composed, or an entry that can still match."""
    out[:] = acc_row
    for e in range(e_target.shape[0]):
        if bad_row[e] == 0 and e_value[e] < out[e_target[e]]:
            out[e_target[e]] = e_value[e]


@nb.njit(cache=True, nogil=True)
def _member_cost(a, pv, slo_limit, q, lb):
    c = a[q] * (lb - 1.0)
    if pv != 0.0 and lb > slo_limit[q]:
        c += pv
    return c


@nb.njit(cache=True, nogil=True)
def price_search(req, cap, slots, duals, a, pv, slo_limit, caps, per_machine, pair, rule,
                 e_target, e_in, e_value, threshold, keep, node_budget, deadline):
    """The search (module docstring) over candidates ``0..k-1`` in the given order.

    Returns ``(frontier, complete, nodes, kept_sets [keep, D] (-1 padded), kept_values,
    n_kept, n_below)``: ``frontier`` bounds ``f_lb - pi`` of every set a truncated search left
    unseen (inf when complete); kept sets have ``f_lb - pi < threshold`` (in no particular
    order); ``n_below`` counts every such set met (more than ``keep``: some were not kept)."""
    k, R = req.shape
    E = e_target.shape[0]
    D = min(slots, k)
    acc = np.ones((D + 1, k))
    used = np.zeros((D + 1, R))
    lbs = np.ones((D + 1, k))
    bad = np.zeros((D + 1, E), np.int64)
    rc_level = np.zeros(D + 1)
    pi_level = np.zeros(D + 1)
    pos = np.zeros(D + 1, np.int64)
    chosen = np.empty(D, np.int64)
    ok = np.ones((D + 1, k), np.bool_)
    gains = np.zeros(k)
    free = np.empty(R)
    work_vals = np.empty(k)
    work_idx = np.empty(k, np.int64)
    work_ratio = np.empty(k)
    # new members raise each other's costs (see _interaction_bound): each candidate's cost
    # from each other, ascending; not used when the rule composes by max or a cost is < 0
    dirty = np.zeros(k, np.bool_)  # candidate a set-wise entry may still lower (this node's)
    pair_cost = np.empty((k, k))
    interactions = rule != 2
    for q in range(k):
        for j in range(k):
            pair_cost[q, j] = a[q] * (pair[q, j] - 1.0) if j != q else 0.0
            if not pair_cost[q, j] >= 0.0:  # below 0, or nan (an unmeasured pair)
                interactions = False
    row_order = np.empty((k, k), np.int64)
    for q in range(k):
        row_order[q] = np.argsort(pair_cost[q])
    in_set = np.zeros(k, np.bool_)
    work_ptr = np.zeros(k, np.int64)
    work_paid = np.zeros(k)
    work_v = np.zeros(k)
    kept_sets = -np.ones((keep, D), np.int64)
    kept_values = np.full(keep, np.inf)
    n_kept = 0
    worst = 0  # index of the largest kept value once full
    n_below = 0
    best = 0.0
    frontier = np.inf
    complete = True
    nodes = 0
    rc_level[0] = per_machine
    for q in range(k):
        ok[0, q] = caps[q] >= 1.0
    d = 0
    while d >= 0:
        p = pos[d]
        if p >= k or d >= D:
            d -= 1
            continue
        pos[d] = p + 1
        if not ok[d, p]:
            continue
        fit = True
        for r in range(R):
            if used[d, r] + req[p, r] > cap[r]:
                fit = False
                break
        if not fit:
            continue
        nodes += 1
        if nodes > node_budget or (nodes % CLOCK_EVERY == 0 and _now() > deadline):
            complete = False
            pos[d] = p  # this node is not searched either
            for lev in range(d, -1, -1):
                for r in range(R):
                    free[r] = cap[r] - used[lev, r]
                for q in range(k):
                    lq = lbs[lev, q]
                    ok[lev, q] = ok[lev, q] and lq <= caps[q]
                    if ok[lev, q]:
                        for r in range(R):
                            if req[q, r] > free[r]:
                                ok[lev, q] = False
                                break
                    gains[q] = duals[q] - _member_cost(a, pv, slo_limit, q, lq)
                g = _gain_bound(gains, ok[lev], pos[lev], slots - lev, free, req, -1.0,
                                work_vals, work_idx, work_ratio)
                if g >= 0.0 and slots - lev > 0:
                    frontier = min(frontier, rc_level[lev] - g)
            break
        # the set: prefix + p
        chosen[d] = p
        n = d + 1
        col = pair[:, p]
        for q in range(k):
            if rule == 0:
                acc[n, q] = acc[d, q] + (col[q] - 1.0)
            elif rule == 1:
                acc[n, q] = acc[d, q] * col[q]
            else:
                acc[n, q] = max(acc[d, q], col[q])
        for r in range(R):
            used[n, r] = used[d, r] + req[p, r]
        for e in range(E):
            bad[n, e] = bad[d, e] + (0 if (e_in[e, p] or e_target[e] == p) else 1)
        _lower_slowdowns(acc[n], bad[n], e_target, e_value, lbs[n])
        prune = False
        f_lb = per_machine
        for i in range(n):
            m = chosen[i]
            if lbs[n, m] > caps[m]:
                prune = True
                break
            f_lb += _member_cost(a, pv, slo_limit, m, lbs[n, m])
        if prune:
            continue
        pis = pi_level[d] + duals[p]
        rc = f_lb - pis
        if rc < best:
            best = rc
        limit = threshold - 1e-9
        if n_kept == keep and kept_values[worst] < limit:
            limit = kept_values[worst]
        if rc < threshold - 1e-9:
            n_below += 1
        if rc < limit:
            slot = n_kept if n_kept < keep else worst
            for i in range(D):
                kept_sets[slot, i] = chosen[i] if i < n else -1
            kept_values[slot] = rc
            if n_kept < keep:
                n_kept += 1
            if n_kept == keep:
                worst = 0
                for i in range(1, keep):
                    if kept_values[i] > kept_values[worst]:
                        worst = i
        if n >= D or p + 1 >= k or n >= slots:
            continue
        # extension: which later candidates may join, and the most each can gain. A member
        # with no set-wise entry left to match (not dirty) has its composed slowdown raised by
        # every joiner; the gains below and the interaction bound both use that
        for e in range(E):
            dirty[e_target[e]] = False
        for e in range(E):
            if bad[n, e] == 0:
                dirty[e_target[e]] = True
        for r in range(R):
            free[r] = cap[r] - used[n, r]
        any_ok = False
        for q in range(p + 1, k):
            lq = lbs[n, q]
            good = ok[d, q] and lq <= caps[q]
            if good:
                for r in range(R):
                    if req[q, r] > free[r]:
                        good = False
                        break
            ok[n, q] = good
            if not good:
                continue
            any_ok = True
            g = duals[q] - _member_cost(a, pv, slo_limit, q, lq)
            if rule != 2:
                for i in range(n):
                    m = chosen[i]
                    if not dirty[m]:
                        rise = pair[m, q] - 1.0
                        if rule == 1:
                            rise *= acc[n, m]
                        g -= a[m] * rise
            gains[q] = g
        if not any_ok:
            continue
        worth = threshold
        if n_kept == keep and kept_values[worst] < worth:
            worth = kept_values[worst]
        target = max(best, worth) - 1e-12
        bound = rc - _gain_bound(gains, ok[n], p + 1, slots - n, free, req, rc - target,
                                 work_vals, work_idx, work_ratio)
        if bound < target and interactions:
            # new members raise each other's slowdowns: a tighter bound where the others fail
            tighter = rc - _interaction_bound(gains, ok[n], p + 1, slots - n, pair_cost,
                                              row_order, dirty, work_idx, in_set, work_ptr,
                                              work_paid, work_v)
            if tighter > bound:
                bound = tighter
        if bound < target:
            d = n
            pos[d] = p + 1
            pi_level[d] = pis
            rc_level[d] = rc
    return frontier, complete, nodes, kept_sets[:n_kept], kept_values[:n_kept], n_kept, n_below
