"""The one slowdown function: what is the slowdown of ``target`` beside ``co_runners`` on a type.

Every figure we report and every decision a solver makes goes through
:meth:`Interference.slowdown`. Its rules, in order:

1. no co-runners: 1.0;
2. a set-wise entry for exactly this (type, target, co-runner set): that value;
3. a single co-runner: its pairwise entry;
4. otherwise, when a predictor was given: the predictor's value for the whole set (a predictor
   with ``for_instance(instance)`` is first bound to the instance, so it can use the
   instance's own models, types and pairwise entries);
5. otherwise: the pairwise slowdowns composed by ``compose`` (additive, multiplicative, max).

A pair with no entry takes ``missing`` (a number) or the predictor's value; values below 1.0
are measurement noise and read as 1.0.

Anything with a method ``slowdown(target, co_runners, machine_type) -> float`` over names
(the generator's ground truth, a learned predictor) can stand in for this class wherever a
slowdown source is expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol

from placement.formats.errors import UsageError
from placement.formats.instance import Instance
from placement.formats.limits import MAX_COMPOSED_SLOWDOWN


class SlowdownSource(Protocol):
    def slowdown(self, target: str, co_runners: frozenset[str], machine_type: str) -> float: ...


class SetPredictor(Protocol):
    """What a learned predictor offers the slowdown function (see ``placement.learn.predictor``)."""

    def predict_slowdown(
        self, target: str, co_runners: frozenset[str], machine_type: str
    ) -> float: ...


def compose(values: Iterable[float], rule: str) -> float:
    """A set's slowdown from its pairs' slowdowns (each already >= 1), capped at
    ``MAX_COMPOSED_SLOWDOWN`` so that every figure stays finite (a product grows fast)."""
    vals = list(values)
    if not vals:
        return 1.0
    if rule == "additive":
        return min(MAX_COMPOSED_SLOWDOWN, 1.0 + sum(v - 1.0 for v in vals))
    if rule == "multiplicative":
        return min(MAX_COMPOSED_SLOWDOWN, math.prod(vals))
    if rule == "max":
        return max(vals)
    raise ValueError(f"unknown compose rule {rule!r}")


class MissingPairError(LookupError):
    pass


class Interference:
    """Measured (or predicted) interference of one instance, as the one slowdown function."""

    def __init__(self, instance: Instance, predictor: SetPredictor | None = None):
        inter = instance.interference
        self.compose_rule = inter.compose
        self.missing = inter.missing if isinstance(inter.missing, float) else None
        bind = getattr(predictor, "for_instance", None)
        if callable(bind):
            # a learned predictor that can also read this instance's models, types and
            # measured pairs (``SlowdownPredictor.for_instance``) is bound to it
            predictor = bind(instance)
        self.predictor = predictor
        if inter.missing == "predict" and predictor is None:
            raise UsageError(
                f'{instance.name}: interference.missing is "predict": name a predictor '
                "(--predictor PATH, or predictor= in solve())"
            )
        self.pairwise: dict[tuple[str, str, str], float] = {}
        for e in inter.pairwise:
            self.pairwise[(e.machine_type, e.target, e.with_)] = max(1.0, e.slowdown)
        self.setwise: dict[tuple[str, str, frozenset[str]], float] = {}
        for e in inter.setwise:
            self.setwise[(e.machine_type, e.target, frozenset(e.with_))] = max(1.0, e.slowdown)
        #: (type, whole set) of every set-wise entry: the set path looks a set up once
        self.setwise_groups = {(t, w | {target}) for t, target, w in self.setwise}

    def pair(self, target: str, other: str, machine_type: str) -> float:
        value = self.pairwise.get((machine_type, target, other))
        if value is None:
            value = self.setwise.get((machine_type, target, frozenset((other,))))
        if value is None:
            if self.predictor is not None:
                value = self.predictor.predict_slowdown(target, frozenset((other,)), machine_type)
            elif self.missing is not None:
                value = self.missing
            else:
                raise MissingPairError(f"no slowdown for {target} with {other} on {machine_type}")
        return max(1.0, float(value))

    def slowdown_many(
        self, queries: Sequence[tuple[str, frozenset[str], str]]
    ) -> list[float]:
        """:meth:`slowdown` of many queries, the same values: measured entries and compositions
        are answered here, and every query bound for the predictor goes to it in ONE call
        (``predict_slowdown_many`` when it has one, else one ``predict_slowdown`` each)."""
        out: list[float | None] = [None] * len(queries)
        to_predict: list[int] = []
        for i, (target, co_runners, machine_type) in enumerate(queries):
            co = frozenset(co_runners)
            if (
                self.predictor is not None
                and len(co) >= 2
                and (machine_type, target, co) not in self.setwise
            ):
                to_predict.append(i)
            else:
                out[i] = self.slowdown(target, co, machine_type)
        if to_predict:
            batch = [
                (queries[i][0], frozenset(queries[i][1]), queries[i][2]) for i in to_predict
            ]
            many = getattr(self.predictor, "predict_slowdown_many", None)
            if callable(many):
                values = list(many(batch))
            else:
                assert self.predictor is not None
                values = [self.predictor.predict_slowdown(*q) for q in batch]
            for i, value in zip(to_predict, values, strict=True):
                out[i] = max(1.0, float(value))
        return [float(v) for v in out]  # type: ignore[arg-type]

    def slowdown_sets(
        self, sets: Sequence[tuple[str, frozenset[str]]]
    ) -> list[dict[str, float]]:
        """Every member's :meth:`slowdown` in each ``(machine_type, set)`` (member -> value), the
        same values: sets of >= 3 models go to the predictor in ONE ``predict_sets`` call (the
        whole set at once; measured set-wise entries still override a member's value), the
        rest are answered here."""
        predict_sets = getattr(self.predictor, "predict_sets", None)
        out: list[dict[str, float] | None] = []
        to_predict: list[int] = []
        for i, (machine_type, group) in enumerate(sets):
            group = frozenset(group)
            if callable(predict_sets) and len(group) >= 3:
                to_predict.append(i)
                out.append(None)
            else:
                out.append({m: self.slowdown(m, group - {m}, machine_type) for m in group})
        if to_predict:
            asked = [(sets[i][0], frozenset(sets[i][1])) for i in to_predict]
            answers = predict_sets(asked)  # type: ignore[misc]
            for i, (machine_type, group), answer in zip(to_predict, asked, answers, strict=True):
                values = {m: max(1.0, float(answer[m])) for m in group}
                if (machine_type, group) in self.setwise_groups:
                    for m in group:
                        exact = self.setwise.get((machine_type, m, group - {m}))
                        if exact is not None:
                            values[m] = exact
                out[i] = values
        return out  # type: ignore[return-value]

    def slowdown(self, target: str, co_runners: frozenset[str], machine_type: str) -> float:
        if not co_runners:
            return 1.0
        exact = self.setwise.get((machine_type, target, co_runners))
        if exact is not None:
            return exact
        if len(co_runners) == 1:
            (other,) = co_runners
            return self.pair(target, other, machine_type)
        if self.predictor is not None:
            value = self.predictor.predict_slowdown(target, co_runners, machine_type)
            return max(1.0, float(value))
        return compose(
            (self.pair(target, o, machine_type) for o in sorted(co_runners)), self.compose_rule
        )
