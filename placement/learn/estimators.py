"""The slowdown estimators, one per ``kind`` (SPEC section 8; docs/predictor.md).

Each follows the scikit-learn contract (parameters only in ``__init__``, ``fit(X, y)``,
``predict(X)``), so ``sklearn.base.clone``, grid search and pipelines work, and offers
``predict_quantile(X, q)`` for the quantiles it was fitted with:

- ``additive``: baseline, the measured pairs composed additively; needs names, not features
  (its ``X`` is :func:`placement.learn.features.query_strings`);
- ``linear``: baseline, gpulet-style linear model on the target's and co-runners' summed
  utilization features (Choi et al., ATC 2022);
- ``gbt``: gradient-boosted trees on log(slowdown), quantile-loss trees for intervals;
- ``mlp``: a small neural network whose input includes a one-hot machine-type code; the first
  layer's weights on that code are a learned machine-type embedding (the seed paper's Fig. 5).
- ``gbt-pairs`` (default): a learned correction over the additive composition of the measured
  pairs (:class:`PairGBTSlowdown`); a feature-only ``gbt`` answers queries whose pairs were
  never measured.

>>> import numpy as np
>>> X = np.array([["t", "a", "b"], ["t", "a", "b;c"], ["t", "a", "c"]], dtype=object)
>>> AdditiveSlowdown().fit(X, [1.25, 1.6, 1.25]).predict(X).tolist()
[1.25, 1.5, 1.25]
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Sequence
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

from placement.learn.compiled import SMALL_BATCH, predict_booster, predict_linear
from placement.learn.features import PAIR_FEATURES, FeatureBuilder

KINDS = ("additive", "linear", "gbt", "mlp", "gbt-pairs")
DEFAULT_KIND = "gbt-pairs"
DEFAULT_QUANTILES = (0.9,)
_PAIR_COL = {name: i for i, name in enumerate(PAIR_FEATURES)}


def _log_target(y: Any) -> np.ndarray:
    """Slowdowns below 1 are measurement noise (SPEC section 2): read as 1, then log, so the
    models fit relative error and can never predict below 1 after ``exp``."""
    return np.log(np.maximum(np.asarray(y, dtype=float), 1.0))


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
        max_iter: int = 150,
        learning_rate: float = 0.12,
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
        # always the row-wise compiled sum, never sklearn's matrix product: a row's trend must
        # not depend on how many rows were asked with it (one question == a batch, exactly)
        if self.base_ is None:
            return np.zeros(len(X))
        trend = predict_linear(self.base_, X)
        bounds = getattr(self, "trend_range_", None)  # absent in files fitted before it
        return trend if bounds is None else np.clip(trend, bounds[0], bounds[1])

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
            # the trend may extrapolate (held-out degrees), but only as far again as the range
            # it spans on the training rows: a machine type whose features lie far outside
            # the training types' otherwise got exp(50)-sized slowdowns
            self.trend_range_ = None
            seen = self._trend(X)
            span = float(seen.max() - seen.min()) if len(seen) else 0.0
            self.trend_range_ = (float(seen.min()) - span, float(seen.max()) + span)
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
            median = trend + predict_booster(self.model_, X)
            if q is None:
                return median
            return np.maximum(trend + predict_booster(self.quantile_models_[_qkey(q)], X), median)
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
        max_iter: int = 150,
        learning_rate: float = 0.12,
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


#: The estimator class each kind builds (a loaded file's estimator must be of its kind's class).
ESTIMATOR_CLASSES: dict[str, type[BaseEstimator]] = {
    "additive": AdditiveSlowdown, "linear": LinearSlowdown, "gbt": GBTSlowdown,
    "mlp": MLPSlowdown, "gbt-pairs": PairGBTSlowdown,
}
