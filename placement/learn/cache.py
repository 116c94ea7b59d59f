"""A bounded cache of predicted slowdowns, one entry per co-location set (SPEC section 12).

A solver asks for the slowdown of every member of a set (a machine configuration), and an exact
solver asks for tens of thousands of sets. The predictor answers a set's members together, so
the cache keeps them together: one entry per ``(machine type, set, quantile)`` holding every
member's slowdown. Memory must not grow with the number of sets tried, so the cache holds at
most ``max_sets`` entries; when full, the oldest quarter (insertion order) is dropped, which
costs O(1) amortized per insert and keeps the sets of the current enumeration chunk.

>>> cache = SetCache(max_sets=4)
>>> cache.put("t", frozenset({"a", "b"}), None, {"a": 1.2, "b": 1.1})
>>> cache.get("a", frozenset({"b"}), "t", None)
1.2
>>> cache.get("a", frozenset({"b"}), "t", 0.9) is None
True
"""

from __future__ import annotations

from itertools import islice

#: Default bound: about 100 bytes per member plus a frozenset per entry, so ~60 MB at most for
#: sets of 3-5 models; a 40x12 exact enumeration asks ~11k sets, an 80x24 one ~93k.
DEFAULT_MAX_SETS = 100_000

SetKey = tuple[str, frozenset[str], float | None]


class SetCache:
    """Predicted slowdowns per (machine type, set, quantile), at most ``max_sets`` sets."""

    def __init__(self, max_sets: int = DEFAULT_MAX_SETS):
        if max_sets < 1:
            raise ValueError(f"max_sets must be at least 1, got {max_sets}")
        self.max_sets = int(max_sets)
        self._entries: dict[SetKey, dict[str, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(
        self, target: str, co_runners: frozenset[str], machine_type: str, quantile: float | None
    ) -> float | None:
        """The cached slowdown of ``target`` in the set ``co_runners | {target}``, or None."""
        entry = self._entries.get((machine_type, co_runners | {target}, quantile))
        return None if entry is None else entry.get(target)

    def get_set(
        self, machine_type: str, group: frozenset[str], quantile: float | None
    ) -> dict[str, float] | None:
        """Every member's cached slowdown in the set ``group`` (member -> value), or None."""
        return self._entries.get((machine_type, group, quantile))

    def has_set(self, machine_type: str, group: frozenset[str], quantile: float | None) -> bool:
        return (machine_type, group, quantile) in self._entries

    def put(
        self,
        machine_type: str,
        group: frozenset[str],
        quantile: float | None,
        values: dict[str, float],
    ) -> None:
        """Store every member's slowdown of one set (evicting the oldest quarter when full)."""
        key = (machine_type, group, quantile)
        if key not in self._entries and len(self._entries) >= self.max_sets:
            drop = max(1, self.max_sets // 4)  # keeps the newest max_sets - drop sets
            for old in list(islice(self._entries, drop)):
                del self._entries[old]
        self._entries[key] = values
