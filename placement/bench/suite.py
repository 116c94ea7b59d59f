"""Benchmark suites: what to run, declared in a TOML file under ``placement/bench/suites/``.

A suite is a list of *studies*. A study is either a ``grid`` (generated instances: sizes as
replicas x machines, loads, interference levels, seeds, one objective) or ``paper`` (the seed
paper's Table 5 workloads on two-machine clusters), plus the solvers to run and their time
limits. Every study expands to *cases*: one instance (id + seed) and the solvers to run on it.

TOML because users write suites by hand (comments, no trailing-comma traps) and ``tomllib`` is
in the standard library. Validation is pydantic with unknown keys refused, so a typo such as
``load = [..]`` for ``loads`` fails with the file and key named instead of being ignored.

Example (see ``placement/bench/suites/quick.toml``)::

    name = "quick"
    time_limit = 2.0
    jobs = 2

    [[study]]
    name = "grid"
    sizes = [[12, 4], [30, 8]]        # replicas x machines
    loads = [0.5, 0.8]
    interference = ["medium"]
    seeds = [0]
    solvers = ["least-loaded", "greedy", "cpsat"]
    max_replicas = {cpsat = 20}       # skip a solver above this many replicas
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from placement.formats.errors import InputError
from placement.formats.instance import pydantic_problems

#: Where bare suite names are looked up: ``placement bench --suite paper``.
SUITES_DIR = Path(__file__).resolve().parent / "suites"

Level = Literal["low", "medium", "high"]
ObjectiveName = Literal["mean_degradation", "added_latency", "max_degradation", "machines", "cost"]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudySpec(_Strict):
    """One block ``[[study]]`` of a suite file."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Literal["grid", "paper"] = "grid"
    solvers: Annotated[list[str], Field(min_length=1)]
    # None: the generator's choice (grid: mean_degradation, hard; paper: added_latency, soft)
    objective: ObjectiveName | None = None
    slo: Literal["hard", "soft"] | None = None
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = [0]
    # a list sweeps the limit (gap vs time for exact solvers); empty: the suite's limit
    time_limits: list[PositiveSeconds] = Field(default_factory=list)
    # solver -> largest instance (replicas) it is run on; bigger ones are skipped
    max_replicas: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    # solvers run only at the first time limit of a sweep (heuristics do not use the time)
    first_limit_only: list[str] = Field(default_factory=list)
    # grid
    sizes: list[Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]] = (
        Field(default_factory=list)
    )
    loads: list[Annotated[float, Field(gt=0, le=1.5)]] = Field(default_factory=list)
    interference: list[Level] = Field(default_factory=list)
    types: Annotated[int, Field(ge=1)] = 3
    # paper: cluster names as in placement.synthetic.paper.PAPER_CLUSTERS, or types joined by "+"
    clusters: list[str] = Field(default_factory=list)
    models_per_workload: list[Annotated[int, Field(ge=1)]] = [6]
    # published figures to print beside ours: cluster -> one number per solver, in order
    reference: dict[str, list[float]] = Field(default_factory=dict)
    reference_source: str = ""

    @model_validator(mode="after")
    def _complete(self) -> StudySpec:
        if self.kind == "grid":
            for key in ("sizes", "loads", "interference"):
                if not getattr(self, key):
                    raise ValueError(f'a grid study needs "{key}" (a non-empty list)')
        elif not self.clusters:
            raise ValueError('a paper study needs "clusters" (a non-empty list of cluster names)')
        return self


