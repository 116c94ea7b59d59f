"""Compare two ``results.csv`` files of one bench suite, objective columns only.

    python benchmarks/diff_results.py BEFORE/results.csv AFTER/results.csv

A row is matched by (study, instance, seed, solver, time limit). It is *deterministic* when
its solver proves nothing and ran to completion (heuristics), or when both runs ended
``optimal``: those rows must agree to 1e-9 on the objective and on every predicted and true
figure. Rows cut short by a wall-clock limit (exact solvers that did not prove, local search
on its time limit) may differ; they are counted, not judged. Exit 0 when every deterministic
row agrees, 1 otherwise, 2 on unreadable input.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

KEY = ("study", "instance_id", "seed", "solver", "time_limit")
STATUS = "status"
EXACT = {"cpsat", "milp", "auto", "exhaustive"}
TOLERANCE = 1e-9


def figure_columns(header: list[str]) -> list[str]:
    return [c for c in header if c == "objective" or c.startswith(("pred_", "true_"))]


def read(path: Path) -> tuple[list[str], dict[tuple[str, ...], dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = {tuple(row[k] for k in KEY): row for row in reader}
        return list(reader.fieldnames or []), rows


def same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def deterministic(before: dict[str, str], after: dict[str, str]) -> bool:
    if before["solver"] in EXACT:
        return before[STATUS] == after[STATUS] == "optimal"
    return before[STATUS] == after[STATUS] and not before.get("error")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        header, before = read(Path(argv[0]))
        _, after = read(Path(argv[1]))
    except (OSError, KeyError, csv.Error) as exc:
        print(f"cannot read results: {exc}", file=sys.stderr)
        return 2
    columns = figure_columns(header)
    checked = differ = loose = 0
    for key in sorted(before.keys() & after.keys()):
        b, a = before[key], after[key]
        if b["solver"] not in EXACT and b[STATUS] != a[STATUS]:
            differ += 1
            print(f"DIFFERENT status {'/'.join(key)}: {b[STATUS]} -> {a[STATUS]}")
            continue
        if not deterministic(b, a):
            loose += 1
            continue
        checked += 1
        bad = [c for c in columns if not same(b[c], a[c])]
        if bad:
            differ += 1
            shown = ", ".join(f"{c} {b[c]} -> {a[c]}" for c in bad[:4])
            print(f"DIFFERENT {'/'.join(key)}: {shown}")
    only = len(before.keys() ^ after.keys())
    print(
        f"{checked} deterministic rows compared, {differ} differ; {loose} rows cut short by a "
        f"time limit not compared; {only} rows in one file only"
    )
    return 1 if differ or only else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
