"""Learning from what is placed (SPEC section 10): fit, solve, measure the chosen sets, refit.

A predictor fitted on pairs and a sample of sets is least sure exactly where an optimizer
looks: the sets it is about to choose. Each round of :func:`refine`

1. fits the predictor on every measurement so far (the input file's and the new ones);
2. solves the instance with it, the measured sets entered as set-wise entries so that the
   slowdown function answers them with what was measured, not with what was predicted;
3. asks the measurer for the co-location sets of the chosen placement that were never
   measured, then for the nearest alternatives (the sets one move of a replica would create,
   the most promising by the predictor first), at most ``budget`` sets a round, never a set
   twice;
4. logs believed against measured slowdown of the chosen sets.

After the last round it fits and solves once more: that solution is the result. When a solve
finds no placement within its time limit, the loop stops there and the last round's placement
is the result. Everything measured is handed to ``on_round`` after each round, so a caller can
save it before the next measurer call (a failing measurer then loses nothing).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from placement.api import solve
from placement.formats.instance import Instance, PairwiseEntry, SetwiseEntry
from placement.formats.measurements import Measurement
from placement.formats.requests import Request, requests_of_set
from placement.formats.solution import Solution
from placement.interference import Interference
from placement.learn.predictor import SlowdownPredictor
from placement.measure.client import Measurer, ask
from placement.measure.denoise import denoised

SetKey = tuple[str, frozenset[str]]  # (machine type, the models sharing one machine)
#: Single moves scored per round when looking for near alternatives (bounds the work on large
#: instances; the best of them are asked first anyway).
MAX_NEIGHBOURS = 20_000


@dataclass
class RoundLog:
    """What one round did and saw."""

    round: int
    solver: str
    status: str
    believed_mean_degradation: float | None
    sets_asked: int
    chosen_sets_asked: int
    rows_measured: int
    #: mean |believed - measured| / measured over the chosen sets' rows measured this round
    chosen_error_pct: float | None
    fit_seconds: float
    solve_seconds: float
    measure_seconds: float
    rows: list[dict[str, Any]] = field(default_factory=list)  # believed vs measured, per row

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Refinement:
    solution: Solution
    measurements: list[Measurement]  # the input's and every new one, in that order
    log: list[RoundLog]
    #: why the loop ended before its last round (a solve that found no placement), else None
    stopped: str | None = None


def known_rows(instance: Instance, measurements: Iterable[Measurement]) -> set[Request]:
    """Every (type, target, co-runners) whose slowdown was measured: rows of the measurements
    and the instance's own pairwise and set-wise entries."""
    known = {Request(m.machine_type, m.target, m.co_runners) for m in measurements}
    for p in instance.interference.pairwise:
        known.add(Request(p.machine_type, p.target, frozenset({p.with_})))
    for s in instance.interference.setwise:
        known.add(Request(s.machine_type, s.target, frozenset(s.with_)))
    return known


def with_measured(instance: Instance, measurements: Sequence[Measurement]) -> Instance:
    """The instance with measured co-locations it lacks entered as pairwise and set-wise
    entries (the instance's own entries win: they are what the user stated)."""
    have = known_rows(instance, ())
    pairs = list(instance.interference.pairwise)
    sets = list(instance.interference.setwise)
    latest: dict[Request, float] = {}
    for m in measurements:
        if m.co_runners:
            latest[Request(m.machine_type, m.target, m.co_runners)] = m.slowdown
    for row, value in latest.items():
        if row in have:
            continue
        if len(row.co_runners) == 1:
            (other,) = row.co_runners
            pairs.append(
                PairwiseEntry.model_validate(
                    {"machine_type": row.machine_type, "target": row.target, "with": other,
                     "slowdown": value}
                )
            )
        else:
            sets.append(
                SetwiseEntry.model_validate(
                    {"machine_type": row.machine_type, "target": row.target,
                     "with": sorted(row.co_runners), "slowdown": value}
                )
            )
    interference = instance.interference.model_copy(update={"pairwise": pairs, "setwise": sets})
    return instance.model_copy(update={"interference": interference})


def chosen_sets(solution: Solution) -> list[SetKey]:
    """The co-location sets (two models or more) of a solution, in machine order."""
    out = []
    for machine in solution.machines.values():
        models = frozenset(solution.replicas[r].model for r in machine.replicas)
        if len(models) >= 2:
            out.append((machine.type, models))
    return out


