"""The unified interference predictor (SPEC section 8; docs/predictor.md).

As in Mendoza et al. (EuroMLSys 2021), ONE model predicts a model's slowdown from its own
features, its co-runners' aggregated features and the machine type's features, across machine
types and co-location degrees. Estimators follow the scikit-learn contract (parameters only in
``__init__``, ``fit(X, y)``, ``predict(X)``), so ``sklearn.base.clone``, grid search and
pipelines work. They are chosen by ``kind``:

- ``additive``: baseline, the measured pairs composed additively; needs names, not features
  (its ``X`` is :func:`placement.learn.features.query_strings`);
- ``linear``: baseline, gpulet-style linear model on the target's and co-runners' summed
  utilization features (Choi et al., ATC 2022);
- ``gbt``: gradient-boosted trees on log(slowdown), quantile-loss trees for intervals;
- ``mlp``: a small neural network whose input includes a one-hot machine-type code; the first
  layer's weights on that code are a learned machine-type embedding (the seed paper's Fig. 5).
- ``gbt-pairs`` (default): a learned correction over the additive composition of the measured
  pairs (:class:`PairGBTSlowdown`; the pair table comes from the training measurements and,
  once bound to an instance, its own pairwise entries); a feature-only ``gbt`` answers queries
  whose pairs were never measured.

:class:`SlowdownPredictor` wraps the feature builder and an estimator, answers
``predict_slowdown(target, co_runners, machine_type)`` for :class:`placement.interference.
Interference`, and saves to a skops file that runs no code when loaded.
"""

from __future__ import annotations

import contextlib
import io
import math
import weakref
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from placement.formats.errors import InputError
from placement.formats.files import write_bytes_atomic
from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.learn.features import (
    PAIR_FEATURES,
    FeatureBuilder,
    PairTable,
    Query,
    catalog_dict,
    check_measurements,
    queries_of,
    query_strings,
)

KINDS = ("additive", "linear", "gbt", "mlp", "gbt-pairs")
DEFAULT_KIND = "gbt-pairs"
_PAIR_COL = {name: i for i, name in enumerate(PAIR_FEATURES)}
DEFAULT_QUANTILES = (0.9,)
FORMAT = "placement.learn.predictor"
FORMAT_VERSION = 1


def _log_target(y: Any) -> np.ndarray:
    """Slowdowns below 1 are measurement noise (SPEC section 2): read as 1, then log, so the
    models fit relative error and can never predict below 1 after ``exp``."""
    return np.log(np.maximum(np.asarray(y, dtype=float), 1.0))


# Compiled forms of fitted models for small batches (a solver asks one co-location set at a
# time): built on first use, never saved (keyed weakly by the fitted sklearn object).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
SMALL_BATCH = 512
"""Batches up to this many rows use the compiled NumPy forms below instead of sklearn's
``predict`` (whose per-call overhead, ~4 ms for 400 trees plus ~4 ms for a thread-pool limit,
dominates when a solver asks thousands of single sets)."""


def _flat_trees(model: HistGradientBoostingRegressor) -> tuple[np.ndarray, ...]:
    """Every tree of a fitted HGB regressor in one node array (numerical splits only)."""
    flat = _COMPILED.get(model)
    if flat is None:
        trees = [p[0].nodes for p in model._predictors]
        offsets = np.cumsum([0] + [len(t) for t in trees[:-1]]).astype(np.int64)
        nodes = np.concatenate(trees)
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not compiled")
        shift = np.repeat(offsets, [len(t) for t in trees])
        leaf = nodes["is_leaf"].astype(bool)
        left = np.where(leaf, np.arange(len(nodes)), nodes["left"].astype(np.int64) + shift)
        right = np.where(leaf, np.arange(len(nodes)), nodes["right"].astype(np.int64) + shift)
        depth = int(max(p[0].get_max_depth() for p in model._predictors)) if trees else 0
        flat = (offsets, nodes["feature_idx"].astype(np.int64),
                nodes["num_threshold"].astype(float), nodes["missing_go_to_left"].astype(bool),
                left, right, nodes["value"].astype(float), depth,
                float(np.ravel(model._baseline_prediction)[0]))
        _COMPILED[model] = flat
    return flat


