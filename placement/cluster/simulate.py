"""The simulator: replay a trace's events, let each policy place the cluster after every one,
and score every placement with the one evaluator (SPEC section 9).

Each policy gets its own copy of the cluster: after an event
(:func:`~placement.cluster.events.apply_event`) the policy returns a solution, whose assignment
becomes the next ``current`` (:func:`~placement.cluster.events.with_current`). The scores are
the solution's own predicted figures and, with a ground truth, the true ones of the same
assignment (:func:`placement.evaluate.evaluate` with ``source=truth``); a policy never sees the
truth. A policy that finds no placement leaves the cluster as it was (its row says so).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from statistics import mean

from placement.cluster.events import apply_event, initial_state, with_current
from placement.cluster.policies import Policy
from placement.evaluate import evaluate
from placement.formats.trace import Trace
from placement.interference import SlowdownSource
from solvers.result import Status

SOLVED = tuple(s.value for s in Status if s.solved)


@dataclass(frozen=True)
class EventRow:
    """One policy after one event: the CSV row."""

    policy: str
    event: int
    at: float
    kind: str
    status: str
    replicas: int
    predicted_mean_degradation: float | None
    true_mean_degradation: float | None
    slo_violations: int | None
    true_slo_violations: int | None
    moves: int
    forced_moves: int
    solve_seconds: float
    note: str = ""


COLUMNS = tuple(EventRow.__dataclass_fields__)


def simulate(
    trace: Trace,
    policies: Mapping[str, Policy],
    *,
    truth: SlowdownSource | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[EventRow]:
    """Every policy over every event of ``trace``; rows in policy order, then event order."""
    rows: list[EventRow] = []
    n = len(trace.events)
    for name, policy in policies.items():
        state = initial_state(trace.instance)
        for i, event in enumerate(trace.events):
            state = apply_event(state, event)
            solution = policy(state, event)
            instance = state.instance
            replicas = len(instance.replica_ids())
            if solution.status not in SOLVED or solution.summary is None:
                rows.append(EventRow(
                    name, i, event.at, event.kind, solution.status, replicas, None, None, None,
                    None, 0, 0, solution.solve_seconds,
                    "; ".join(solution.diagnosis)[:300],
                ))
            else:
                true = None
                if truth is not None:
                    true = evaluate(instance, solution.assignment, source=truth).summary
                summary = solution.summary
                rows.append(EventRow(
                    name, i, event.at, event.kind, solution.status, replicas,
                    summary.mean_degradation,
                    None if true is None else true.mean_degradation,
                    summary.slo_violations,
                    None if true is None else true.slo_violations,
                    summary.moves or 0, summary.forced_moves or 0, solution.solve_seconds,
                    str(solution.info.get("fallback", "")),
                ))
                state = with_current(state, solution.assignment)
            if progress is not None:
                progress(name, i + 1, n)
    return rows


def rows_csv(rows: list[EventRow]) -> str:
    """The per-event CSV (empty cells for figures a row does not have)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    return buffer.getvalue()


@dataclass(frozen=True)
class PolicySummary:
    """Figures over a trace, per policy: means over events (of the events it placed), totals of
    moves."""

    policy: str
    events: int
    placed: int
    mean_predicted_degradation: float
    mean_true_degradation: float | None
    mean_slo_violations: float
    mean_true_slo_violations: float | None
    counted_moves: int
    forced_moves: int
    mean_solve_seconds: float
    max_solve_seconds: float


def summarize(rows: list[EventRow]) -> list[PolicySummary]:
    out = []
    for name in dict.fromkeys(r.policy for r in rows):
        mine = [r for r in rows if r.policy == name]
        placed = [r for r in mine if r.status in SOLVED]

        def avg(values: list[float | None]) -> float | None:
            kept = [v for v in values if v is not None]
            return mean(kept) if kept else None

        out.append(PolicySummary(
            name, len(mine), len(placed),
            avg([r.predicted_mean_degradation for r in placed]) or 0.0,
            avg([r.true_mean_degradation for r in placed]),
            avg([r.slo_violations for r in placed]) or 0.0,
            avg([r.true_slo_violations for r in placed]),
            sum(r.moves for r in mine), sum(r.forced_moves for r in mine),
            mean(r.solve_seconds for r in mine) if mine else 0.0,
            max((r.solve_seconds for r in mine), default=0.0),
        ))
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def report_markdown(title: str, rows: list[EventRow], plots: list[str]) -> str:
    """The report: a table of figures over the trace per policy, and the plots."""
    lines = [f"# {title}", "",
             "Means over events of each policy's placement after the event; moves are totals "
             "(counted: against the budget; forced: off down machines).", "",
             "| policy | events placed | mean degradation (predicted) | mean degradation "
             "(true) | SLO violations (true) | counted moves | forced moves | solve s (mean / "
             "max) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summarize(rows):
        lines.append(
            f"| {s.policy} | {s.placed}/{s.events} | {_fmt(s.mean_predicted_degradation)} | "
            f"{_fmt(s.mean_true_degradation)} | {_fmt(s.mean_true_slo_violations, 2)} | "
            f"{s.counted_moves} | {s.forced_moves} | {s.mean_solve_seconds:.3f} / "
            f"{s.max_solve_seconds:.3f} |"
        )
    lines.append("")
    for plot in plots:
        lines += [f"![{plot}]({plot})", ""]
    return "\n".join(lines)


def plot_over_time(rows: list[EventRow]) -> dict[str, bytes]:
    """Two PNGs (file name -> bytes): mean degradation per event (true when known) and
    cumulative counted moves, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    policies = list(dict.fromkeys(r.policy for r in rows))
    has_truth = any(r.true_mean_degradation is not None for r in rows)
    figure, axis = plt.subplots(figsize=(8, 4))
    for name in policies:
        mine = [r for r in rows if r.policy == name]
        values = [(r.true_mean_degradation if has_truth else r.predicted_mean_degradation)
                  for r in mine]
        axis.plot([r.event for r in mine],
                  [math.nan if v is None else v for v in values], label=name, linewidth=1.2)
    axis.set_xlabel("event")
    axis.set_ylabel(("true" if has_truth else "predicted") + " mean degradation")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    out["degradation.png"] = _png(figure)
    figure, axis = plt.subplots(figsize=(8, 4))
    for name in policies:
        mine = [r for r in rows if r.policy == name]
        total, series = 0, []
        for r in mine:
            total += r.moves
            series.append(total)
        axis.plot([r.event for r in mine], series, label=name, linewidth=1.2)
    axis.set_xlabel("event")
    axis.set_ylabel("cumulative counted moves")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    out["moves.png"] = _png(figure)
    return out


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
