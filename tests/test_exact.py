"""The exact solvers (cpsat, milp) against the brute-force reference and the heuristics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from placement.compile import compile_problem
from solvers import registry
from solvers.metrics import evaluate_assignment, sort_key, violations
from solvers.result import Status
from tests.strategies import COMPOSE, OBJECTIVES, random_instance, tiny_instances

EXACT = [("cpsat", {}), ("milp", {"backend": "highs"})]
TOL = 1e-6
SETTINGS = settings(
    deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)


def same_key(a: tuple, b: tuple) -> bool:
    return all(abs(x - y) <= TOL * max(1.0, abs(y)) for x, y in zip(a, b, strict=True))


def check_result(problem, result) -> None:
    """Objective from the evaluator, bound below it, feasible assignment."""
    if not result.status.solved:
        return
    assert not violations(problem, result.assignment)
    metrics = evaluate_assignment(problem, result.assignment)
    assert result.objective == pytest.approx(metrics.objective(problem.objective), abs=1e-12)
    assert result.bound is not None and result.bound <= result.objective + 1e-9
    assert result.gap is not None and result.gap >= 0


def reference(problem):
    return registry.run("exhaustive", problem, time_limit=60)


def check_against_exhaustive(problem, ref, result, label) -> bool:
    """A column-generation result beside the exhaustive optimum ``ref``: solved and valid, its
    bound never above the optimum, and the optimum itself (lexicographically) whenever it says
    optimal. Returns whether it said optimal."""
    assert result.status.solved
    check_result(problem, result)
    assert result.bound <= ref.objective + 1e-9
    if result.status != Status.OPTIMAL:
        return False
    ours = sort_key(problem, evaluate_assignment(problem, result.assignment))
    theirs = sort_key(problem, evaluate_assignment(problem, ref.assignment))
    assert same_key(ours, theirs), (label, ours, theirs)
    return True


def exact_matches_exhaustive(instance, solvers) -> None:
    problem = compile_problem(instance)
    ref = reference(problem)
    assert ref.status in (Status.OPTIMAL, Status.INFEASIBLE)
    for name, kwargs in solvers:
        result = registry.run(name, problem, time_limit=20, seed=0, **kwargs)
        if ref.status == Status.INFEASIBLE:
            assert result.status == Status.INFEASIBLE, (name, kwargs)
            assert result.info.get("diagnosis"), "an infeasible answer must say why"
            continue
        assert result.status == Status.OPTIMAL, (name, kwargs, result.info)
        check_result(problem, result)
        ours = sort_key(problem, evaluate_assignment(problem, result.assignment))
        theirs = sort_key(problem, evaluate_assignment(problem, ref.assignment))
        assert same_key(ours, theirs), (name, kwargs, ours, theirs)


@SETTINGS
@given(tiny_instances())
def test_exact_equal_exhaustive(instance) -> None:
    exact_matches_exhaustive(instance, EXACT)


@settings(deadline=None, max_examples=8, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_instances())
def test_cbc_equals_exhaustive(instance) -> None:
    exact_matches_exhaustive(instance, [("milp", {"backend": "cbc"})])


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("compose", COMPOSE)
@pytest.mark.parametrize("slo", ["hard", "soft"])
def test_every_objective_compose_and_slo(objective: str, compose: str, slo: str) -> None:
    """Each combination at least once, with set-wise entries present (n_models >= 3)."""
    seed = OBJECTIVES.index(objective) * 10 + COMPOSE.index(compose) * 3 + (slo == "soft")
    instance = random_instance(
        seed, n_models=4, n_machines=3, n_types=2, max_replicas=2, objective=objective,
        compose=compose, slo=slo, n_setwise=4,
    )
    assert instance.interference.setwise
    exact_matches_exhaustive(instance, EXACT)


def test_setwise_entry_is_what_counts() -> None:
    """A set-wise entry far worse than its pairs must steer the exact solvers away from the set
    (a pairwise-only model would pick it)."""
    data = random_instance(3, n_models=3, n_machines=2, n_types=1, max_replicas=1).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    data["machine_types"][0]["capacity"] = {"cpu": 100, "mem": 100}
    for model in data["models"]:
        model["slo_ms"] = 1e6
        model["weight"] = 1.0
        model["latency_ms"] = {"type0": 10.0}
    data["machines"] = [{"id": "m0", "type": "type0"}, {"id": "m1", "type": "type0"}]
    for entry in data["interference"]["pairwise"]:
        entry["slowdown"] = 1.01
    names = [m["name"] for m in data["models"]]
    data["interference"]["setwise"] = [
        {"machine_type": "type0", "target": t, "with": [n for n in names if n != t],
         "slowdown": 3.0}
        for t in names
    ]
    data["objective"] = {"minimize": "mean_degradation", "slo": "hard"}
    from placement.formats.instance import Instance

    problem = compile_problem(Instance.model_validate(data))
    for name, kwargs in EXACT:
        result = registry.run(name, problem, time_limit=10, **kwargs)
        assert result.status == Status.OPTIMAL
        assert result.objective == pytest.approx(0.01 * 2 / 3)  # a pair together, one alone
        assert len(set(result.assignment.tolist())) == 2


def test_cpsat_and_milp_agree_on_medium_instances() -> None:
    for seed in range(3):
        instance = random_instance(
            100 + seed, n_models=6, n_machines=5, n_types=2, max_replicas=2,
            objective=OBJECTIVES[seed % len(OBJECTIVES)], slo=["hard", "soft"][seed % 2],
        )
        problem = compile_problem(instance)
        results = [registry.run(n, problem, time_limit=20, **kw) for n, kw in EXACT]
        statuses = {r.status for r in results}
        if statuses == {Status.INFEASIBLE}:
            continue
        assert statuses == {Status.OPTIMAL}, [r.info for r in results]
        keys = [sort_key(problem, evaluate_assignment(problem, r.assignment)) for r in results]
        assert same_key(keys[0], keys[1])


def test_bound_and_objective_against_local_search() -> None:
    """Never worse than local search; the bound never above its (feasible) objective."""
    for seed in range(4):
        instance = random_instance(
            200 + seed, n_models=6, n_machines=5, n_types=2, max_replicas=2,
            objective=OBJECTIVES[seed % len(OBJECTIVES)], slo="hard",
        )
        problem = compile_problem(instance)
        heuristic = registry.run("local-search", problem, time_limit=5, seed=0)
        for name, kwargs in EXACT:
            result = registry.run(name, problem, time_limit=20, seed=0, **kwargs)
            check_result(problem, result)
            if heuristic.status.solved:
                assert result.status.solved
                ls_metrics = evaluate_assignment(problem, heuristic.assignment)
                assert result.bound <= ls_metrics.objective(problem.objective) + 1e-9
                ours = sort_key(problem, evaluate_assignment(problem, result.assignment))
                assert ours <= sort_key(problem, ls_metrics) or same_key(
                    ours, sort_key(problem, ls_metrics)
                )


@pytest.mark.parametrize("name,kwargs", EXACT + [("milp", {"backend": "cbc"})])
def test_infeasible_has_diagnosis(name: str, kwargs: dict) -> None:
    """Two models that each need the whole machine, one machine: packing, not a single model."""
    instance = random_instance(7, n_models=2, n_machines=1, n_types=1, max_replicas=1)
    data = instance.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["machine_types"][0]["capacity"] = {"cpu": 3, "mem": 8}
    for model in data["models"]:
        model["requests"] = {"cpu": 2, "mem": 1}
        model["slo_ms"] = 1e6
    from placement.formats.instance import Instance

    problem = compile_problem(Instance.model_validate(data))
    result = registry.run(name, problem, time_limit=10, **kwargs)
    assert result.status == Status.INFEASIBLE
    assert result.assignment is None
    assert result.info["diagnosis"]


def test_interference_makes_it_infeasible() -> None:
    """Both fit together, but together they miss their SLOs: proved infeasible by the master."""
    instance = random_instance(8, n_models=2, n_machines=1, n_types=1, max_replicas=1)
    data = instance.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["machine_types"][0]["capacity"] = {"cpu": 100, "mem": 100}
    for model in data["models"]:
        model["slo_ms"] = max(model["latency_ms"].values()) * 1.05
    for entry in data["interference"]["pairwise"]:
        entry["slowdown"] = 1.5
    from placement.formats.instance import Instance

    problem = compile_problem(Instance.model_validate(data))
    for name, kwargs in EXACT:
        result = registry.run(name, problem, time_limit=10, **kwargs)
        assert result.status == Status.INFEASIBLE
        assert result.info["diagnosis"]


@pytest.mark.parametrize("name,kwargs", EXACT)
def test_deterministic_for_a_seed(name: str, kwargs: dict) -> None:
    instance = random_instance(11, n_models=6, n_machines=5, n_types=2, max_replicas=2)
    problem = compile_problem(instance)
    runs = [
        registry.run(name, problem, time_limit=20, seed=3, threads=2, **kwargs) for _ in range(2)
    ]
    assert runs[0].status == runs[1].status
    if runs[0].assignment is not None:
        assert np.array_equal(runs[0].assignment, runs[1].assignment)
        assert runs[0].objective == runs[1].objective


def test_column_generation_route_is_valid() -> None:
    """Forcing the large-instance route: a feasible answer, evaluator's objective, valid bound,
    never worse than the optimum's bound."""
    checked = 0
    for seed in range(20):
        instance = random_instance(seed, n_models=6, n_machines=5, n_types=2, max_replicas=2)
        problem = compile_problem(instance)
        full = registry.run("milp", problem, time_limit=20)
        if full.status != Status.OPTIMAL:
            continue
        checked += 1
        for name, kwargs in EXACT:
            result = registry.run(name, problem, time_limit=10, max_configurations=5, **kwargs)
            assert result.info["route"] == "column-generation"
            assert result.status.solved
            check_result(problem, result)
            assert result.bound <= full.objective + 1e-9
            assert result.objective >= full.objective - 1e-9
        if checked == 2:
            break
    assert checked == 2