def neighbour_sets(
    instance: Instance, solution: Solution, believe: Interference, limit: int = MAX_NEIGHBOURS
) -> list[SetKey]:
    """Sets one move, or one swap, of replicas would create, most promising first.

    A move of model ``m`` from machine ``a`` to ``b`` (a swap of ``m`` on ``a`` with ``n`` on
    ``b``) is scored by the believed change of the summed degradation of both machines; the
    sets it creates are both machines' new contents. Changes that break a capacity or an
    allowed type are skipped; at most ``limit`` are scored."""
    records = {r.id: r for r in instance.machine_records()}
    models = {m.name: m for m in instance.models}
    content = {
        mid: frozenset(solution.replicas[r].model for r in machine.replicas)
        for mid, machine in solution.machines.items()
    }
    # empty machines: one of each (type, capacity) is enough, they are interchangeable
    empty_seen: set[tuple[str, tuple]] = set()
    for rec in records.values():
        if rec.id not in content and rec.state == "ready":
            key = (rec.type, tuple(sorted(rec.capacity.items())))
            if key not in empty_seen:
                empty_seen.add(key)
                content[rec.id] = frozenset()

    def degradation(machine_type: str, group: frozenset[str]) -> float:
        return sum(believe.slowdown(m, group - {m}, machine_type) - 1.0 for m in group)

    def fits(rec_id: str, group: frozenset[str]) -> bool:
        rec = records[rec_id]
        for resource, cap in rec.capacity.items():
            used = sum(models[m].requests.get(resource, 0.0) for m in group)
            if used > cap + 1e-9 * max(1.0, cap):
                return False
        for m in group:
            for resource, amount in models[m].requests.items():
                if amount > 0 and resource not in rec.capacity:
                    return False
        return all(rec.type in models[m].latency_ms for m in group)

    scored: list[tuple[float, SetKey, SetKey]] = []
    tried = 0
    for a, group_a in content.items():
        type_a = records[a].type
        for m in sorted(group_a):
            rest = group_a - {m}
            loss = degradation(type_a, group_a) - degradation(type_a, rest)
            for b, group_b in content.items():
                if b == a or m in group_b or records[b].state != "ready":
                    continue
                joined = group_b | {m}
                if not fits(b, joined):
                    continue
                tried += 1
                if tried > limit:
                    break
                type_b = records[b].type
                gain = degradation(type_b, joined) - degradation(type_b, group_b)
                scored.append((gain - loss, (type_b, joined), (type_a, rest)))
    # swaps: on a tight cluster no single move fits, but exchanging two replicas may
    machines = sorted(content)
    for i, a in enumerate(machines):
        type_a, group_a = records[a].type, content[a]
        for b in machines[i + 1:]:
            if tried > limit:
                break
            type_b, group_b = records[b].type, content[b]
            before = degradation(type_a, group_a) + degradation(type_b, group_b)
            for m in sorted(group_a - group_b):
                for n in sorted(group_b - group_a):
                    new_a = (group_a - {m}) | {n}
                    new_b = (group_b - {n}) | {m}
                    if not (fits(a, new_a) and fits(b, new_b)):
                        continue
                    tried += 1
                    after = degradation(type_a, new_a) + degradation(type_b, new_b)
                    scored.append((after - before, (type_a, new_a), (type_b, new_b)))
    scored.sort(key=lambda x: (x[0], sorted(x[1][1]), x[1][0], sorted(x[2][1]), x[2][0]))
    out: list[SetKey] = []
    seen: set[SetKey] = set()
    for _, first, second in scored:
        for key in (first, second):
            if len(key[1]) >= 2 and key not in seen:
                seen.add(key)
                out.append(key)
    return out


def unmeasured(key: SetKey, known: set[Request]) -> list[Request]:
    """The rows of a set that were never measured."""
    return [r for r in requests_of_set(*key) if r not in known]


def plan_requests(
    candidates: Sequence[SetKey], known: set[Request], asked: set[SetKey], budget: int
) -> tuple[list[SetKey], list[Request]]:
    """At most ``budget`` sets, in the candidates' order, never asked before and with at least
    one row never measured; the rows to request for them."""
    picked: list[SetKey] = []
    rows: list[Request] = []
    seen = set(asked)
    for key in candidates:
        if len(picked) >= budget:
            break
        if key in seen:
            continue
        seen.add(key)
        todo = unmeasured(key, known)
        if todo:
            picked.append(key)
            rows.extend(todo)
    return picked, rows


