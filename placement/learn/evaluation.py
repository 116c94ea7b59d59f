"""How well does a slowdown predictor generalize? Splits, metrics and the score table.

Degree, as in :attr:`placement.formats.measurements.Measurement.degree`, counts the target:
``degree = 1 + len(co_runners)`` (2 = a pair, 4 = the target and three co-runners).

Splits (each a list of folds; each fold holds row indices for training and testing):

- ``random-sets``: 20% of the co-location *sets of degree >= 3* held out at random; every pair
  and alone row stays in training. This is the practical protocol (SPEC section 7, the seed
  paper): every pair is profiled, the larger sets are the expensive ones to measure. A set is
  ``(machine type, {target} | co_runners)``; all its rows (one per member as target) go to the
  same side, so a set's other perspectives never leak into training;
- ``random-sets+pairs``: 20% of *all* co-location sets, pairs included, held out (harder, and
  unfair to the additive baseline, which then lacks the held-out pairs: reported apart);
- ``degree``: train on degree <= 3 (alone, pairs, triples), test on degree >= 4;
- ``machine-type``: leave one machine type out, each in turn;
- ``model``: leave one model out, each in turn: every row where it is target or co-runner.

Only rows of degree >= 2 are scored (alone is 1.0 by definition). Every fold compares the
learned predictor with the ``additive`` composition of the pairs in the same training rows.
Metrics are plain functions over arrays, as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.learn.estimators import AdditiveSlowdown
from placement.learn.features import PairTable, Query, queries_of, query_strings
from placement.learn.predictor import SlowdownPredictor

SPLITS = ("random-sets", "random-sets+pairs", "degree", "machine-type", "model")


def mape(y_true: Any, y_pred: Any) -> float:
    """Mean absolute percentage error of slowdown, in percent (slowdowns are >= 1, so the
    denominator never vanishes)."""
    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return float(np.mean(np.abs(p - t) / t) * 100.0) if t.size else float("nan")


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error of slowdown (the same in degradation units)."""
    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return float(np.mean(np.abs(p - t))) if t.size else float("nan")


@dataclass(frozen=True)
class Fold:
    split: str
    fold: str
    train: tuple[int, ...]
    test: tuple[int, ...]


def _fold(split: str, name: str, rows: Sequence[Measurement], is_test: Callable) -> Fold:
    train = tuple(i for i, m in enumerate(rows) if not is_test(m))
    test = tuple(i for i, m in enumerate(rows) if is_test(m) and m.degree >= 2)
    return Fold(split, name, train, test)


def split_random_sets(
    rows: Sequence[Measurement], fraction: float = 0.2, seed: int = 0, min_degree: int = 3
) -> list[Fold]:
    """Hold out ``fraction`` of the co-location sets of degree >= ``min_degree`` (3: every pair
    stays in training, split ``random-sets``; 2: pairs too, split ``random-sets+pairs``)."""
    sets = sorted({(m.machine_type, tuple(sorted(m.co_runners | {m.target}))) for m in rows
                   if m.degree >= max(2, min_degree)})
    rng = np.random.default_rng(seed)
    n_out = max(1, round(fraction * len(sets))) if sets else 0
    held = {sets[i] for i in rng.choice(len(sets), size=n_out, replace=False)} if sets else set()
    if min_degree <= 2:
        split, name = "random-sets+pairs", f"{int(fraction * 100)}% of sets incl. pairs"
    else:
        split, name = "random-sets", f"{int(fraction * 100)}% of sets of degree >= {min_degree}"
    return [_fold(split, name, rows,
                  lambda m: (m.machine_type, tuple(sorted(m.co_runners | {m.target}))) in held)]


def split_degree(rows: Sequence[Measurement], train_max: int = 3) -> list[Fold]:
    return [_fold("degree", f"train <= {train_max}, test >= {train_max + 1}", rows,
                  lambda m: m.degree > train_max)]