# ---------------------------------------------------------------------------- column generation
def _structured_value(problem, target: int, others: frozenset, t: int) -> float:
    """The slowdown recomputed from ``problem.structure`` alone."""
    s = problem.structure
    if not others:
        return 1.0
    for tt, i, w, value in s.setwise:
        if (tt, i, w) == (t, target, others):
            return value
    values = [s.compose_pair[t, target, o] for o in sorted(others)]
    if s.compose == "additive":
        return 1.0 + sum(v - 1.0 for v in values)
    if s.compose == "multiplicative":
        return float(np.prod(values))
    return max(values)


@pytest.mark.parametrize("compose", COMPOSE)
def test_structure_describes_the_slowdown_function(compose: str) -> None:
    """compile.py's structure (set-wise entries over composed pairs) reproduces the one slowdown
    function on every set, so bounds derived from it are bounds on its values."""
    from itertools import combinations

    instance = random_instance(5, n_models=5, n_machines=3, n_types=2, compose=compose,
                               n_setwise=6)
    problem = compile_problem(instance)
    assert problem.structure is not None and problem.structure.compose == compose
    for t in range(problem.n_types):
        models = [m for m in range(problem.n_models) if problem.allowed[m, t]]
        for size in range(2, len(models) + 1):
            for group in combinations(models, size):
                for m in group:
                    others = frozenset(group) - {m}
                    assert problem.slowdown(m, others, t) == pytest.approx(
                        _structured_value(problem, m, others, t), abs=1e-12
                    )


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_column_generation_matches_enumeration(objective: str) -> None:
    """The CG route forced on: its bound never exceeds the optimum (exhaustive), and whenever it
    says optimal it has the enumerated route's optimum (lexicographically)."""
    proved = 0
    for seed in range(6):
        instance = random_instance(
            300 + seed, n_models=5, n_machines=4, n_types=2, max_replicas=2,
            objective=objective, slo=["hard", "soft"][seed % 2], n_setwise=4,
        )
        problem = compile_problem(instance)
        ref = reference(problem)
        if ref.status != Status.OPTIMAL:
            continue
        for name, kwargs in EXACT:
            direct = registry.run(name, problem, time_limit=20, route="enumerate", **kwargs)
            assert direct.info["route"] == "enumerated" and direct.status == Status.OPTIMAL
            result = registry.run(name, problem, time_limit=20, route="cg", **kwargs)
            assert result.info["route"] == "column-generation"
            if check_against_exhaustive(problem, ref, result, (name, seed)):
                proved += 1
                assert direct.objective == pytest.approx(result.objective, abs=1e-9)
    if objective in ("mean_degradation", "added_latency"):
        assert proved > 0  # linear goals: the Lagrangian bound closes on most of these


