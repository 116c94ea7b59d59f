"""The `placement` command. Thin: parse, call the library, print, write files.

Exit codes (SPEC section 4): 0 solved (optimal/feasible), 1 no solution (infeasible/unknown),
2 bad input or usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from placement.formats.errors import BAD_INPUT, NO_SOLUTION, SOLVED, InputError, UsageError

app = typer.Typer(
    help="Interference-aware placement of ML inference models on heterogeneous machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)



def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(BAD_INPUT)


def load_instance(path: Path):
    from placement.formats.instance import Instance

    return Instance.load(path)


def load_truth(path: Path | None):
    if path is None:
        return None
    from placement.synthetic.truth import GroundTruth

    return GroundTruth.load(path)


def load_predictor(path: Path | None, instance=None):
    """A predictor file, loaded only because the user named it; the instance is its catalog
    for models it was not trained on."""
    if path is None:
        return None
    from placement.learn.predictor import load_predictor as load

    return load(path, catalog=instance)


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def print_solution(sol, truth_summary=None) -> None:
    from placement.formats.solution import Summary

    table = Table(title=f"{sol.instance}: {sol.solver}", show_header=True)
    table.add_column("figure")
    table.add_column("predicted" if truth_summary else "value", justify="right")
    if truth_summary:
        table.add_column("true", justify="right")
    rows = [
        ("status", sol.status, None),
        ("objective", fmt(sol.objective), None),
        ("bound", fmt(sol.bound), None),
        ("gap", "-" if sol.gap is None else f"{sol.gap:.2%}", None),
        ("seconds", f"{sol.solve_seconds:.3f}", None),
    ]
    if sol.summary is not None:
        s, t = sol.summary, truth_summary
        for name in Summary.model_fields:
            rows.append((name, fmt(getattr(s, name)), fmt(getattr(t, name)) if t else None))
    for name, value, true in rows:
        table.add_row(name, value, *([true or ""] if truth_summary else []))
    out.print(table)
    for line in sol.diagnosis:
        out.print(f"[yellow]diagnosis:[/yellow] {line}", highlight=False)
    for key in ("auto", "warning"):
        if key in sol.info:
            out.print(f"[cyan]{key}:[/cyan] {sol.info[key]}", highlight=False)


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solver: Annotated[str, typer.Option(help="solver name (see `placement solvers`)")] = "auto",
    time_limit: Annotated[float, typer.Option(min=0.001, help="seconds")] = 10.0,
    seed: int = 0,
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    backend: Annotated[str | None, typer.Option(help="milp backend: highs or cbc")] = None,
    predictor: Annotated[Path | None, typer.Option(help="learned predictor file")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="solution JSON")] = None,
    current: Annotated[
        Path | None, typer.Option(help="solution or assignment file: where replicas run now")
    ] = None,
) -> None:
    """Place every replica of INSTANCE and write the solution JSON."""
    from placement.api import solve as run_solve
    from placement.formats.files import write_json_atomic
    from solvers import registry
    from solvers.result import Status

    try:
        registry.get(solver)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    inst = load_instance(instance)
    if current is not None:  # replaces the instance's own current (SPEC section 4)
        from placement.cluster.current import replace_current
        from placement.formats.solution import AssignmentFile

        inst = replace_current(inst, AssignmentFile.load(current).assignment, str(current))
    options = {"backend": backend} if backend else {}
    sol = run_solve(
        inst,
        solver,
        time_limit=time_limit,
        seed=seed,
        threads=threads,
        predictor=load_predictor(predictor, inst),
        **options,
    )
    print_solution(sol)
    if output is not None:
        write_json_atomic(output, sol.dump())
        out.print(f"wrote {output}", highlight=False)
    raise typer.Exit(SOLVED if Status(sol.status).solved else NO_SOLUTION)


@app.command()
def evaluate(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solution: Annotated[Path, typer.Argument(help="solution JSON file (its assignment is used)")],
    truth: Annotated[Path | None, typer.Option(help="ground truth from `generate --truth`")] = None,
) -> None:
    """Recompute every figure of SOLUTION's assignment; with --truth, true beside predicted."""
    from placement.evaluate import AssignmentError
    from placement.evaluate import evaluate as run_evaluate
    from placement.formats.solution import AssignmentFile

    inst = load_instance(instance)
    sol_in = AssignmentFile.load(solution)
    try:
        sol = run_evaluate(inst, sol_in.assignment)
        true = run_evaluate(inst, sol_in.assignment, source=load_truth(truth)) if truth else None
    except AssignmentError as exc:
        raise InputError(str(solution), exc.problems) from None
    sol.solver = sol_in.solver
    print_solution(sol, true.summary if true else None)
    if sol.diagnosis:
        raise typer.Exit(NO_SOLUTION)


