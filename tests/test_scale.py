"""Bounds at every size, the large-instance solver, bounded caches (SPEC section 12)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solvers.problem as problem_module
from placement.compile import compile_problem
from placement.synthetic.generator import generate
from solvers import registry
from solvers.auto import choose
from solvers.exact.colgen import ColumnGenerator
from solvers.exact.columns import Configurations, add_machine_contents, fitting_subsets
from solvers.exact.pricing import PricingStats, TypePricer
from solvers.metrics import evaluate_assignment, violations
from solvers.result import Status
from tests.strategies import COMPOSE, OBJECTIVES, random_instance, tiny_instances

FEW = settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow])
#: Every solver that reports a bound, with options that make it work on a tiny instance as it
#: does on a large one (column generation, not the full enumeration).
BOUNDED = [
    ("cpsat", {"route": "cg"}),
    ("milp", {"route": "cg"}),
    ("milp", {"route": "cg", "pricing_nodes": 2}),
    ("lns", {"iterations": 3}),
    ("auto", {}),
]


def _valid(problem, result) -> None:
    if result.status.solved:
        assert not violations(problem, result.assignment)
        value = evaluate_assignment(problem, result.assignment).objective(problem.objective)
        assert result.objective == pytest.approx(value, abs=1e-12)


@FEW
@given(tiny_instances())
def test_every_bound_is_at_most_the_optimum(instance) -> None:
    """Random tiny instances, every objective and composition: each reported bound is at most
    the exhaustive optimum, each placement passes the verifier."""
    problem = compile_problem(instance)
    ref = registry.run("exhaustive", problem, time_limit=60)
    for name, kwargs in BOUNDED:
        result = registry.run(name, problem, time_limit=10, seed=0, **kwargs)
        if ref.status == Status.INFEASIBLE:
            assert result.status in (Status.INFEASIBLE, Status.UNKNOWN), (name, kwargs)
            continue
        assert result.status.solved, (name, kwargs, result.info)
        _valid(problem, result)
        if result.bound is not None:
            assert result.bound <= ref.objective + 1e-9, (name, kwargs, result.bound, ref.objective)
            if result.status == Status.OPTIMAL:
                assert result.objective == pytest.approx(ref.objective, rel=1e-6, abs=1e-9)


def _true_minimum(problem, pricer, pi, alpha) -> tuple[float, tuple[int, ...] | None]:
    """min over every configuration of ``f(S) - pi(S)`` (0: the empty set), by enumeration."""
    sets = list(fitting_subsets(problem, pricer.t, 10**6, [0], 1e18))
    costs = pricer.exact_costs(alpha, sets)
    best, argmin = 0.0, None
    for ms, f in zip(sets, costs, strict=True):
        if not np.isnan(f) and f - pi[list(ms)].sum() < best:
            best, argmin = float(f - pi[list(ms)].sum()), ms
    return best, argmin


@pytest.mark.parametrize("compose", COMPOSE)
@pytest.mark.parametrize(("n_models", "n_setwise", "high", "slo"),
                         [(7, 5, 0.4, "hard"), (10, 0, 1.5, "soft"), (10, 8, 1.5, "soft")])
@given(seed=st.integers(0, 10**6), budget=st.sampled_from([1, 3, 10, 10**9]),
       keep=st.sampled_from([1, 2, 3, 400]), share=st.sampled_from([0.0, 0.6, 0.9]))
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_pricing_bounds_the_exact_minimum(
    compose: str, n_models: int, n_setwise: int, high: float, slo: str, seed: int, budget: int,
    keep: int, share: float,
) -> None:
    """The compiled search's lower bound (any node budget, any number of sets kept) is at most
    the minimum reduced cost over every configuration (by enumeration); complete with room in
    its kept list, it is that minimum and its best column is the minimizer. High duals make
    large sets price well: there the bound on what new members cost each other prunes. A full
    kept list prunes at its worst value: the bound must then not claim the threshold (``share``
    of the minimum: few sets below it, as at an LP's duals)."""
    instance = random_instance(seed, n_models=n_models, n_machines=4, n_types=2,
                               max_replicas=2, compose=compose, n_setwise=n_setwise,
                               slo=slo)
    problem = compile_problem(instance)
    rng = np.random.default_rng(seed)
    for t in range(problem.n_types):
        pricer = TypePricer(problem, t, None)
        if pricer.k == 0:
            continue
        pi = rng.uniform(-0.05, high, problem.n_models)
        alpha = {"mean_degradation": 1.0}
        minimum, argmin = _true_minimum(problem, pricer, pi, alpha)
        fast = pricer.price(pi, share * minimum, alpha, Configurations(), node_budget=budget,
                            deadline=1e18, stats=PricingStats(), keep=keep)
        assert fast.lower <= minimum + 1e-12
        if fast.complete and not fast.overflow:
            assert fast.lower == pytest.approx(minimum, abs=1e-9)
            if argmin is not None:
                assert fast.improving[0][1] == argmin


def _medium():
    instance, _truth = generate(n_replicas=40, n_machines=12, n_types=4, load=0.7, seed=3)
    problem = compile_problem(instance)
    optimum = registry.run("milp", problem, time_limit=60, route="enumerate")
    assert optimum.status == Status.OPTIMAL
    return problem, optimum.objective


def test_bound_under_a_short_time_limit_is_valid() -> None:
    """Column generation stopped after a fraction of a second still proves a bound at most the
    optimum (proved by the full enumeration), and so does the large-instance solver."""
    problem, optimum = _medium()
    for limit in (0.3, 1.0):
        for name, kwargs in (("milp", {"route": "cg"}), ("cpsat", {"route": "cg"}),
                             ("lns", {})):
            result = registry.run(name, problem, time_limit=limit, seed=0, **kwargs)
            _valid(problem, result)
            if result.bound is not None:
                assert result.bound <= optimum + 1e-9, (name, limit, result.bound, optimum)


def test_smoothing_reaches_the_same_lp() -> None:
    """Wentges smoothing changes the path, not the answer: with and without it column
    generation solves the same LP, and neither bound exceeds it."""
    problem, _optimum = _medium()
    greedy = registry.run("greedy", problem, time_limit=5).assignment
    values = []
    for smoothing in (0.0, 0.5):
        configs = Configurations()
        add_machine_contents(problem, configs, greedy)
        import time

        out = ColumnGenerator(problem, configs, "mean_degradation", [], smoothing=smoothing).run(
            time.perf_counter() + 30
        )
        assert out.bound is not None and out.bound <= out.lp_value + 1e-9
        values.append(out.lp_value)
    assert values[0] == pytest.approx(values[1], rel=1e-6)


def test_rounded_lp_is_a_valid_placement_no_better_than_the_optimum() -> None:
    """Rounding the LP (integer parts fixed, the residual master solved) gives column counts
    that realize a verified placement, whose value is the evaluator's and at least the optimum;
    the residual master of those integer parts keeps every row of the master."""
    import time

    from solvers.exact.driver import assignment_from_counts
    from solvers.exact.goals import stage_value
    from solvers.exact.highs import HighsBackend
    from solvers.exact.master import build_master, residual
    from solvers.exact.price_and_branch import round_lp

    problem, optimum = _medium()
    configs = Configurations()
    add_machine_contents(problem, configs, registry.run("greedy", problem, time_limit=5).assignment)
    out = ColumnGenerator(problem, configs, "mean_degradation", []).run(time.perf_counter() + 30)
    assert out.lp_solution
    master = build_master(problem, configs, "mean_degradation", [])
    counts, info = round_lp(master, HighsBackend(0, 1), out.lp_solution,
                            time.perf_counter() + 30)
    assert counts is not None, info
    assignment = assignment_from_counts(problem, configs, counts)
    assert not violations(problem, assignment)
    value = evaluate_assignment(problem, assignment).objective(problem.objective)
    assert stage_value(problem, configs, "mean_degradation", counts) == pytest.approx(value)
    assert value >= optimum - 1e-9
    assert value >= out.bound - 1e-9
    # the residual's rows are the master's less the fixed columns' activity
    floors = {c: int(np.floor(v + 1e-6)) for c, v in out.lp_solution.items() if v + 1e-6 >= 1}
    rest = residual(master, floors)
    used = np.zeros(problem.n_models)
    for c, k in floors.items():
        used[list(configs.members[c])] += k
    assert np.allclose(rest.rows.upper[: problem.n_models],
                       problem.replicas_per_model - used)
    assert (rest.upper >= 0).all()


def test_lns_improves_and_passes_the_verifier() -> None:
    """On a generated instance beyond enumeration, ``lns`` returns a verified placement no worse
    than greedy's, a proved bound below it, and is deterministic for a fixed number of rounds."""
    instance, _truth = generate(n_replicas=160, n_machines=48, n_types=7, load=0.7, seed=1)
    problem = compile_problem(instance)
    first = registry.run("lns", problem, time_limit=60, seed=2, iterations=6, bound_share=0.0)
    again = registry.run("lns", problem, time_limit=60, seed=2, iterations=6, bound_share=0.0)
    _valid(problem, first)
    assert np.array_equal(first.assignment, again.assignment)
    assert first.info["lns"]["rounds"] == 6
    bounded = registry.run("lns", problem, time_limit=8, seed=0)
    _valid(problem, bounded)
    assert bounded.bound is not None and bounded.bound <= bounded.objective
    assert 0.0 <= bounded.gap <= 1.0


def test_auto_uses_lns_beyond_enumeration() -> None:
    instance, _truth = generate(n_replicas=320, n_machines=96, n_types=7, load=0.7, seed=0)
    problem = compile_problem(instance)
    assert choose(problem, 60.0)[0] == "lns"
    assert choose(problem, 1.0)[0] == "local-search"


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_slowdown_cache_is_bounded(monkeypatch, objective: str) -> None:
    """A cache capped far below what a solve asks gives the same placement, and never holds
    more than its cap."""
    instance = random_instance(11, n_models=6, n_machines=5, n_types=2, max_replicas=2,
                               objective=objective)
    free = registry.run("milp", compile_problem(instance), time_limit=20)
    monkeypatch.setattr(problem_module, "SLOWDOWN_CACHE_SIZE", 5)
    problem = compile_problem(instance)
    capped = registry.run("milp", problem, time_limit=20)
    assert capped.status == free.status
    if free.status.solved:
        assert capped.objective == pytest.approx(free.objective, abs=1e-12)
    assert len(problem._cache) <= 5


def test_full_kept_list_does_not_claim_the_threshold() -> None:
    """Regression: the LP duals at which a kept list of 2, full of sets whose lower-bounded
    cost is below the threshold but whose exact cost is not, pruned the one improving set; the
    bound then claimed the threshold (the LP value, above the optimum)."""
    problem = compile_problem(random_instance(
        707, n_models=5, n_machines=4, n_types=2, max_replicas=2, n_setwise=4,
        objective="mean_degradation",
    ))
    pricer = TypePricer(problem, 1, None)
    pi = np.array([0.12163636, 0.21890909, 0.21890909, 0.06563636, 0.01559091])
    alpha = {"mean_degradation": 1.0}
    minimum, argmin = _true_minimum(problem, pricer, pi, alpha)
    mu = -0.34054545
    assert minimum < mu  # an improving set exists
    for keep in (1, 2, 3, 400):
        fast = pricer.price(pi, mu, alpha, Configurations(), node_budget=10**9, deadline=1e18,
                            stats=PricingStats(), keep=keep)
        assert fast.complete
        assert fast.lower <= minimum + 1e-12, keep


@pytest.mark.parametrize("compose", COMPOSE)
@given(seed=st.integers(0, 10**6))
@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])
def test_local_search_pricing_returns_only_improving_configurations(compose: str,
                                                                     seed: int) -> None:
    """Every column local-search pricing returns is a configuration (capacity, caps: it has an
    exact cost), new, improving by its exact reduced cost, and listed best first; on additive
    pairs without set-wise entries (its proxy exact) it ends no worse than where it started."""
    from solvers.exact.pricing_heuristic import local_search_columns

    instance = random_instance(seed, n_models=10, n_machines=4, n_types=2, max_replicas=2,
                               compose=compose, n_setwise=0 if seed % 2 else 6, slo="hard")
    problem = compile_problem(instance)
    rng = np.random.default_rng(seed)
    alpha = {"mean_degradation": 1.0}
    for t in range(problem.n_types):
        pricer = TypePricer(problem, t, None)
        if pricer.k == 0:
            continue
        pi = rng.uniform(-0.05, 1.0, problem.n_models)
        configs = Configurations()
        starts = [(m,) for m in pricer.models[:3]]
        configs.add(problem, t, starts[0])
        mu = -0.01
        found = local_search_columns(pricer, pi, mu, alpha, configs, starts,
                                     stats=PricingStats())
        values = [v for v, _ms in found]
        assert values == sorted(values)
        for value, ms in found:
            assert (t, ms) not in configs.index
            f = pricer.exact_cost(alpha, ms)
            assert f is not None  # a usable configuration
            assert value == pytest.approx(f - pi[list(ms)].sum() - mu, abs=1e-12)
            assert value < 0
        if compose == "additive" and not problem.structure.setwise:
            # the proxy is exact here; with no column known, no local optimum is left out, so
            # the best one is at most the best start (or none improves, and neither does it)
            fresh = local_search_columns(pricer, pi, mu, alpha, Configurations(), starts,
                                         stats=PricingStats())
            start_best = min(
                pricer.exact_cost(alpha, s) - pi[list(s)].sum() - mu for s in starts
                if pricer.exact_cost(alpha, s) is not None
            )
            if fresh:
                assert fresh[0][0] <= start_best + 1e-12
            else:
                assert start_best >= -1e-9


def test_cheap_rounds_reach_the_lp_with_local_search() -> None:
    """Column generation whose cheap rounds add local-search columns solves the same LP as
    exhaustive pricing alone would (the bound meets the LP value), and its bound stays at most
    the enumerated optimum."""
    import time

    problem, optimum = _medium()
    out = ColumnGenerator(problem, Configurations(), "mean_degradation", []).run(
        time.perf_counter() + 60, node_budget=50)
    assert out.bound is not None and out.bound <= optimum + 1e-9
    assert out.bound == pytest.approx(out.lp_value, rel=1e-6)
    assert out.info["local_search_columns"] > 0  # the cheap rounds did use it
