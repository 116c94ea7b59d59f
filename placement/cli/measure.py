"""Measuring on the command line (SPEC section 10). Thin: parse, call, print, write.

```
placement profile MODEL... --cpus SET [--machine-type NAME] [--rate RPS] [--seconds S]
                  [--sets N] [--repeats R] [--threads T] -o MEASUREMENTS --catalog-out CATALOG
placement profile [MODEL...] --cpus SET --requests - < requests.csv > measurements.csv
placement measure --truth TRUTH [--seed N] < requests.csv > measurements.csv
```

``--cpus`` may be repeated as ``NAME=SET`` to profile several machine types in one run
(``--cpus local-1c=0 --cpus local-2c=0,1``). With ``--requests``, the models may be left out:
built-in names in the requests are then resolved by themselves. Answers go to standard output
(or ``-o``), the human summary to standard error.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from placement.formats.errors import InputError

err = Console(stderr=True)
MAX_SEED = 2**63 - 1


# --------------------------------------------------------------------------- argument checks


def _cpu_sets(values: list[str], machine_type: str | None) -> dict[str, tuple[int, ...]]:
    """``--cpus`` values -> machine type name -> CPU set; InputError on anything odd."""
    from placement.measure.hardware import allowed_cpus, parse_cpus

    out: dict[str, tuple[int, ...]] = {}
    problems: list[tuple[str, str]] = []
    allowed = allowed_cpus()
    plain = [v for v in values if "=" not in v]
    if len(plain) > 1:
        problems.append(("--cpus", "give one plain CPU set, or name each one: TYPE=SET"))
    for value in values:
        name, _, text = value.rpartition("=")
        if not name:
            name = machine_type or f"local-{text.replace(',', '_')}"
        elif machine_type and len(values) == 1:
            problems.append(("--machine-type", "the --cpus value already names its type"))
        try:
            cpus = parse_cpus(text)
        except ValueError as exc:
            problems.append((f"--cpus {value}", str(exc)))
            continue
        if not set(cpus) <= allowed:
            problems.append((f"--cpus {value}", f"CPUs {sorted(set(cpus) - allowed)} are not "
                             f"available to this process; expected some of {sorted(allowed)}"))
        if name in out:
            problems.append((f"--cpus {value}", f"machine type {name!r} named twice"))
        out[name] = cpus
    if problems:
        raise InputError("placement profile", problems)
    return out


def _check_output(path: Path | None, option: str, inputs: list[Path]) -> None:
    """Fail before any measurement when an output cannot be written or is an input."""
    if path is None or str(path) == "-":
        return
    problems = []
    if path.is_dir():
        problems.append((option, f"{path} is a folder; expected a file path"))
    parent = path.resolve().parent
    if not parent.is_dir():
        problems.append((option, f"folder {parent} does not exist"))
    elif not os.access(parent, os.W_OK):
        problems.append((option, f"folder {parent} is not writable"))
    for p in inputs:
        if p.exists() and path.exists() and path.resolve() == p.resolve():
            problems.append((option, f"would overwrite the input {p}; expected another path"))
    if problems:
        raise InputError(str(path), problems)


def _write(path: Path | None, text: str) -> None:
    from placement.formats.files import write_text_atomic

    if path is None or str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(path, text)


def _read_requests(where: str):
    from placement.formats.files import read_text
    from placement.measure.requests import read_requests

    if where == "-":
        return read_requests(sys.stdin.read(), "<stdin>")
    return read_requests(read_text(where), where)


# --------------------------------------------------------------------------- profile


def profile_command(
    models: Annotated[list[str] | None, typer.Argument(
        help="built-in model names (mlp-s, cnn-m, transformer-l, embed-l, ...) or .onnx files",
        show_default=False)] = None,
    cpus: Annotated[list[str] | None, typer.Option(
        "--cpus", help="CPU set of the machine (0: one core, 0,1: two); TYPE=SET to name it; "
        "repeat for several machine types")] = None,
    machine_type: Annotated[str | None, typer.Option(
        "--machine-type", help="name of the machine type of a plain --cpus set")] = None,
    rate: Annotated[float | None, typer.Option(
        min=0.001, help="requests per second per model, open loop (Poisson); default: back "
        "to back")] = None,
    seconds: Annotated[float, typer.Option(min=0.01, help="recording window per set")] = 1.0,
    warmup: Annotated[float, typer.Option(min=0.0, help="discarded seconds before it")] = 0.3,
    sets: Annotated[int, typer.Option(min=0, help="sampled sets of 3 per machine type")] = 5,
    repeats: Annotated[int, typer.Option(min=1, help="rounds over every set")] = 3,
    threads: Annotated[int, typer.Option(min=1, help="intra-op threads per model")] = 1,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED)] = 0,
    slo_factor: Annotated[float, typer.Option(
        min=1.0, help="catalog slo_ms = this x the slowest solo latency")] = 3.0,
    name: Annotated[str | None, typer.Option(help="catalog instance name")] = None,
    requests: Annotated[str | None, typer.Option(
        "--requests", help="measure only these requests (CSV; - = standard input)")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="measurements CSV (- = standard output)")] = None,
    catalog_out: Annotated[Path | None, typer.Option(
        "--catalog-out", help="catalog instance JSON to write")] = None,
) -> None:
    """Measure real co-location slowdowns on this machine with ONNX Runtime; write the
    measurements CSV and a catalog instance (or answer --requests)."""
    from placement.measure.hardware import cpu_model
    from placement.measure.models import BUILTINS, resolve_models
    from placement.measure.pool import WorkerError
    from placement.measure.profiler import Protocol, noise

    models = list(models or [])
    if not cpus:
        raise InputError("placement profile", [("--cpus", "missing; expected a CPU set such "
                                                          "as 0 or 0,1")])
    cpu_sets = _cpu_sets(cpus, machine_type)
    inputs = [Path(m) for m in models if m.endswith(".onnx")]
    if requests is not None:
        if catalog_out is not None:
            raise InputError("placement profile", [("--catalog-out", "not with --requests: "
                                                    "answers are measurements only")])
        if requests != "-":
            inputs.append(Path(requests))
        _check_output(output, "-o", inputs)
        asked = _read_requests(requests)
        if not models:  # built-ins named in the requests
            models = sorted({n for r in asked for n in r.members} & set(BUILTINS))
    else:
        if not models:
            raise InputError("placement profile", [("MODEL", "missing; expected built-in "
                             f"names ({', '.join(BUILTINS)}) or .onnx files")])
        if output is None or catalog_out is None:
            raise InputError("placement profile", [("-o / --catalog-out", "both are needed "
                             "without --requests")])
        _check_output(output, "-o", inputs)
        _check_output(catalog_out, "--catalog-out", [*inputs, output])
    protocol = Protocol(seconds=seconds, warmup=warmup, rate=rate, repeats=repeats,
                        threads=threads, seed=seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="placement-profile-") as folder:
        sources = resolve_models(models, Path(folder))
        try:
            if requests is not None:
                profiles = _answer(asked, sources, cpu_sets, protocol, output)
            else:
                profiles = _profile(sources, cpu_sets, protocol, sets, slo_factor, name,
                                    output, catalog_out)
        except WorkerError as exc:
            raise InputError("placement profile", [("MODEL", str(exc))]) from None
    wall = time.monotonic() - started
    n_sets = sum(1 for p in profiles for g in p.runs if len(g) > 1)
    err.print(
        f"conditions: CPU {cpu_model()!r}; "
        + "; ".join(f"{p.machine_type} = CPUs {','.join(map(str, p.hardware.cpus))} "
                    f"({p.hardware.cores} cores)" for p in profiles)
        + f"; {threads} intra-op thread(s) per model; "
        + ("back to back" if rate is None else f"open loop at {rate:g} req/s")
        + f"; {warmup:g} s warm-up + {seconds:g} s per set; {repeats} rounds; "
        f"noise (median CV of a model's solo latency over its runs) {noise(profiles):.1%}; "
        f"{len(sources)} models, {n_sets} co-located sets; wall time {wall:.1f} s",
        highlight=False, soft_wrap=True,
    )


def _progress(line: str) -> None:
    if os.environ.get("PLACEMENT_PROGRESS"):
        err.print(line, highlight=False)


def _answer(asked, sources, cpu_sets, protocol, output):
    from placement.measure.profiler import EXTRA_COLUMNS, answer_requests
    from placement.measure.requests import answers_csv, check_known

    check_known(asked, cpu_sets, [s.name for s in sources])
    answers, profiles = answer_requests(asked, sources, cpu_sets, protocol, _progress)
    _write(output, answers_csv(asked, answers, EXTRA_COLUMNS))
    return profiles


def _profile(sources, cpu_sets, protocol, sets, slo_factor, name, output, catalog_out):
    from placement.formats.files import write_json_atomic
    from placement.formats.instance import Instance, validate_model
    from placement.measure.catalog import build_catalog
    from placement.measure.profiler import EXTRA_COLUMNS, profile_machine, profile_rows
    from placement.measure.requests import answers_csv

    profiles = [profile_machine(sources, t, c, sets, protocol, _progress)
                for t, c in cpu_sets.items()]
    rows = [row for p in profiles for row in profile_rows(p)]
    catalog = build_catalog(name or "profile-" + "+".join(cpu_sets), profiles, sources,
                            slo_factor)
    validate_model(Instance, catalog, str(catalog_out))
    _write(output, answers_csv([r for r, _ in rows], [a for _, a in rows], EXTRA_COLUMNS))
    write_json_atomic(catalog_out, catalog)
    err.print(f"wrote {output} ({len(rows)} rows) and {catalog_out}", highlight=False)
    return profiles


# --------------------------------------------------------------------------- measure


def measure_command(
    truth: Annotated[Path, typer.Option("--truth", help="ground truth from `generate --truth`")],
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="noise seed")] = 0,
    noise: Annotated[float, typer.Option(min=0.0, max=1.0, help="sigma of the lognormal "
                                         "measurement noise")] = 0.025,
    requests: Annotated[str, typer.Option("--requests", help="requests CSV (- = standard "
                                          "input)")] = "-",
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="measurements CSV (default: standard output)")] = None,
) -> None:
    """Answer measurement requests from a generated world's ground truth (with noise)."""
    from placement.measure.requests import answers_csv
    from placement.synthetic.measurer import SimulatedMeasurer
    from placement.synthetic.truth import GroundTruth

    inputs = [truth] + ([Path(requests)] if requests != "-" else [])
    _check_output(output, "-o", inputs)
    measurer = SimulatedMeasurer(GroundTruth.load(truth), noise=noise, seed=seed)
    asked = _read_requests(requests)
    values = measurer.measure(asked, "<stdin>" if requests == "-" else requests)
    _write(output, answers_csv(asked, [{"slowdown": v} for v in values]))


def mount(root: typer.Typer) -> None:
    """Join the ``placement`` command: ``profile`` and ``measure``."""
    root.command("profile")(profile_command)
    root.command("measure")(measure_command)