def split_machine_types(rows: Sequence[Measurement]) -> list[Fold]:
    types = sorted({m.machine_type for m in rows})
    return [_fold("machine-type", t, rows, lambda m, t=t: m.machine_type == t) for t in types]


def split_models(rows: Sequence[Measurement]) -> list[Fold]:
    models = sorted({m.target for m in rows} | {c for m in rows for c in m.co_runners})
    return [_fold("model", x, rows, lambda m, x=x: m.target == x or x in m.co_runners)
            for x in models]


def make_folds(rows: Sequence[Measurement], split: str, seed: int = 0) -> list[Fold]:
    if split == "random-sets":
        return split_random_sets(rows, seed=seed)
    if split == "random-sets+pairs":
        return split_random_sets(rows, seed=seed, min_degree=2)
    if split == "degree":
        return split_degree(rows)
    if split == "machine-type":
        return split_machine_types(rows)
    if split == "model":
        return split_models(rows)
    raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def error_rows(
    rows: Sequence[Measurement],
    predicted: np.ndarray,
    baseline: np.ndarray,
    groups: bool = True,
    true_values: np.ndarray | None = None,
    **labels: Any,
) -> list[dict[str, Any]]:
    """One dict per group (``all``, then ``type=...``, then ``degree=...``) with n, MAPE and MAE
    of the prediction and of the baseline; ``labels`` are copied into every dict. With
    ``true_values`` (noise-free slowdowns, known for generated campaigns) also ``true_mape``
    and ``additive_true_mape``: the error against the truth rather than a noisy measurement."""
    y = np.array([m.slowdown for m in rows], dtype=float)
    y = np.maximum(y, 1.0)  # below 1 is noise (SPEC section 2): score against 1.0
    keyed: list[tuple[str, np.ndarray]] = [("all", np.ones(len(rows), dtype=bool))]
    if groups:
        for t in sorted({m.machine_type for m in rows}):
            keyed.append((f"type={t}", np.array([m.machine_type == t for m in rows])))
        for d in sorted({m.degree for m in rows}):
            keyed.append((f"degree={d}", np.array([m.degree == d for m in rows])))
    out = []
    for name, mask in keyed:
        out.append({
            **labels, "group": name, "n": int(mask.sum()),
            "mape": mape(y[mask], predicted[mask]), "mae": mae(y[mask], predicted[mask]),
            "additive_mape": mape(y[mask], baseline[mask]),
            "additive_mae": mae(y[mask], baseline[mask]),
        })
        if true_values is not None:
            tv = np.maximum(np.asarray(true_values, dtype=float), 1.0)
            out[-1]["true_mape"] = mape(tv[mask], predicted[mask])
            out[-1]["additive_true_mape"] = mape(tv[mask], baseline[mask])
    return out


def score_predictor(
    predictor: SlowdownPredictor, rows: Sequence[Measurement]
) -> list[dict[str, Any]]:
    """What ``placement predictor score`` prints: errors on ``rows`` of degree >= 2, overall,
    per machine type and per degree, beside the additive baseline.

    The baseline composes the pairs the predictor was trained on, updated with the pairs
    measured in ``rows`` themselves (a user who measured a pair would use it); so on pairs it
    is exact by construction and the comparison that matters is at degree >= 3. The predictor
    gets the same pairs (``gbt-pairs`` composes them).
    """
    scored = [m for m in rows if m.degree >= 2]
    queries = queries_of(scored)
    baseline = merged_baseline(predictor.baseline, scored)
    pred = predictor.with_pairs(PairTable.from_measurements(scored))
    return error_rows(
        scored, pred.predict_many(queries), baseline.predict(query_strings(queries)),
        kind=predictor.kind,
    )


