"""The measurement protocol (SPEC section 10) as a measurer speaks it: requests in, answers out.

Requests are a CSV ``machine_type,target,co_runners`` (:mod:`placement.formats.requests`;
extra columns are ignored, so a measurements file can be asked again); answers are the
measurements CSV of SPEC section 8, one row per request in the same order, with extra columns
after the four. A **set** is a machine type with a group of models; measuring it once
answers every request whose target and co-runners make up that group.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from placement.formats.errors import InputError
from placement.formats.measurements import COLUMNS
from placement.formats.requests import Request, parse_requests


def read_requests(text: str, source: str = "<stdin>") -> list[Request]:
    """Parse a requests CSV (:func:`placement.formats.requests.parse_requests`); an empty
    input asks nothing. A model named twice in one row is an :class:`InputError` too, since a
    model's replicas never share a machine."""
    if not text.strip():
        return []
    requests = parse_requests(text, source)
    problems = []
    for i, line in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        co = [c.strip() for c in (line["co_runners"] or "").split(";") if c.strip()]
        if len(set(co)) != len(co):
            problems.append((f"line {i}.co_runners", "a model is named twice; expected each "
                                                     "co-runner once"))
    if problems:
        raise InputError(source, problems)
    return requests


def check_known(requests: Sequence[Request], types: Iterable[str], models: Iterable[str],
                source: str = "<stdin>") -> None:
    """Every request names a machine type and models the measurer knows, else InputError."""
    types, models = set(types), set(models)
    problems = []
    for i, r in enumerate(requests, start=2):
        if r.machine_type not in types:
            problems.append((f"line {i}.machine_type", f"unknown machine type "
                             f"{r.machine_type!r}; expected one of {sorted(types)}"))
        for name in sorted(r.members - models):
            problems.append((f"line {i}", f"unknown model {name!r}; expected one of "
                             f"{sorted(models)}"))
    if problems:
        raise InputError(source, problems)


def answers_csv(requests: Sequence[Request], answers: Sequence[Mapping[str, float]],
                extra: Sequence[str] = ()) -> str:
    """The measurements CSV: the four columns of SPEC section 8, then ``extra`` columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *extra])
    for r, a in zip(requests, answers, strict=True):
        writer.writerow([r.machine_type, r.target, ";".join(sorted(r.co_runners)),
                         f"{a['slowdown']:.6g}", *(f"{a[c]:.6g}" for c in extra)])
    return out.getvalue()
