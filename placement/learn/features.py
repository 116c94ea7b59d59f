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
    _tables: dict[str, _TypeTable] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

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
    def _type_table(self, machine_type: str) -> _TypeTable:
        """The per-model arrays of one machine type, built once per builder (a builder's
        catalog never changes: :meth:`with_catalog` makes a new builder)."""
        table = self._tables.get(machine_type)
        if table is None:
            try:
                mt = self.catalog["machine_types"][machine_type]
            except KeyError:
                raise KeyError(
                    f"machine type {machine_type!r} is not in the predictor's catalog"
                ) from None
            table = _TypeTable.build(self, machine_type, mt)
            self._tables[machine_type] = table
        return table

    def row(self, target: str, co_runners: frozenset[str], machine_type: str) -> np.ndarray:
        """The feature vector of one query; its entries follow :meth:`feature_names`. It is
        :meth:`matrix` of that one query, so one question and a batch get the same floats."""
        return self.matrix([(target, frozenset(co_runners), machine_type)])[0]

    def matrix(self, queries: Iterable[Query]) -> np.ndarray:
        """Stacked rows, shape ``(n_queries, n_features)``, built as arrays in one pass per
        machine type. Each row's arithmetic depends on that row alone (co-runner sums are
        accumulated in sorted-name order, one co-runner slot at a time), never on the batch."""
        queries = list(queries)
        out = np.zeros((len(queries), len(self.feature_names())))
        by_type: dict[str, list[int]] = {}
        for i, (_, _, machine_type) in enumerate(queries):
            by_type.setdefault(machine_type, []).append(i)
        for machine_type, rows in by_type.items():
            out[rows] = self._type_matrix(self._type_table(machine_type),
                                          [queries[i] for i in rows])
        return out

    def _type_matrix(self, table: _TypeTable, queries: Sequence[Query]) -> np.ndarray:
        target, co, n_co = table.indices(queries)
        valid = co < table.pad
        values, missing, pressure = table.values, table.missing, table.pressure
        t_val, t_miss, t_press = values[target], missing[target], pressure[target]
        co_sum, co_missing = _slot_sum(values, co), _slot_sum(missing, co)
        p_sum = _slot_sum(pressure, co)
        co_max, p_max = _slot_max(values, co, valid), _slot_max(pressure, co, valid)
        known = valid & table.solo_known[co]
        log_solo = np.where(known, table.log_solo[co], 0.0)
        solo_sum = np.zeros(len(queries))
        for j in range(co.shape[1]):
            solo_sum = solo_sum + log_solo[:, j]
        n_known = known.sum(axis=1)
        highest = np.where(known, log_solo, -np.inf).max(axis=1, initial=-np.inf)
        solo_max = np.where(n_known > 0, highest, 0.0)
        k = n_co.astype(float)
        n = len(queries)
        parts: list[np.ndarray] = [np.column_stack([1.0 + k, k])]
        parts.append(np.stack([t_val, t_miss, co_sum, co_max, co_missing, t_val * co_sum],
                              axis=2).reshape(n, -1))
        parts.append(np.stack([t_press, p_sum, p_max, t_press + p_sum], axis=2).reshape(n, -1))
        if table.shared.size:
            tr = _ratio(t_val[:, table.shared], table.supply)
            cr = _ratio(co_sum[:, table.shared], table.supply)
            parts.append(np.stack([tr, cr, tr + cr], axis=2).reshape(n, -1))
        t_solo = np.where(table.solo_known[target], table.log_solo[target], 0.0)
        parts.append(np.column_stack([
            t_solo, np.where(table.solo_known[target], 0.0, 1.0),
            solo_sum, solo_max, (n_co - n_known).astype(float),
        ]))
        parts.append(np.broadcast_to(table.tail, (n, table.tail.size)))
        return np.concatenate(parts, axis=1)