class _NonMonotone:
    """A learned-predictor stand-in: sets of three or more slow down *less* than pairs."""

    def predict_slowdown(self, target, co_runners, machine_type) -> float:
        return 1.3 if len(co_runners) == 1 else 1.05


def test_predictor_gives_no_structure_and_valid_bounds() -> None:
    """With a predictor nothing is assumed about the slowdown function: pricing prunes only by
    cost >= 0 and says so; any bound it reports is still below the optimum."""
    instance = random_instance(21, n_models=5, n_machines=4, n_types=1, max_replicas=1)
    data = instance.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["interference"]["missing"] = "predict"
    data["interference"]["pairwise"] = []
    data["interference"]["setwise"] = []
    from placement.formats.instance import Instance

    problem = compile_problem(Instance.model_validate(data), predictor=_NonMonotone())
    assert problem.structure is None
    ref = reference(problem)
    for name, kwargs in EXACT:
        result = registry.run(name, problem, time_limit=20, route="cg", **kwargs)
        stage = result.info["stages"][problem.objective]
        assert "none known" in stage["column_generation"]["pricing_structure"]
        if ref.status == Status.OPTIMAL and result.status.solved:
            assert result.bound <= ref.objective + 1e-9


def test_lying_structure_claims_no_bound() -> None:
    """A structure that says "additive pairs" while the slowdown function is not monotone is
    caught by the exact evaluations: pricing is then heuristic and no bound is claimed."""
    from dataclasses import replace

    from solvers.problem import SlowdownStructure

    instance = random_instance(22, n_models=5, n_machines=3, n_types=1, max_replicas=1)
    data = instance.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["machine_types"][0]["capacity"] = {"cpu": 100, "mem": 100}
    for model in data["models"]:
        model["slo_ms"] = 1e6
    from placement.formats.instance import Instance

    honest = compile_problem(Instance.model_validate(data))
    M = honest.n_models

    def fn(target: int, co: frozenset, t: int) -> float:
        return 1.5 if len(co) == 1 else 1.01  # non-monotone: bigger sets are cheaper

    lie = SlowdownStructure("additive", np.full((1, M, M), 1.5), ())
    problem = replace(honest, slowdown_fn=fn, structure=lie, _cache={})
    ref = reference(problem)
    assert ref.status == Status.OPTIMAL
    result = registry.run("milp", problem, time_limit=20, route="cg")
    cg = result.info["stages"]["mean_degradation"]["column_generation"]
    assert cg["structure_violations"] > 0
    assert cg["lagrangian_bound"] is None
    assert result.status != Status.OPTIMAL or result.objective <= ref.objective + 1e-9
    assert result.bound <= ref.objective + 1e-9


