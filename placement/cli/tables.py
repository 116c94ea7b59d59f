"""How results look on a terminal: plain-text tables that fit 80 columns.

Plain text, not rich markup: every name (a model called ``bert[red]``, a solver, an instance)
is printed exactly as written, and the width is the same on a terminal and in a pipe.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from placement.formats.limits import CONTROL_CHARACTER

WIDTH = 80


@dataclass(frozen=True)
class Column:
    top: str  # first header line (often empty)
    bottom: str  # second header line
    width: int
    left: bool = False


def visible(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), never sent raw: names
    in instances cannot hold them, but a solution file's free-form fields can."""
    return CONTROL_CHARACTER.sub(lambda m: repr(m.group())[1:-1], text)


def fit(text: str, width: int) -> str:
    """``text`` (control characters escaped) cut to ``width`` characters (``~`` marks a cut)."""
    text = visible(text)
    return text if len(text) <= width else text[: max(0, width - 1)] + "~"


def render(columns: Sequence[Column], rows: Sequence[Sequence[str]], marks: Sequence[str] = ()
           ) -> str:
    """Rows under a two-line header; ``marks`` (one character per row) go in front."""

    def line(cells: Sequence[str], mark: str = " ") -> str:
        parts = []
        for col, cell in zip(columns, cells, strict=True):
            cell = fit(cell, col.width)
            parts.append(cell.ljust(col.width) if col.left else cell.rjust(col.width))
        return (mark + " " + " ".join(parts)).rstrip()

    out = []
    if any(c.top for c in columns):
        out.append(line([c.top for c in columns]))
    out.append(line([c.bottom for c in columns]))
    for i, row in enumerate(rows):
        out.append(line(row, marks[i] if i < len(marks) else " "))
    return "\n".join(out)


def number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.0f}" if value < 1e5 else f"{value:.0e}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(visible(text), WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False)


# --------------------------------------------------------------------------- compare

SOLVER_WIDTH = 19  # "auto (local-search)"


def compare_table(title: str, rows: list[dict[str, Any]], objective: str, with_truth: bool
                  ) -> str:
    """`placement compare`'s table, its legend and the reason of every row without a solution;
    every line at most 80 columns."""
    head = [Column("", "solver", SOLVER_WIDTH, left=True), Column("", "status", 10, left=True),
            Column("", "objective", 9)]
    if with_truth:
        columns = head + [Column("", "secs", 5), Column("mean", "pred", 6),
                          Column("deg", "true", 6), Column("LL /", "this", 7),
                          Column("SLO", "pred", 4), Column("viol", "true", 4)]
    else:
        columns = head + [Column("", "gap", 6), Column("", "secs", 5), Column("mean", "deg", 6),
                          Column("LL /", "this", 7), Column("SLO", "viol", 4),
                          Column("mach", "used", 4)]
    cells = []
    for r in rows:
        row = [r["solver"], r["status"], number(r["objective"])]
        if with_truth:
            row += [seconds(r["seconds"]), number(r["mean_degradation"], 3),
                    number(r["true_mean_degradation"], 3),
                    number(r["true_ratio_to_least_loaded"], 3),
                    number(r["slo_violations"]), number(r["true_slo_violations"])]
        else:
            row += [percent(r["gap"]), seconds(r["seconds"]), number(r["mean_degradation"], 3),
                    number(r["ratio_to_least_loaded"], 3), number(r["slo_violations"]),
                    number(r["machines_used"])]
        cells.append(row)
    marks = ["*" if r.get("best") else " " for r in rows]
    lines = [fit(title, WIDTH), render(columns, cells, marks), ""]
    ratio = "true mean degradation" if with_truth else "mean degradation"
    legend = (
        f"objective: {objective}, lower is better. mean deg: weighted mean degradation "
        f"(slowdown - 1){', predicted and true' if with_truth else ''}. LL / this: "
        f"least-loaded's {ratio} over this solver's, higher is better. SLO viol: replicas "
        "over their SLO. "
        + ("" if with_truth else "gap: to the proved bound. mach used: machines used. ")
        + "* marks the best row."
    )
    lines.append(wrap(legend))
    for r in rows:
        if r.get("reason"):
            lines.append(wrap(f"{r['solver']} {r['status']}: {r['reason']}", ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------- one solution

SUMMARY_FIELDS = ("mean_degradation", "p99_degradation", "max_degradation",
                  "total_added_latency_ms", "slo_violations", "machines_used", "cost_per_hour",
                  "moves", "forced_moves")


def solution_table(sol: Any, true_summary: Any = None, own: dict[str, Any] | None = None) -> str:
    """One solution's figures (``true_summary`` beside them with a truth); ``own`` is what the
    solution file itself says (status, bound, solver), shown beside a re-evaluation."""
    columns = [Column("", "figure", 24, left=True), Column("", "value", 14)]
    if true_summary is not None:
        columns = [columns[0], Column("", "predicted", 14), Column("", "true", 14)]
    if own is not None:
        columns.append(Column("", "in the file", 14))
    rows: list[list[str]] = []

    def add(name: str, value: str, true: str = "", from_file: Any = None) -> None:
        row = [name, value]
        if true_summary is not None:
            row.append(true)
        if own is not None:
            row.append("" if from_file is None else str(from_file))
        rows.append(row)

    file = own or {}
    add("status", sol.status, from_file=file.get("status"))
    add("objective", number(sol.objective), from_file=_num(file.get("objective")))
    add("bound", number(sol.bound), from_file=_num(file.get("bound")))
    add("gap", percent(sol.gap), from_file=_pct(file.get("gap")))
    add("seconds", seconds(sol.solve_seconds), from_file=_sec(file.get("solve_seconds")))
    if sol.summary is not None:
        for name in SUMMARY_FIELDS:
            if not hasattr(sol.summary, name):
                continue
            true = number(getattr(true_summary, name)) if true_summary is not None else ""
            add(name, number(getattr(sol.summary, name)), true)
    title = f"{sol.instance}: {sol.solver}"
    lines = [fit(title, WIDTH), render(columns, rows)]
    for line in sol.diagnosis:
        lines.append(wrap(f"diagnosis: {line}"))
    for key in ("auto", "warning"):
        if key in sol.info:
            lines.append(wrap(f"{key}: {sol.info[key]}"))
    return "\n".join(lines)


def _num(value: Any) -> str | None:
    return number(value) if isinstance(value, int | float) else None


def _pct(value: Any) -> str | None:
    return percent(value) if isinstance(value, int | float) else None


def _sec(value: Any) -> str | None:
    return seconds(value) if isinstance(value, int | float) else None
