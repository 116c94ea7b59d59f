"""The trace file (SPEC section 9): a cluster and what happens to it, event by event.

```json
{"instance": { ... an instance file ... },
 "events": [{"at": 0.0, "arrive": { ... a models[] entry ... }, "interference": {...}},
            {"at": 5.0, "depart": "bert-base"},
            {"at": 9.0, "scale": {"model": "resnet50", "replicas": 3}},
            {"at": 12.0, "down": "c5.2xlarge/1"}, {"at": 20.0, "up": "c5.2xlarge/1"},
            {"at": 30.0, "load": {"model": "resnet50", "factor": 1.5}}]}
```

Each event holds ``at`` and exactly one change. An arriving model brings the interference
entries that involve it in the event's ``interference`` (beside ``arrive``, since a models[]
entry has no such field). This module checks the file's shape; whether every event makes sense
where it happens (a departing model exists, an arriving model's pairs are all there) is
checked by replaying the events: :func:`placement.cluster.events.load_trace`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from placement.formats.errors import CrossCheckError
from placement.formats.instance import Instance, Model, PairwiseEntry, SetwiseEntry, load_json_model
from placement.formats.limits import Name

#: The kinds of change an event may hold, exactly one per event.
EVENT_KINDS = ("arrive", "depart", "scale", "down", "up", "load")
#: Times are seconds (or any unit) from the trace's start; a bound keeps them computable.
MAX_TIME = 1e12


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArrivalInterference(_Strict):
    """Interference entries an arriving model brings (those that involve it)."""

    pairwise: list[PairwiseEntry] = Field(default_factory=list)
    setwise: list[SetwiseEntry] = Field(default_factory=list)


class Scale(_Strict):
    model: Name
    replicas: Annotated[int, Field(ge=1, le=1_000_000)]


class LoadChange(_Strict):
    """``factor`` scales the model's requests relative to those at the start of the trace (or
    at its arrival): its traffic changed."""

    model: Name
    factor: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]


class Event(_Strict):
    at: Annotated[float, Field(ge=0, le=MAX_TIME, allow_inf_nan=False)]
    arrive: Model | None = None
    interference: ArrivalInterference | None = None
    depart: Name | None = None
    scale: Scale | None = None
    down: Name | None = None
    up: Name | None = None
    load: LoadChange | None = None

    @model_validator(mode="after")
    def _exactly_one_change(self) -> Event:
        given = [k for k in EVENT_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"expected exactly one of {', '.join(EVENT_KINDS)} (got "
                f"{', '.join(given) if given else 'none'})"
            )
        if self.interference is not None and self.arrive is None:
            raise ValueError('"interference" belongs to an "arrive" event only')
        return self

    @property
    def kind(self) -> str:
        """Which change the event holds: one of :data:`EVENT_KINDS`."""
        return next(k for k in EVENT_KINDS if getattr(self, k) is not None)

    def dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if data.get("arrive", {}).get("avoid") == []:
            del data["arrive"]["avoid"]  # written as an instance's models[] entry would be
        return data


class Trace(_Strict):
    """A cluster (``instance``, possibly with ``current``) and its events in time order."""

    instance: Instance
    events: list[Event] = Field(default_factory=list)

    @model_validator(mode="after")
    def _in_time_order(self) -> Trace:
        problems = [
            (f"events[{i}].at", f"{b.at} is before the previous event's {a.at}; expected "
                                "events in time order")
            for i, (a, b) in enumerate(zip(self.events, self.events[1:], strict=False), start=1)
            if b.at < a.at
        ]
        if problems:
            raise CrossCheckError(problems)
        return self

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace and check its shape (events are replayed by
        :func:`placement.cluster.events.load_trace`)."""
        return load_json_model(cls, path)

    def dump(self) -> dict[str, Any]:
        return {"instance": self.instance.dump(), "events": [e.dump() for e in self.events]}
