"""The unified slowdown predictor: estimator contract, accuracy against additive composition on
a non-additive world, quantiles, safe save/load, and the CLI's behaviour on good and bad input.

The campaign is synthetic and defined here (a contention function with a convex bandwidth
term and a saturating cache term), so these tests do not depend on the generator.
"""

from __future__ import annotations

import itertools
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from typer.testing import CliRunner

from placement.cli.predictor import _standalone
from placement.formats.errors import InputError
from placement.formats.instance import Instance
from placement.formats.measurements import Measurement, measurements_csv
from placement.interference import Interference
from placement.learn.compiled import SMALL_BATCH, predict_booster
from placement.learn.estimators import (
    ESTIMATOR_CLASSES,
    KINDS,
    AdditiveSlowdown,
    GBTSlowdown,
    LinearSlowdown,
    MLPSlowdown,
    PairGBTSlowdown,
)
from placement.learn.evaluation import mape
from placement.learn.features import (
    PAIR_FEATURES,
    FeatureBuilder,
    PairTable,
    queries_of,
    query_strings,
)
from placement.learn.persistence import TRUSTED_TYPES
from placement.learn.predictor import SlowdownPredictor

FAST = {"gbt": {"max_iter": 150}, "mlp": {"cv": 2, "max_iter": 400},
        "gbt-pairs": {"max_iter": 150}}


def synthetic_catalog(n_models: int = 7, seed: int = 0) -> Instance:
    rng = np.random.default_rng(seed)
    types = [
        {"name": "small", "capacity": {"vcpus": 8, "memory_gb": 16},
         "features": {"mem_bw_gbps": 30, "llc_mb": 16}},
        {"name": "large", "capacity": {"vcpus": 32, "memory_gb": 64},
         "features": {"mem_bw_gbps": 70, "llc_mb": 36}},
    ]
    models = []
    for i in range(n_models):
        feats = {"mem_bw_gbps": float(rng.uniform(3, 18)), "llc_mb": float(rng.uniform(2, 12))}
        if i == 0:
            feats.pop("llc_mb")  # a model with a missing feature: filled 0 + indicator
        models.append({
            "name": f"m{i}", "requests": {"vcpus": int(rng.integers(1, 4)), "memory_gb": 2.0},
            "slo_ms": 1000, "latency_ms": {t["name"]: float(rng.uniform(5, 50)) for t in types},
            "features": feats,
        })
    return Instance.model_validate({
        "machine_types": types, "machines": [{"type": "small", "count": 2}],
        "models": models, "interference": {"missing": "predict"},
        "limits": {"max_models_per_machine": 3},
    })


def true_slowdown(cat: Instance, target: str, co: frozenset[str], mt: str) -> float:
    """Convex in bandwidth pressure (super-additive), saturating in cache (sub-additive)."""
    if not co:
        return 1.0
    feats = {m.name: m.features for m in cat.models}
    machine = {t.name: t.features for t in cat.machine_types}[mt]
    group = co | {target}
    bw = sum(feats[c]["mem_bw_gbps"] for c in group) / machine["mem_bw_gbps"]
    llc = sum(feats[c].get("llc_mb", 6.0) for c in group) / machine["llc_mb"]
    sens = feats[target].get("llc_mb", 6.0) / 10 + feats[target]["mem_bw_gbps"] / 20
    contention = 0.6 * max(0.0, bw - 0.4) ** 2 + 0.3 * (1 - math.exp(-llc))
    return 1.0 + sens * contention + 0.01 * len(co)


