"""Measurement requests (SPEC section 10): what a measurer is asked, one row per co-location.

```
machine_type,target,co_runners
c5.2xlarge,resnet50,bert-base;yolo-v5
```

The answer to a list of requests is a measurements CSV (SPEC section 8) with one row per
request, in the same order; co-runners are compared as a set, and extra columns after the
four (``slowdown_p99``, ...) are allowed. :func:`match_answers` holds an answer to that.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from placement.formats.errors import InputError
from placement.formats.measurements import Measurement, colocation, csv_rows

COLUMNS = ("machine_type", "target", "co_runners")


@dataclass(frozen=True, order=True)
class Request:
    """Measure ``target``'s slowdown on ``machine_type`` beside exactly ``co_runners``."""

    machine_type: str
    target: str
    co_runners: frozenset[str]

    @property
    def members(self) -> frozenset[str]:
        """The co-location set: the target and its co-runners."""
        return self.co_runners | {self.target}


def requests_of_set(machine_type: str, models: Iterable[str]) -> list[Request]:
    """One request per member of a co-location set (measuring a set answers every member)."""
    group = frozenset(models)
    return [Request(machine_type, m, group - {m}) for m in sorted(group)]


def requests_csv(requests: Iterable[Request]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in requests:
        writer.writerow([r.machine_type, r.target, ";".join(sorted(r.co_runners))])
    return out.getvalue()


def parse_requests(text: str, source: str = "requests") -> list[Request]:
    """Requests from CSV text; :class:`InputError` naming the line on bad input."""
    out: list[Request] = []
    problems: list[tuple[str, str]] = []
    for where, row in csv_rows(text, source, COLUMNS):
        out.append(Request(*colocation(row, where, problems)))
    if problems:
        raise InputError(source, problems)
    return out


def match_answers(
    requests: Sequence[Request], answers: Sequence[Measurement], source: str = "measurer"
) -> list[Measurement]:
    """The answers, checked to be exactly one per request in the same order; an
    :class:`InputError` names every row that is missing, extra or about another co-location."""
    problems: list[tuple[str, str]] = []
    if len(answers) != len(requests):
        problems.append(
            ("$", f"{len(answers)} answer rows for {len(requests)} requests; expected one each")
        )
    for i, (asked, answer) in enumerate(zip(requests, answers, strict=False), start=2):
        got = Request(answer.machine_type, answer.target, answer.co_runners)
        if got != asked:
            problems.append(
                (
                    f"line {i}",
                    f"answers {got.target} beside {sorted(got.co_runners)} on "
                    f"{got.machine_type}; the request was {asked.target} beside "
                    f"{sorted(asked.co_runners)} on {asked.machine_type}",
                )
            )
    if problems:
        raise InputError(source, problems)
    return list(answers)
