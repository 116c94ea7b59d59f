"""How far a query's co-location set is from every set the predictor was trained on.

Robust placement (``solve --quantile Q``) widens the predictor's interval where it has seen
nothing similar: the optimizer should not trust a prediction for a set unlike any measured one
as much as one for a set it measured (issue 12: the optimizer otherwise steers towards the
predictor's errors). The distance used is the Jaccard distance between the query's set
``{target} | co_runners`` and the nearest measured set of degree >= 3 on the same machine type:
0 for a measured set, 0.25 for a 4-set sharing 3 models with a measured 4-set, 1 when the type
has no measured set sharing a model with it. Pairs are not scored here (they are measured and
composed exactly; see :mod:`placement.learn.predictor` for unmeasured ones).

>>> sets = MeasuredSets([("t", frozenset({"a", "b", "c"}))])
>>> sets.distance([("a", frozenset({"b", "c"}), "t"), ("a", frozenset({"b", "d"}), "t"),
...                ("a", frozenset({"b", "c"}), "other")]).tolist()
[0.0, 0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.learn.features import Query

MIN_SET_SIZE = 3


class MeasuredSets:
    """Measured co-location sets (degree >= 3) per machine type."""

    def __init__(self, sets: Iterable[tuple[str, frozenset[str]]] = ()):
        self.sets: set[tuple[str, frozenset[str]]] = {
            (str(t), frozenset(g)) for t, g in sets if len(g) >= MIN_SET_SIZE
        }
        self._arrays: dict[str, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.sets)

    @classmethod
    def from_measurements(cls, rows: Iterable[Measurement]) -> MeasuredSets:
        return cls((m.machine_type, m.co_runners | {m.target}) for m in rows)

    @classmethod
    def from_instance(cls, instance: Instance) -> MeasuredSets:
        """The instance's set-wise entries (measured sets of its own)."""
        return cls(
            (e.machine_type, frozenset(e.with_) | {e.target}) for e in instance.interference.setwise
        )

    def merged(self, other: MeasuredSets) -> MeasuredSets:
        return MeasuredSets(self.sets | other.sets)

    def to_list(self) -> list[str]:
        """File form: ``"type\\tm1;m2;m3"``, sorted."""
        return sorted(f"{t}\t{';'.join(sorted(g))}" for t, g in self.sets)

    @classmethod
    def from_list(cls, items: Iterable[str]) -> MeasuredSets:
        out = []
        for item in items:
            machine_type, members = str(item).split("\t")
            out.append((machine_type, frozenset(members.split(";"))))
        return cls(out)

    def _type_arrays(self, machine_type: str) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """Name index, membership matrix [sets, names] (int) and set sizes of one type."""
        arrays = self._arrays.get(machine_type)
        if arrays is None:
            groups = sorted((sorted(g) for t, g in self.sets if t == machine_type))
            names = sorted({n for g in groups for n in g})
            index = {n: i for i, n in enumerate(names)}
            member = np.zeros((len(groups), len(names)), dtype=np.int64)
            for row, g in enumerate(groups):
                member[row, [index[n] for n in g]] = 1
            arrays = (index, member, member.sum(axis=1))
            self._arrays[machine_type] = arrays
        return arrays

    def distance(self, queries: Sequence[Query]) -> np.ndarray:
        """Jaccard distance of each query's set to the nearest measured set of its type (in
        [0, 1]; integer counts, so a query's distance never depends on its batch)."""
        out = np.ones(len(queries))
        by_type: dict[str, list[int]] = {}
        for i, (_, _, machine_type) in enumerate(queries):
            by_type.setdefault(machine_type, []).append(i)
        for machine_type, rows in by_type.items():
            index, member, size = self._type_arrays(machine_type)
            if not len(size):
                continue
            query = np.zeros((len(rows), len(index)), dtype=np.int64)
            query_size = np.zeros(len(rows), dtype=np.int64)
            for r, i in enumerate(rows):
                target, co_runners, _ = queries[i]
                group = co_runners | {target}
                query_size[r] = len(group)
                known = [index[n] for n in group if n in index]
                query[r, known] = 1
            common = query @ member.T  # [queries, sets]
            union = query_size[:, None] + size[None, :] - common
            out[rows] = 1.0 - (common / union).max(axis=1)
        return out
