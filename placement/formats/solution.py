"""The solution file (SPEC section 3). Every number in it comes from the one evaluator."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from placement.formats.schema_docs import describe_fields

StatusName = Literal["optimal", "feasible", "infeasible", "unknown"]


class _Described(BaseModel):
    """Every field's description in ``placement schema solution`` comes from one table."""

    model_config = ConfigDict(json_schema_extra=describe_fields)


class ReplicaFigures(_Described):
    model: str
    machine: str
    machine_type: str
    slowdown: float
    latency_ms: float
    slo_ms: float
    slo_met: bool


class MachineFigures(_Described):
    type: str
    replicas: list[str]
    used: dict[str, float]


class Summary(_Described):
    mean_degradation: float
    p99_degradation: float
    max_degradation: float
    total_added_latency_ms: float
    slo_violations: int
    machines_used: int
    cost_per_hour: float
    # a running cluster (SPEC section 9): counted moves and forced ones (off `down` machines)
    moves: int = 0
    forced_moves: int = 0


class Move(_Described):
    """A replica of ``current`` placed on another machine; ``forced`` when it left a ``down``
    machine (not counted against ``limits.max_moves``)."""

    model_config = ConfigDict(populate_by_name=True)
    replica: str
    from_: str = Field(alias="from")
    to: str
    forced: bool = False


class Solution(_Described):
    model_config = ConfigDict(extra="allow")

    instance: str
    solver: str
    status: StatusName
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solve_seconds: float = 0.0
    assignment: dict[str, str] = Field(default_factory=dict)
    replicas: dict[str, ReplicaFigures] = Field(default_factory=dict)
    machines: dict[str, MachineFigures] = Field(default_factory=dict)
    summary: Summary | None = None
    moves: list[Move] = Field(default_factory=list)
    diagnosis: list[str] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Solution:
        from placement.formats.instance import load_json_model

        return load_json_model(cls, path)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def save(self, path: str | Path) -> None:
        """Write the solution file (strict JSON, atomically); ``-`` writes to standard output.
        An unwritable path is an InputError naming it."""
        from placement.formats.files import check_output, write_json_atomic

        write_json_atomic(check_output(path, option="path"), self.dump())


class AssignmentFile(BaseModel):
    """What `placement evaluate` needs from a solution file: its assignment (anything else in
    the file is ignored, so a hand-written ``{"assignment": {...}}`` works too)."""

    model_config = ConfigDict(extra="allow")
    assignment: dict[str, str]
    solver: str = "evaluate"

    @classmethod
    def load(cls, path: str | Path) -> AssignmentFile:
        from placement.formats.instance import load_json_model

        return load_json_model(cls, path)
