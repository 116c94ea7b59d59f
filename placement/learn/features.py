"""Feature vectors for the unified slowdown predictor (SPEC section 8; docs/predictor.md).

One query is ``(target, co_runners, machine_type)``. The seed paper (Mendoza et al., EuroMLSys
2021) trains ONE predictor across machine types and co-location degrees; for that, every query
must map to a vector of the same length whatever the number of co-runners. So co-runners are
described by order-free aggregates (sum, max, count of missing values), never one slot per
co-runner, and the machine type by its hardware features plus a one-hot code that a neural
network turns into a learned embedding.

The builder has two halves, kept apart on purpose:

- the **layout** (which feature names exist, which machine types have a one-hot column), fixed
  when the predictor is fitted and saved with it, so a saved model always sees columns in the
  order it was trained on;
- the **catalog** (each model's features, requests and solo latencies, each machine type's
  features and capacity), which can be swapped for another instance's catalog
  (:meth:`FeatureBuilder.with_catalog`) so a fitted predictor can answer for new models and
  machine types described with the same feature names.

Every feature is listed in docs/predictor.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from placement.formats.errors import InputError
from placement.formats.files import read_json
from placement.formats.instance import Instance, validate_model
from placement.formats.measurements import Measurement

Query = tuple[str, frozenset[str], str]
"""``(target, co_runners, machine_type)``, the question every predictor answers."""


def catalog_dict(instance: Instance) -> dict[str, Any]:
    """The part of an instance a predictor reads, as plain JSON-able data (saved with it)."""
    return {
        "models": {
            m.name: {
                "features": dict(m.features),
                "requests": dict(m.requests),
                "latency_ms": dict(m.latency_ms),
            }
            for m in instance.models
        },
        "machine_types": {
            t.name: {"features": dict(t.features), "capacity": dict(t.capacity)}
            for t in instance.machine_types
        },
    }


def load_catalog(path: str | Path) -> Instance:
    """Read an instance file as a catalog: only its ``models`` and ``machine_types`` matter, so
    its interference data may be incomplete (``missing`` is read as ``"predict"``). Every other
    problem is an :class:`InputError` naming the file and the JSON path, as for instances."""
    source = str(path)
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("interference", {}), dict):
        data = {**data, "interference": {**data.get("interference", {}), "missing": "predict"}}
    return validate_model(Instance, data, source)


def merge_catalogs(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override``'s models and types replace ``base``'s of the same name; others are kept."""
    return {
        "models": {**base["models"], **override["models"]},
        "machine_types": {**base["machine_types"], **override["machine_types"]},
    }