@app.command()
def compare(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solvers: Annotated[str | None, typer.Option(help="comma-separated solver names")] = None,
    time_limit: Annotated[float, typer.Option(min=0.001)] = 10.0,
    seed: int = 0,
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    truth: Annotated[Path | None, typer.Option(help="ground truth from `generate --truth`")] = None,
    predictor: Annotated[Path | None, typer.Option(help="learned predictor file")] = None,
) -> None:
    """Run several solvers on INSTANCE; one row per solver, with its ratio to least-loaded."""
    from placement.compare import compare as run_compare
    from solvers import registry

    names = [s.strip() for s in solvers.split(",")] if solvers else None
    for name in names or []:
        try:
            registry.get(name)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from None
    inst = load_instance(instance)
    rows = run_compare(
        inst,
        names,
        time_limit=time_limit,
        seed=seed,
        threads=threads,
        truth=load_truth(truth),
        predictor=load_predictor(predictor, inst),
    )
    table = Table(
        title=f"{inst.name}: {inst.objective.minimize}, SLO {inst.objective.slo}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # two-line headers keep the table readable in an 80-column terminal
    columns = ["solver", "status", "objective", "gap", "secs", "mean\ndeg", "LL /\nthis",
               "SLO\nviol", "mach\nused"]
    if truth:
        columns += ["true\nmean deg", "true\nLL / this", "true\nSLO viol"]
    for c in columns:
        left = c in ("solver", "status")
        table.add_column(c, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        cells = [
            row["solver"],
            row["status"],
            fmt(row["objective"], 3),
            "-" if row["gap"] is None else f"{row['gap']:.1%}",
            f"{row['seconds']:.1f}",
            fmt(row["mean_degradation"], 3),
            fmt(row["ratio_to_least_loaded"], 3),
            fmt(row["slo_violations"]),
            fmt(row["machines_used"]),
        ]
        if truth:
            cells += [
                fmt(row["true_mean_degradation"], 3),
                fmt(row["true_ratio_to_least_loaded"], 3),
                fmt(row["true_slo_violations"]),
            ]
        table.add_row(*cells)
    out.print(table)
    out.print(
        "LL / this = least-loaded's mean degradation / this solver's (higher is better)",
        style="dim",
    )


@app.command()
def generate(
    output: Annotated[Path, typer.Option("-o", "--output", help="instance JSON to write")],
    models: Annotated[
        int | None, typer.Option(min=1, help="distinct models (default: derived)")
    ] = None,
    replicas: Annotated[
        int | None,
        typer.Option(min=1, help="replicas in all (default: 40, or one per model with --models)"),
    ] = None,
    machines: Annotated[int, typer.Option(min=1)] = 12,
    types: Annotated[int, typer.Option(min=1, help="machine types")] = 3,
    load: Annotated[float, typer.Option(min=0.01, max=1.5, help="requested / capacity")] = 0.7,
    interference: Annotated[str, typer.Option(help="low, medium or high")] = "medium",
    seed: int = 0,
    truth: Annotated[Path | None, typer.Option(help="where to write the ground truth")] = None,
    measurements: Annotated[
        Path | None,
        typer.Option(help="also write a measurement campaign (CSV, SPEC section 8) from the truth"),
    ] = None,
    sets: Annotated[int, typer.Option(min=0, help="measured sets of 3..4 models in it")] = 200,
) -> None:
    """Draw a random instance (and its hidden ground truth) from the model zoo."""
    from placement.formats.files import write_json_atomic
    from placement.synthetic.generator import generate as run_generate

    if interference not in ("low", "medium", "high"):
        raise fail(f"--interference: expected low, medium or high, got {interference!r}")
    inst, hidden = run_generate(
        n_models=models,
        n_replicas=replicas if replicas is not None or models is not None else 40,
        n_machines=machines,
        n_types=types,
        load=load,
        interference=interference,
        seed=seed,
    )
    write_json_atomic(output, inst.dump())
    out.print(
        f"wrote {output}: {len(inst.models)} models, {len(inst.replica_ids())} replicas, "
        f"{len(inst.machine_ids())} machines",
        highlight=False,
    )
    if truth is not None:
        hidden.save(truth)
        out.print(f"wrote {truth}", highlight=False)
    if measurements is not None:
        from placement.formats.files import write_text_atomic
        from placement.formats.measurements import measurements_csv
        from placement.synthetic.generator import measure_campaign

        rows = measure_campaign(inst, hidden, n_sets=sets, seed=seed)
        write_text_atomic(measurements, measurements_csv(rows))
        out.print(f"wrote {measurements}: {len(rows)} measured co-locations", highlight=False)


@app.command()
def bench(
    suite: Annotated[str, typer.Option(help="suite name in placement/bench/suites/, or a .toml path")]
    = "quick",
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="folder (default bench-out/SUITE)")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="worker processes")] = None,
    time_limit: Annotated[float | None, typer.Option(min=0.001, help="seconds per solve")] = None,
    executor: Annotated[str, typer.Option(
        help="where solves run: process (a local pool) or ray (Ray tasks, one CPU each)")]
    = "process",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster head HOST:PORT or auto  [default: a local Ray for the run]")] = None,
) -> None:
    """Run a benchmark suite (resumable) and write results.csv, report.md/.html and plots."""
    from placement.bench.executors import open_executor
    from placement.bench.runner import run_suite
    from placement.bench.suite import load_suite

    spec = load_suite(suite)  # InputError (file and key named) -> exit 2 in main()
    folder = output or Path("bench-out") / spec.name
    # entering connects: Ray missing or a bad --address is exit 2 before anything is written
    with open_executor(executor, jobs or spec.jobs, address) as pool:
        done = run_suite(spec, folder, jobs=jobs, time_limit=time_limit, executor=pool)
    out.print(f"{done.ran} solves run, {done.skipped} already in {folder / 'results.csv'}; "
              f"report: {folder / 'report.md'}", highlight=False)


