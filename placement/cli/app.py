"""The `placement` command. Thin: parse, call the library, print, write files.

Exit codes (SPEC section 4): 0 solved (optimal/feasible), 1 no solution (infeasible/unknown),
2 bad input or usage. Every output path is checked before any work starts; ``-o -`` writes to
standard output, and then (or with ``--format json``) the human summary goes to standard error.
Names from files are printed literally (plain text, never rich markup).
"""

from __future__ import annotations

import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from placement.formats.errors import BAD_INPUT, NO_SOLUTION, SOLVED, InputError, UsageError

app = typer.Typer(
    help="Interference-aware placement of ML inference models on heterogeneous machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class Backend(StrEnum):
    highs = "highs"
    cbc = "cbc"


class Level(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class SchemaKind(StrEnum):
    instance = "instance"
    solution = "solution"


def _time_limit(value: float | None) -> float | None:
    """--time-limit: finite seconds in (0, 1e6] (``inf`` and ``nan`` are refused)."""
    from placement.formats.limits import MAX_TIME_LIMIT

    if value is not None and not (math.isfinite(value) and 0 < value <= MAX_TIME_LIMIT):
        raise typer.BadParameter(f"expected finite seconds in (0, {MAX_TIME_LIMIT:g}], got {value}")
    return value


def _load(value: float) -> float:
    """generate --load: the generator's range, (0, 1]."""
    if not (math.isfinite(value) and 0 < value <= 1):
        raise typer.BadParameter(f"expected a fraction in (0, 1], got {value}")
    return value


MAX_SEED = 2**63 - 1
Seed = Annotated[int, typer.Option(min=0, max=MAX_SEED,
                                   help="random seed: an integer in [0, 2^63)")]
TimeLimit = Annotated[float, typer.Option(callback=_time_limit,
                                          help="seconds, finite, at most 1e6")]
Threads = Annotated[int | None, typer.Option(min=1, max=1024,
                                             help="solver threads (default: up to 8 cores)")]
Format = Annotated[OutputFormat, typer.Option("--format",
                                              help="table for people, json for scripts")]
TruthFile = Annotated[Path | None, typer.Option(help="ground truth from `generate --truth` for "
                                                "this instance")]
PredictorFile = Annotated[Path | None, typer.Option(help="learned predictor file (`placement "
                                                    "predictor fit`)")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("placement")
        except PackageNotFoundError:  # run from a checkout without `pip install`
            number = "unknown (not installed)"
        print(f"placement {number}")
        raise typer.Exit(SOLVED)


@app.callback()
def root(
    show_version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                               help="print the version and exit")] = False,
) -> None:
    """Interference-aware placement of ML inference models on heterogeneous machines."""


def say(text: str, stream: TextIO | None = None) -> None:
    """Print ``text`` literally (no markup) to ``stream`` (standard output by default)."""
    print(text, file=stream or sys.stdout, flush=True)


def fail(message: str) -> typer.Exit:
    say(f"error: {message}", sys.stderr)
    return typer.Exit(BAD_INPUT)


def load_instance(path: Path):
    from placement.formats.instance import Instance

    return Instance.load(path)


def load_truth(path: Path | None, instance: Any):
    """The ground truth file, checked against the instance it is used with."""
    if path is None:
        return None
    from placement.evaluate import source_mismatch
    from placement.synthetic.truth import GroundTruth

    truth = GroundTruth.load(path)
    mismatch = source_mismatch(instance, truth)
    if mismatch:
        raise InputError(str(path), [(p, f"{m} (this truth belongs to another instance)")
                                     for p, m in mismatch])
    return truth


def dump_json(data: Any) -> None:
    from placement.formats.files import dumps_strict

    sys.stdout.write(dumps_strict(data))
    sys.stdout.flush()


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solver: Annotated[str, typer.Option(help="solver name (see `placement solvers`)")] = "auto",
    time_limit: TimeLimit = 10.0,
    seed: Seed = 0,
    threads: Threads = None,
    backend: Annotated[Backend | None, typer.Option(help="milp backend (default: highs)")]
    = None,
    predictor: PredictorFile = None,
    quantile: Annotated[float | None, typer.Option(
        help="with --predictor: optimize and check SLOs against this upper quantile of the "
             "predictor, in (0, 1), e.g. 0.9 (robust placement; default: the median)")] = None,
    output: Annotated[str | None, typer.Option("-o", "--output",
                                                help="solution JSON to write; - for stdout")]
    = None,
    current: Annotated[
        Path | None, typer.Option(help="solution or assignment file: where replicas run now")
    ] = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Place every replica of INSTANCE and write the solution JSON."""
    from placement.api import solve as run_solve
    from placement.cli.tables import solution_table
    from placement.formats.files import STDOUT, check_output, write_json_atomic
    from solvers import registry
    from solvers.result import Status

    try:
        registry.get(solver)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    if quantile is not None and not 0.0 < quantile < 1.0:
        raise fail(f"--quantile must be strictly between 0 and 1, got {quantile:g}")
    if quantile is not None and predictor is None:
        raise fail("--quantile needs --predictor PATH")
    target = None
    if output is not None:
        target = check_output(output, inputs=[instance, predictor, current])
    inst = load_instance(instance)
    if current is not None:  # replaces the instance's own current (SPEC section 4)
        from placement.cluster.current import replace_current
        from placement.formats.solution import AssignmentFile

        inst = replace_current(inst, AssignmentFile.load(current).assignment, str(current))
    options = {"backend": backend.value} if backend else {}
    sol = run_solve(
        inst,
        solver,
        time_limit=time_limit,
        seed=seed,
        threads=threads,
        predictor=predictor,
        quantile=quantile,
        **options,
    )
    to_stdout = output_format is OutputFormat.json or target == STDOUT
    human = sys.stderr if to_stdout else sys.stdout
    say(solution_table(sol), human)
    if "predictor_load_seconds" in sol.info:
        say(f"predictor loaded in {sol.info['predictor_load_seconds']:.2f} s (outside the time "
            "limit)", human)
    if target is not None:
        write_json_atomic(target, sol.dump())
        if target != STDOUT:
            say(f"wrote {output}", human)
    if output_format is OutputFormat.json and target != STDOUT:
        dump_json(sol.dump())
    raise typer.Exit(SOLVED if Status(sol.status).solved else NO_SOLUTION)


@app.command()
def evaluate(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solution: Annotated[Path, typer.Argument(help="solution JSON file (its assignment is used)")],
    truth: TruthFile = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Recompute every figure of SOLUTION's assignment; with --truth, true beside predicted.

    The solution file's own status, bound and solver are shown beside the re-evaluation (a
    re-evaluation proves nothing: it cannot say "optimal")."""
    from placement.cli.tables import solution_table
    from placement.evaluate import AssignmentError
    from placement.evaluate import evaluate as run_evaluate
    from placement.formats.solution import AssignmentFile

    inst = load_instance(instance)
    sol_in = AssignmentFile.load(solution)
    source = load_truth(truth, inst)
    try:
        sol = run_evaluate(inst, sol_in.assignment)
        true = run_evaluate(inst, sol_in.assignment, source=source) if source else None
    except AssignmentError as exc:
        raise InputError(str(solution), exc.problems) from None
    extra = sol_in.model_extra or {}
    own = {"solver": sol_in.solver, **{k: extra.get(k) for k in
                                         ("status", "objective", "bound", "gap", "solve_seconds")}}
    sol.solver = f"{sol_in.solver}, re-evaluated"
    json_out = output_format is OutputFormat.json
    say(solution_table(sol, true.summary if true else None, own=own),
        sys.stderr if json_out else sys.stdout)
    if json_out:
        dump_json({"evaluated": sol.dump(), "file": own,
                   "true_summary": true.summary.model_dump() if true and true.summary else None})
    if sol.diagnosis:
        raise typer.Exit(NO_SOLUTION)


@app.command()
def compare(
    instance: Annotated[Path, typer.Argument(help="instance JSON file")],
    solvers: Annotated[str | None, typer.Option(help="comma-separated solver names (default: "
                                                "every solver but exhaustive and auto)")] = None,
    time_limit: TimeLimit = 10.0,
    seed: Seed = 0,
    threads: Threads = None,
    truth: TruthFile = None,
    predictor: PredictorFile = None,
    backend: Annotated[Backend | None, typer.Option(help="milp backend (default: highs)")]
    = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Run several solvers on INSTANCE: one row per solver, the best marked.

    A solver that refuses the instance is shown as skipped, with the reason. Exit 0 when one
    solver found a solution, else 1."""
    from placement.api import as_predictor
    from placement.cli.tables import compare_table
    from placement.compare import compare as run_compare
    from solvers import registry

    names = [s.strip() for s in solvers.split(",") if s.strip()] if solvers is not None else None
    if names is not None and not names:
        raise fail("--solvers: expected comma-separated solver names, got nothing")
    for name in names or []:
        try:
            registry.get(name)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from None
    inst = load_instance(instance)
    source = load_truth(truth, inst)
    pred, load_seconds = as_predictor(predictor, inst)
    options = {"backend": backend.value} if backend else {}
    rows = run_compare(inst, names, time_limit=time_limit, seed=seed, threads=threads,
                       truth=source, predictor=pred, **options)
    title = f"{inst.name}: {inst.objective.minimize}, SLO {inst.objective.slo}"
    json_out = output_format is OutputFormat.json
    if json_out:
        dump_json({"instance": inst.name, "objective": inst.objective.minimize,
                   "slo": inst.objective.slo, "rows": rows})
        for row in rows:
            if row["reason"]:
                say(f"{row['solver']} {row['status']}: {row['reason']}", sys.stderr)
    else:
        say(compare_table(title, rows, inst.objective.minimize, with_truth=source is not None))
    if pred is not None and predictor is not None:
        say(f"predictor loaded in {load_seconds:.2f} s (outside the time limits)",
            sys.stderr if json_out else sys.stdout)
    if not any(row["status"] in ("optimal", "feasible") for row in rows):
        say("no solver found a solution (reasons above)", sys.stderr)
        raise typer.Exit(NO_SOLUTION)


@app.command()
def generate(
    output: Annotated[str, typer.Option("-o", "--output",
                                         help="instance JSON to write; - for stdout")],
    models: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="distinct models (default: derived)")
    ] = None,
    replicas: Annotated[
        int | None,
        typer.Option(min=1, max=1_000_000,
                     help="replicas in all (default: 40, or one per model with --models)"),
    ] = None,
    machines: Annotated[int, typer.Option(min=1, max=1_000_000, help="machines in all")] = 12,
    types: Annotated[int, typer.Option(min=1, max=1_000, help="machine types")] = 3,
    load: Annotated[float, typer.Option(callback=_load,
                                        help="requested / capacity on vCPUs, in (0, 1]")] = 0.7,
    interference: Annotated[Level, typer.Option(help="strength of the hidden contention")]
    = Level.medium,
    seed: Seed = 0,
    truth: Annotated[str | None, typer.Option(help="where to write the ground truth (JSON)")]
    = None,
    measurements: Annotated[
        str | None,
        typer.Option(help="also write a measurement campaign (CSV, SPEC section 8) from the truth"),
    ] = None,
    sets: Annotated[int, typer.Option(min=0, max=1_000_000,
                                      help="measured sets of 3..4 models in the campaign")] = 200,
) -> None:
    """Draw a random instance (and its hidden ground truth) from the model zoo."""
    from placement.formats.files import STDOUT, check_outputs, write_json_atomic
    from placement.synthetic.generator import generate as run_generate

    inst_out, truth_out, meas_out = check_outputs(
        [("-o", output), ("--truth", truth), ("--measurements", measurements)]
    )
    human = sys.stderr if STDOUT in (inst_out, truth_out, meas_out) else sys.stdout
    inst, hidden = run_generate(
        n_models=models,
        n_replicas=replicas if replicas is not None or models is not None else 40,
        n_machines=machines,
        n_types=types,
        load=load,
        interference=interference.value,
        seed=seed,
    )
    rows = None
    if meas_out is not None:  # computed before anything is written: all or nothing
        from placement.formats.measurements import measurements_csv
        from placement.synthetic.generator import measure_campaign

        rows = measure_campaign(inst, hidden, n_sets=sets, seed=seed)
    assert inst_out is not None
    write_json_atomic(inst_out, inst.dump())
    say(f"wrote {output}: {len(inst.models)} models, {len(inst.replica_ids())} replicas, "
        f"{len(inst.machine_ids())} machines", human)
    if truth_out is not None:
        write_json_atomic(truth_out, hidden.to_json())
        say(f"wrote {truth}", human)
    if meas_out is not None and rows is not None:
        from placement.formats.files import write_output

        write_output(meas_out, measurements_csv(rows))
        say(f"wrote {measurements}: {len(rows)} measured co-locations", human)


@app.command()
def bench(
    suite: Annotated[str, typer.Option(help="suite name in placement/bench/suites/, or a .toml "
                                       "path")] = "quick",
    output: Annotated[str | None, typer.Option("-o", "--output",
                                                help="folder (default: bench-out/SUITE)")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, max=1024,
                                             help="worker processes (default: the cores)")]
    = None,
    time_limit: Annotated[float | None, typer.Option(
        callback=_time_limit, help="seconds per solve (default: the suite's)")] = None,
    executor: Annotated[str, typer.Option(
        help="where solves run: process (a local pool) or ray (Ray tasks, one CPU each)")]
    = "process",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster head HOST:PORT or auto (default: a local Ray for the run)")] = None,
) -> None:
    """Run a benchmark suite (resumable) and write results.csv, report.md/.html and plots."""
    from placement.bench.executors import open_executor
    from placement.bench.runner import run_suite
    from placement.bench.suite import load_suite
    from placement.formats.files import check_output_folder

    spec = load_suite(suite)  # InputError (file and key named) -> exit 2 in main()
    folder = check_output_folder(output if output is not None else Path("bench-out") / spec.name)
    # entering connects: Ray missing or a bad --address is exit 2 before anything is written
    with open_executor(executor, jobs or spec.jobs, address) as pool:
        done = run_suite(spec, folder, jobs=jobs, time_limit=time_limit, executor=pool)
    say(f"{done.ran} solves run, {done.skipped} already in {folder / 'results.csv'}; "
        f"report: {folder / 'report.md'}")


@app.command("solvers")
def list_solvers() -> None:
    """List the solvers and what each is."""
    from placement.cli.tables import wrap
    from solvers import registry

    for info in registry.all_solvers():
        traits = ", ".join(t for t, on in (("exact", info.exact),
                                           ("keeps hard SLOs", info.respects_slo)) if on)
        say(f"{info.name}" + (f"  ({traits})" if traits else ""))
        say(wrap(info.summary, "    "))


@app.command()
def schema(which: Annotated[SchemaKind, typer.Argument(help="which file format")]) -> None:
    """Print the JSON Schema of the instance or solution file."""
    from placement.formats.instance import Instance
    from placement.formats.solution import Solution

    models = {SchemaKind.instance: Instance, SchemaKind.solution: Solution}
    dump_json(models[which].model_json_schema(by_alias=True))


#: Faces built in their own modules under placement/cli/; each has ``mount(app)``.
FACES = (
    "placement.cli.predictor",
    "placement.cli.cluster",
    "placement.cli.refine",
    "placement.cli.k8s",
    "placement.cli.measure",
)


def _mount_faces() -> None:
    import importlib

    for name in FACES:
        importlib.import_module(name).mount(app)


_mount_faces()


def main() -> None:
    from solvers.result import SolverInputError

    try:
        code = app(standalone_mode=False)
    except InputError as exc:
        say(exc.render(), sys.stderr)
        sys.exit(BAD_INPUT)
    except (UsageError, SolverInputError) as exc:
        say(f"error: {exc}", sys.stderr)
        sys.exit(BAD_INPUT)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        say("interrupted", sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `placement ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        sys.exit(SOLVED)
    except Exception as exc:  # usage errors (typer vendors click in recent releases)
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(BAD_INPUT)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
