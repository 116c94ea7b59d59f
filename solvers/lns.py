"""``lns``: the anytime large-instance solver.

1. **First feasible placement**: the first of ``starters`` that answers (``greedy``, else
   ``local-search``, in the catalog; the first may take ``START_SHARE`` of the time left, a
   later one ``FALLBACK_SHARE``); its time is ``info["first_feasible_seconds"]``.
2. **Bound and LP-based placement**: the configuration master by column generation
   (``milp`` with ``route="cg"``, its warm start the placement of step 1), for ``bound_share`` of
   the time left, ``CG_SHARE`` of it pricing: the proved Lagrangian bound (compiled pricing,
   Wentges smoothing), the LP rounded (integer parts fixed, the residual master solved exactly)
   and the integer master over the generated columns from the better start (price-and-branch,
   else a dive on the LP), mapped back to an assignment and kept when better than step 1. At
   cluster size the LP is nearly integral: the rounding is what beats local search at the same
   limit.
3. **Local search** (its moves and swaps, :class:`solvers.heuristics.local_search.Search`) from
   the best placement, until a local optimum or the last ``LNS_SHARE`` of the limit.
4. **Large-neighbourhood search** until the limit: destroy the contents of a few machines (one
   drawn at random, the others of its type and of any type, seeded), re-solve that sub-problem
   exactly (``milp`` over every configuration of the sub-problem), keep it when the sub-problem's
   value (hence the whole placement's, every goal being a sum or a max over machines) is better.

A placement step 2's bound proves optimal is returned at once (steps 3 and 4 could not improve
it). The bound is step 2's, valid whatever the time limit cut. Deterministic for a seed when no
step is cut by the clock: how far column generation, local search and the LNS rounds get under
a wall-clock limit is not (``iterations`` fixes the LNS rounds and skips step 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from solvers.diagnosis import diagnose
from solvers.heuristics.local_search import Search
from solvers.metrics import evaluate_assignment, violations
from solvers.objectives import better, rank
from solvers.problem import HostTables, Problem
from solvers.result import (
    OPTIMALITY_GAP,
    Result,
    SolverInputError,
    Status,
    relative_gap,
    starter_seconds,
)

#: Machines whose contents one LNS round re-solves (8 machines hold ~30 distinct models at
#: 2,000 x 500: tens of thousands of configurations, seconds a sub-problem; 4 take ~0.1 s).
NEIGHBOURHOOD = 4
#: Time limit of one sub-problem's exact solve.
SUB_SECONDS = 2.0
#: A starter's share of the time left (greedy needs far less below 10,000 replicas, ~30 s at
#: 10,000 x 2,000; local search only runs when greedy fails).
START_SHARE = 0.5
#: The share of a later starter (when the first found nothing), with the floor of
#: :func:`~solvers.result.starter_seconds`: local search's placement only starts the master,
#: and step 3 improves it anyway. Measured at 320 x 96 (greedy fails on seeds 0 and 2): first
#: feasible 3.1-3.2 s instead of 4.2-8.6 s at a share of 0.15, both still proved optimal.
FALLBACK_SHARE = 0.05
#: Share of the master's time for column generation (the bound) before its integer master.
CG_SHARE = 0.8
#: Share of the limit kept for LNS rounds: local search after the master stops there even short
#: of its local optimum.
LNS_SHARE = 0.1


def lns(
    problem: Problem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    bound_share: float = 0.85,
    neighbourhood: int = NEIGHBOURHOOD,
    iterations: int | None = None,
    starters: Sequence[Callable[..., Result]] = (),
    exact: Callable[..., Result] | None = None,
) -> Result:
    """The large-instance solver (module docstring). ``exact`` is the configuration MILP
    (``milp``, bound by :mod:`solvers.catalog`); ``starters`` give the first placement."""
    if not 0.0 <= bound_share <= 1.0:
        raise SolverInputError(f"bound_share must be in [0, 1] (got {bound_share!r})")
    if int(neighbourhood) < 2:
        raise SolverInputError(f"neighbourhood must be at least 2 (got {neighbourhood!r})")
    if iterations is not None and int(iterations) < 0:
        raise SolverInputError(f"iterations must be >= 0 (got {iterations!r})")
    if exact is None:
        raise SolverInputError("lns needs the exact solver it builds on (see solvers.catalog)")
    start = time.perf_counter()
    deadline = start + time_limit
    info: dict = {"solver": "lns"}

    def done(status: Status, assignment: np.ndarray | None, **kw) -> Result:
        return Result(status, assignment, seconds=time.perf_counter() - start, info=info, **kw)

    reasons = diagnose(problem)
    if reasons:
        info["diagnosis"] = reasons
        return done(Status.INFEASIBLE, None)

    best: np.ndarray | None = None
    for i, starter in enumerate(starters):
        left = deadline - time.perf_counter()
        budget = max(0.1, START_SHARE * left) if i == 0 else starter_seconds(FALLBACK_SHARE, left)
        found = starter(problem, time_limit=budget, seed=seed, threads=threads)
        if found.assignment is not None and not violations(problem, found.assignment):
            best = found.assignment
            info["first_feasible_seconds"] = time.perf_counter() - start
            break

    bound = None
    left = deadline - time.perf_counter()
    master: Result | None = None
    if bound_share > 0 and left > 1.0:
        hint = (lambda *_a, **_k: Result(Status.FEASIBLE, best)) if best is not None else None
        master = exact(
            problem, time_limit=bound_share * left, seed=seed, threads=threads, route="cg",
            starters=(hint,) if hint else (), warm_start_seconds=0.0, cg_share=CG_SHARE,
        )
        info["master"] = {k: master.info.get(k) for k in ("route", "columns", "stages")}
        if master.status == Status.INFEASIBLE:
            info["diagnosis"] = master.info.get("diagnosis")
            return done(Status.INFEASIBLE, None)
        bound = master.bound
        if master.assignment is not None and (best is None or _better(problem, master.assignment,
                                                                      best)):
            best = master.assignment
        info.setdefault("first_feasible_seconds", time.perf_counter() - start)
    if best is None:
        info["diagnosis"] = ["no placement found within the time limit"]
        return done(Status.UNKNOWN, None)

    if bound is not None and iterations is None:
        objective = evaluate_assignment(problem, best).objective(problem.objective)
        proved_gap = relative_gap(objective, min(bound, objective))
        if proved_gap <= OPTIMALITY_GAP:
            info["lns"] = "skipped: the master's placement is proved optimal"
            return done(Status.OPTIMAL, best, objective=objective, bound=min(bound, objective),
                        gap=proved_gap)
    lns_applies = problem.current is None and problem.max_moves is None
    if time.perf_counter() < deadline and iterations is None:
        # local search until its local optimum, but never into the LNS share: LNS rounds run
        reserve = LNS_SHARE * time_limit if lns_applies else 0.0
        best = _local_search(problem, best, seed, max(time.perf_counter(), deadline - reserve),
                             info)
    if lns_applies:
        best = improve(problem, best, exact, deadline, seed, int(neighbourhood), iterations, info)
    else:
        info["lns"] = "skipped: moves from a current placement are not modelled by sub-problems"

    objective = evaluate_assignment(problem, best).objective(problem.objective)
    if bound is None:
        return done(Status.FEASIBLE, best, objective=objective)
    bound = min(bound, objective)
    gap = relative_gap(objective, bound)
    status = Status.OPTIMAL if gap <= OPTIMALITY_GAP else Status.FEASIBLE
    return done(status, best, objective=objective, bound=bound, gap=gap)


def _local_search(
    problem: Problem, assignment: np.ndarray, seed: int, deadline: float, info: dict
) -> np.ndarray:
    """Local search's moves and swaps from ``assignment`` to a local optimum or ``deadline``;
    the better of the two."""
    search = Search(problem, assignment, seed=seed, deadline=deadline)
    search.run()
    found = info.setdefault("local_search", {"moves": 0, "swaps": 0})
    found["moves"] += search.moves
    found["swaps"] += search.swaps
    found["local_optimum"] = search.local_optimum
    if _better(problem, search.state.assignment, assignment):
        return search.state.assignment.copy()
    return assignment


def _better(problem: Problem, new: np.ndarray, old: np.ndarray) -> bool:
    return better(rank(problem, evaluate_assignment(problem, new)),
                  rank(problem, evaluate_assignment(problem, old)))


def improve(
    problem: Problem,
    assignment: np.ndarray,
    exact: Callable[..., Result],
    deadline: float,
    seed: int,
    neighbourhood: int,
    iterations: int | None,
    info: dict,
) -> np.ndarray:
    """LNS rounds (module docstring, step 3) until ``deadline`` or ``iterations``."""
    rng = np.random.default_rng(seed)
    current = assignment.copy()
    used = np.flatnonzero(np.bincount(current, minlength=problem.n_machines) > 0)
    rounds = accepted = 0
    while time.perf_counter() < deadline - 0.2 and (iterations is None or rounds < iterations):
        rounds += 1
        machines = _neighbourhood(problem, used, rng, neighbourhood)
        replicas = np.flatnonzero(np.isin(current, machines))
        if replicas.size == 0:
            continue
        sub = sub_problem(problem, replicas, machines)
        limit = min(SUB_SECONDS, deadline - time.perf_counter())
        if limit <= 0.1:
            break
        local = np.searchsorted(machines, current[replicas])
        before = rank(sub, evaluate_assignment(sub, local))
        solved = exact(sub, time_limit=limit, seed=seed, threads=1, route="enumerate",
                       warm_start=False)
        if solved.assignment is None or violations(sub, solved.assignment):
            continue
        if better(rank(sub, evaluate_assignment(sub, solved.assignment)), before):
            current[replicas] = machines[solved.assignment]
            used = np.flatnonzero(np.bincount(current, minlength=problem.n_machines) > 0)
            accepted += 1
    info["lns"] = {"rounds": rounds, "accepted": accepted}
    return current


def _neighbourhood(
    problem: Problem, used: np.ndarray, rng: np.random.Generator, size: int
) -> np.ndarray:
    """A used machine at random, half the rest of its type (used or empty), half of any type."""
    first = int(used[rng.integers(used.size)])
    same = np.flatnonzero(problem.machine_type == problem.machine_type[first])
    same = same[same != first]
    pick = rng.choice(same, size=min(same.size, size // 2), replace=False) if same.size else []
    chosen = {first, *map(int, pick)}
    others = used[~np.isin(used, list(chosen))]
    extra = size - len(chosen)
    if extra > 0 and others.size:
        chosen.update(map(int, rng.choice(others, size=min(extra, others.size), replace=False)))
    return np.array(sorted(chosen), dtype=np.int64)


def sub_problem(problem: Problem, replicas: np.ndarray, machines: np.ndarray) -> Problem:
    """The problem restricted to some replicas and machines (model and type indices kept, the
    filter tables sliced to the machines)."""
    tables = problem.filter_tables
    hosting = HostTables(
        allowed=tables.allowed,
        meets_slo_alone=tables.meets_slo_alone,
        capacity=tables.capacity[machines],
        limit=tables.limit[machines],
        conflicts=tables.conflicts,
        accepts_new=tables.accepts_new[machines],
        down=tables.down[machines],
        spread_key=tables.spread_key,
        spread_label=tables.spread_label[:, machines],
        machine_class=tables.machine_class[machines],
    )
    return replace(
        problem,
        name=f"{problem.name}/lns",
        machine_ids=tuple(problem.machine_ids[int(n)] for n in machines),
        replica_ids=tuple(problem.replica_ids[int(r)] for r in replicas),
        replica_model=problem.replica_model[replicas],
        machine_type=problem.machine_type[machines],
        current=None,
        hosting=hosting,
    )
