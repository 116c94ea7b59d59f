"""The running cluster's faces on the command line (SPEC sections 4 and 9). Thin: parse, call,
print, write.

```
placement diff INSTANCE SOLUTION_A SOLUTION_B [--format table|json]
placement generate-trace [--events N] [--seed N] -o TRACE [--truth TRUTH] (plus generate's options)
placement simulate TRACE --policies online-greedy,replan,resolve [--max-moves K] [--truth TRUTH]
    [--solver S] [--time-limit S] [--seed N] -o DIR
```
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from placement.formats.errors import InputError

out = Console()
err = Console(stderr=True)

MAX_SEED = 2**63 - 1


def diff_command(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solution_a: Annotated[Path, typer.Argument(help="solution or assignment file: from")],
    solution_b: Annotated[Path, typer.Argument(help="solution or assignment file: to")],
    output_format: Annotated[
        str, typer.Option("--format", help="table or json")
    ] = "table",
) -> None:
    """The moves that turn placement A into placement B, and the change of every figure."""
    from placement.cluster.diff import diff_solutions
    from placement.evaluate import AssignmentError
    from placement.formats.instance import Instance
    from placement.formats.solution import AssignmentFile

    if output_format not in ("table", "json"):
        raise InputError("--format", [("$", f"expected table or json, got {output_format!r}")])
    inst = Instance.load(instance)
    a = AssignmentFile.load(solution_a).assignment
    b = AssignmentFile.load(solution_b).assignment
    _check_names(inst, a, str(solution_a), departures_allowed=True)
    _check_names(inst, b, str(solution_b), departures_allowed=False)
    try:
        result = diff_solutions(inst, a, b)
    except AssignmentError as exc:  # _check_names caught every case; kept as a safety net
        raise InputError(str(solution_b), exc.problems) from None
    if output_format == "json":
        print(json.dumps(result.to_json(), indent=2, allow_nan=False))
        return
    table = Table(title=f"{inst.name}: A = {solution_a.name}, B = {solution_b.name}",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("figure", "A", "B", "B - A"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, va, vb in result.figures():
        change = None if va is None or vb is None else vb - va
        table.add_row(name, _fmt(va), _fmt(vb), _fmt(change, signed=True))
    out.print(table)
    moves = result.moves
    out.print(f"{len(moves.moves)} moves from A to B: {moves.counted} counted, {moves.forced} "
              f"forced (off down machines); {len(result.new_in_b)} replicas new in B, "
              f"{len(result.unplaced_in_b)} unplaced in B", highlight=False)
    if moves.departed:
        out.print(f"departed (in A, no longer in the instance): {', '.join(moves.departed)}",
                  highlight=False)
    if moves.moves:
        listing = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("replica", "from", "to", "forced"):
            listing.add_column(column, overflow="fold")
        for m in moves.moves:
            listing.add_row(m.replica, m.from_, m.to, "yes" if m.forced else "")
        out.print(listing)


def generate_trace_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="trace JSON to write")],
    events: Annotated[int, typer.Option(min=0, max=1_000_000, help="number of events")] = 100,
    models: Annotated[int, typer.Option(min=2, max=10_000, help="models at the start")] = 30,
    replicas: Annotated[
        int | None, typer.Option(min=2, help="replicas at the start (default: one per model)")
    ] = None,
    machines: Annotated[int, typer.Option(min=1, max=20_000)] = 12,
    types: Annotated[int, typer.Option(min=1, help="machine types")] = 3,
    load: Annotated[float, typer.Option(min=0.01, max=1.0, help="requested / capacity")] = 0.7,
    interference: Annotated[str, typer.Option(help="low, medium or high")] = "medium",
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED)] = 0,
    truth: Annotated[Path | None, typer.Option(help="where to write the ground truth")] = None,
    slo: Annotated[str, typer.Option(help="hard or soft SLOs in the instance")] = "soft",
    start: Annotated[
        str, typer.Option(help="packed (running where a blind packing put it) or empty")
    ] = "packed",
) -> None:
    """Draw a running cluster and its events (arrivals, departures, scale and load changes,
    machine failures and recoveries) from the model zoo, with the hidden ground truth."""
    from placement.formats.files import check_outputs, write_json_atomic
    from placement.synthetic.trace_generator import generate_trace

    if interference not in ("low", "medium", "high"):
        raise InputError("--interference", [("$", f"expected low, medium or high, got "
                                                  f"{interference!r}")])
    for option, value, allowed in (("--slo", slo, ("hard", "soft")),
                                   ("--start", start, ("packed", "empty"))):
        if value not in allowed:
            raise InputError(option, [("$", f"expected {' or '.join(allowed)}, got {value!r}")])
    trace_out, truth_out = check_outputs([("-o", output), ("--truth", truth)])
    trace, hidden = generate_trace(
        n_events=events, n_models=models, n_replicas=replicas, n_machines=machines,
        n_types=types, load=load, interference=interference, seed=seed, slo=slo, start=start,
    )
    assert trace_out is not None
    write_json_atomic(trace_out, trace.dump())
    if truth_out is not None:
        write_json_atomic(truth_out, hidden.to_json())
    kinds: dict[str, int] = {}
    for e in trace.events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no events"
    err.print(f"wrote {output}: {len(trace.instance.models)} models on "
              f"{len(trace.instance.machine_ids())} machines, {len(trace.events)} events "
              f"({summary})" + (f"; truth in {truth}" if truth else ""), highlight=False)


def simulate_command(
    trace: Annotated[Path, typer.Argument(help="trace JSON file (generate-trace)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="folder for events.csv, "
                                         "report.md and the plots")],
    policies: Annotated[str, typer.Option(help="comma-separated: online-greedy, replan, "
                                          "resolve")] = "online-greedy,replan,resolve",
    max_moves: Annotated[int | None, typer.Option(
        "--max-moves", min=0, max=1_000_000, help="replan's counted moves per event")] = None,
    move_penalty: Annotated[float | None, typer.Option(
        "--move-penalty", min=0.0, max=1e6,
        help="replan's cost of a counted move, in objective units (default: the instance's): "
             "replan moves only when a move gains more")] = None,
    truth: Annotated[Path | None, typer.Option(help="ground truth (generate-trace --truth) for "
                                               "true figures")] = None,
    solver: Annotated[str, typer.Option(help="replan's and resolve's solver")] = "local-search",
    time_limit: Annotated[float, typer.Option(help="seconds per event and policy (10)")] = 10.0,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED)] = 0,
) -> None:
    """Replay a trace: after every event each policy places the cluster; per-event figures
    (predicted and true mean degradation, SLO violations, counted and forced moves, solve
    seconds) in events.csv, a report with plots over time in report.md."""
    from placement.api import check_time_limit
    from placement.cli.app import load_truth
    from placement.cluster.events import load_trace
    from placement.cluster.policies import POLICIES, make_policy
    from placement.cluster.simulate import plot_over_time, report_markdown, rows_csv, simulate
    from placement.formats.files import (
        check_output_folder,
        check_outputs,
        write_bytes_atomic,
        write_text_atomic,
    )
    from solvers import registry

    names = [n.strip() for n in policies.split(",") if n.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if not names or unknown or len(set(names)) != len(names):
        raise InputError("--policies", [("$", f"expected distinct names among "
                                              f"{', '.join(POLICIES)}, got {policies!r}")])
    if "replan" in names and max_moves is None:
        raise InputError("--max-moves", [("$", "replan needs a move budget: --max-moves K")])
    if solver not in registry.names():
        raise InputError("--solver", [("$", f"unknown solver {solver!r}; expected one of "
                                            f"{', '.join(registry.names())}")])
    seconds = check_time_limit(time_limit, "--time-limit")
    folder = check_output_folder(output)
    files = ("events.csv", "report.md", "degradation.png", "moves.png")
    check_outputs([("-o", folder / f) for f in files], inputs=[trace, truth])
    loaded = load_trace(trace)
    hidden = load_truth(truth, loaded.instance)
    if move_penalty is not None and not math.isfinite(move_penalty):
        raise InputError("--move-penalty", [("$", "expected a finite number >= 0")])
    chosen = {n: make_policy(n, solver=solver, max_moves=max_moves, time_limit=seconds,
                             seed=seed, move_penalty=move_penalty) for n in names}

    def progress(name: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            err.print(f"{name}: {done}/{total} events", highlight=False)

    rows = simulate(loaded, chosen, truth=hidden, progress=progress)
    plots = plot_over_time(rows)
    for name, data in plots.items():
        write_bytes_atomic(folder / name, data)
    write_text_atomic(folder / "events.csv", rows_csv(rows))
    title = f"simulate {trace.name}: {', '.join(names)}"
    if max_moves is not None:
        title += f" (replan: {solver}, --max-moves {max_moves}" + (
            f", --move-penalty {move_penalty:g})" if move_penalty is not None else ")")
    write_text_atomic(folder / "report.md", report_markdown(title, rows, list(plots)))
    err.print(f"wrote {folder}/events.csv, report.md and {len(plots)} plots", highlight=False)


def _check_names(instance, assignment: dict[str, str], source: str,
                 departures_allowed: bool) -> None:
    """Machines must be the instance's; so must replicas, except departures in A."""
    machines = {mid for mid, _ in instance.machine_ids()}
    replicas = {rid for rid, _ in instance.replica_ids()}
    problems = [
        (f"assignment.{rid}", f"unknown machine {mid!r}: the instance has no such machine")
        for rid, mid in assignment.items() if mid not in machines
    ]
    if not departures_allowed:
        problems += [
            (f"assignment.{rid}", "unknown replica: the instance has no such replica "
                                  "(expected ids like <model>#<r>)")
            for rid in assignment if rid not in replicas
        ]
    if problems:
        raise InputError(source, problems)


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def mount(root: typer.Typer) -> None:
    """Join the ``placement`` command: ``diff``, ``generate-trace`` and ``simulate``."""
    root.command("diff")(diff_command)
    root.command("generate-trace")(generate_trace_command)
    root.command("simulate")(simulate_command)