def _slot_sum(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Sum over co-runner slots of ``table[index]``, one slot at a time in slot order (the
    padding row is zeros): a row's sum never depends on which rows share its batch."""
    total = np.zeros((index.shape[0], table.shape[1]))
    for j in range(index.shape[1]):
        total = total + table[index[:, j]]
    return total


def _slot_max(table: np.ndarray, index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Max over the real co-runner slots of ``table[index]``; 0 for a row without any."""
    if index.shape[1] == 0:
        return np.zeros((index.shape[0], table.shape[1]))
    gathered = np.where(valid[:, :, None], table[index], -np.inf).max(axis=1)
    return np.where(valid.any(axis=1)[:, None], gathered, 0.0)


@dataclass(frozen=True)
class _TypeTable:
    """One machine type's view of the catalog as arrays indexed by model (row ``pad`` is a
    zero row: the padding of a short co-runner list), so a batch of queries gathers rows
    instead of reading dictionaries per query."""

    model_index: dict[str, int]
    values: np.ndarray  # [M + 1, model keys] feature values, 0 when absent
    missing: np.ndarray  # [M + 1, model keys] 1 when absent
    pressure: np.ndarray  # [M + 1, resources] request / the type's capacity
    log_solo: np.ndarray  # [M + 1] log solo latency on the type (0 when unknown)
    solo_known: np.ndarray  # [M + 1] bool
    shared: np.ndarray  # indices of the shared keys among the model keys
    supply: np.ndarray  # the type's value of each shared key
    tail: np.ndarray  # machine features and indicators, log capacities, the type one-hot

    @property
    def pad(self) -> int:
        return len(self.model_index)

    @classmethod
    def build(cls, builder: FeatureBuilder, name: str, machine: dict[str, Any]) -> _TypeTable:
        models = builder.catalog["models"]
        names = list(models)
        keys, resources = builder.model_keys, builder.resources
        capacity = np.array([float(machine["capacity"].get(r, 0.0)) for r in resources])
        values = np.zeros((len(names) + 1, len(keys)))
        missing = np.zeros((len(names) + 1, len(keys)))
        requests = np.zeros((len(names) + 1, len(resources)))
        log_solo = np.zeros(len(names) + 1)
        solo_known = np.zeros(len(names) + 1, dtype=bool)
        for i, model_name in enumerate(names):
            m = models[model_name]
            feats = m["features"]
            values[i] = [float(feats.get(k, 0.0)) for k in keys]
            missing[i] = [0.0 if k in feats else 1.0 for k in keys]
            requests[i] = [float(m["requests"].get(r, 0.0)) for r in resources]
            solo = m["latency_ms"].get(name)
            if solo:  # 0 or absent: unknown (as a log it would be meaningless)
                log_solo[i], solo_known[i] = math.log(solo), True
        pressure = _ratio(requests, capacity)
        pressure[-1] = 0.0
        shared = builder.shared_keys
        mf = machine["features"]
        tail = np.concatenate([
            np.array([[float(mf.get(g, 0.0)), 0.0 if g in mf else 1.0]
                      for g in builder.machine_keys]).ravel(),
            np.log1p(capacity),
            [1.0 if t == name else 0.0 for t in builder.type_vocab],
        ])
        return cls(
            model_index={n: i for i, n in enumerate(names)},
            values=values, missing=missing, pressure=pressure,
            log_solo=log_solo, solo_known=solo_known,
            shared=np.array([keys.index(s) for s in shared], dtype=np.int64),
            supply=np.array([float(mf.get(s, 0.0)) for s in shared]),
            tail=tail,
        )

    def indices(self, queries: Sequence[Query]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Target index [n], co-runner indices [n, most co-runners] in sorted-name order
        (padded with ``pad``), and the number of co-runners [n]."""
        index = self.model_index
        width = max((len(c) for _, c, _ in queries), default=0)
        target = np.empty(len(queries), dtype=np.int64)
        co = np.full((len(queries), width), self.pad, dtype=np.int64)
        n_co = np.zeros(len(queries), dtype=np.int64)
        try:
            for i, (t, c, _) in enumerate(queries):
                target[i] = index[t]
                members = [index[name] for name in sorted(c)]
                co[i, : len(members)] = members
                n_co[i] = len(members)
        except KeyError as exc:
            raise KeyError(f"model {exc.args[0]!r} is not in the predictor's catalog") from None
        return target, co, n_co


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
        self._arrays: dict[str, _PairArrays] = {}

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

    def _type_pairs(self, machine_type: str) -> _PairArrays:
        """The measured pairs of one type as dense arrays (built once: a table never changes,
        :meth:`merged` makes a new one)."""
        arrays = self._arrays.get(machine_type)
        if arrays is None:
            arrays = _PairArrays.build(self, machine_type)
            self._arrays[machine_type] = arrays
        return arrays

    def row(self, target: str, co_runners: frozenset[str], machine_type: str) -> np.ndarray:
        """The :data:`PAIR_FEATURES` of one query (all 0 when uncovered or without co-runners);
        :meth:`matrix` of that one query, so one question and a batch get the same floats."""
        return self.matrix([(target, frozenset(co_runners), machine_type)])[0]

    def matrix(self, queries: Iterable[Query]) -> np.ndarray:
        """:data:`PAIR_FEATURES` rows, shape ``(n_queries, len(PAIR_FEATURES))``, as arrays in
        one pass per machine type; each row's arithmetic depends on that row alone."""
        queries = list(queries)
        out = np.zeros((len(queries), len(PAIR_FEATURES)))
        by_type: dict[str, list[int]] = {}
        for i, (_, _, machine_type) in enumerate(queries):
            by_type.setdefault(machine_type, []).append(i)
        for machine_type, rows in by_type.items():
            arrays = self._type_pairs(machine_type)
            found = arrays.indices([queries[i] for i in rows])
            if found is not None:
                where, target, co = found
                out[np.asarray(rows)[where]] = arrays.features(target, co)
        return out


@dataclass(frozen=True)
class _PairArrays:
    """One machine type's measured pairs as dense arrays over the models it has pairs for
    (index ``pad``: padding of a short co-runner list, all zeros)."""

    model_index: dict[str, int]
    measured: np.ndarray  # [n + 1, n + 1] bool: s(a, b) was measured
    degradation: np.ndarray  # [n + 1, n + 1] s(a, b) - 1 where measured
    reverse: np.ndarray  # [n + 1, n + 1] s(a, b) - 1, or the imputed value where unmeasured
    mutual: np.ndarray  # [n + 1, n + 1] degradation where measured, else the imputed value
    sensitivity: np.ndarray  # [n + 1] mean s(a, x) - 1 over measured partners x
    aggression: np.ndarray  # [n + 1] mean s(x, b) - 1 over measured partners x

    @property
    def pad(self) -> int:
        return len(self.model_index)

    @classmethod
    def build(cls, table: PairTable, machine_type: str) -> _PairArrays:
        names = sorted({name for (mt, a, b) in table.pairs if mt == machine_type
                        for name in (a, b)})
        index = {name: i for i, name in enumerate(names)}
        n = len(names)
        slowdown = np.ones((n + 1, n + 1))
        measured = np.zeros((n + 1, n + 1), dtype=bool)
        for (mt, a, b), v in table.pairs.items():
            if mt == machine_type:
                slowdown[index[a], index[b]], measured[index[a], index[b]] = v, True
        imputed = np.zeros((n + 1, n + 1))
        for a, i in index.items():
            for b, j in index.items():
                if i != j and not measured[i, j]:
                    imputed[i, j] = table._imputed(machine_type, a, b)
        degradation = np.where(measured, slowdown - 1.0, 0.0)
        sens = np.zeros(n + 1)
        aggr = np.zeros(n + 1)
        for name, i in index.items():
            sens[i] = table._sens.get((machine_type, name), 0.0)
            aggr[i] = table._aggr.get((machine_type, name), 0.0)
        return cls(
            model_index=index, measured=measured, degradation=degradation,
            reverse=np.where(measured, slowdown, 1.0 + imputed) - 1.0,
            mutual=np.where(measured, degradation, imputed),
            sensitivity=sens, aggression=aggr,
        )

    def indices(
        self, queries: Sequence[Query]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The covered queries (every ``s(target, c)`` measured, at least one co-runner): their
        positions in ``queries``, target indices and co-runner indices in sorted-name order
        (padded with ``pad``); None when no query is covered."""
        index = self.model_index
        where: list[int] = []
        targets: list[int] = []
        lists: list[list[int]] = []
        for i, (target, co_runners, _) in enumerate(queries):
            t = index.get(target)
            if t is None or not co_runners:
                continue
            members = [index.get(c) for c in sorted(co_runners)]
            if any(c is None or not self.measured[t, c] for c in members):
                continue
            where.append(i)
            targets.append(t)
            lists.append(members)  # type: ignore[arg-type]
        if not where:
            return None
        co = np.full((len(where), max(len(m) for m in lists)), self.pad, dtype=np.int64)
        for row, members in enumerate(lists):
            co[row, : len(members)] = members
        return np.asarray(where), np.asarray(targets, dtype=np.int64), co

    def features(self, target: np.ndarray, co: np.ndarray) -> np.ndarray:
        """The :data:`PAIR_FEATURES` of covered queries. Sums run one co-runner slot (or one
        ordered co-runner pair) at a time in sorted-name order, padding adding 0."""
        n, width = co.shape
        valid = co < self.pad
        count = valid.sum(axis=1).astype(float)
        d = self.degradation[target[:, None], co]  # 0 on padding
        rev = np.where(valid, self.reverse[co, target[:, None]], 0.0)
        aggr = self.aggression[co]
        d_sum, log_mult, sq_sum = np.zeros(n), np.zeros(n), np.zeros(n)
        rev_sum, aggr_sum = np.zeros(n), np.zeros(n)
        for j in range(width):
            d_sum = d_sum + d[:, j]
            log_mult = log_mult + np.log1p(d[:, j])
            sq_sum = sq_sum + d[:, j] * d[:, j]
            rev_sum = rev_sum + rev[:, j]
            aggr_sum = aggr_sum + aggr[:, j]
        mutual_sum, mutual_max = np.zeros(n), np.full(n, -np.inf)
        n_imputed, n_mutual = np.zeros(n), np.zeros(n)
        for a in range(width):
            for b in range(width):
                if a == b:
                    continue
                both = valid[:, a] & valid[:, b]
                value = np.where(both, self.mutual[co[:, a], co[:, b]], 0.0)
                mutual_sum = mutual_sum + value
                mutual_max = np.where(both, np.maximum(mutual_max, value), mutual_max)
                n_imputed = n_imputed + (both & ~self.measured[co[:, a], co[:, b]])
                n_mutual = n_mutual + both
        has_mutual = n_mutual > 0
        add = 1.0 + d_sum
        return np.column_stack([
            add, np.log(add), log_mult,
            np.where(valid, d, -np.inf).max(axis=1), np.where(valid, d, np.inf).min(axis=1),
            sq_sum, rev_sum, np.where(valid, rev, -np.inf).max(axis=1),
            mutual_sum, np.where(has_mutual, mutual_max, 0.0),
            np.divide(mutual_sum, n_mutual, out=np.zeros(n), where=has_mutual), n_imputed,
            self.sensitivity[target], aggr_sum, np.where(valid, aggr, -np.inf).max(axis=1),
            count, np.ones(n),
        ])