def test_pricing_after_the_master_proves_the_bound() -> None:
    """No column generation before the integer master (``cg_share=0``): the time the master
    leaves goes to more pricing rounds, whose complete rounds give the proved bound; the
    optimum is still the exhaustive one."""
    proved = 0
    for seed in range(6):
        instance = random_instance(400 + seed, n_models=5, n_machines=4, n_types=2,
                                   max_replicas=2, n_setwise=4)
        problem = compile_problem(instance)
        ref = reference(problem)
        if ref.status != Status.OPTIMAL:
            continue
        for name, kwargs in EXACT:
            result = registry.run(name, problem, time_limit=10, route="cg", cg_share=0.0,
                                  **kwargs)
            stage = result.info["stages"][problem.objective]
            assert stage["column_generation"]["rounds"] == 0
            if check_against_exhaustive(problem, ref, result, (name, seed)):
                proved += 1
                assert "more_column_generation" in stage or "proved_by" in stage
    assert proved > 0


@pytest.mark.parametrize("compose", COMPOSE)
def test_truncated_pricing_still_bounds_the_minimum(compose: str) -> None:
    """Partial pricing: a search cut short after any number of nodes returns a value at most
    the exhaustive search's exact minimum reduced cost (the frontier's bound covers what it did
    not see), so the Lagrangian bound of every round is proved."""
    from solvers.exact.columns import Configurations
    from solvers.exact.pricing import PricingStats, TypePricer

    rng = np.random.default_rng(7)
    checked = 0
    for seed in range(4):
        instance = random_instance(500 + seed, n_models=7, n_machines=4, n_types=2,
                                   max_replicas=2, compose=compose, n_setwise=5)
        problem = compile_problem(instance)
        for t in range(problem.n_types):
            pricer = TypePricer(problem, t, None)
            if pricer.k == 0:
                continue
            for _ in range(3):
                pi = rng.uniform(-0.05, 0.4, problem.n_models)
                alpha = {"mean_degradation": 1.0}
                exact = pricer.price(pi, 0.0, alpha, Configurations(), node_budget=10**9,
                                     deadline=1e18, stats=PricingStats())
                assert exact.complete
                for budget in (1, 2, 3, 5, 8, 13, 40):
                    cut = pricer.price(pi, 0.0, alpha, Configurations(), node_budget=budget,
                                       deadline=1e18, stats=PricingStats())
                    assert cut.lower <= exact.lower + 1e-12, (seed, t, budget, cut, exact)
                    if cut.complete:
                        assert cut.lower == pytest.approx(exact.lower, abs=1e-12)
                checked += 1
    assert checked > 0