def campaign(cat: Instance, sets_per_degree: int = 30, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    names = [m.name for m in cat.models]
    rows = []
    for t in cat.machine_types:
        groups = [frozenset(p) for p in itertools.combinations(names, 2)]
        for d in (3, 4):
            combos = list(itertools.combinations(names, d))
            pick = rng.choice(len(combos), size=min(sets_per_degree, len(combos)), replace=False)
            groups += [frozenset(combos[k]) for k in pick]
        for g in groups:
            for a in sorted(g):
                s = true_slowdown(cat, a, g - {a}, t.name) * math.exp(rng.normal(0, noise))
                rows.append(Measurement(t.name, a, g - {a}, s))
    return rows


@pytest.fixture(scope="module")
def world():
    cat = synthetic_catalog()
    return cat, campaign(cat)


@pytest.fixture(scope="module")
def fitted(world):
    cat, rows = world
    return SlowdownPredictor("gbt-pairs", params=FAST["gbt-pairs"]).fit(rows, cat)


# ---------------------------------------------------------------- estimator contract
@pytest.mark.parametrize("est", [AdditiveSlowdown(), LinearSlowdown(alpha=0.5),
                                 GBTSlowdown(max_iter=50), MLPSlowdown(hidden_layer_sizes=(8,)),
                                 PairGBTSlowdown(max_iter=50)])
def test_estimators_follow_the_sklearn_contract(est):
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert twin is not est
    with pytest.raises(Exception):  # noqa: B017 - sklearn's NotFittedError
        twin.predict(np.zeros((1, 3)))


@pytest.mark.parametrize("kind", KINDS)
def test_fit_predict_shapes_and_floor(world, kind):
    cat, rows = world
    pred = SlowdownPredictor(kind, params=FAST.get(kind)).fit(rows, cat)
    queries = queries_of(rows[:40])
    out = pred.predict_many(queries)
    assert out.shape == (40,)
    assert np.all(out >= 1.0)
    assert pred.predict_slowdown("m1", frozenset(), "small") == 1.0
    one = pred.predict_slowdown("m1", frozenset({"m2", "m3"}), "large")
    assert one >= 1.0 and one == pred.predict_slowdown("m1", frozenset({"m2", "m3"}), "large")
    upper = pred.predict_many(queries, quantile=0.9)
    assert np.all(upper >= out - 1e-12)


def test_feature_rows_have_one_length_for_every_degree(world):
    cat, _ = world
    b = FeatureBuilder.from_catalog(cat)
    lengths = {len(b.row("m0", frozenset(c), "small")) for c in ([], ["m1"], ["m1", "m2", "m3"])}
    assert lengths == {len(b.feature_names())}
    names = b.feature_names()
    row = b.row("m0", frozenset({"m1"}), "small")
    assert row[names.index("target.missing.llc_mb")] == 1.0  # m0 lacks llc_mb
    assert row[names.index("degree")] == 2.0


@pytest.mark.parametrize("kind", ["gbt", "gbt-pairs"])
def test_learned_beats_additive_on_held_out_4_sets(world, kind):
    """Every pair is measured (in training); 4-sets are never seen. The learned predictor must
    be at least 2x more accurate than composing the measured pairs additively."""
    cat, rows = world
    train = [m for m in rows if m.degree <= 3]
    test = [m for m in rows if m.degree == 4]
    y = [m.slowdown for m in test]
    pred = SlowdownPredictor(kind, params=FAST[kind]).fit(train, cat)
    assert len(pred.pair_table) == sum(m.degree == 2 for m in rows)
    learned = mape(y, pred.predict_many(queries_of(test)))
    additive = mape(y, pred.baseline_many(queries_of(test)))
    assert learned < additive / 2, (learned, additive)


def test_pair_features_compose_the_measured_pairs():
    table = PairTable({("t", "a", "b"): 1.2, ("t", "a", "c"): 1.3, ("t", "b", "c"): 1.1,
                       ("t", "b", "a"): 1.4})
    f = dict(zip(PAIR_FEATURES, table.row("a", frozenset({"b", "c"}), "t"), strict=True))
    assert f["pair.add"] == pytest.approx(1.5)
    assert f["pair.log_mult"] == pytest.approx(math.log(1.2 * 1.3))
    assert f["pair.max"] == pytest.approx(0.3) and f["pair.covered"] == 1.0
    # c->b unmeasured: imputed as how hard b hits others on the type (a->b: 0.2)
    assert f["pair.mutual_sum"] == pytest.approx(0.1 + 0.2)
    assert f["pair.mutual_imputed"] == 1.0 and f["pair.n"] == 2.0
    # a pair of the target unmeasured: uncovered, every pair feature 0 (feature-only fallback)
    assert not table.row("c", frozenset({"a", "b"}), "t").any()
    assert not table.row("a", frozenset({"b"}), "other-type").any()


def test_predictor_uses_the_instance_pairs_when_plugged_in(world):
    cat, rows = world
    pred = SlowdownPredictor("gbt-pairs", params=FAST["gbt-pairs"]).fit(rows, cat)
    query = ("m1", frozenset({"m2", "m3"}), "small")
    plain = pred.predict_slowdown(*query)
    data = cat.dump()
    data["interference"]["pairwise"] = [
        {"machine_type": "small", "target": "m1", "with": "m2", "slowdown": 2.5},
        {"machine_type": "small", "target": "m1", "with": "m3", "slowdown": 2.0},
    ]
    inst = Instance.model_validate(data)
    inter = Interference(inst, predictor=pred)
    bound = inter.predictor
    assert isinstance(bound, SlowdownPredictor) and bound is pred.for_instance(inst)
    assert bound.pair_table.pairs[("small", "m1", "m2")] == 2.5
    assert pred.pair_table.pairs[("small", "m1", "m2")] < 2.0  # the training copy is unchanged
    with_instance = inter.slowdown(*query)
    assert with_instance > plain + 0.5, (with_instance, plain)  # composes 1 + 1.5 + 1.0 ...
    assert inter.slowdown("m1", frozenset({"m2"}), "small") == 2.5  # measured entry first
    # the feature-only kinds are unaffected by the instance's pairs
    gbt = SlowdownPredictor("gbt", params=FAST["gbt"]).fit(rows, cat)
    assert Interference(inst, predictor=gbt).slowdown(*query) == gbt.predict_slowdown(*query)


def test_compiled_small_batches_match_sklearn(world, fitted):
    _, rows = world
    queries = queries_of([m for m in rows if m.degree >= 2]) * 2
    assert len(queries) > 512  # one sklearn batch
    big = fitted.predict_many(queries)
    small = np.concatenate([fitted.predict_many(queries[i:i + 100])
                            for i in range(0, len(queries), 100)])
    assert np.allclose(big, small, rtol=1e-9, atol=1e-12)
    one = [fitted.predict_slowdown(t, c, m) for t, c, m in queries[:50]]
    assert np.allclose(one, big[:50], rtol=1e-9)



def test_compiled_booster_agrees_with_sklearn_and_falls_back_when_it_cannot_read_one():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (300, 4))
    y = np.log1p(X[:, 0] * X[:, 1] + (X[:, 2] > 0.5))
    trees = GBTSlowdown(max_iter=30, linear_base=False).fit(X, np.exp(y)).model_
    assert len(X) <= SMALL_BATCH
    assert np.allclose(predict_booster(trees, X), trees.predict(X), rtol=1e-12, atol=1e-12)
    unreadable = GBTSlowdown(max_iter=30, linear_base=False).fit(X, np.exp(y)).model_
    del unreadable._predictors  # a layout the compiled form does not know (a future sklearn)
    unreadable.predict = lambda rows: np.full(len(rows), 7.0)  # what sklearn would answer
    assert predict_booster(unreadable, X[:5]).tolist() == [7.0] * 5
    assert predict_booster(unreadable, X[5:9]).tolist() == [7.0] * 4  # and from then on