@app.command("solvers")
def list_solvers() -> None:
    """List the solvers and what each is."""
    from solvers import registry

    table = Table()
    for c in ("name", "exact", "keeps hard SLOs", "what it is"):
        table.add_column(c)
    for info in registry.all_solvers():
        table.add_row(
            info.name, "yes" if info.exact else "", "yes" if info.respects_slo else "", info.summary
        )
    out.print(table)


@app.command()
def schema(which: Annotated[str, typer.Argument(help="instance or solution")]) -> None:
    """Print the JSON Schema of the instance or solution file."""
    from placement.formats.instance import Instance
    from placement.formats.solution import Solution

    models = {"instance": Instance, "solution": Solution}
    if which not in models:
        raise fail(f"expected `instance` or `solution`, got {which!r}")
    print(json.dumps(models[which].model_json_schema(by_alias=True), indent=2))


#: Faces built in their own modules under placement/cli/; each has ``mount(app)``.
FACES = (
    "placement.cli.predictor",
    "placement.cli.cluster",
    "placement.cli.k8s",
    "placement.cli.measure",
)


def _mount_faces() -> None:
    import importlib

    for name in FACES:
        importlib.import_module(name).mount(app)


_mount_faces()


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except InputError as exc:
        err.print(exc.render(), highlight=False, markup=False, soft_wrap=True)
        sys.exit(BAD_INPUT)
    except UsageError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(BAD_INPUT)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # usage errors (typer vendors click in recent releases)
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(BAD_INPUT)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
