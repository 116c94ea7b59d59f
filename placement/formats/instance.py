"""The instance file (SPEC section 2) as pydantic v2 models, with every cross-field check.

Unknown fields are refused (``extra="forbid"``): a typo such as ``"slo"`` for ``"slo_ms"``
would otherwise silently fall back to a default. Loading goes through :meth:`Instance.load`,
which turns every problem into an :class:`~placement.formats.errors.InputError` naming the file
and the JSON path. Every number has a range and every name a form (:mod:`placement.formats.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from placement.formats.errors import CrossCheckError, InputError, json_path
from placement.formats.limits import (
    MAX_FEATURES,
    MAX_MACHINES,
    MAX_REPLICAS,
    MAX_RESOURCE,
    MAX_RESOURCES,
    Cost,
    Feature,
    LatencyMs,
    MachineCount,
    Name,
    PerMachineLimit,
    ReplicaCount,
    Resource,
    Slowdown,
    Weight,
)
from placement.formats.schema_docs import describe_fields

# every number has a range (placement.formats.limits); these two serve the remaining fields
NonNegative = Annotated[float, Field(ge=0, le=MAX_RESOURCE, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, le=MAX_RESOURCE, allow_inf_nan=False)]
Resources = Annotated[dict[Name, Resource], Field(max_length=MAX_RESOURCES)]
Features = Annotated[dict[Name, Feature], Field(max_length=MAX_FEATURES)]

Compose = Literal["additive", "multiplicative", "max"]
ObjectiveName = Literal["mean_degradation", "added_latency", "max_degradation", "machines", "cost"]
#: A running machine's condition (SPEC section 2): ``cordoned`` takes no new replica (Kubernetes
#: cordon), ``down`` hosts nothing (a failed node).
MachineState = Literal["ready", "cordoned", "down"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, json_schema_extra=describe_fields)


class MachineType(_Strict):
    name: Name
    capacity: Resources
    cost_per_hour: Cost = 0.0
    features: Features = Field(default_factory=dict)


class MachineEntry(_Strict):
    """Either one named machine (``id`` + ``type``) or a group (``type`` + ``count``).

    ``state``, ``capacity`` (per-resource overrides of the type's) and ``labels`` describe a
    running cluster; with ``count`` every expanded machine gets them."""

    type: Name
    id: Name | None = None
    count: MachineCount | None = None
    state: MachineState = "ready"
    capacity: dict[str, NonNegative] | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _id_or_count(self) -> MachineEntry:
        if (self.id is None) == (self.count is None):
            raise ValueError('give exactly one of "id" (one machine) or "count" (a group)')
        return self


class Model(_Strict):
    name: Name
    requests: Resources
    slo_ms: LatencyMs
    latency_ms: dict[Name, LatencyMs]
    replicas: ReplicaCount = 1
    weight: Weight = 1.0
    features: Features = Field(default_factory=dict)
    avoid: list[Name] = Field(default_factory=list)
    spread: Name | None = None


class PairwiseEntry(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    machine_type: Name
    target: Name
    with_: Name = Field(alias="with")
    slowdown: Slowdown


class SetwiseEntry(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    machine_type: Name
    target: Name
    with_: list[Name] = Field(alias="with")
    slowdown: Slowdown


class Interference(_Strict):
    pairwise: list[PairwiseEntry] = Field(default_factory=list)
    setwise: list[SetwiseEntry] = Field(default_factory=list)
    compose: Compose = "additive"
    missing: Literal["error", "predict"] | Slowdown = "error"

    @field_validator("missing", mode="before")
    @classmethod
    def _missing_number_or_word(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("error", "predict"):
            raise ValueError('expected "error", "predict" or a slowdown number >= 1')
        return value


class Objective(_Strict):
    minimize: ObjectiveName = "mean_degradation"
    slo: Literal["hard", "soft"] = "hard"
    move_penalty: NonNegative = 0.0


class Limits(_Strict):
    max_models_per_machine: PerMachineLimit | None = None
    max_moves: Annotated[int, Field(ge=0)] | None = None


@dataclass(frozen=True)
class MachineRecord:
    """One expanded machine of a running cluster: what the compiler reads per machine."""

    id: str
    type: str
    state: str
    capacity: dict[str, float]
    labels: dict[str, str]


class Instance(_Strict):
    """A placement problem. ``Instance.load(path)`` or ``Instance.model_validate(dict)``."""

    schema_: str | None = Field(default=None, alias="$schema", max_length=4096)
    name: Name = "instance"
    machine_types: Annotated[list[MachineType], Field(min_length=1)]
    machines: Annotated[list[MachineEntry], Field(min_length=1)]
    models: Annotated[list[Model], Field(min_length=1)]
    interference: Interference = Field(default_factory=Interference)
    objective: Objective = Field(default_factory=Objective)
    limits: Limits = Field(default_factory=Limits)
    current: dict[str, str] = Field(default_factory=dict)

    # ----------------------------------------------------------------- derived views
    def machine_ids(self) -> list[tuple[str, str]]:
        """``(machine id, machine type)`` in file order, groups expanded to ``<type>/<k>``."""
        out: list[tuple[str, str]] = []
        per_type: dict[str, int] = {}
        for entry in self.machines:
            if entry.id is not None:
                out.append((entry.id, entry.type))
            else:
                for _ in range(entry.count or 0):
                    k = per_type.get(entry.type, 0)
                    per_type[entry.type] = k + 1
                    out.append((f"{entry.type}/{k}", entry.type))
        return out

    def machine_records(self) -> list[MachineRecord]:
        """Every machine with its effective state, capacity and labels, in ``machine_ids``
        order (a group's fields copied to each machine it expands to)."""
        type_capacity = {t.name: t.capacity for t in self.machine_types}
        out: list[MachineRecord] = []
        ids = iter(self.machine_ids())
        for entry in self.machines:
            for _ in range(1 if entry.id is not None else entry.count or 0):
                mid, mtype = next(ids)
                out.append(
                    MachineRecord(
                        id=mid,
                        type=mtype,
                        state=entry.state,
                        capacity={**type_capacity.get(mtype, {}), **(entry.capacity or {})},
                        labels=dict(entry.labels),
                    )
                )
        return out

    def current_placement(self) -> dict[str, str]:
        """``current`` without departures: replica id -> machine id for replicas the instance
        still has. The solvers and the move count read this."""
        live = {rid for rid, _ in self.replica_ids()}
        return {rid: mid for rid, mid in self.current.items() if rid in live}

    def departed(self) -> list[str]:
        """Replica ids in ``current`` that the instance no longer has (``info.departed``)."""
        live = {rid for rid, _ in self.replica_ids()}
        return [rid for rid in self.current if rid not in live]

    def avoid_pairs(self) -> set[frozenset[str]]:
        """Model pairs that never share a machine (``avoid`` is symmetric)."""
        return {frozenset((m.name, other)) for m in self.models for other in m.avoid}

    def replica_ids(self) -> list[tuple[str, str]]:
        """``(replica id, model name)`` in file order: ``<name>#<r>``."""
        return [(f"{m.name}#{r}", m.name) for m in self.models for r in range(m.replicas)]

    def missing_pairs(self) -> list[tuple[str, str, str]]:
        """``(machine_type, target, with)`` pairs that could share a machine but have no entry."""
        present_types = {t for _, t in self.machine_ids()}
        known = {(e.machine_type, e.target, e.with_) for e in self.interference.pairwise}
        known |= {
            (e.machine_type, e.target, e.with_[0])
            for e in self.interference.setwise
            if len(e.with_) == 1
        }
        if self.limits.max_models_per_machine == 1:
            return []
        out = []
        for mt in self.machine_types:
            if mt.name not in present_types:
                continue
            hosted = [m.name for m in self.models if mt.name in m.latency_ms]
            for a in hosted:
                for b in hosted:
                    if a != b and (mt.name, a, b) not in known:
                        out.append((mt.name, a, b))
        return out

    # ----------------------------------------------------------------- cross checks
    @model_validator(mode="after")
    def _cross_check(self) -> Instance:
        problems: list[tuple[str, str]] = []
        type_names = [t.name for t in self.machine_types]
        types = set(type_names)
        model_names = [m.name for m in self.models]
        models = set(model_names)

        def dupes(names: list[str], where: str, key: str) -> None:
            seen: set[str] = set()
            for i, n in enumerate(names):
                if n in seen:
                    problems.append(
                        (f"{where}[{i}].{key}", f"duplicate name {n!r}; names are unique")
                    )
                seen.add(n)

        def known_type(path: str, name: str) -> None:
            if name not in types:
                problems.append(
                    (path, f"unknown machine type {name!r}; expected one of {sorted(types)}")
                )

        def known_model(path: str, name: str) -> None:
            if name not in models:
                problems.append((path, f"unknown model {name!r}; expected one of {sorted(models)}"))

        dupes(type_names, "machine_types", "name")
        dupes(model_names, "models", "name")
        for i, entry in enumerate(self.machines):
            known_type(f"machines[{i}].type", entry.type)
        problems += self._size_problems()
        if not problems:
            seen_ids: set[str] = set()
            for mid, _ in self.machine_ids():
                if mid in seen_ids:
                    problems.append(("machines", f"duplicate machine id {mid!r}; ids are unique"))
                seen_ids.add(mid)
            if not seen_ids:
                problems.append(("machines", "no machines: expected at least one"))
        for i, m in enumerate(self.models):
            if not m.latency_ms:
                problems.append(
                    (
                        f"models[{i}].latency_ms",
                        "empty: expected a solo latency for at least one type",
                    )
                )
            for t in m.latency_ms:
                known_type(f"models[{i}].latency_ms.{t}", t)
        inter = self.interference
        for i, e in enumerate(inter.pairwise):
            p = f"interference.pairwise[{i}]"
            known_type(f"{p}.machine_type", e.machine_type)
            known_model(f"{p}.target", e.target)
            known_model(f"{p}.with", e.with_)
            if e.target == e.with_:
                problems.append(
                    (
                        f"{p}.with",
                        "a model never shares a machine with itself (replicas are "
                        "anti-affine); expected another model",
                    )
                )
        for i, e in enumerate(inter.setwise):
            p = f"interference.setwise[{i}]"
            known_type(f"{p}.machine_type", e.machine_type)
            known_model(f"{p}.target", e.target)
            if not e.with_:
                problems.append((f"{p}.with", "empty: expected at least one co-runner"))
            for j, w in enumerate(e.with_):
                known_model(f"{p}.with[{j}]", w)
                if w == e.target:
                    problems.append((f"{p}.with[{j}]", "the target cannot be its own co-runner"))
            if len(set(e.with_)) != len(e.with_):
                problems.append((f"{p}.with", "a model appears twice; expected each at most once"))
        if isinstance(inter.missing, float) and inter.missing < 1.0:
            problems.append(("interference.missing", "expected a slowdown >= 1"))
        if not problems and inter.missing == "error":
            missing = self.missing_pairs()
            if missing:
                shown = ", ".join(f"{t}: {a} with {b}" for t, a, b in missing[:8])
                more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
                problems.append(
                    (
                        "interference.pairwise",
                        f"{len(missing)} needed pairs have no slowdown ({shown}{more}); "
                        'expected an entry for each, or "missing": a number or "predict"',
                    )
                )
        if not problems:
            problems += self._running_cluster_problems()
        if problems:
            raise CrossCheckError(problems)
        return self

    def _running_cluster_problems(self) -> list[tuple[str, str]]:
        """The running-cluster fields (SPEC section 2): ``current`` names known machines,
        ``avoid`` known models, ``spread`` a label some machine has."""
        problems: list[tuple[str, str]] = []
        machine_ids = {mid for mid, _ in self.machine_ids()}
        label_keys = {k for entry in self.machines for k in entry.labels}
        models = {m.name for m in self.models}
        for i, m in enumerate(self.models):
            for j, other in enumerate(m.avoid):
                if other == m.name:
                    problems.append((f"models[{i}].avoid[{j}]", "a model's replicas never share "
                                     "a machine anyway; expected another model's name"))
                elif other not in models:
                    problems.append((f"models[{i}].avoid[{j}]",
                                     f"unknown model {other!r}; expected one of {sorted(models)}"))
            if m.spread is not None and m.spread not in label_keys:
                known = sorted(label_keys) or "none: no machine has labels"
                problems.append((f"models[{i}].spread", f"no machine has the label {m.spread!r}; "
                                 f"expected a key of machines[].labels ({known})"))
        for rid, mid in self.current.items():
            if mid not in machine_ids:
                shown = sorted(machine_ids)[:8]
                problems.append((f"current.{rid}", f"unknown machine {mid!r}; expected a machine "
                                 f"id such as {shown}"))
        return problems

    def _size_problems(self) -> list[tuple[str, str]]:
        """Totals beyond :mod:`placement.formats.limits`, checked before anything is expanded
        (a ``count`` of 1e12 would otherwise fill memory with machine ids)."""
        problems = []
        machines = sum(1 if e.id is not None else e.count or 0 for e in self.machines)
        if machines > MAX_MACHINES:
            problems.append(("machines", f"{machines} machines in all; expected at most "
                             f"{MAX_MACHINES}"))
        replicas = sum(m.replicas for m in self.models)
        if replicas > MAX_REPLICAS:
            problems.append(("models", f"{replicas} replicas in all; expected at most "
                             f"{MAX_REPLICAS}"))
        return problems

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | Path) -> Instance:
        """Read and validate an instance file; raises :class:`InputError` on any problem."""
        return load_json_model(cls, path)

    def dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        _drop_running_cluster_defaults(data)
        return data


def _drop_running_cluster_defaults(data: dict[str, Any]) -> None:
    """Leave out running-cluster fields at their defaults, so an instance of an empty cluster
    is written exactly as before they existed."""
    for entry in data.get("machines", []):
        if entry.get("state") == "ready":
            del entry["state"]
        if entry.get("labels") == {}:
            del entry["labels"]
    for model in data.get("models", []):
        if model.get("avoid") == []:
            del model["avoid"]
    if data.get("current") == {}:
        del data["current"]
    if data.get("objective", {}).get("move_penalty") == 0:
        del data["objective"]["move_penalty"]


def load_json_model(cls: type[BaseModel], path: str | Path) -> Any:
    """Read ``path`` as JSON and validate it as ``cls``, mapping every failure to InputError."""
    from placement.formats.files import read_json

    source = str(path)
    data = read_json(path)
    return validate_model(cls, data, source)


def validate_model(cls: type[BaseModel], data: Any, source: str = "<input>") -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InputError(source, pydantic_problems(exc)) from None


def pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, CrossCheckError):
            prefix = json_path(err["loc"])
            for p, m in cause.problems:
                problems.append((p if prefix == "$" else f"{prefix}.{p}", m))
            continue
        loc = err["loc"]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field; check the spelling against `placement schema instance`"
        elif "input" in err and not isinstance(err["input"], dict | list):
            msg = f"{msg} (got {err['input']!r})"
        problems.append((json_path(loc), msg))
    return problems