def test_trusted_types_name_the_estimator_classes():
    for cls in ESTIMATOR_CLASSES.values():
        assert f"{cls.__module__}.{cls.__qualname__}" in TRUSTED_TYPES

def test_additive_composes_measured_pairs():
    X = query_strings([("a", frozenset({"b"}), "t"), ("a", frozenset({"c"}), "t")])
    est = AdditiveSlowdown().fit(X, [1.2, 1.3])
    got = est.predict(query_strings([("a", frozenset({"b", "c"}), "t"),
                                     ("a", frozenset({"b"}), "u"),
                                     ("b", frozenset({"a"}), "t")]))
    # set: 1 + .2 + .3; other type: same pair elsewhere; unseen pair: 1 + mean degradation
    assert got == pytest.approx([1.5, 1.2, 1.25])


# ---------------------------------------------------------------- files
def test_save_load_round_trip(tmp_path, world, fitted):
    _, rows = world
    path = tmp_path / "p.skops"
    fitted.save(path)
    again = SlowdownPredictor.load(path)
    queries = queries_of(rows)
    assert np.array_equal(again.predict_many(queries), fitted.predict_many(queries))
    assert np.array_equal(again.predict_many(queries, 0.9), fitted.predict_many(queries, 0.9))
    assert again.kind == "gbt-pairs" and again.pair_table.pairs == fitted.pair_table.pairs


def test_tampered_file_is_refused_without_running_code(tmp_path, fitted):
    good = fitted.dumps()
    src = zipfile.ZipFile(__import__("io").BytesIO(good))
    schema = src.read("schema.json").decode()
    evil = schema.replace('"__module__": "placement.learn.estimators"', '"__module__": "os"', 1)
    evil = evil.replace('"__class__": "GBTSlowdown"', '"__class__": "system"', 1)
    assert evil != schema and '"__module__": "os"' in evil
    path = tmp_path / "evil.skops"
    with zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, evil if item == "schema.json" else src.read(item))
    with pytest.raises(InputError, match="refusing to load"):
        SlowdownPredictor.load(path)
    pickled = tmp_path / "pickle.skops"
    pickled.write_bytes(__import__("pickle").dumps({"x": 1}))
    with pytest.raises(InputError, match="not a predictor file"):
        SlowdownPredictor.load(pickled)
    with pytest.raises(InputError, match="file not found"):
        SlowdownPredictor.load(tmp_path / "absent.skops")


# ---------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def files(tmp_path_factory, world):
    cat, rows = world
    d = tmp_path_factory.mktemp("cli")
    (d / "m.csv").write_text(measurements_csv(rows))
    (d / "cat.json").write_text(json.dumps(cat.dump()))
    return d


def run(*args: str):
    return CliRunner().invoke(_standalone(), [str(a) for a in args])


