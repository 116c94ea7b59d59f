"""Fitted models as plain NumPy arithmetic, for the small batches a solver asks.

A solver asks one co-location set at a time, thousands of times; sklearn's ``predict`` costs
about 4 ms per call for 400 trees (plus about 4 ms to limit the thread pool), which dominates.
Batches of up to :data:`SMALL_BATCH` rows are therefore answered by the compiled forms below,
built on first use from the fitted model and never saved (kept in a weak dictionary keyed by
the fitted sklearn object).

Why the trees are read from private attributes: a :class:`HistGradientBoostingRegressor`
exposes no public tree structure. The public node arrays (``tree_.children_left``,
``children_right``, ``feature``, ``threshold``, ``value``) belong to sklearn's ``Tree``, which
``DecisionTreeRegressor`` and ``GradientBoostingRegressor`` use, not the histogram-based
booster; its ``TreePredictor`` nodes are private (scikit-learn issue #29731). Moving to an
estimator with public trees would change every prediction, so the private reads stay, in
:func:`_booster_nodes` only, and are checked: the first batch a compiled booster answers is
compared with sklearn's own ``predict`` (they must agree exactly: the compiled form adds the
leaves in sklearn's order); a booster whose layout this code does not understand
(or a future sklearn that changes it) is answered by sklearn from then on.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

SMALL_BATCH = 512
"""Batches up to this many rows use the compiled forms instead of sklearn's ``predict``."""


_COMPILED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CompiledBooster:
    """Every tree of a fitted booster in one node array (numerical splits only).

    ``node`` indices are global: ``left``/``right`` of a leaf point at the leaf itself, so a
    walk of ``depth`` steps from every root ends on each tree's leaf."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_go_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int
    baseline: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw predictions (identity link), vectorized over rows and trees at once. The leaf
        values are added in sklearn's order (the baseline, then tree after tree: a running
        sum), so the result equals sklearn's ``predict`` bit for bit, whatever the batch."""
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_go_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        terms = np.concatenate([np.full((len(X), 1), self.baseline), self.value[node]], axis=1)
        return np.cumsum(terms, axis=1)[:, -1]


def _booster_nodes(model: HistGradientBoostingRegressor) -> CompiledBooster:
    """The one place that reads the booster's private fitted state (see the module docstring).
    Raises ``ValueError`` on any layout it does not understand."""
    try:
        predictors = [per_iteration[0] for per_iteration in model._predictors]
        trees = [p.nodes for p in predictors]
        baseline = float(np.ravel(model._baseline_prediction)[0])
        depth = int(max(p.get_max_depth() for p in predictors)) if trees else 0
    except (AttributeError, IndexError, TypeError) as exc:
        raise ValueError(f"unknown booster layout ({exc})") from None
    if not trees:
        raise ValueError("a booster without trees")
    nodes = np.concatenate(trees)
    fields = ("is_categorical", "is_leaf", "left", "right", "feature_idx", "num_threshold",
              "missing_go_to_left", "value")
    if nodes.dtype.names is None or not set(fields) <= set(nodes.dtype.names):
        raise ValueError("unknown booster node layout")
    if nodes["is_categorical"].any():
        raise ValueError("categorical splits are not compiled")
    sizes = [len(t) for t in trees]
    roots = np.cumsum([0] + sizes[:-1]).astype(np.int64)
    shift = np.repeat(roots, sizes)
    leaf = nodes["is_leaf"].astype(bool)
    itself = np.arange(len(nodes))
    return CompiledBooster(
        roots=roots,
        feature=nodes["feature_idx"].astype(np.int64),
        threshold=nodes["num_threshold"].astype(float),
        missing_go_left=nodes["missing_go_to_left"].astype(bool),
        left=np.where(leaf, itself, nodes["left"].astype(np.int64) + shift),
        right=np.where(leaf, itself, nodes["right"].astype(np.int64) + shift),
        value=nodes["value"].astype(float),
        depth=depth,
        baseline=baseline,
    )


def predict_booster(model: HistGradientBoostingRegressor, X: np.ndarray) -> np.ndarray:
    """``model.predict(X)`` for a regressor with the identity link (equal to sklearn's up to
    float rounding), through the compiled form when there is one."""
    compiled = _COMPILED.get(model)
    if compiled is None:
        reference = model.predict(X)
        try:
            compiled = _booster_nodes(model)
            agrees = np.array_equal(compiled.predict(X), reference)
        except ValueError:
            agrees = False
        _COMPILED[model] = compiled if agrees else False
        if not agrees:
            return reference
    if compiled is False:
        return model.predict(X)
    return compiled.predict(X)


def predict_linear(pipe: Pipeline, X: np.ndarray) -> np.ndarray:
    """A ``StandardScaler`` + linear model pipeline as one weighted sum (public fitted
    attributes only: ``scale_``, ``mean_``, ``coef_``, ``intercept_``)."""
    weights_bias = _COMPILED.get(pipe)
    if weights_bias is None:
        scale, linear = pipe.steps[0][1], pipe.steps[-1][1]
        weights = np.ravel(linear.coef_) / scale.scale_
        bias = float(np.ravel(linear.intercept_)[0]) - float(scale.mean_ @ weights)
        weights_bias = (weights, bias)
        _COMPILED[pipe] = weights_bias
    weights, bias = weights_bias
    # a row-wise sum, not ``X @ w``: BLAS's matrix-vector product rounds a row differently
    # depending on how many rows come with it, and a set's answer must not depend on its batch
    return (X * weights).sum(axis=1) + bias