def _predict_trees(model: HistGradientBoostingRegressor, X: np.ndarray) -> np.ndarray:
    """``model.predict(X)`` for a regressor with the identity link, vectorized over rows and
    trees at once (equal to sklearn's up to float rounding)."""
    offsets, feat, thr, miss_left, left, right, value, depth, base = _flat_trees(model)
    node = np.broadcast_to(offsets, (len(X), len(offsets))).copy()
    rows = np.arange(len(X))[:, None]
    for _ in range(depth):
        x = X[rows, feat[node]]
        go_left = np.where(np.isnan(x), miss_left[node], x <= thr[node])
        node = np.where(go_left, left[node], right[node])
    return base + value[node].sum(axis=1)


def _predict_linear(pipe: Pipeline, X: np.ndarray) -> np.ndarray:
    """A StandardScaler + linear model pipeline as one dot product."""
    wb = _COMPILED.get(pipe)
    if wb is None:
        scale, lin = pipe.steps[0][1], pipe.steps[-1][1]
        w = np.ravel(lin.coef_) / scale.scale_
        wb = (w, float(np.ravel(lin.intercept_)[0]) - float(scale.mean_ @ w))
        _COMPILED[pipe] = wb
    # a row-wise sum, not ``X @ w``: BLAS's matrix-vector product rounds a row differently
    # depending on how many rows come with it, and a set's answer must not depend on its batch
    return (X * wb[0]).sum(axis=1) + wb[1]


def _qkey(q: float) -> str:
    return f"{float(q):.6g}"


class _QuantileMixin:
    """Quantiles as an offset in log space learned from residuals (for models without a native
    quantile loss). ``predict_quantile`` never goes below ``predict``: a conservative answer
    must be at least the median one."""

    quantiles: Sequence[float]

    def _fit_offsets(self, residuals: np.ndarray) -> None:
        self.quantile_offsets_ = {
            _qkey(q): max(0.0, float(np.quantile(residuals, q))) if residuals.size else 0.0
            for q in self.quantiles
        }

    def predict_quantile(self, X: Any, q: float) -> np.ndarray:
        check_is_fitted(self, "quantile_offsets_")
        key = _qkey(q)
        if key not in self.quantile_offsets_:
            raise ValueError(f"quantile {q} was not fitted; have {sorted(self.quantile_offsets_)}")
        median = self.predict(X)  # type: ignore[attr-defined]
        return median * math.exp(self.quantile_offsets_[key])


class AdditiveSlowdown(_QuantileMixin, RegressorMixin, BaseEstimator):
    """Baseline: ``1 + sum over co-runners of (pair slowdown - 1)``, the SPEC's default compose.

    ``X`` is an object array of ``(machine_type, target, co-runners joined by ';')``. Fitting
    keeps the mean measured slowdown of each (type, target, other) pair. An unseen pair falls
    back to the same pair's mean over other machine types, then to ``1 +`` the mean measured
    pair degradation; a fairer baseline than a fixed constant on held-out types.
    """

    def __init__(self, quantiles: Sequence[float] = DEFAULT_QUANTILES):
        self.quantiles = quantiles

    def fit(self, X: Any, y: Any) -> AdditiveSlowdown:
        X = np.asarray(X, dtype=object).reshape(-1, 3)
        y = np.maximum(np.asarray(y, dtype=float), 1.0)
        per_pair: dict[str, list[float]] = defaultdict(list)
        per_cross: dict[str, list[float]] = defaultdict(list)
        for (mt, target, co), v in zip(X, y, strict=True):
            others = [c for c in str(co).split(";") if c]
            if len(others) == 1:
                per_pair[f"{mt}\t{target}\t{others[0]}"].append(v - 1.0)
                per_cross[f"{target}\t{others[0]}"].append(v - 1.0)
        self.pair_degradation_ = {k: float(np.mean(v)) for k, v in per_pair.items()}
        self.cross_type_degradation_ = {k: float(np.mean(v)) for k, v in per_cross.items()}
        all_pairs = [d for v in per_pair.values() for d in v]
        self.mean_degradation_ = float(np.mean(all_pairs)) if all_pairs else 0.0
        self.n_features_in_ = 3
        self._fit_offsets(_log_target(y) - np.log(self.predict(X)))
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "pair_degradation_")
        X = np.asarray(X, dtype=object).reshape(-1, 3)
        out = np.ones(len(X))
        for i, (mt, target, co) in enumerate(X):
            for other in (c for c in str(co).split(";") if c):
                d = self.pair_degradation_.get(f"{mt}\t{target}\t{other}")
                if d is None:
                    d = self.cross_type_degradation_.get(
                        f"{target}\t{other}", self.mean_degradation_
                    )
                out[i] += max(0.0, d)
        return out


