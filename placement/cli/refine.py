"""``placement refine``: the measure-and-refit loop (SPEC section 10), as a command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from placement.formats.errors import BAD_INPUT, NO_SOLUTION, SOLVED, InputError

err = Console(stderr=True)


def refine_command(
    instance_path: Annotated[Path, typer.Argument(metavar="INSTANCE", help="instance JSON")],
    measurements: Annotated[
        Path, typer.Option("--measurements", help="measurements CSV to start from (never changed)")
    ],
    measure: Annotated[
        str,
        typer.Option(
            "--measure",
            help="measurer command: reads a requests CSV on stdin, writes measurements on "
            "stdout (e.g. 'placement measure --truth T.json'); split like a shell line",
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="final solution JSON, or -")],
    measurements_out: Annotated[
        Path,
        typer.Option("--measurements-out", help="every measurement, old and new, after each round"),
    ],
    rounds: Annotated[int, typer.Option(min=0, max=1000, help="measure-and-refit rounds")] = 3,
    budget: Annotated[int, typer.Option(min=1, max=100_000, help="sets measured per round")] = 20,
    solver: Annotated[str, typer.Option(help="solver of every round")] = "auto",
    time_limit: Annotated[
        float, typer.Option(min=0.001, max=1e6, help="seconds per solve")
    ] = 10.0,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1, help="seed of fits and solves")] = 0,
    kind: Annotated[str, typer.Option(help="predictor kind (see predictor fit)")] = "gbt-pairs",
    measure_timeout: Annotated[
        float, typer.Option(min=0.001, max=1e6, help="seconds the measurer may take per round")
    ] = 600.0,
    log: Annotated[Path | None, typer.Option(help="JSON log of the rounds")] = None,
    measurement_noise: Annotated[
        float | None,
        typer.Option(min=1e-6, max=0.999, help="the measurer's lognormal sigma (e.g. 0.025): the "
                     "final solve blends each measured co-location with an out-of-fold "
                     "prediction (docs/refine.md)"),
    ] = None,
) -> None:
    """Fit a predictor, solve, measure the chosen sets and their near alternatives, refit."""
    from placement.formats.files import check_outputs, write_json_atomic, write_text_atomic
    from placement.formats.instance import Instance
    from placement.formats.measurements import measurements_csv, read_measurements
    from placement.learn.predictor import KINDS
    from placement.measure.client import CommandMeasurer, MeasurerError
    from placement.measure.refine import RoundLog, refine
    from solvers import registry
    from solvers.result import Status

    if kind not in KINDS:
        raise InputError("--kind", [("--kind", f"unknown kind {kind!r}; expected one of "
                                               f"{', '.join(KINDS)}")])
    if solver not in registry.names():
        raise InputError("--solver", [("--solver", f"unknown solver {solver!r}; expected one "
                                                   f"of {', '.join(registry.names())}")])
    solution_out, rows_out, log_out = check_outputs(
        [("-o", output), ("--measurements-out", measurements_out), ("--log", log)],
        inputs=[instance_path, measurements],
    )
    instance = Instance.load(instance_path)
    start_rows = read_measurements(measurements)
    try:
        measurer = CommandMeasurer(measure, timeout=measure_timeout)
    except ValueError as exc:
        raise InputError("--measure", [("--measure", str(exc))]) from None
    history: list[dict] = []

    def save(entry: RoundLog, rows: list) -> None:
        write_text_atomic(rows_out, measurements_csv(rows))
        history.append(entry.as_dict())
        if log_out is not None:
            write_json_atomic(log_out, {"rounds": history})
        error = "-" if entry.chosen_error_pct is None else f"{entry.chosen_error_pct:.2f}%"
        believed = entry.believed_mean_degradation
        err.print(
            Text(
                f"round {entry.round}: {entry.solver} {entry.status}, believed mean degradation "
                f"{believed if believed is None else round(believed, 4)}; measured "
                f"{entry.sets_asked} sets ({entry.rows_measured} rows, "
                f"{entry.chosen_sets_asked} of the chosen placement); believed vs measured "
                f"on chosen sets: {error}"
            )
        )

    try:
        result = refine(
            instance, start_rows, measurer, rounds=rounds, budget=budget, solver=solver,
            time_limit=time_limit, seed=seed, kind=kind, measurement_noise=measurement_noise,
            on_round=save,
        )
    except MeasurerError as exc:
        err.print(Text(f"error: {exc}"))
        err.print(Text(f"every measurement so far is in {rows_out}" if history else
                       "nothing was measured; nothing written"))
        raise typer.Exit(BAD_INPUT) from None
    write_text_atomic(rows_out, measurements_csv(result.measurements))
    write_json_atomic(solution_out, result.solution.dump())
    table = Table(title="refine", title_justify="left")
    for column in ("round", "sets", "rows", "chosen", "believed vs measured", "mean degr."):
        table.add_column(column, justify="right")
    for entry in result.log:
        table.add_row(
            str(entry.round), str(entry.sets_asked), str(entry.rows_measured),
            str(entry.chosen_sets_asked),
            "-" if entry.chosen_error_pct is None else f"{entry.chosen_error_pct:.2f}%",
            "-" if entry.believed_mean_degradation is None
            else f"{entry.believed_mean_degradation:.4f}",
        )
    err.print(table)
    final = result.solution
    err.print(Text(f"final: {final.solver} {final.status}"
                   + (f", mean degradation {final.summary.mean_degradation:.4f}"
                      if final.summary else "")))
    if result.stopped:
        err.print(Text(f"stopped early: {result.stopped}; a longer --time-limit may help"))
    if not final.assignment:
        # a round's solve that finds nothing leaves nothing to measure: the loop stops there
        err.print(Text(f"{final.solver} found no placement within --time-limit {time_limit:g} s"
                       f" after {len(result.log)} round(s); try a longer --time-limit or "
                       "--solver auto (it falls back to heuristics)"))
    raise typer.Exit(SOLVED if Status(final.status).solved else NO_SOLUTION)


def mount(root: typer.Typer) -> None:
    """Join the ``placement`` command: ``refine``."""
    root.command("refine")(refine_command)
