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

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from placement.formats.errors import InputError
from placement.formats.files import write_bytes_atomic
from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.learn.cache import DEFAULT_MAX_SETS, SetCache
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
from placement.learn.novelty import MeasuredSets
from placement.learn.persistence import (
    FORMAT,
    FORMAT_VERSION,
    bad_file,
    read_predictor_file,
    state_from_bytes,
    state_to_bytes,
)

#: Estimators whose answer for a row never depends on the other rows of its batch (trees added
#: in a fixed order, row-wise sums, per-row Python): a batch of many sets gives the very floats
#: that one set at a time gives. Matrix products (``linear``, ``mlp``) may round a row
#: differently with other rows beside it, so those are asked one set at a time.
ROW_INDEPENDENT = (AdditiveSlowdown, GBTSlowdown, PairGBTSlowdown)
#: Rows per inference call of a batched question: bounds the feature matrix's memory.
BATCH_ROWS = 8192


def check_quantile(quantile: float | None) -> None:
    """``None`` (the median) or a probability strictly between 0 and 1."""
    if quantile is None:
        return
    q = float(quantile)
    if not (0.0 < q < 1.0) or math.isnan(q):
        raise ValueError(f"quantile must be strictly between 0 and 1, got {quantile}")


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
        max_cached_sets: int = DEFAULT_MAX_SETS,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown predictor kind {kind!r}; expected one of {', '.join(KINDS)}")
        check_quantile(quantile)
        self.kind = kind
        self.seed = seed
        self.quantile = quantile
        self.params = dict(params or {})
        self.builder: FeatureBuilder | None = None
        self.estimator: Any = None
        self.baseline: AdditiveSlowdown | None = None
        self.pair_table = PairTable()
        self.measured_sets = MeasuredSets()
        self.info: dict[str, Any] = {}
        self._cache = SetCache(max_cached_sets)
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
        self.measured_sets = MeasuredSets.from_measurements(rows)
        self.estimator = make_estimator(self.kind, self.builder, self.seed, self.params)
        self.estimator.fit(self._inputs(queries), y)
        sets = [i for i, m in enumerate(rows) if m.degree >= 3]
        composed = self.baseline.predict(query_strings([queries[i] for i in sets]))
        deviation = np.log(np.maximum(y[sets], 1.0)) - np.log(composed)
        self.info = {
            "n_measurements": len(rows),
            "machine_types": sorted({m.machine_type for m in rows}),
            "degrees": sorted({m.degree for m in rows}),
            # how far measured sets of >= 3 models lie from their pairs' composition (RMS of
            # the log ratio): the uncertainty of a set unlike any measured one
            "set_spread": float(np.sqrt(np.mean(deviation**2))) if sets else 0.0,
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
        check_quantile(q)
        queries = [(t, frozenset(c), m) for t, c, m in queries]
        out = np.ones(len(queries))
        todo = [i for i, (_, c, _) in enumerate(queries) if c]
        if todo:
            asked = [queries[i] for i in todo]
            X = self._inputs(asked)
            median = self.estimator.predict(X)
            pred = median if q is None else self._upper(asked, X, median, float(q))
            out[todo] = np.maximum(pred, 1.0)
        return out

    def _upper(
        self, queries: Sequence[Query], X: np.ndarray, median: np.ndarray, q: float
    ) -> np.ndarray:
        """The robust ``q`` quantile (docs/predictor.md, "Robust placement"): in log space,

            log s_q = log s_median + (z_q / z_ref) * spread_ref + z_q * novelty * set_spread

        ``spread_ref``: the fitted upper quantile ``ref`` (0.9) over the median, per query
        (quantile trees for ``gbt``/``gbt-pairs``, a constant for the others), rescaled to
        ``q`` as for a normal log error; ``novelty``: the query's distance to the training data
        (:meth:`novelty`), ``set_spread``: how far measured sets deviate from their pairs'
        composition. ``q = ref`` on a measured set is the fitted quantile itself."""
        z = NormalDist().inv_cdf(q)
        log_median = np.log(np.maximum(median, 1.0))
        log_q = log_median.copy()
        references = [r for r in self.quantiles if r > 0.5]
        if references:
            ref = references[0]
            upper = np.maximum(self.estimator.predict_quantile(X, ref), 1.0)
            log_q = log_q + (z / NormalDist().inv_cdf(ref)) * (np.log(upper) - log_median)
        spread = float(self.info.get("set_spread", 0.0))
        if spread > 0.0:
            log_q = log_q + z * spread * self.novelty(queries)
        return np.exp(log_q)

    def novelty(self, queries: Sequence[Query]) -> np.ndarray:
        """Distance in [0, 1] of each query to what the predictor was trained on: for a set of
        >= 3 models, the Jaccard distance to the nearest measured set of its type
        (:class:`~placement.learn.novelty.MeasuredSets`); for a pair, 0 when measured (in
        training or the instance), else 1; alone, 0."""
        out = np.zeros(len(queries))
        sets = [i for i, (_, c, _) in enumerate(queries) if len(c) >= 2]
        if sets:
            out[sets] = self.measured_sets.distance([queries[i] for i in sets])
        for i, (target, co_runners, machine_type) in enumerate(queries):
            if len(co_runners) == 1 and not self.pair_table.covers(
                target, co_runners, machine_type
            ):
                out[i] = 1.0
        return out

    def predict_slowdown(
        self,
        target: str,
        co_runners: frozenset[str],
        machine_type: str,
        quantile: float | None = None,
    ) -> float:
        """One answer, cached per (type, set). A miss predicts every member of the
        co-location set as target in one batch: whoever asks for one member's slowdown (a
        solver costing a machine configuration) asks for the others next."""
        co = frozenset(co_runners)
        if not co:
            return 1.0
        value = self._cache.get(target, co, machine_type, quantile)
        if value is None:
            self._predict_sets([(machine_type, co | {target})], quantile)
            value = self._cache.get(target, co, machine_type, quantile)
            assert value is not None  # just stored (the cache holds at least one set)
        return value

    def predict_slowdown_many(
        self, queries: Sequence[Query], quantile: float | None = None
    ) -> np.ndarray:
        """:meth:`predict_slowdown` for many queries, the same floats: the sets not cached are
        predicted together (every member of each), in batches of up to :data:`BATCH_ROWS`
        rows for estimators whose rows do not depend on their batch (:data:`ROW_INDEPENDENT`),
        else one set at a time, as :meth:`predict_slowdown` does."""
        wanted = [(t, frozenset(c), m) for t, c, m in queries]
        out = np.ones(len(wanted))
        askers: dict[tuple[str, frozenset[str]], list[int]] = {}
        for i, (t, c, m) in enumerate(wanted):
            if not c:
                continue
            value = self._cache.get(t, c, m, quantile)
            if value is None:
                askers.setdefault((m, c | {t}), []).append(i)
            else:
                out[i] = value
        for chunk in self._predicted_chunks(list(askers), quantile):
            for key in chunk:
                for i in askers[key]:
                    t, c, m = wanted[i]
                    value = self._cache.get(t, c, m, quantile)
                    assert value is not None
                    out[i] = value
        return out

    def predict_sets(
        self, sets: Sequence[tuple[str, frozenset[str]]], quantile: float | None = None
    ) -> list[dict[str, float]]:
        """Every member's slowdown in each ``(machine_type, set)`` (member -> value), the floats
        :meth:`predict_slowdown` gives for ``(member, set - {member}, machine_type)``: the set
        path of an exact enumeration, which costs whole sets and so skips building and
        regrouping one query per member. Sets not cached are predicted as
        :meth:`predict_slowdown_many` predicts them."""
        out: list[dict[str, float] | None] = [None] * len(sets)
        askers: dict[tuple[str, frozenset[str]], list[int]] = {}
        for i, (machine_type, group) in enumerate(sets):
            group = frozenset(group)
            if len(group) < 2:
                out[i] = dict.fromkeys(group, 1.0)  # alone: 1.0 by definition
                continue
            entry = self._cache.get_set(machine_type, group, quantile)
            if entry is None:
                askers.setdefault((machine_type, group), []).append(i)
            else:
                out[i] = entry
        for chunk in self._predicted_chunks(list(askers), quantile):
            for key in chunk:
                entry = self._cache.get_set(key[0], key[1], quantile)
                assert entry is not None  # just stored
                for i in askers[key]:
                    out[i] = entry
        return out  # type: ignore[return-value]

    def _predicted_chunks(
        self, sets: list[tuple[str, frozenset[str]]], quantile: float | None
    ) -> Iterator[list[tuple[str, frozenset[str]]]]:
        """``sets`` predicted and cached a chunk at a time, each chunk yielded to be read back.
        An insert evicts at most the oldest quarter of the cache, so a chunk no larger than the
        rest is still all there when read."""
        step = max(1, min(self._cache.max_sets - self._cache.max_sets // 4, BATCH_ROWS))
        for lo in range(0, len(sets), step):
            chunk = sets[lo : lo + step]
            self._predict_sets(chunk, quantile)
            yield chunk

    def _predict_sets(
        self, sets: Sequence[tuple[str, frozenset[str]]], quantile: float | None
    ) -> None:
        """Predict every member of each ``(machine_type, set)`` and cache the sets."""
        self._check_fitted()
        if not isinstance(self.estimator, ROW_INDEPENDENT):
            groups = [[s] for s in sets]
        else:
            groups, part, rows = [], [], 0
            for s in sets:
                if part and rows + len(s[1]) > BATCH_ROWS:
                    groups.append(part)
                    part, rows = [], 0
                part.append(s)
                rows += len(s[1])
            if part:
                groups.append(part)
        for group in groups:
            batch = [(member, members - {member}, machine_type)
                     for machine_type, members in group for member in sorted(members)]
            values = iter(self.predict_many(batch, quantile).tolist())
            for machine_type, members in group:
                self._cache.put(machine_type, members, quantile,
                                {member: next(values) for member in sorted(members)})

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
            self.kind, seed=self.seed, quantile=self.quantile, params=self.params,
            max_cached_sets=self._cache.max_sets,
        )
        twin.builder = self.builder.with_catalog(catalog)
        twin.estimator, twin.baseline, twin.info = self.estimator, self.baseline, dict(self.info)
        twin.pair_table, twin.measured_sets = self.pair_table, self.measured_sets
        if isinstance(catalog, Instance):
            twin.pair_table = self.pair_table.merged(PairTable.from_instance(catalog))
            twin.measured_sets = self.measured_sets.merged(MeasuredSets.from_instance(catalog))
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
        twin = SlowdownPredictor(self.kind, seed=self.seed, quantile=quantile, params=self.params,
                                 max_cached_sets=self._cache.max_sets)
        twin.builder, twin.estimator = self.builder, self.estimator
        twin.baseline, twin.info = self.baseline, dict(self.info)
        twin.pair_table, twin.measured_sets = self.pair_table, self.measured_sets
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
            "sets": self.measured_sets.to_list(),
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
            sets = state.get("sets", [])  # absent in older files: no novelty term
            if not isinstance(sets, list):
                raise TypeError("sets is not a list")
            pred.measured_sets = MeasuredSets.from_list(sets)
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