def fit_predictor(
    instance: Instance, measurements: Sequence[Measurement], kind: str, seed: int,
    quantile: float | None,
) -> SlowdownPredictor:
    return SlowdownPredictor(kind, seed=seed, quantile=quantile).fit(
        measurements, instance, source="measurements", catalog_source="instance"
    )


def refine(
    instance: Instance,
    measurements: Sequence[Measurement],
    measure: Measurer,
    *,
    rounds: int = 3,
    budget: int = 20,
    solver: str = "auto",
    time_limit: float = 10.0,
    seed: int = 0,
    kind: str = "gbt-pairs",
    quantile: float | None = None,
    measurement_noise: float | None = None,
    on_round: Callable[[RoundLog, list[Measurement]], None] | None = None,
) -> Refinement:
    """Fit, solve, measure the chosen placement's unmeasured sets and their nearest
    alternatives, refit; ``rounds`` times, at most ``budget`` sets a round. See the module
    docstring. ``measure`` is a function or :class:`~placement.measure.client.CommandMeasurer`.

    ``measurement_noise`` (the measurer's lognormal sigma, e.g. 0.025), when given, makes the
    final solve use every measured co-location blended with an out-of-fold prediction
    (:mod:`placement.measure.denoise`; five more fits). Measurements themselves are returned
    as measured.

    Raises :class:`~placement.measure.client.MeasurerError` when the measurer fails; what was
    measured before was already handed to ``on_round``.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    if budget < 1:
        raise ValueError(f"budget must be >= 1 set per round, got {budget}")
    if measurement_noise is not None and not (0.0 < measurement_noise < 1.0):
        raise ValueError(f"measurement_noise must be a sigma in (0, 1), got {measurement_noise}")
    rows = list(measurements)
    asked: set[SetKey] = set()
    log: list[RoundLog] = []
    placed: Solution | None = None  # the last round's placement
    for number in range(1, rounds + 2):
        started = time.perf_counter()
        predictor = fit_predictor(instance, rows, kind, seed, quantile)
        fitted = time.perf_counter()
        if number > rounds and measurement_noise is not None:
            stated, trusted = denoised(
                instance, rows, predictor,
                lambda part: fit_predictor(instance, part, kind, seed, quantile),
                noise=measurement_noise, seed=seed,
            )
            working = with_measured(stated, trusted)
        else:
            working = with_measured(instance, rows)
        solution = solve(working, solver, time_limit=time_limit, seed=seed, predictor=predictor)
        solved = time.perf_counter()
        if not solution.assignment and placed is not None:
            # a later solve cut by its time limit: the last round's placement still stands
            return Refinement(placed, rows, log, stopped=(
                f"the solve after round {number - 1} found no placement ({solution.status}); "
                f"the result is round {number - 1}'s placement"))
        if number > rounds or not solution.assignment:
            return Refinement(solution, rows, log)
        placed = solution
        believe = Interference(working, predictor)
        known = known_rows(instance, rows)
        chosen = chosen_sets(solution)
        candidates = chosen + neighbour_sets(working, solution, believe)
        picked, requests = plan_requests(candidates, known, asked, budget)
        asked.update(picked)
        answers = ask(measure, requests)
        measured = time.perf_counter()
        rows.extend(answers)
        chosen_keys = set(chosen)
        compared = []
        for answer in answers:
            if (answer.machine_type, answer.co_runners | {answer.target}) in chosen_keys:
                belief = believe.slowdown(answer.target, answer.co_runners, answer.machine_type)
                compared.append(
                    {"machine_type": answer.machine_type, "target": answer.target,
                     "co_runners": sorted(answer.co_runners), "believed": belief,
                     "measured": answer.slowdown}
                )
        errors = [abs(c["believed"] - c["measured"]) / c["measured"] for c in compared]
        entry = RoundLog(
            round=number,
            solver=solution.solver,
            status=solution.status,
            believed_mean_degradation=(
                solution.summary.mean_degradation if solution.summary else None
            ),
            sets_asked=len(picked),
            chosen_sets_asked=sum(1 for k in picked if k in chosen_keys),
            rows_measured=len(answers),
            chosen_error_pct=100.0 * math.fsum(errors) / len(errors) if errors else None,
            fit_seconds=fitted - started,
            solve_seconds=solved - fitted,
            measure_seconds=measured - solved,
            rows=compared,
        )
        log.append(entry)
        if on_round is not None:
            on_round(entry, rows)
    raise AssertionError("unreachable: the last round returns")