def test_cli_fit_score_predict(files):
    d = files
    res = run("predictor", "fit", d / "m.csv", "--catalog", d / "cat.json", "-o", d / "p.skops",
              "--kind", "linear")
    assert res.exit_code == 0, res.output
    res = run("predictor", "score", d / "p.skops", d / "m.csv", "--catalog", d / "cat.json")
    assert res.exit_code == 0, res.output
    assert "additive" in res.output and "degree=4" in res.output
    res = run("predict", d / "cat.json", "--predictor", d / "p.skops", "-o", d / "out.json",
              "--max-degree", "3")
    assert res.exit_code == 0, res.output
    done = Instance.load(d / "out.json")
    assert done.interference.missing == "error" and not done.missing_pairs()
    assert all(e.slowdown >= 1 for e in done.interference.pairwise)
    assert done.interference.setwise and all(len(e.with_) == 2 for e in done.interference.setwise)


def test_cli_bad_input_exits_2_and_writes_nothing(files):
    d = files
    bad_csv = d / "bad.csv"
    bad_csv.write_text("machine_type,target,co_runners,slowdown\nsmall,m1,ghost,1.2\n")
    cases = [
        ("predictor", "fit", d / "absent.csv", "--catalog", d / "cat.json", "-o", d / "x1"),
        ("predictor", "fit", bad_csv, "--catalog", d / "cat.json", "-o", d / "x2"),
        ("predictor", "fit", d / "m.csv", "--catalog", d / "absent.json", "-o", d / "x3"),
        ("predict", d / "cat.json", "--predictor", d / "m.csv", "-o", d / "x4"),
    ]
    for args in cases:
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
        assert not Path(args[-1]).exists()
    res = run("predictor", "fit", bad_csv, "--catalog", d / "cat.json", "-o", d / "x2")
    assert "bad.csv: line 2.co_runners: unknown model 'ghost'" in res.output


@pytest.mark.parametrize("kind", ["gbt-pairs", "mlp"])
def test_batched_slowdowns_equal_one_at_a_time(world, kind):
    """``Problem.prefetch`` (one predictor call for many sets, via
    ``Interference.slowdown_many``) gives exactly the values of asking one set at a time,
    measured entries included."""
    from placement.compile import compile_problem

    cat, rows = world
    data = cat.dump()
    data["interference"]["pairwise"] = [
        {"machine_type": "small", "target": "m1", "with": "m2", "slowdown": 1.7},
    ]
    data["interference"]["setwise"] = [
        {"machine_type": "small", "target": "m1", "with": ["m2", "m3"], "slowdown": 2.2},
    ]
    inst = Instance.model_validate(data)
    pred = SlowdownPredictor(kind, params=FAST[kind]).fit(rows, cat)
    batched = compile_problem(inst, predictor=pred)
    single = compile_problem(inst, predictor=SlowdownPredictor.loads(pred.dumps()))
    assert batched.slowdown_batch_fn is not None
    M, T = batched.n_models, batched.n_types
    queries = [
        (i, frozenset(co), t)
        for t in range(T)
        for d in (1, 2, 3, 4)
        for group in itertools.combinations(range(M), d + 1)
        for i in group
        for co in [set(group) - {i}]
    ]
    assert sum(len(co) >= 2 for _i, co, _t in queries) > 512  # two predictor chunks
    asked = batched.prefetch(queries)
    assert asked > 0 and batched.prefetch(queries) == 0  # all cached now
    one = [single.slowdown(i, co, t) for i, co, t in queries]
    many = [batched.slowdown(i, co, t) for i, co, t in queries]
    assert many == one
    assert batched.slowdown(1, {2, 3}, 0) == 2.2 and batched.slowdown(1, {2}, 0) == 1.7


def test_cli_solve_quantile_is_checked_and_used(files):
    from placement.cli.app import app

    d = files

    def place(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    res = run("predictor", "fit", d / "m.csv", "--catalog", d / "cat.json", "-o",
              d / "q.skops", "--kind", "gbt", "--seed", "0")
    assert res.exit_code == 0, res.output
    for bad in ("0", "1", "1.5", "-0.2", "nan"):
        res = place("solve", d / "cat.json", "--solver", "greedy", "--predictor",
                    d / "q.skops", "--quantile", bad, "-o", d / "bad-q.json")
        assert res.exit_code == 2, (bad, res.output)
        assert "strictly between 0 and 1" in res.output and "Traceback" not in res.output
        assert not (d / "bad-q.json").exists()
    res = place("solve", d / "cat.json", "--solver", "greedy", "--quantile", "0.9",
                "-o", d / "bad-q.json")
    assert res.exit_code == 2 and "needs --predictor" in res.output
    res = place("solve", d / "cat.json", "--solver", "greedy", "--predictor", d / "q.skops",
                "--quantile", "0.95", "-o", d / "robust.json")
    assert res.exit_code in (0, 1), res.output
    assert json.loads((d / "robust.json").read_text())["info"]["quantile"] == 0.95