def test_partial_pricing_bounds_match_exhaustive() -> None:
    """Tiny node budgets (every cheap round truncated, each still giving a bound): the result
    is never better than the optimum, its bound never above it, and optimal when it says so."""
    proved = 0
    for seed in range(6):
        instance = random_instance(600 + seed, n_models=6, n_machines=4, n_types=2,
                                   max_replicas=2, n_setwise=4)
        problem = compile_problem(instance)
        ref = reference(problem)
        if ref.status != Status.OPTIMAL:
            continue
        for name, kwargs in EXACT:
            result = registry.run(name, problem, time_limit=10, route="cg", pricing_nodes=3,
                                  **kwargs)
            proved += check_against_exhaustive(problem, ref, result, (name, seed))
    assert proved > 0


def test_smoothing_stops_near_the_lp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the best Lagrangian bound is within ``SMOOTH_UNTIL`` of the restricted LP's value,
    rounds price at the LP duals (Wentges' center lags there); the bound stays below the
    exhaustive optimum."""
    import time

    from solvers.exact import colgen
    from solvers.exact.columns import Configurations

    # a wide band, so that these small instances have rounds inside it before the LP is solved
    monkeypatch.setattr(colgen, "SMOOTH_UNTIL", 0.5)
    near_rounds = 0
    for seed in range(30):
        problem = compile_problem(random_instance(
            700 + seed, n_models=5, n_machines=4, n_types=2, max_replicas=2, n_setwise=4,
            objective="mean_degradation",
        ))
        ref = reference(problem)
        if ref.status != Status.OPTIMAL:
            continue
        generator = colgen.ColumnGenerator(problem, Configurations(), "mean_degradation", [])
        calls: list[tuple[float, float | None, float]] = []  # (LP value, best bound, smoothing)
        best: list[float] = []
        original = generator.round

        def recording(deadline, node_budget, per_type, smoothing=0.0, heuristic=False,
                      _orig=original, _gen=generator, _calls=calls, _best=best):
            lp = float(_gen.h.getInfo().objective_function_value)
            _calls.append((lp, max(_best) if _best else None, smoothing))
            bound, added = _orig(deadline, node_budget, per_type, smoothing, heuristic)
            if bound is not None:
                _best.append(bound)
            return bound, added

        generator.round = recording
        # one column a type and round: enough rounds for the bound to approach the LP slowly
        out = generator.run(time.perf_counter() + 20, node_budget=3, per_type=1)
        assert out.bound is not None and out.bound <= ref.objective + 1e-9
        for lp, bound, smoothing in calls:
            if bound is not None and lp - bound <= colgen.SMOOTH_UNTIL * max(abs(lp), 1e-9):
                near_rounds += 1
                assert smoothing == 0.0, (seed, lp, bound, smoothing)
    assert near_rounds > 0  # the rule was exercised


# ---------------------------------------------------------------------------- master and backends
def _feasible_problem(objective: str = "mean_degradation", slo: str = "hard"):
    for seed in range(30, 60):
        problem = compile_problem(random_instance(
            seed, n_models=5, n_machines=4, n_types=2, max_replicas=2, objective=objective,
            slo=slo, n_setwise=3,
        ))
        if reference(problem).status == Status.OPTIMAL:
            return problem
    raise AssertionError("no feasible instance")


def _backends():
    from solvers.exact.cbc import CbcBackend
    from solvers.exact.cpsat import CpSatBackend
    from solvers.exact.highs import HighsBackend

    return [CpSatBackend(0, 1), HighsBackend(0, 1), CbcBackend(0, 1)]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_one_master_every_backend_same_optimum(objective: str) -> None:
    """The master is built once per stage; CP-SAT, HiGHS and CBC translate that one object and
    reach the same optimum of the stage, with earlier goals fixed as rows (or, for the max
    goal, as forbidden columns)."""
    from solvers.exact.columns import enumerate_configurations
    from solvers.exact.goals import stage_value
    from solvers.exact.master import build_master
    from solvers.objectives import stages

    problem = _feasible_problem(objective, slo="soft")
    configs = enumerate_configurations(problem, deadline=1e18)
    assert configs is not None and configs.complete
    fixed: list[tuple[str, float]] = []
    for stage in stages(problem):
        master = build_master(problem, configs, stage, fixed)
        values = []
        for backend in _backends():
            out = backend.solve(master, None, 20.0)
            assert out.status == Status.OPTIMAL, (backend.name, stage, out.info)
            values.append(stage_value(problem, configs, stage, out.counts))
        assert max(values) - min(values) <= 1e-6 * max(1.0, abs(values[0])), (stage, values)
        fixed.append((stage, min(values)))


def test_master_shape() -> None:
    """Rows: one per model (== replicas), one per type (<= machines), one per earlier summing
    goal; an earlier max goal forbids columns instead; the max goal itself becomes an
    indicator per usable column and one epigraph variable in the linear form."""
    from solvers.exact.columns import enumerate_configurations
    from solvers.exact.master import build_master

    problem = _feasible_problem("max_degradation", slo="soft")
    configs = enumerate_configurations(problem, deadline=1e18)
    M, T, C = problem.n_models, problem.n_types, len(configs)
    master = build_master(problem, configs, "max_degradation", [("violations", 0.0)])
    assert master.rows.n_rows == M + T + 1 and master.n_columns == C
    assert np.array_equal(master.rows.lower[:M], problem.replicas_per_model)
    assert master.worst is not None and not master.cost.any()
    form = master.linear_form()
    k = int(((master.worst > 0) & (master.upper > 0)).sum())
    assert form.n_cols == C + k + 1 and form.row_lower.size == M + T + 1 + 2 * k
    assert not form.integer[-1] and form.integer[: C + k].all()
    worst = float(master.worst.max())
    capped = build_master(problem, configs, "mean_degradation", [("max_degradation", worst / 2)])
    assert capped.rows.n_rows == M + T  # a max goal is no row
    assert np.array_equal(capped.upper == 0, master.worst > worst / 2 + 1e-9 * (1 + worst / 2))


def test_status_tables_cover_every_native_status() -> None:
    """Each backend maps every status it can answer into the one vocabulary, and a status that
    promises a solution the backend did not give is unknown."""
    import highspy
    import pulp
    from ortools.sat.python import cp_model

    from solvers.exact import cbc, cpsat, highs
    from solvers.exact.backend import translate_status

    every_highs = {v for k, v in vars(highspy.HighsModelStatus).items() if k.startswith("k")}
    assert every_highs <= set(highs.STATUS)
    every_cpsat = {cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.INFEASIBLE, cp_model.UNKNOWN,
                   cp_model.MODEL_INVALID}
    assert every_cpsat == set(cpsat.STATUS)
    assert cbc.STATUS[(pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible)] == Status.FEASIBLE
    assert translate_status(highs.STATUS, highspy.HighsModelStatus.kTimeLimit, True) \
        == Status.FEASIBLE
    assert translate_status(highs.STATUS, highspy.HighsModelStatus.kTimeLimit, False) \
        == Status.UNKNOWN
    assert translate_status(highs.STATUS, highspy.HighsModelStatus.kInfeasible, False) \
        == Status.INFEASIBLE


@pytest.mark.parametrize("route", ["enumerate", "cg"])
def test_highs_refusal_is_reported_not_a_crash(route: str) -> None:
    """HiGHS refuses matrix coefficients of 1e15 and more: a machine cost of 1e15 makes the
    fixed cost row of the tie-break stage one (in the master, and in column generation's LP).
    The solve says so and keeps what it proved (the cost stage), never an IndexError; CP-SAT,
    which scales, proves the optimum."""
    from dataclasses import replace

    problem = _feasible_problem("cost")
    problem = replace(problem, cost=np.full_like(problem.cost, 1e15), _cache={})
    result = registry.run("milp", problem, time_limit=10, route=route)
    assert result.status == Status.FEASIBLE
    check_result(problem, result)
    assert "HiGHS refused" in result.info["stages"]["mean_degradation"]["error"]
    assert result.info["stages"]["cost"]["proved"]
    if route == "enumerate":  # column generation's LP is HiGHS for every backend
        proved = registry.run("cpsat", problem, time_limit=10, route=route)
        assert proved.status == Status.OPTIMAL
        assert proved.objective == pytest.approx(result.objective, rel=1e-12)


# ---------------------------------------------------------------------------- options
@pytest.mark.parametrize("name", ["cpsat", "milp"])
def test_unknown_option_is_a_type_error(name: str) -> None:
    with pytest.raises(TypeError, match="backnd"):
        registry.run(name, _feasible_problem(), time_limit=5, backnd="cbc")


@pytest.mark.parametrize("name,option,value", [
    ("milp", "backend", "gurobi"),
    ("milp", "route", "fast"),
    ("cpsat", "cg_share", 1.5),
    ("cpsat", "pricing_nodes", 0),
    ("milp", "max_configurations", -1),
    ("milp", "warm_start_seconds", float("nan")),
    ("cpsat", "cp_params", {"no_such_parameter": 1}),
])
def test_out_of_range_options_are_refused(name: str, option: str, value) -> None:
    from solvers.result import SolverInputError

    with pytest.raises(SolverInputError) as refused:
        registry.run(name, _feasible_problem(), time_limit=5, **{option: value})
    assert option.split("_")[0] in str(refused.value) or "no_such_parameter" in str(
        refused.value
    )
    if option == "backend":
        assert "highs" in str(refused.value) and "cbc" in str(refused.value)


@pytest.mark.parametrize("name,kwargs", EXACT + [("milp", {"backend": "cbc"})])
def test_any_seed_below_2_63(name: str, kwargs: dict) -> None:
    """Backends take 31-bit seeds; every seed of [0, 2**63) is mapped into their range."""
    problem = _feasible_problem()
    small = registry.run(name, problem, time_limit=10, seed=1, **kwargs)
    large = registry.run(name, problem, time_limit=10, seed=2**63 - 1, **kwargs)
    assert small.status == large.status == Status.OPTIMAL
    assert large.objective == pytest.approx(small.objective, abs=1e-9)


def test_auto_passes_each_choice_only_its_options() -> None:
    """An option of one of auto's choices (local search's shortlist) is not forced on the
    other (milp names every option it takes, so it would refuse it)."""
    problem = _feasible_problem()
    result = registry.run("auto", problem, time_limit=10.0, shortlist=3, backend="cbc")
    assert result.info["solver"] == "milp" and result.info["backend"] == "pulp-cbc"
    assert result.info["auto_unused_options"] == ["shortlist"]
    assert result.status == Status.OPTIMAL
