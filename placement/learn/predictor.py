"""The slowdown predictor a user fits, saves and names (SPEC section 8; docs/predictor.md).

As in Mendoza et al. (EuroMLSys 2021), ONE model predicts a model's slowdown from its own
features, its co-runners' aggregated features and the machine type's features, across machine
types and co-location degrees. :class:`SlowdownPredictor` joins the feature builder
(:mod:`placement.learn.features`), an estimator chosen by ``kind``
(:mod:`placement.learn.estimators`) and the measured pairs; it answers
``predict_slowdown(target, co_runners, machine_type)`` for
:class:`placement.interference.Interference`, caches its answers, and saves to a skops file
that runs no code when loaded (:mod:`placement.learn.persistence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from placement.formats.errors import InputError
from placement.formats.files import write_bytes_atomic
from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.learn.compiled import SMALL_BATCH
from placement.learn.estimators import (
    DEFAULT_KIND,
    ESTIMATOR_CLASSES,
    KINDS,
    AdditiveSlowdown,
    GBTSlowdown,
    PairGBTSlowdown,
    make_estimator,
)
from placement.learn.features import (
    FeatureBuilder,
    PairTable,
    Query,
    catalog_dict,
    check_measurements,
    queries_of,
    query_strings,
)
from placement.learn.persistence import (
    FORMAT,
    FORMAT_VERSION,
    bad_file,
    read_predictor_file,
    state_from_bytes,
    state_to_bytes,
)


class SlowdownPredictor:
    """A fitted feature builder + estimator; what ``--predictor PATH`` loads.

    ``predict_slowdown(target, co_runners, machine_type)`` is the method
    :class:`placement.interference.Interference` calls; answers are cached (solvers ask the same
    question many times) and never below 1. ``quantile`` (e.g. 0.9) makes it answer a
    conservative upper quantile instead of the median, for SLO-safe placement.

    >>> from placement import Instance
    >>> from placement.formats.measurements import Measurement
    >>> catalog = Instance.load("instances/demo.json")  # from the repository root
    >>> measured = [Measurement("c5.2xlarge", "resnet50", frozenset({"bert-base"}), 1.3),
    ...             Measurement("c5.2xlarge", "resnet50", frozenset({"distilbert"}), 1.1)]
    >>> additive = SlowdownPredictor("additive").fit(measured, catalog)
    >>> round(additive.predict_slowdown("resnet50", frozenset({"bert-base", "distilbert"}),
    ...                                 "c5.2xlarge"), 6)
    1.4
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
        """The predictor file's bytes (a skops archive; see :mod:`placement.learn.persistence`)."""
        self._check_fitted()
        assert self.builder is not None
        return state_to_bytes({
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
        })

    def save(self, path: str | Path) -> None:
        """Write a skops file atomically (a temp file renamed)."""
        write_bytes_atomic(path, self.dumps())

    @classmethod
    def loads(cls, data: bytes, source: str = "<predictor>") -> SlowdownPredictor:
        """Load from skops bytes, building only the trusted types; anything else is an
        :class:`InputError` and nothing in the file is executed."""
        state = state_from_bytes(data, source)
        try:
            kind = state["kind"]
            estimator, baseline = state["estimator"], state["baseline"]
            if not isinstance(estimator, ESTIMATOR_CLASSES[kind]) or not isinstance(
                baseline, AdditiveSlowdown
            ):
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
            raise bad_file(source, f"malformed predictor file ({exc})") from None
        return pred

    @classmethod
    def load(cls, path: str | Path) -> SlowdownPredictor:
        return cls.loads(read_predictor_file(path), str(path))


def load_predictor(path: str | Path, catalog: Instance | None = None) -> SlowdownPredictor:
    """Load a predictor the user named; with ``catalog``, it also knows that instance's models
    and machine types (needed when they were not in the training catalog)."""
    pred = SlowdownPredictor.load(path)
    return pred.with_catalog(catalog) if catalog is not None else pred


__all__ = ["KINDS", "DEFAULT_KIND", "SlowdownPredictor", "load_predictor"]
