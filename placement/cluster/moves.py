"""The one definition of a move (SPEC section 9), used by the evaluator, `diff` and the
simulator alike.

A move is a replica of ``current`` that the assignment puts on another machine. Moves off a
``down`` machine are forced and not counted against ``limits.max_moves``; every other move is
counted. Replicas that are not in ``current`` (new models, new replicas) are placed freely,
and ``current`` entries for replicas the instance no longer has are departures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from placement.formats.instance import Instance
from placement.formats.solution import Move, Solution


@dataclass(frozen=True)
class MoveCount:
    """The moves of an assignment relative to ``current``, with the two counts SPEC names."""

    moves: tuple[Move, ...]
    departed: tuple[str, ...]

    @property
    def counted(self) -> int:
        return sum(1 for m in self.moves if not m.forced)

    @property
    def forced(self) -> int:
        return sum(1 for m in self.moves if m.forced)


def count_moves(
    instance: Instance, assignment: Mapping[str, str], current: Mapping[str, str] | None = None
) -> MoveCount:
    """The moves from ``current`` (default: the instance's own) to ``assignment``.

    A replica of ``current`` that ``assignment`` leaves unplaced is not a move (the solution
    then is not a placement at all). Moves are listed in the instance's replica order.

    >>> from placement.formats.instance import Instance
    >>> inst = Instance.model_validate({
    ...     "machine_types": [{"name": "t", "capacity": {"vcpus": 4}}],
    ...     "machines": [{"id": "a", "type": "t", "state": "down"}, {"id": "b", "type": "t"}],
    ...     "models": [{"name": "m", "requests": {"vcpus": 1}, "slo_ms": 9,
    ...                 "latency_ms": {"t": 1}, "replicas": 2}],
    ...     "current": {"m#0": "a", "m#1": "b", "old#0": "b"}})
    >>> found = count_moves(inst, {"m#0": "b", "m#1": "a"})
    >>> [(m.replica, m.forced) for m in found.moves], found.counted, found.departed
    ([('m#0', True), ('m#1', False)], 1, ('old#0',))
    """
    if current is None:
        current = instance.current
    down = {r.id for r in instance.machine_records() if r.state == "down"}
    live = [rid for rid, _ in instance.replica_ids()]
    live_set = set(live)
    moves = []
    for rid in live:
        before, after = current.get(rid), assignment.get(rid)
        if before is None or after is None or before == after:
            continue
        moves.append(Move(replica=rid, from_=before, to=after, forced=before in down))
    departed = tuple(rid for rid in current if rid not in live_set)
    return MoveCount(tuple(moves), departed)


def with_moves(solution: Solution, instance: Instance) -> Solution:
    """``solution`` with its moves listed and counted, the move penalty in its objective and
    departed replicas in ``info.departed`` (in place; returned for chaining). A no-op for an
    instance without ``current``."""
    if not instance.current:
        return solution
    found = count_moves(instance, solution.assignment)
    if found.departed:
        solution.info["departed"] = list(found.departed)
    if not solution.assignment:
        return solution
    solution.moves = list(found.moves)
    if solution.summary is not None:
        solution.summary.moves = found.counted
        solution.summary.forced_moves = found.forced
    penalty = instance.objective.move_penalty
    if solution.objective is not None and penalty:
        solution.objective += penalty * found.counted
    return solution