def check_measurements(
    rows: Sequence[Measurement], catalog: dict[str, Any], source: str, catalog_source: str
) -> None:
    """Refuse measurements naming a model or machine type the catalog does not describe.

    Without the catalog entry the predictor has no features for the name, so a silent zero
    vector would teach it nonsense. Rows are numbered as CSV lines (header = line 1).
    """
    models, types = catalog["models"], catalog["machine_types"]
    problems: list[tuple[str, str]] = []
    for i, m in enumerate(rows):
        where = f"line {i + 2}"
        if m.machine_type not in types:
            problems.append(
                (f"{where}.machine_type",
                 f"unknown machine type {m.machine_type!r}: not in the catalog {catalog_source}")
            )
        for col, names in (("target", [m.target]), ("co_runners", sorted(m.co_runners))):
            for name in names:
                if name not in models:
                    problems.append(
                        (f"{where}.{col}",
                         f"unknown model {name!r}: not in the catalog {catalog_source}")
                    )
    if problems:
        raise InputError(source, problems)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else 0: a resource or feature the machine lacks adds no pressure
    ratio (capacity checks, not the predictor, keep such sets off the machine)."""
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass
class FeatureBuilder:
    """Turns queries into fixed-length feature rows. Build one with :meth:`from_catalog`."""

    model_keys: list[str]
    machine_keys: list[str]
    resources: list[str]
    type_vocab: list[str]
    catalog: dict[str, Any] = field(repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_catalog(
        cls, catalog: Instance | dict[str, Any], types_seen: Iterable[str] | None = None
    ) -> FeatureBuilder:
        """Layout from the catalog's feature names; one-hot columns for ``types_seen`` (the
        types in the training data: a type never seen in training gets an all-zero code and is
        predicted from its hardware features alone)."""
        cat = catalog_dict(catalog) if isinstance(catalog, Instance) else catalog
        model_keys = sorted({k for m in cat["models"].values() for k in m["features"]})
        machine_keys = sorted({k for t in cat["machine_types"].values() for k in t["features"]})
        resources = sorted(
            {k for t in cat["machine_types"].values() for k in t["capacity"]}
            | {k for m in cat["models"].values() for k in m["requests"]}
        )
        vocab = sorted(set(types_seen) if types_seen is not None else cat["machine_types"])
        return cls(model_keys, machine_keys, resources, vocab, cat)

    def layout(self) -> dict[str, list[str]]:
        return {
            "model_keys": list(self.model_keys),
            "machine_keys": list(self.machine_keys),
            "resources": list(self.resources),
            "type_vocab": list(self.type_vocab),
        }

    @classmethod
    def from_layout(cls, layout: dict[str, list[str]], catalog: dict[str, Any]) -> FeatureBuilder:
        return cls(
            list(layout["model_keys"]), list(layout["machine_keys"]), list(layout["resources"]),
            list(layout["type_vocab"]), catalog,
        )

    def with_catalog(self, catalog: Instance | dict[str, Any]) -> FeatureBuilder:
        """Same layout (so a fitted model still fits), models and types merged from ``catalog``."""
        cat = catalog_dict(catalog) if isinstance(catalog, Instance) else catalog
        return FeatureBuilder(
            self.model_keys, self.machine_keys, self.resources, self.type_vocab,
            merge_catalogs(self.catalog, cat),
        )

    # ------------------------------------------------------------------ names
    @property
    def shared_keys(self) -> list[str]:
        """Model features that share a name with a machine feature (``mem_bw_gbps``,
        ``llc_mb``): demand over supply of the same quantity, a pressure ratio."""
        machine = set(self.machine_keys)
        return [k for k in self.model_keys if k in machine]

    def feature_names(self) -> list[str]:
        names = ["degree", "n_co_runners"]
        for k in self.model_keys:
            names += [f"target.{k}", f"target.missing.{k}", f"co.sum.{k}", f"co.max.{k}",
                      f"co.missing.{k}", f"target_x_co.{k}"]
        for r in self.resources:
            names += [f"target.pressure.{r}", f"co.pressure_sum.{r}", f"co.pressure_max.{r}",
                      f"total.pressure.{r}"]
        for k in self.shared_keys:
            names += [f"target.ratio.{k}", f"co.ratio_sum.{k}", f"total.ratio.{k}"]
        names += ["target.log_solo_ms", "target.missing.solo_ms",
                  "co.sum.log_solo_ms", "co.max.log_solo_ms", "co.missing.solo_ms"]
        for g in self.machine_keys:
            names += [f"machine.{g}", f"machine.missing.{g}"]
        names += [f"machine.log_capacity.{r}" for r in self.resources]
        names += [f"type={t}" for t in self.type_vocab]
        return names

    # ------------------------------------------------------------------ vectors
    def _model(self, name: str) -> dict[str, Any]:
        try:
            return self.catalog["models"][name]
        except KeyError:
            raise KeyError(f"model {name!r} is not in the predictor's catalog") from None

    def _type(self, name: str) -> dict[str, Any]:
        try:
            return self.catalog["machine_types"][name]
        except KeyError:
            raise KeyError(f"machine type {name!r} is not in the predictor's catalog") from None

    def _model_vectors(self, name: str, machine_type: str) -> tuple[np.ndarray, ...]:
        m = self._model(name)
        feats = m["features"]
        values = np.array([float(feats.get(k, 0.0)) for k in self.model_keys])
        missing = np.array([0.0 if k in feats else 1.0 for k in self.model_keys])
        requests = np.array([float(m["requests"].get(r, 0.0)) for r in self.resources])
        solo = m["latency_ms"].get(machine_type)
        log_solo = math.log(solo) if solo else 0.0
        return values, missing, requests, np.array([log_solo, 0.0 if solo else 1.0])

    def row(self, target: str, co_runners: frozenset[str], machine_type: str) -> np.ndarray:
        """The feature vector of one query; its entries follow :meth:`feature_names`."""
        mt = self._type(machine_type)
        capacity = np.array([float(mt["capacity"].get(r, 0.0)) for r in self.resources])
        t_val, t_miss, t_req, t_solo = self._model_vectors(target, machine_type)
        co = [self._model_vectors(c, machine_type) for c in sorted(co_runners)]
        k, nk = len(co), len(self.model_keys)
        if co:
            c_val = np.array([c[0] for c in co]).reshape(k, nk)
            c_miss = np.array([c[1] for c in co]).reshape(k, nk)
            c_press = _ratio(np.array([c[2] for c in co]).reshape(k, len(self.resources)), capacity)
            c_solo = np.array([c[3] for c in co])
            co_sum, co_max, co_missing = c_val.sum(0), c_val.max(0), c_miss.sum(0)
            p_sum, p_max = c_press.sum(0), c_press.max(0)
            solo_known = c_solo[c_solo[:, 1] == 0.0, 0]
            solo_agg = [solo_known.sum(), solo_known.max() if solo_known.size else 0.0,
                        float(k - solo_known.size)]
        else:
            co_sum = co_max = co_missing = np.zeros(nk)
            p_sum = p_max = np.zeros(len(self.resources))
            solo_agg = [0.0, 0.0, 0.0]
        t_press = _ratio(t_req, capacity)
        parts: list[Any] = [[1.0 + k, float(k)]]
        per_key = np.stack([t_val, t_miss, co_sum, co_max, co_missing, t_val * co_sum], axis=1)
        parts.append(per_key.ravel())
        parts.append(np.stack([t_press, p_sum, p_max, t_press + p_sum], axis=1).ravel())
        if self.shared_keys:
            idx = [self.model_keys.index(s) for s in self.shared_keys]
            supply = np.array([float(mt["features"].get(s, 0.0)) for s in self.shared_keys])
            tr = _ratio(t_val[idx], supply)
            cr = _ratio(co_sum[idx], supply)
            parts.append(np.stack([tr, cr, tr + cr], axis=1).ravel())
        parts.append([t_solo[0], t_solo[1], *solo_agg])
        mf = mt["features"]
        parts.append(
            np.array([[float(mf.get(g, 0.0)), 0.0 if g in mf else 1.0]
                      for g in self.machine_keys]).ravel()
        )
        parts.append(np.log1p(capacity))
        parts.append([1.0 if t == machine_type else 0.0 for t in self.type_vocab])
        return np.concatenate([np.asarray(p, dtype=float).ravel() for p in parts])

    def matrix(self, queries: Iterable[Query]) -> np.ndarray:
        """Stacked rows, shape ``(n_queries, n_features)``."""
        rows = [self.row(t, c, m) for t, c, m in queries]
        if not rows:
            return np.zeros((0, len(self.feature_names())))
        return np.vstack(rows)


def queries_of(rows: Iterable[Measurement]) -> list[Query]:
    return [(m.target, m.co_runners, m.machine_type) for m in rows]


def query_strings(queries: Iterable[Query]) -> np.ndarray:
    """Queries as an object array ``(n, 3)`` of strings (type, target, ``;``-joined co-runners):
    the input of the identity-based ``additive`` baseline, which needs names, not features."""
    data = [[m, t, ";".join(sorted(c))] for t, c, m in queries]
    arr = np.empty((len(data), 3), dtype=object)
    for i, r in enumerate(data):
        arr[i] = r
    return arr


# ---------------------------------------------------------------------- measured pairs
PAIR_FEATURES: tuple[str, ...] = (
    "pair.add",            # 1 + sum over co-runners of (s(target, c) - 1): the additive composition
    "pair.log_add",
    "pair.log_mult",       # sum of log s(target, c): the multiplicative composition, in logs
    "pair.max",            # max s(target, c) - 1: the max composition (as degradation)
    "pair.min",
    "pair.sum_sq",         # sum of (s(target, c) - 1)^2: concentrated vs spread pressure
    "pair.rev_sum",        # sum of s(c, target) - 1: how hard the target hits its co-runners
    "pair.rev_max",
    "pair.mutual_sum",     # sum over ordered co-runner pairs of s(a, b) - 1: their mutual pressure
    "pair.mutual_max",
    "pair.mutual_mean",
    "pair.mutual_imputed",  # how many of those pairs were not measured (imputed)
    "pair.target_sens",    # mean s(target, x) - 1 over every measured partner x on the type
    "pair.co_aggr_sum",    # sum over co-runners of mean s(x, c) - 1 (how aggressive each is)
    "pair.co_aggr_max",
    "pair.n",              # number of co-runners
    "pair.covered",        # 1 if every s(target, c) was measured (else the row uses no pairs)
)


class PairTable:
    """Measured pairwise slowdowns ``s(target, other)`` per machine type, as features.

    The learned ``gbt-pairs`` predictor models a set's slowdown as a correction over the
    composition of the target's measured pairs with its co-runners (additive, multiplicative,
    max), informed by the co-runners' mutual pressure and by how sensitive / aggressive each
    model is across all its measured pairs on the type. A query whose target pairs are not all
    measured is *uncovered* (``pair.covered`` = 0, every other pair feature 0): the predictor
    then falls back to the feature-only model.

    Keys are ``(machine_type, target, other)``; values are slowdowns clipped at 1.
    """

    def __init__(self, pairs: dict[tuple[str, str, str], float] | None = None):
        self.pairs: dict[tuple[str, str, str], float] = {
            k: max(1.0, float(v)) for k, v in (pairs or {}).items()
        }
        sens: dict[tuple[str, str], list[float]] = {}
        aggr: dict[tuple[str, str], list[float]] = {}
        cross: dict[tuple[str, str], list[float]] = {}
        for (mt, a, b), v in self.pairs.items():
            sens.setdefault((mt, a), []).append(v - 1.0)
            aggr.setdefault((mt, b), []).append(v - 1.0)
            cross.setdefault((a, b), []).append(v - 1.0)
        self._sens = {k: float(np.mean(v)) for k, v in sens.items()}
        self._aggr = {k: float(np.mean(v)) for k, v in aggr.items()}
        self._cross = {k: float(np.mean(v)) for k, v in cross.items()}
        per_type: dict[str, list[float]] = {}
        for (mt, _, _), v in self.pairs.items():
            per_type.setdefault(mt, []).append(v - 1.0)
        self._type_mean = {k: float(np.mean(v)) for k, v in per_type.items()}
        self._mean = float(np.mean([v - 1.0 for v in self.pairs.values()])) if self.pairs else 0.0

    def __len__(self) -> int:
        return len(self.pairs)

    @classmethod
    def from_measurements(cls, rows: Iterable[Measurement]) -> PairTable:
        """Mean measured slowdown of every (type, target, other) measured as a pair."""
        acc: dict[tuple[str, str, str], list[float]] = {}
        for m in rows:
            if len(m.co_runners) == 1:
                (other,) = m.co_runners
                acc.setdefault((m.machine_type, m.target, other), []).append(
                    max(1.0, m.slowdown)
                )
        return cls({k: float(np.mean(v)) for k, v in acc.items()})

    @classmethod
    def from_instance(cls, instance: Instance) -> PairTable:
        """The instance's own pairwise entries (and set-wise entries with one co-runner)."""
        pairs: dict[tuple[str, str, str], float] = {}
        for e in instance.interference.setwise:
            if len(e.with_) == 1:
                pairs[(e.machine_type, e.target, e.with_[0])] = e.slowdown
        for e in instance.interference.pairwise:
            pairs[(e.machine_type, e.target, e.with_)] = e.slowdown
        return cls(pairs)

    def merged(self, override: PairTable) -> PairTable:
        """This table with ``override``'s entries replacing or adding to it."""
        return PairTable({**self.pairs, **override.pairs})

    def to_dict(self) -> dict[str, float]:
        """JSON/skops-friendly form: ``"type\\ttarget\\tother" -> slowdown``."""
        return {"\t".join(k): v for k, v in self.pairs.items()}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> PairTable:
        out: dict[tuple[str, str, str], float] = {}
        for k, v in data.items():
            mt, a, b = str(k).split("\t")
            out[(mt, a, b)] = float(v)
        return cls(out)

    def _imputed(self, mt: str, a: str, b: str) -> float:
        """Degradation of an unmeasured pair: the same pair on other types, else how aggressive
        ``b`` is on this type, else the type's (then the overall) mean pair degradation."""
        v = self._cross.get((a, b))
        if v is None:
            v = self._aggr.get((mt, b))
        if v is None:
            v = self._type_mean.get(mt, self._mean)
        return v

    def covers(self, target: str, co_runners: Iterable[str], machine_type: str) -> bool:
        return all((machine_type, target, c) in self.pairs for c in co_runners)

    def row(self, target: str, co_runners: frozenset[str], machine_type: str) -> np.ndarray:
        """The :data:`PAIR_FEATURES` of one query (all 0 when uncovered or without co-runners)."""
        out = np.zeros(len(PAIR_FEATURES))
        co = sorted(co_runners)
        if not co or not self.covers(target, co, machine_type):
            return out
        p = self.pairs
        d = np.array([p[(machine_type, target, c)] - 1.0 for c in co])
        rev = np.array([
            p.get((machine_type, c, target), 1.0 + self._imputed(machine_type, c, target)) - 1.0
            for c in co
        ])
        mutual: list[float] = []
        imputed = 0
        for a in co:
            for b in co:
                if a == b:
                    continue
                v = p.get((machine_type, a, b))
                if v is None:
                    imputed += 1
                    mutual.append(self._imputed(machine_type, a, b))
                else:
                    mutual.append(v - 1.0)
        aggr = np.array([self._aggr.get((machine_type, c), 0.0) for c in co])
        add = 1.0 + d.sum()
        out[:] = [
            add, math.log(add), float(np.log1p(d).sum()), d.max(), d.min(), float((d * d).sum()),
            rev.sum(), rev.max(),
            sum(mutual), max(mutual, default=0.0),
            float(np.mean(mutual)) if mutual else 0.0, float(imputed),
            self._sens.get((machine_type, target), 0.0), aggr.sum(), aggr.max(),
            float(len(co)), 1.0,
        ]
        return out

    def matrix(self, queries: Iterable[Query]) -> np.ndarray:
        rows = [self.row(t, c, m) for t, c, m in queries]
        if not rows:
            return np.zeros((0, len(PAIR_FEATURES)))
        return np.vstack(rows)
