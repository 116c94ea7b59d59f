"""Two placements of one instance side by side (``placement diff``): the moves that turn the
first into the second, and the change of every summary figure. Moves are counted by the one
definition in :mod:`placement.cluster.moves`, with the first placement as ``current``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from placement.cluster.moves import MoveCount, count_moves
from placement.evaluate import evaluate
from placement.formats.instance import Instance
from placement.formats.solution import Solution, Summary


@dataclass(frozen=True)
class SolutionDiff:
    """What changes from placement ``a`` to placement ``b``."""

    a: Solution
    b: Solution
    moves: MoveCount
    new_in_b: tuple[str, ...]  # replicas b places that a did not
    unplaced_in_b: tuple[str, ...]  # replicas of the instance a places and b does not

    def figures(self) -> list[tuple[str, float | None, float | None]]:
        """``(figure, value in a, value in b)`` for the objective and every summary figure."""
        rows: list[tuple[str, float | None, float | None]] = [
            ("objective", self.a.objective, self.b.objective)
        ]
        for name in Summary.model_fields:
            rows.append((name, _figure(self.a, name), _figure(self.b, name)))
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "instance": self.a.instance,
            "status": {"a": self.a.status, "b": self.b.status},
            "moves": [m.model_dump(mode="json", by_alias=True) for m in self.moves.moves],
            "counted_moves": self.moves.counted,
            "forced_moves": self.moves.forced,
            "departed": list(self.moves.departed),
            "new_in_b": list(self.new_in_b),
            "unplaced_in_b": list(self.unplaced_in_b),
            "figures": {
                name: {"a": a, "b": b, "change": _change(a, b)}
                for name, a, b in self.figures()
            },
        }


def diff_solutions(
    instance: Instance, a: Mapping[str, str], b: Mapping[str, str]
) -> SolutionDiff:
    """Compare assignments ``a`` and ``b`` (replica id -> machine id) on ``instance``.

    Both are evaluated on the instance as it is (its own ``current``, if any, counts their
    ``summary.moves``); the moves listed are those from ``a`` to ``b``. Replicas of ``a`` the
    instance no longer has are departures. Raises
    :class:`~placement.evaluate.AssignmentError` for unknown machines or replicas of ``b``.
    """
    live = {rid for rid, _ in instance.replica_ids()}
    sol_a = evaluate(instance, {r: m for r, m in a.items() if r in live})
    sol_b = evaluate(instance, b)
    moves = count_moves(instance, b, current=a)
    return SolutionDiff(
        a=sol_a,
        b=sol_b,
        moves=moves,
        new_in_b=tuple(r for r in b if r not in a),
        unplaced_in_b=tuple(r for r in a if r in live and r not in b),
    )


def _figure(solution: Solution, name: str) -> float | None:
    return None if solution.summary is None else float(getattr(solution.summary, name))


def _change(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a
