"""Profiling measurements (SPEC section 8): one measured co-location per CSV row.

```
machine_type,target,co_runners,slowdown
c5.2xlarge,resnet50,bert-base,1.31
c5.2xlarge,resnet50,bert-base;yolo-v5,1.74
c5.2xlarge,bert-base,,1.0
```
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from placement.formats.errors import InputError
from placement.formats.files import read_text
from placement.formats.limits import CONTROL_CHARACTER, MAX_SLOWDOWN

COLUMNS = ("machine_type", "target", "co_runners", "slowdown")


@dataclass(frozen=True)
class Measurement:
    machine_type: str
    target: str
    co_runners: frozenset[str]
    slowdown: float

    @property
    def degree(self) -> int:
        """How many models share the machine: 1 alone, 2 for a pair, ..."""
        return 1 + len(self.co_runners)


def read_measurements(path: str | Path) -> list[Measurement]:
    """Read a measurements CSV; raises InputError naming the row and column on bad input."""
    return parse_measurements(read_text(path), str(path))


def csv_rows(
    text: str, source: str, columns: Sequence[str]
) -> Iterator[tuple[str, dict[str, str]]]:
    """``(where, row)`` of a CSV with at least ``columns`` (an :class:`InputError` names the
    missing ones); ``where`` is ``line N`` counting the header as line 1."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(
            source, [("header", f"missing columns {missing}; expected {','.join(columns)}")]
        )
    for i, row in enumerate(reader, start=2):
        yield f"line {i}", row


def colocation(
    row: dict[str, str], where: str, problems: list[tuple[str, str]]
) -> tuple[str, str, frozenset[str]]:
    """The ``machine_type``, ``target`` and ``co_runners`` of a measurement or request row;
    what is wrong with them is appended to ``problems``."""
    mt, target = (row["machine_type"] or "").strip(), (row["target"] or "").strip()
    co = frozenset(c.strip() for c in (row["co_runners"] or "").split(";") if c.strip())
    if not mt:
        problems.append((f"{where}.machine_type", "empty; expected a machine type name"))
    if not target:
        problems.append((f"{where}.target", "empty; expected a model name"))
    if target in co:
        problems.append((f"{where}.co_runners", "the target cannot be its own co-runner"))
    for column, text in (("machine_type", mt), ("target", target),
                         ("co_runners", ";".join(sorted(co)))):
        if CONTROL_CHARACTER.search(text):
            problems.append((f"{where}.{column}", "a name holds a control character; "
                                                  "expected printable names"))
    return mt, target, co


def parse_measurements(text: str, source: str = "measurements") -> list[Measurement]:
    """Measurements from CSV text (a file's, or a measurer's answer); :class:`InputError`
    naming the row and column on bad input. Extra columns after the four are ignored."""
    rows: list[Measurement] = []
    problems: list[tuple[str, str]] = []
    for where, row in csv_rows(text, source, COLUMNS):
        mt, target, co = colocation(row, where, problems)
        try:
            value = float(row["slowdown"])
            if not 0 < value <= MAX_SLOWDOWN:  # also refuses NaN and infinity
                raise ValueError
        except (TypeError, ValueError):
            problems.append((f"{where}.slowdown", f"expected a number in (0, {MAX_SLOWDOWN:g}], "
                                                  f"got {row['slowdown']!r}"))
            continue
        rows.append(Measurement(mt, target, co, value))
    if problems:
        raise InputError(source, problems)
    if not rows:
        raise InputError(source, [("$", "no measurements; expected at least one row")])
    return rows


def measurements_csv(rows: Iterable[Measurement]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for m in rows:
        writer.writerow(
            [m.machine_type, m.target, ";".join(sorted(m.co_runners)), f"{m.slowdown:.6g}"]
        )
    return out.getvalue()