class SuiteSpec(_Strict):
    """A whole suite file."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    time_limit: PositiveSeconds = 10.0
    jobs: Annotated[int, Field(ge=1)] = 2
    study: Annotated[list[StudySpec], Field(min_length=1)]


@dataclass(frozen=True)
class Case:
    """One instance (``instance_id`` + ``seed``) and the runs to make on it."""

    study: str
    kind: str
    instance_id: str
    seed: int
    params: dict[str, Any]
    runs: tuple[tuple[str, float], ...]  # (solver, time limit)

    def run_keys(self) -> list[tuple[str, str, str, str]]:
        return [run_key(self.instance_id, s, self.seed, t) for s, t in self.runs]


def run_key(
    instance_id: str, solver: str, seed: int, time_limit: float
) -> tuple[str, str, str, str]:
    """The resume key of a results row. The time limit is part of it because a run with another
    limit is another experiment (and a sweep holds the same instance and solver several times)."""
    return (str(instance_id), str(solver), str(int(seed)), f"{float(time_limit):g}")


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    time_limit: float
    jobs: int
    studies: list[StudySpec] = field(default_factory=list)

    def cases(self, time_limit: float | None = None) -> list[Case]:
        """Every case in a fixed order (study, then grid order, then seed): the order of
        ``results.csv`` and of the work queue, so reruns are deterministic."""
        out: list[Case] = []
        for study in self.studies:
            limits = [time_limit] if time_limit else (study.time_limits or [self.time_limit])
            for instance_id, params in _instances(study):
                size = int(params.get("replicas") or 0)
                runs: list[tuple[str, float]] = []
                for k, limit in enumerate(limits):
                    for solver in study.solvers:
                        cap = study.max_replicas.get(solver)
                        if cap is not None and size > cap:
                            continue
                        if k > 0 and solver in study.first_limit_only:
                            continue
                        runs.append((solver, float(limit)))
                for seed in study.seeds:
                    out.append(Case(study.name, study.kind, instance_id, seed, params, tuple(runs)))
        return out


def _instances(study: StudySpec) -> list[tuple[str, dict[str, Any]]]:
    """(instance id, generator parameters) for every point of the study's grid; the seed is
    kept apart so the id names the setting and the seed the draw."""
    common = {"study": study.name, "objective": study.objective, "slo": study.slo}
    out = []
    if study.kind == "paper":
        loads = study.loads or [0.6]
        levels = study.interference or ["medium"]
        for cluster in study.clusters:
            for n in study.models_per_workload:
                for load in loads:
                    for level in levels:
                        params = {**common, "cluster": cluster, "models": n, "replicas": n,
                                  "load": load, "interference": level}
                        iid = f"{study.name}/{cluster}-m{n}-l{load:g}-{level}"
                        out.append((iid, params))
        return out
    for replicas, machines in study.sizes:
        for load in study.loads:
            for level in study.interference:
                params = {**common, "replicas": replicas, "machines": machines,
                          "types": study.types, "load": load, "interference": level}
                iid = f"{study.name}/r{replicas}-m{machines}-t{study.types}-l{load:g}-{level}"
                out.append((iid, params))
    return out


def resolve(name_or_path: str) -> Path:
    """A bare name (``paper``) is ``placement/bench/suites/paper.toml``; anything else is a path."""
    path = Path(name_or_path)
    if path.suffix == "" and path.parent == Path("."):
        candidate = SUITES_DIR / f"{name_or_path}.toml"
        if candidate.exists() or not path.exists():
            return candidate
    return path


def available() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a suite; every problem is an :class:`InputError` naming file and key."""
    path = resolve(name_or_path)
    source = str(path)
    if not path.is_file():
        known = ", ".join(available()) or "none"
        raise InputError(source, [("$", f"no such suite file; suites in {SUITES_DIR}: {known}")])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(source, [("$", f"malformed TOML: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(source, [("$", f"cannot read the file ({exc})")]) from None
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        problems = [
            (p, m.replace("`placement schema instance`", "the keys in placement/bench_suite.py"))
            for p, m in pydantic_problems(exc)
        ]
        raise InputError(source, problems) from None
    problems = _cross_check(spec)
    if problems:
        raise InputError(source, problems)
    return Suite(spec.name, path, spec.description, spec.time_limit, spec.jobs, spec.study)


def _cross_check(spec: SuiteSpec) -> list[tuple[str, str]]:
    """Names that must exist elsewhere: solvers in the registry, unique study names."""
    from solvers import registry

    known = set(registry.names())
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, study in enumerate(spec.study):
        if study.name in seen:
            problems.append((f"study[{i}].name", f"duplicate study name {study.name!r}"))
        seen.add(study.name)
        for j, solver in enumerate(study.solvers):
            if solver not in known:
                names = ", ".join(sorted(known))
                problems.append((f"study[{i}].solvers[{j}]",
                                 f"unknown solver {solver!r}; expected one of {names}"))
        for cluster, values in study.reference.items():
            if len(values) != len(study.solvers):
                problems.append((f"study[{i}].reference.{cluster}",
                                 f"expected {len(study.solvers)} numbers, one per solver"))
        for key in (*study.max_replicas, *study.first_limit_only):
            if key not in study.solvers:
                problems.append((f"study[{i}]", f"{key!r} is limited but not in solvers"))
    return problems