class LinearSlowdown(_QuantileMixin, RegressorMixin, BaseEstimator):
    """Baseline in the style of gpulet's pairwise model: slowdown linear in the target's and the
    co-runners' (summed) utilization features. ``columns`` picks those features (``None``: all);
    a small ridge penalty keeps it stable when features are collinear."""

    def __init__(
        self,
        columns: Sequence[int] | None = None,
        alpha: float = 1e-3,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
    ):
        self.columns = columns
        self.alpha = alpha
        self.quantiles = quantiles

    def _select(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return X if self.columns is None else X[:, list(self.columns)]

    def fit(self, X: Any, y: Any) -> LinearSlowdown:
        X = np.asarray(X, dtype=float)
        self.n_features_in_ = X.shape[1]
        y = np.maximum(np.asarray(y, dtype=float), 1.0)
        self.model_ = Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=self.alpha))])
        self.model_.fit(self._select(X), y)
        self._fit_offsets(_log_target(y) - np.log(self.predict(X)))
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.maximum(self.model_.predict(self._select(X)), 1.0)


class GBTSlowdown(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees on log(slowdown), on top of a linear trend; one extra
    quantile-loss model per quantile.

    Trees suit the problem: contention is a threshold effect (little slowdown until a shared
    resource saturates, then a steep rise), which splits on pressure ratios capture directly.
    But trees are constant outside the range they saw, and a 4-set pushes pressure beyond
    anything in pairs and triples. With ``linear_base`` (default) a ridge regression on the
    standardized features fits the trend first and the trees fit what it leaves, so held-out
    degrees extrapolate along the trend instead of flattening.
    """

    def __init__(
        self,
        max_iter: int = 400,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 10,
        l2_regularization: float = 0.0,
        linear_base: bool = True,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.linear_base = linear_base
        self.quantiles = quantiles
        self.random_state = random_state
        self.n_threads = n_threads

    def _threads(self) -> Any:
        """One OpenMP thread by default: on the few thousand rows a campaign gives, threads
        cost more than they save (measured 8-20x slower with 2 threads on a busy 2-core box)."""
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_threads, user_api="openmp")

    def _trees(self, **loss: Any) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, early_stopping=False,
            random_state=self.random_state, **loss,
        )

    def _trend(self, X: np.ndarray) -> np.ndarray:
        if self.base_ is None:
            return np.zeros(len(X))
        if len(X) <= SMALL_BATCH:
            return _predict_linear(self.base_, X)
        return self.base_.predict(X)

    def fit(self, X: Any, y: Any) -> GBTSlowdown:
        return self.fit_log(X, _log_target(y))

    def fit_log(self, X: Any, z: Any) -> GBTSlowdown:
        """Fit the trend and trees on a log-space target ``z`` directly (no clipping): used by
        :class:`PairGBTSlowdown` for its correction over the pairwise composition."""
        X = np.asarray(X, dtype=float)
        z = np.asarray(z, dtype=float)
        self.n_features_in_ = X.shape[1]
        self.base_ = None
        if self.linear_base:
            self.base_ = Pipeline([
                ("scale", StandardScaler()), ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13))),
            ]).fit(X, z)
        rest = z - self._trend(X)
        with self._threads():
            self.model_ = self._trees().fit(X, rest)
            self.quantile_models_ = {
                _qkey(q): self._trees(loss="quantile", quantile=float(q)).fit(X, rest)
                for q in self.quantiles
            }
        return self

    def predict_log(self, X: Any, q: float | None = None) -> np.ndarray:
        """The fitted log-space value (``q``: that quantile, never below the median)."""
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=float)
        if q is not None and _qkey(q) not in self.quantile_models_:
            raise ValueError(f"quantile {q} was not fitted; have {sorted(self.quantile_models_)}")
        trend = self._trend(X)
        if len(X) <= SMALL_BATCH:
            median = trend + _predict_trees(self.model_, X)
            if q is None:
                return median
            return np.maximum(trend + _predict_trees(self.quantile_models_[_qkey(q)], X), median)
        with self._threads():
            median = trend + self.model_.predict(X)
            if q is None:
                return median
            return np.maximum(trend + self.quantile_models_[_qkey(q)].predict(X), median)

    def predict(self, X: Any) -> np.ndarray:
        return np.maximum(np.exp(self.predict_log(X)), 1.0)

    def predict_quantile(self, X: Any, q: float) -> np.ndarray:
        check_is_fitted(self, "quantile_models_")
        return np.maximum(np.exp(self.predict_log(X, q)), 1.0)


class PairGBTSlowdown(RegressorMixin, BaseEstimator):
    """``gbt-pairs``: a learned correction over the composition of the measured pairs.

    ``X`` is the feature row followed by the :data:`placement.learn.features.PAIR_FEATURES` of the
    query (the last ``n_pair_features`` columns; ``pair.covered`` last). For a *covered* query
    (every pair of the target with one of its co-runners measured) the prediction is

        log(slowdown) = log(pair.add) + correction(all features),

    the correction being a ridge trend plus boosted trees (as :class:`GBTSlowdown`) fitted on
    ``log(y) - log(pair.add)`` over the covered training rows: pairs (correction ~ 0), triples,
    4-sets. The additive composition carries the pair-specific part (which a feature-only model
    must guess from hardware counters); the model only learns how sets deviate from it
    (convex bandwidth queues: super-additive; saturating caches: sub-additive). An uncovered
    query (a machine type or model without measured pairs) goes to ``fallback_``, a
    feature-only :class:`GBTSlowdown` fitted on every row's feature columns.
    """

    def __init__(
        self,
        n_pair_features: int = len(PAIR_FEATURES),
        max_iter: int = 400,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 10,
        l2_regularization: float = 0.0,
        linear_base: bool = True,
        min_co_runners: int = 1,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ):
        self.n_pair_features = n_pair_features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.linear_base = linear_base
        self.min_co_runners = min_co_runners
        self.quantiles = quantiles
        self.random_state = random_state
        self.n_threads = n_threads

    def _gbt(self) -> GBTSlowdown:
        return GBTSlowdown(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, linear_base=self.linear_base,
            quantiles=self.quantiles, random_state=self.random_state, n_threads=self.n_threads,
        )

    def _split(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        P = int(self.n_pair_features)
        pair = X[:, -P:]
        covered = pair[:, _PAIR_COL["pair.covered"]] == 1.0
        return X, X[:, :-P], pair, covered

    def fit(self, X: Any, y: Any) -> PairGBTSlowdown:
        X, base, pair, covered = self._split(X)
        z = _log_target(y)
        self.n_features_in_ = X.shape[1]
        self.fallback_ = self._gbt().fit(base, y)
        rows = covered & (pair[:, _PAIR_COL["pair.n"]] >= self.min_co_runners)
        self.corrector_ = None
        if rows.sum() >= 2:
            offset = np.log(pair[rows, _PAIR_COL["pair.add"]])
            self.corrector_ = self._gbt().fit_log(X[rows], z[rows] - offset)
        return self

    def _predict(self, X: Any, q: float | None) -> np.ndarray:
        check_is_fitted(self, "fallback_")
        X, base, pair, covered = self._split(X)
        if self.corrector_ is None:
            covered = np.zeros(len(X), dtype=bool)
        out = np.ones(len(X))
        if not covered.all():
            rest = ~covered
            out[rest] = (self.fallback_.predict(base[rest]) if q is None
                         else self.fallback_.predict_quantile(base[rest], q))
        if covered.any():
            log_add = np.log(pair[covered, _PAIR_COL["pair.add"]])
            out[covered] = np.exp(log_add + self.corrector_.predict_log(X[covered], q))
        return np.maximum(out, 1.0)

    def predict(self, X: Any) -> np.ndarray:
        return self._predict(X, None)

    def predict_quantile(self, X: Any, q: float) -> np.ndarray:
        return np.maximum(self._predict(X, q), self._predict(X, None))


class MLPSlowdown(_QuantileMixin, RegressorMixin, BaseEstimator):
    """A small neural network on standardized features, fitting log(slowdown).

    The machine-type one-hot columns enter the first layer like every other feature; their
    weights form a learned ``n_types x hidden`` embedding table (a one-hot times a weight
    matrix is an embedding lookup), as in the seed paper's Fig. 5. A type unseen in training
    has an all-zero code and is predicted from its hardware features. Quantiles come from
    out-of-fold residuals (``cv`` folds), since the network has no quantile loss.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        alpha: float = 1e-4,
        learning_rate_init: float = 1e-3,
        max_iter: int = 1500,
        cv: int = 3,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.cv = cv
        self.quantiles = quantiles
        self.random_state = random_state
        self.n_threads = n_threads

    def _net(self) -> Pipeline:
        return Pipeline([
            ("scale", StandardScaler()),
            ("mlp", MLPRegressor(
                hidden_layer_sizes=tuple(self.hidden_layer_sizes), alpha=self.alpha,
                learning_rate_init=self.learning_rate_init, max_iter=self.max_iter,
                early_stopping=True, validation_fraction=0.1, n_iter_no_change=30,
                random_state=self.random_state,
            )),
        ])

    def _threads(self) -> Any:
        """One BLAS thread by default: the matrices are tiny, threads only add overhead."""
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_threads)

    def fit(self, X: Any, y: Any) -> MLPSlowdown:
        with self._threads():
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> MLPSlowdown:
        X = np.asarray(X, dtype=float)
        z = _log_target(y)
        self.n_features_in_ = X.shape[1]
        self.model_ = self._net().fit(X, z)
        residuals = np.zeros(0)
        if self.quantiles and self.cv >= 2 and len(X) >= 5 * self.cv:
            folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
            out = np.zeros(len(X))
            for tr, te in folds.split(X):
                out[te] = self._net().fit(X[tr], z[tr]).predict(X[te])
            residuals = z - np.maximum(out, 0.0)
        self._fit_offsets(residuals)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.exp(np.maximum(self.model_.predict(np.asarray(X, dtype=float)), 0.0))