def merged_baseline(
    trained: AdditiveSlowdown | None, rows: Sequence[Measurement]
) -> AdditiveSlowdown:
    """The additive baseline over the union of trained pairs and the pairs in ``rows``."""
    fresh = AdditiveSlowdown().fit(query_strings(queries_of(rows)), [m.slowdown for m in rows])
    if trained is None:
        return fresh
    merged = AdditiveSlowdown()
    merged.pair_degradation_ = {**trained.pair_degradation_, **fresh.pair_degradation_}
    merged.cross_type_degradation_ = {
        **trained.cross_type_degradation_, **fresh.cross_type_degradation_
    }
    values = list(merged.pair_degradation_.values())
    merged.mean_degradation_ = float(np.mean(values)) if values else 0.0
    merged.quantile_offsets_ = dict(trained.quantile_offsets_)
    merged.n_features_in_ = 3
    return merged


def cross_validate(
    rows: Sequence[Measurement],
    catalog: Instance | dict[str, Any],
    kinds: Sequence[str] = ("gbt",),
    splits: Sequence[str] = SPLITS,
    *,
    seed: int = 0,
    groups: bool = False,
    params: dict[str, dict[str, Any]] | None = None,
    truth: Any = None,
) -> list[dict[str, Any]]:
    """Fit each kind on each fold's training rows and score it on the fold's test rows.

    Returns one dict per (split, fold, kind, group): ``split, fold, kind, group, n, mape, mae,
    additive_mape, additive_mae``; the baseline is refitted on the same training rows.
    """
    rows = list(rows)
    folds = [f for split in splits for f in make_folds(rows, split, seed)]
    return evaluate_folds(
        rows, catalog, folds, kinds, seed=seed, groups=groups, params=params, truth=truth
    )


def evaluate_folds(
    rows: Sequence[Measurement],
    catalog: Instance | dict[str, Any],
    folds: Sequence[Fold],
    kinds: Sequence[str] = ("gbt",),
    *,
    seed: int = 0,
    groups: bool = False,
    params: dict[str, dict[str, Any]] | None = None,
    truth: Any = None,
) -> list[dict[str, Any]]:
    """:func:`cross_validate` over folds made elsewhere (e.g. grouped by a type attribute).
    ``truth``: a slowdown source (``truth.slowdown(target, co_runners, type)``, e.g. a
    generator's ground truth) to also score against noise-free values."""
    table: list[dict[str, Any]] = []
    for fold in folds:
        train = [rows[i] for i in fold.train]
        test = [rows[i] for i in fold.test]
        if not test or not train:
            continue
        queries: list[Query] = queries_of(test)
        true_values = (None if truth is None
                       else np.array([truth.slowdown(t, c, m) for t, c, m in queries]))
        for kind in kinds:
            pred = SlowdownPredictor(kind, seed=seed, params=(params or {}).get(kind))
            pred.fit(train, catalog)
            table += error_rows(
                test, pred.predict_many(queries), pred.baseline_many(queries), groups,
                true_values, split=fold.split, fold=fold.fold, kind=kind,
            )
    return table


def fold_by(
    rows: Sequence[Measurement], split: str, key: Callable[[Measurement], Any]
) -> list[Fold]:
    """Leave-one-value-out folds over ``key(row)`` (e.g. a machine type's processor level)."""
    values = sorted({key(m) for m in rows})
    return [_fold(split, str(v), rows, lambda m, v=v: key(m) == v) for v in values]


def summarize(table: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (split, kind), the n-weighted mean over folds of the ``all`` rows."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    keys = ["mape", "mae", "additive_mape", "additive_mae"]
    if any("true_mape" in r for r in table):
        keys += ["true_mape", "additive_true_mape"]
    for r in table:
        if r["group"] != "all":
            continue
        key = (r["split"], r["kind"])
        acc = out.setdefault(key, {"split": r["split"], "kind": r["kind"], "n": 0, "folds": 0,
                                   **{k: 0.0 for k in keys}})
        acc["n"] += r["n"]
        acc["folds"] += 1
        for k in keys:
            acc[k] += r[k] * r["n"]
    for acc in out.values():
        for k in keys:
            acc[k] = acc[k] / acc["n"] if acc["n"] else float("nan")
    return list(out.values())


def markdown_table(table: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A GitHub-flavoured markdown table; floats to 3 significant decimals."""
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in table]
    return "\n".join(lines)
