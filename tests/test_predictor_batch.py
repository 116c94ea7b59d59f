"""Batched prediction (issue 12): features built as arrays for many queries, predictions asked
in batches, a bounded per-set cache, and robust quantiles. The batched path must give the very
floats the one-query path gives."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from placement.api import solve
from placement.compile import compile_problem
from placement.evaluate import evaluate
from placement.formats.errors import UsageError
from placement.learn.cache import SetCache
from placement.learn.compiled import predict_booster
from placement.learn.features import FeatureBuilder, PairTable, queries_of
from placement.learn.predictor import SlowdownPredictor, check_quantile
from placement.synthetic.campaign import measure_campaign
from placement.synthetic.generator import generate
from solvers.exact.columns import enumerate_configurations

FAST = {"max_iter": 40}


@pytest.fixture(scope="module")
def world():
    instance, truth = generate(n_replicas=14, n_machines=5, n_types=2, load=0.6, seed=3,
                               slo="soft")
    rows = measure_campaign(instance, truth, n_sets=60, seed=3)
    return instance, truth, rows


@pytest.fixture(scope="module")
def fitted(world):
    instance, _, rows = world
    return SlowdownPredictor("gbt-pairs", seed=0, params=FAST).fit(rows, instance)


def random_queries(instance, n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    names = [m.name for m in instance.models]
    types = [t.name for t in instance.machine_types]
    out = []
    for _ in range(n):
        group = rng.sample(names, rng.randint(1, min(5, len(names))))
        out.append((group[0], frozenset(group[1:]), rng.choice(types)))
    return out


def reference_row(builder: FeatureBuilder, target, co_runners, machine_type) -> np.ndarray:
    """The feature row written out one query at a time from the catalog's dictionaries (the
    pre-batch implementation), to check the array version computes the same features."""
    cat = builder.catalog
    mt = cat["machine_types"][machine_type]
    capacity = np.array([float(mt["capacity"].get(r, 0.0)) for r in builder.resources])

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)

    def model(name):
        m = cat["models"][name]
        vals = np.array([float(m["features"].get(k, 0.0)) for k in builder.model_keys])
        miss = np.array([0.0 if k in m["features"] else 1.0 for k in builder.model_keys])
        req = np.array([float(m["requests"].get(r, 0.0)) for r in builder.resources])
        solo = m["latency_ms"].get(machine_type)
        return vals, miss, ratio(req, capacity), (math.log(solo) if solo else None)

    t_val, t_miss, t_press, t_solo = model(target)
    co = [model(c) for c in sorted(co_runners)]
    nk, nr = len(builder.model_keys), len(builder.resources)
    co_sum = sum((c[0] for c in co), np.zeros(nk))
    co_max = np.max([c[0] for c in co], axis=0) if co else np.zeros(nk)
    co_miss = sum((c[1] for c in co), np.zeros(nk))
    p_sum = sum((c[2] for c in co), np.zeros(nr))
    p_max = np.max([c[2] for c in co], axis=0) if co else np.zeros(nr)
    solos = [c[3] for c in co if c[3] is not None]
    row = [1.0 + len(co), float(len(co))]
    for i in range(nk):
        row += [t_val[i], t_miss[i], co_sum[i], co_max[i], co_miss[i], t_val[i] * co_sum[i]]
    for i in range(nr):
        row += [t_press[i], p_sum[i], p_max[i], t_press[i] + p_sum[i]]
    for k in builder.shared_keys:
        i = builder.model_keys.index(k)
        supply = float(mt["features"].get(k, 0.0))
        tr = t_val[i] / supply if supply > 0 else 0.0
        cr = co_sum[i] / supply if supply > 0 else 0.0
        row += [tr, cr, tr + cr]
    row += [t_solo or 0.0, 0.0 if t_solo is not None else 1.0, sum(solos),
            max(solos, default=0.0), float(len(co) - len(solos))]
    for g in builder.machine_keys:
        row += [float(mt["features"].get(g, 0.0)), 0.0 if g in mt["features"] else 1.0]
    row += list(np.log1p(capacity))
    row += [1.0 if t == machine_type else 0.0 for t in builder.type_vocab]
    return np.array(row)


def test_array_features_match_the_per_query_definition(world):
    instance, _, rows = world
    builder = FeatureBuilder.from_catalog(instance, {m.machine_type for m in rows})
    queries = random_queries(instance, 300) + queries_of(rows[:100])
    batch = builder.matrix(queries)
    expected = np.vstack([reference_row(builder, *q) for q in queries])
    assert batch.shape == (len(queries), len(builder.feature_names()))
    np.testing.assert_allclose(batch, expected, rtol=1e-12, atol=1e-12)


def test_one_feature_row_equals_its_row_in_any_batch(world):
    instance, _, rows = world
    builder = FeatureBuilder.from_catalog(instance)
    table = PairTable.from_measurements(rows)
    queries = random_queries(instance, 400, seed=1)
    batch, pairs = builder.matrix(queries), table.matrix(queries)
    assert pairs[:, -1].any() and not pairs[:, -1].all()  # covered and uncovered queries
    for i in range(0, len(queries), 37):
        assert np.array_equal(builder.row(*queries[i]), batch[i])
        assert np.array_equal(table.row(*queries[i]), pairs[i])
    shuffled = list(reversed(queries))
    assert np.array_equal(builder.matrix(shuffled), batch[::-1])
    assert np.array_equal(table.matrix(shuffled), pairs[::-1])


def test_unknown_names_are_refused_by_the_batch_builder(world):
    instance, _, _ = world
    builder = FeatureBuilder.from_catalog(instance)
    with pytest.raises(KeyError, match="nope"):
        builder.matrix([(instance.models[0].name, frozenset({"nope"}),
                         instance.machine_types[0].name)])
    with pytest.raises(KeyError, match="no-such-type"):
        builder.matrix([(instance.models[0].name, frozenset(), "no-such-type")])


def test_compiled_trees_equal_sklearn_bit_for_bit(fitted, world):
    instance, _, _ = world
    bound = fitted.with_catalog(instance)
    X = bound._inputs(random_queries(instance, 700, seed=2))
    booster = bound.estimator.corrector_.model_
    small = np.vstack([predict_booster(booster, X[i : i + 1]) for i in range(50)]).ravel()
    assert np.array_equal(small, booster.predict(X[:50]))
    assert np.array_equal(predict_booster(booster, X[:300]), booster.predict(X[:300]))


@pytest.mark.parametrize("quantile", [None, 0.9, 0.99])
def test_batched_predictions_equal_one_query_predictions(fitted, world, quantile):
    instance, _, _ = world
    queries = random_queries(instance, 600, seed=4)
    one = fitted.with_catalog(instance)
    batched = fitted.with_catalog(instance)
    singles = np.array([one.predict_slowdown(t, c, m, quantile) for t, c, m in queries])
    together = batched.predict_slowdown_many(queries, quantile)
    assert np.array_equal(singles, together)
    assert np.all(together >= 1.0)


@pytest.mark.parametrize("kind", ["mlp", "linear", "additive"])
def test_batched_equals_one_query_for_every_kind(world, kind):
    instance, _, rows = world
    params = {"mlp": {"hidden_layer_sizes": (8,), "max_iter": 50}}.get(kind)
    pred = SlowdownPredictor(kind, seed=0, params=params).fit(rows, instance)
    queries = random_queries(instance, 120, seed=5)
    one = pred.with_catalog(instance)
    singles = np.array([one.predict_slowdown(*q) for q in queries])
    assert np.array_equal(singles, pred.with_catalog(instance).predict_slowdown_many(queries))


def test_enumeration_costs_with_the_batch_path_equal_the_one_query_path(fitted, world):
    instance, _, _ = world
    by_sets = compile_problem(instance, predictor=fitted.with_catalog(instance))
    batched = compile_problem(instance, predictor=fitted.with_catalog(instance))
    batched.slowdown_sets_fn = None  # per-member queries, prefetched in one batch
    single = compile_problem(instance, predictor=fitted.with_catalog(instance))
    single.slowdown_batch_fn = single.slowdown_sets_fn = None  # one query at a time
    assert by_sets.slowdown_sets_fn is not None
    a = enumerate_configurations(by_sets, deadline=math.inf)
    b = enumerate_configurations(batched, deadline=math.inf)
    c = enumerate_configurations(single, deadline=math.inf)
    assert a is not None and b is not None and c is not None and len(a) == len(c) > 0
    for other in (b, c):
        assert a.members == other.members and a.types == other.types
        assert a.weighted_degradation == other.weighted_degradation
        assert a.weighted_added_latency == other.weighted_added_latency
        assert a.max_degradation == other.max_degradation
        assert a.slo_violations == other.slo_violations


@pytest.mark.parametrize("quantile", [None, 0.9])
def test_set_answers_equal_one_query_answers_within_a_small_cache(fitted, world, quantile):
    instance, _, _ = world
    small = SlowdownPredictor("gbt-pairs", params=FAST, max_cached_sets=8)
    small.builder, small.estimator = fitted.builder, fitted.estimator
    small.baseline, small.pair_table, small.info = fitted.baseline, fitted.pair_table, fitted.info
    small.measured_sets = fitted.measured_sets
    small = small.with_catalog(instance)
    one = fitted.with_catalog(instance)
    queries = random_queries(instance, 200, seed=7)
    sets = [(m, co | {t}) for t, co, m in queries] + [(queries[0][2], frozenset())]
    answers = small.predict_sets(sets, quantile)
    assert len(small._cache) <= 8 and len(answers) == len(sets)
    for (machine_type, group), answer in zip(sets, answers, strict=True):
        assert set(answer) == set(group)
        for member, value in answer.items():
            assert value == one.predict_slowdown(member, group - {member}, machine_type,
                                                 quantile)


def test_set_path_keeps_measured_set_entries(fitted, world):
    """A set-wise entry of the instance overrides the predictor on the set path too, exactly as
    the one-query path does."""
    instance, _, _ = world
    problem = compile_problem(instance, predictor=fitted.with_catalog(instance))
    names = list(problem.model_names)
    group = (0, 1, 2)
    entry = {"machine_type": problem.type_names[0], "target": names[1],
             "with": [names[0], names[2]], "slowdown": 7.5}
    data = instance.model_dump(mode="json", by_alias=True)
    data["interference"]["setwise"] = [*data["interference"].get("setwise", []), entry]
    measured = type(instance).model_validate(data)
    problem = compile_problem(measured, predictor=fitted.with_catalog(measured))
    (values,) = problem.set_slowdowns(0, [group])
    assert values[1] == 7.5
    assert values == [problem.slowdown(m, set(group) - {m}, 0) for m in group]


def test_the_set_cache_stays_within_its_bound(fitted, world):
    instance, _, _ = world
    small = SlowdownPredictor("gbt-pairs", params=FAST, max_cached_sets=8)
    small.builder, small.estimator = fitted.builder, fitted.estimator
    small.baseline, small.pair_table, small.info = fitted.baseline, fitted.pair_table, fitted.info
    small = small.with_catalog(instance)
    queries = random_queries(instance, 200, seed=6)
    values = small.predict_slowdown_many(queries)
    assert len(small._cache) <= 8
    reference = fitted.with_catalog(instance).predict_slowdown_many(queries)
    assert np.array_equal(values, reference)
    for q in queries[:50]:
        small.predict_slowdown(*q)
        assert len(small._cache) <= 8


def test_set_cache_evicts_oldest_first():
    cache = SetCache(max_sets=4)
    for i in range(4):
        cache.put("t", frozenset({f"m{i}", "x"}), None, {"x": 1.0 + i})
    cache.put("t", frozenset({"m9", "x"}), None, {"x": 2.0})
    assert len(cache) == 4
    assert cache.get("x", frozenset({"m0"}), "t", None) is None
    assert cache.get("x", frozenset({"m3"}), "t", None) == 4.0
    with pytest.raises(ValueError):
        SetCache(max_sets=0)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_quantile_outside_zero_one_is_refused(fitted, bad):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        check_quantile(bad)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        fitted.with_quantile(bad)


def test_higher_quantiles_never_predict_less(fitted, world):
    instance, _, _ = world
    queries = random_queries(instance, 300, seed=7)
    bound = fitted.with_catalog(instance)
    levels = [bound.predict_many(queries, q) for q in (0.1, 0.5, 0.9, 0.99)]
    median = bound.predict_many(queries)
    assert np.allclose(levels[1], median, rtol=1e-12)
    for lower, upper in zip(levels, levels[1:], strict=False):
        assert np.all(upper >= lower)


def test_unmeasured_sets_get_wider_intervals(fitted, world):
    instance, _, rows = world
    bound = fitted.with_catalog(instance)
    measured = [(m.target, m.co_runners, m.machine_type) for m in rows if m.degree >= 3][:20]
    novelty = bound.novelty(measured)
    assert np.all(novelty == 0.0)
    far = [q for q in random_queries(instance, 300, seed=8) if len(q[1]) >= 2]
    assert bound.novelty(far).max() > 0.0
    assert fitted.info["set_spread"] > 0.0


def test_robust_solution_meets_its_slos_under_lower_quantiles(world):
    """By construction: slowdowns grow with the quantile, so a fixed placement has at least as
    many predicted SLO violations at a higher quantile, and one meeting every SLO under the
    0.99 quantile meets them under 0.5 and 0.9."""
    instance, _, rows = world
    pred = SlowdownPredictor("gbt-pairs", seed=0, params=FAST).fit(rows, instance)
    hard = instance.model_copy(
        update={"objective": instance.objective.model_copy(update={"slo": "hard"})}
    )
    robust = solve(hard, "cpsat", predictor=pred, quantile=0.99, time_limit=10)
    assert robust.info["quantile"] == 0.99
    assert robust.assignment and robust.summary.slo_violations == 0
    violations = [
        evaluate(hard, robust.assignment, predictor=pred.with_quantile(q)).summary.slo_violations
        for q in (0.5, 0.9, 0.99)
    ]
    assert violations == [0, 0, 0]
    tight = solve(hard, "least-loaded", predictor=pred, time_limit=10)
    by_q = [
        evaluate(hard, tight.assignment, predictor=pred.with_quantile(q)).summary.slo_violations
        for q in (0.3, 0.5, 0.9, 0.99)
    ]
    assert by_q == sorted(by_q)


@pytest.mark.parametrize("bad", [0.0, 1.0, 2.0, -1.0])
def test_solve_refuses_a_quantile_outside_zero_one(world, fitted, bad):
    instance, _, _ = world
    with pytest.raises(UsageError, match="strictly between 0 and 1"):
        solve(instance, "greedy", predictor=fitted, quantile=bad)


def test_solve_refuses_a_quantile_without_a_predictor(world):
    instance, _, _ = world
    with pytest.raises(UsageError, match="needs a predictor"):
        solve(instance, "greedy", quantile=0.9)