def make_estimator(
    kind: str,
    builder: FeatureBuilder | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> BaseEstimator:
    """The estimator for ``kind`` with the project's defaults, then ``params`` set on it."""
    est = _default_estimator(kind, builder, seed)
    return est.set_params(**params) if params else est


def _default_estimator(kind: str, builder: FeatureBuilder | None, seed: int) -> BaseEstimator:
    if kind == "additive":
        return AdditiveSlowdown()
    if kind == "linear":
        cols = None
        if builder is not None:
            # gpulet's model: each side's utilizations, nothing else
            keys = [f"target.{k}" for k in builder.model_keys]
            keys += [f"co.sum.{k}" for k in builder.model_keys]
            keys += [f"target.pressure.{r}" for r in builder.resources]
            keys += [f"co.pressure_sum.{r}" for r in builder.resources]
            names = builder.feature_names()
            cols = [names.index(k) for k in keys] or None
        return LinearSlowdown(columns=cols)
    if kind == "gbt":
        return GBTSlowdown(random_state=seed)
    if kind == "mlp":
        return MLPSlowdown(random_state=seed)
    if kind == "gbt-pairs":
        return PairGBTSlowdown(random_state=seed)
    raise ValueError(f"unknown predictor kind {kind!r}; expected one of {', '.join(KINDS)}")


# Types a predictor file may contain beyond those skops trusts by default (scikit-learn
# estimators, NumPy arrays, builtins containers): the only extra ones skops will build when
# loading. Anything else (os.system, builtins.eval, any class not named here) makes the load
# fail before a single object is built. Never ``trusted=True``.
TRUSTED_TYPES: tuple[str, ...] = (
    "placement.learn.predictor.AdditiveSlowdown",
    "placement.learn.predictor.LinearSlowdown",
    "placement.learn.predictor.GBTSlowdown",
    "placement.learn.predictor.MLPSlowdown",
    "placement.learn.predictor.PairGBTSlowdown",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
)


class SlowdownPredictor:
    """A fitted feature builder + estimator; what ``--predictor PATH`` loads.

    ``predict_slowdown(target, co_runners, machine_type)`` is the method
    :class:`placement.interference.Interference` calls; answers are cached (solvers ask the same
    question many times) and never below 1. ``quantile`` (e.g. 0.9) makes it answer a
    conservative upper quantile instead of the median, for SLO-safe placement.
    """

    def __init__(
        self,
        kind: str = DEFAULT_KIND,
        *,
        seed: int = 0,
        quantile: float | None = None,
        params: dict[str, Any] | None = None,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown predictor kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self.seed = seed
        self.quantile = quantile
        self.params = dict(params or {})
        self.builder: FeatureBuilder | None = None
        self.estimator: Any = None
        self.baseline: AdditiveSlowdown | None = None
        self.pair_table = PairTable()
        self.info: dict[str, Any] = {}
        self._cache: dict[tuple[str, frozenset[str], str, float | None], float] = {}
        self._bound: tuple[Any, SlowdownPredictor] | None = None

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        measurements: Sequence[Measurement],
        catalog: Instance | dict[str, Any],
        *,
        source: str = "measurements",
        catalog_source: str = "catalog",
    ) -> SlowdownPredictor:
        """Fit on measured co-locations; names are checked against the catalog first
        (:class:`InputError` naming the CSV line otherwise). Rows of degree 1 are kept: they
        teach the model that alone means 1.0."""
        cat = catalog_dict(catalog) if isinstance(catalog, Instance) else catalog
        rows = list(measurements)
        if not rows:
            raise InputError(source, [("$", "no measurements; expected at least one row")])
        check_measurements(rows, cat, source, catalog_source)
        self.builder = FeatureBuilder.from_catalog(cat, {m.machine_type for m in rows})
        queries = queries_of(rows)
        y = np.array([m.slowdown for m in rows])
        self.baseline = AdditiveSlowdown().fit(query_strings(queries), y)
        self.pair_table = PairTable.from_measurements(rows)
        self.estimator = make_estimator(self.kind, self.builder, self.seed, self.params)
        self.estimator.fit(self._inputs(queries), y)
        self.info = {
            "n_measurements": len(rows),
            "machine_types": sorted({m.machine_type for m in rows}),
            "degrees": sorted({m.degree for m in rows}),
        }
        self._cache.clear()
        return self

    def _inputs(self, queries: Sequence[Query]) -> np.ndarray:
        if isinstance(self.estimator, AdditiveSlowdown):
            return query_strings(queries)
        assert self.builder is not None
        X = self.builder.matrix(queries)
        if isinstance(self.estimator, PairGBTSlowdown):
            X = np.hstack([X, self.pair_table.matrix(queries)])
        return X

    def _check_fitted(self) -> None:
        if self.builder is None or self.estimator is None:
            raise RuntimeError("this SlowdownPredictor is not fitted; call fit() or load()")

    # ------------------------------------------------------------------ predicting
    def predict_many(
        self, queries: Sequence[Query], quantile: float | None = None
    ) -> np.ndarray:
        """Slowdowns (>= 1) for many ``(target, co_runners, machine_type)`` at once; a query
        without co-runners is 1.0 by definition (SPEC section 1)."""
        self._check_fitted()
        q = self.quantile if quantile is None else quantile
        queries = [(t, frozenset(c), m) for t, c, m in queries]
        out = np.ones(len(queries))
        todo = [i for i, (_, c, _) in enumerate(queries) if c]
        if todo:
            X = self._inputs([queries[i] for i in todo])
            pred = self.estimator.predict(X) if q is None else self.estimator.predict_quantile(X, q)
            out[todo] = np.maximum(pred, 1.0)
        return out

    def predict_slowdown(
        self,
        target: str,
        co_runners: frozenset[str],
        machine_type: str,
        quantile: float | None = None,
    ) -> float:
        """One answer, cached. A miss on a set of >= 2 co-runners predicts every member of the
        co-location set as target in one batch: whoever asks for one member's slowdown (a
        solver costing a machine configuration) asks for the others next."""
        co = frozenset(co_runners)
        key = (target, co, machine_type, quantile)
        value = self._cache.get(key)
        if value is not None:
            return value
        if not co:
            return 1.0
        group = co | {target}
        batch = [(target, co, machine_type)]
        if len(co) >= 2:
            batch += [(m, group - {m}, machine_type) for m in sorted(group) if m != target
                      and (m, group - {m}, machine_type, quantile) not in self._cache]
        values = self.predict_many(batch, quantile)
        for (t, c, mt), v in zip(batch, values, strict=True):
            self._cache[(t, c, mt, quantile)] = float(v)
        return self._cache[key]

    def predict_slowdown_many(
        self, queries: Sequence[Query], quantile: float | None = None
    ) -> np.ndarray:
        """:meth:`predict_slowdown` for many queries (the same values, through the same cache):
        the ones not cached are predicted in one :meth:`predict_many` call."""
        if not isinstance(self.estimator, GBTSlowdown | PairGBTSlowdown):
            # other estimators (matrix products) round a row depending on its batch: ask one
            # set at a time, as a solver would, so the values are the same
            return np.array([self.predict_slowdown(t, c, m, quantile) for t, c, m in queries])
        keys = [(t, frozenset(c), m, quantile) for t, c, m in queries]
        out = np.ones(len(keys))
        todo: dict[tuple, None] = {}
        for key in keys:
            if key[1] and key not in self._cache:
                todo[key] = None
        if todo:
            batch = list(todo)
            # chunks of SMALL_BATCH rows: the compiled forms, as single questions get (sklearn's
            # predict on larger batches may differ in the last bits)
            for lo in range(0, len(batch), SMALL_BATCH):
                part = batch[lo : lo + SMALL_BATCH]
                values = self.predict_many([k[:3] for k in part], quantile)
                for key, v in zip(part, values, strict=True):
                    self._cache[key] = float(v)
        for i, key in enumerate(keys):
            if key[1]:
                out[i] = self._cache[key]
        return out

    def slowdown(self, target: str, co_runners: frozenset[str], machine_type: str) -> float:
        """So the predictor can stand in wherever a slowdown source is expected."""
        return self.predict_slowdown(target, co_runners, machine_type)

    def baseline_many(self, queries: Sequence[Query]) -> np.ndarray:
        """The additive composition of the pairs seen in training, for comparison."""
        self._check_fitted()
        assert self.baseline is not None
        return self.baseline.predict(query_strings(queries))

    def with_catalog(self, catalog: Instance | dict[str, Any]) -> SlowdownPredictor:
        """A copy that also knows the models and types of ``catalog`` (e.g. the instance being
        solved), described by the same feature names it was trained on."""
        self._check_fitted()
        assert self.builder is not None
        twin = SlowdownPredictor(
            self.kind, seed=self.seed, quantile=self.quantile, params=self.params
        )
        twin.builder = self.builder.with_catalog(catalog)
        twin.estimator, twin.baseline, twin.info = self.estimator, self.baseline, dict(self.info)
        twin.pair_table = self.pair_table
        if isinstance(catalog, Instance):
            twin.pair_table = self.pair_table.merged(PairTable.from_instance(catalog))
        return twin

    def for_instance(self, instance: Instance) -> SlowdownPredictor:
        """:meth:`with_catalog` for the instance being solved, remembered so that every
        :class:`~placement.interference.Interference` built on the same instance object shares
        one copy and its cache. It knows the instance's models and types and uses its pairwise
        entries (they override the training pairs) for ``gbt-pairs``."""
        bound = self._bound
        if bound is not None and bound[0] is instance:
            return bound[1]
        twin = self.with_catalog(instance)
        self._bound = (instance, twin)
        return twin

    def with_pairs(self, table: PairTable) -> SlowdownPredictor:
        """A copy that also knows the measured pairs of ``table`` (they override its own)."""
        self._check_fitted()
        twin = self.with_quantile(self.quantile)
        twin.pair_table = self.pair_table.merged(table)
        return twin

    def with_quantile(self, quantile: float | None) -> SlowdownPredictor:
        """A copy answering the given quantile by default (``None``: the median)."""
        self._check_fitted()
        twin = SlowdownPredictor(self.kind, seed=self.seed, quantile=quantile, params=self.params)
        twin.builder, twin.estimator = self.builder, self.estimator
        twin.baseline, twin.info = self.baseline, dict(self.info)
        twin.pair_table = self.pair_table
        return twin

    @property
    def quantiles(self) -> list[float]:
        self._check_fitted()
        return [float(q) for q in getattr(self.estimator, "quantiles", ())]

    # ------------------------------------------------------------------ files
    def dumps(self) -> bytes:
        import skops.io as sio

        self._check_fitted()
        assert self.builder is not None
        state = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "seed": int(self.seed),
            "quantile": self.quantile,
            "layout": self.builder.layout(),
            "catalog": self.builder.catalog,
            "estimator": self.estimator,
            "baseline": self.baseline,
            "pairs": self.pair_table.to_dict(),
            "info": self.info,
        }
        return sio.dumps(state)

    def save(self, path: str | Path) -> None:
        """Write a skops file atomically (a temp file renamed)."""
        write_bytes_atomic(path, self.dumps())

    @classmethod
    def loads(cls, data: bytes, source: str = "<predictor>") -> SlowdownPredictor:
        """Load from skops bytes, building only :data:`TRUSTED_TYPES`; anything else is an
        :class:`InputError` and nothing in the file is executed."""
        import skops.io as sio

        def bad(what: str) -> InputError:
            return InputError(source, [("$", what)])

        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise bad("not a predictor file (expected a skops archive written by "
                      "`placement predictor fit`)")
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:  # skops raises many kinds on a corrupt archive
            raise bad(f"corrupt predictor file ({type(exc).__name__}: {exc})") from None
        refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if refused:
            raise bad(f"refusing to load: the file asks for types a predictor never contains: "
                      f"{', '.join(refused)}")
        try:
            state = sio.loads(data, trusted=list(TRUSTED_TYPES))
        except Exception as exc:
            raise bad(f"corrupt predictor file ({type(exc).__name__}: {exc})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise bad(f"not a predictor file (no format {FORMAT!r})")
        if state.get("version") != FORMAT_VERSION:
            raise bad(f"predictor format version {state.get('version')!r}; this program reads "
                      f"version {FORMAT_VERSION}")
        try:
            kind = state["kind"]
            estimator, baseline = state["estimator"], state["baseline"]
            expected = {"additive": AdditiveSlowdown, "linear": LinearSlowdown,
                        "gbt": GBTSlowdown, "mlp": MLPSlowdown,
                        "gbt-pairs": PairGBTSlowdown}[kind]
            if not isinstance(estimator, expected) or not isinstance(baseline, AdditiveSlowdown):
                raise TypeError("estimator does not match its kind")
            pred = cls(kind, seed=int(state["seed"]), quantile=state["quantile"])
            pred.builder = FeatureBuilder.from_layout(state["layout"], state["catalog"])
            pred.estimator, pred.baseline = estimator, baseline
            pairs = state.get("pairs")
            if pairs is None:  # written before the pair table was saved: rebuild it
                pairs = {k: 1.0 + v for k, v in baseline.pair_degradation_.items()}
            if not isinstance(pairs, dict):
                raise TypeError("pairs is not a table")
            pred.pair_table = PairTable.from_dict(pairs)
            pred.info = dict(state.get("info") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"malformed predictor file ({exc})") from None
        return pred

    @classmethod
    def load(cls, path: str | Path) -> SlowdownPredictor:
        source = str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise InputError(source, [("$", "file not found")]) from None
        except OSError as exc:
            raise InputError(source, [("$", f"cannot read the file ({exc})")]) from None
        return cls.loads(data, source)


def load_predictor(path: str | Path, catalog: Instance | None = None) -> SlowdownPredictor:
    """Load a predictor the user named; with ``catalog``, it also knows that instance's models
    and machine types (needed when they were not in the training catalog)."""
    pred = SlowdownPredictor.load(path)
    return pred.with_catalog(catalog) if catalog is not None else pred


def fit_predictor(
    measurements: Iterable[Measurement],
    catalog: Instance | dict[str, Any],
    kind: str = DEFAULT_KIND,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> SlowdownPredictor:
    return SlowdownPredictor(kind, seed=seed, params=params).fit(list(measurements), catalog)


__all__ = [
    "KINDS", "TRUSTED_TYPES", "AdditiveSlowdown", "LinearSlowdown", "GBTSlowdown",
    "MLPSlowdown", "PairGBTSlowdown", "SlowdownPredictor", "make_estimator", "load_predictor",
    "fit_predictor",
]
