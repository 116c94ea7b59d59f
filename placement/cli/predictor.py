"""The predictor's face on the command line (SPEC section 8). Thin: parse, call, print, write.

```
placement predictor fit MEASUREMENTS.csv --catalog CATALOG.json -o PREDICTOR
                      [--kind NAME] [--seed N]
placement predictor score PREDICTOR MEASUREMENTS.csv --catalog CATALOG.json
placement predict INSTANCE --predictor PREDICTOR -o INSTANCE_OUT [--max-degree D] [--quantile Q]
```

The main CLI mounts :data:`app` as ``predictor`` and :func:`predict_command` as ``predict``;
``python -m placement.cli.predictor`` runs the same commands standalone. Bad input prints
``file: json.path: what was expected`` on stderr and exits 2; nothing is written then.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from placement.formats.errors import BAD_INPUT, InputError

app = typer.Typer(
    help="Fit and score learned slowdown predictors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Writing every set of a large instance would make a file nobody can load; refuse instead.
MAX_SET_ENTRIES = 200_000


def _fail(exc: InputError) -> typer.Exit:
    print(exc.render(), file=sys.stderr)
    return typer.Exit(BAD_INPUT)


def _say(text: str) -> None:
    """Literal text (names from files are never read as markup)."""
    print(text, flush=True)


def _check_kind(kind: str) -> str:
    from placement.learn.predictor import KINDS

    if kind not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind




@app.command("fit")
def fit_command(
    measurements: Annotated[Path, typer.Argument(help="measurements CSV (SPEC section 8)")],
    catalog: Annotated[Path, typer.Option("--catalog", help="instance file whose models and "
                                          "machine_types give the features")],
    output: Annotated[str, typer.Option("-o", "--output",
                                        help="predictor file to write; - for stdout")],
    kind: Annotated[str, typer.Option(help="gbt-pairs (default) | gbt | mlp | linear | additive",
                                      callback=_check_kind)] = "gbt-pairs",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Fit a predictor on MEASUREMENTS and write it to -o (a skops file; loads without
    running code)."""
    from placement.formats.files import check_output
    from placement.formats.measurements import read_measurements
    from placement.learn.features import load_catalog
    from placement.learn.predictor import SlowdownPredictor

    try:
        target = check_output(output, inputs=[measurements, catalog])
        rows = read_measurements(measurements)
        cat = load_catalog(catalog)
        pred = SlowdownPredictor(kind, seed=seed).fit(
            rows, cat, source=str(measurements), catalog_source=str(catalog)
        )
    except InputError as exc:
        raise _fail(exc) from None
    if str(target) == "-":  # the skops bytes to standard output, the summary to stderr
        sys.stdout.buffer.write(pred.dumps())
        sys.stdout.flush()
    else:
        pred.save(target)
    info = pred.info
    print(
        f"fitted {kind} on {info['n_measurements']} measurements "
        f"(types {', '.join(info['machine_types'])}; degrees "
        f"{', '.join(map(str, info['degrees']))}) -> {output}",
        file=sys.stderr if str(target) == "-" else sys.stdout,
    )


def print_error_table(rows: list[dict[str, Any]], title: str) -> None:
    from placement.cli.tables import Column, fit, render

    columns = [Column("", "group", 30, left=True), Column("", "n", 7),
               Column("", "MAPE %", 8), Column("", "MAE", 8),
               Column("additive", "MAPE %", 8), Column("additive", "MAE", 8)]
    cells = [[r["group"], str(r["n"]), f"{r['mape']:.2f}", f"{r['mae']:.4f}",
              f"{r['additive_mape']:.2f}", f"{r['additive_mae']:.4f}"] for r in rows]
    _say(fit(title, 80) + "\n" + render(columns, cells))


@app.command("score")
def score_command(
    predictor: Annotated[Path, typer.Argument(help="predictor file written by `fit`")],
    measurements: Annotated[Path, typer.Argument(help="measurements CSV to score on")],
    catalog: Annotated[Path, typer.Option("--catalog", help="instance file describing the "
                                          "models and machine types")],
) -> None:
    """Error of PREDICTOR on MEASUREMENTS (degree >= 2) overall, per machine type and per
    degree, beside the additive composition of the measured pairs."""
    from placement.formats.measurements import read_measurements
    from placement.learn.evaluation import score_predictor
    from placement.learn.features import check_measurements, load_catalog
    from placement.learn.predictor import SlowdownPredictor

    try:
        pred = SlowdownPredictor.load(predictor)
        rows = read_measurements(measurements)
        cat = load_catalog(catalog)
        pred = pred.with_catalog(cat)
        assert pred.builder is not None
        check_measurements(rows, pred.builder.catalog, str(measurements), str(catalog))
    except InputError as exc:
        raise _fail(exc) from None
    if not any(m.degree >= 2 for m in rows):
        raise _fail(InputError(str(measurements), [("$", "no rows with co-runners to score")]))
    table = score_predictor(pred, rows)
    print_error_table(table, f"{pred.kind} predictor on {measurements.name}")


def fill_instance(
    instance: Any, predictor: Any, max_degree: int = 2, quantile: float | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """The instance as a dict with predicted entries added; counts of what was added.

    - every needed pair without an entry (``Instance.missing_pairs``: both models allowed on a
      type that has machines) gets a ``pairwise`` entry;
    - with ``max_degree`` D >= 3, every co-location set of degree 3..D (capped by
      ``limits.max_models_per_machine``) on a type with machines, whose members are all
      allowed there and whose requests fit one machine, gets a ``setwise`` entry per member as
      target, unless one exists;
    - ``interference.missing: "predict"`` becomes ``"error"``: every needed pair now has an
      entry, so the file no longer needs a predictor. Measured entries are never changed.
    """
    pred = predictor.with_catalog(instance)
    data = instance.dump()
    inter = data.setdefault("interference", {})
    pairs = instance.missing_pairs()
    values = pred.predict_many([(a, frozenset((b,)), t) for t, a, b in pairs], quantile)
    inter.setdefault("pairwise", []).extend(
        {"machine_type": t, "target": a, "with": b, "slowdown": round(float(v), 6)}
        for (t, a, b), v in zip(pairs, values, strict=True)
    )
    cap = instance.limits.max_models_per_machine
    top = min(max_degree, cap) if cap is not None else max_degree
    queries = []
    if top >= 3:
        have = {(e.machine_type, e.target, frozenset(e.with_))
                for e in instance.interference.setwise}
        present = {t for _, t in instance.machine_ids()}
        for mt in instance.machine_types:
            if mt.name not in present:
                continue
            hosted = [m for m in instance.models if mt.name in m.latency_ms]
            for d in range(3, top + 1):
                for group in itertools.combinations(hosted, d):
                    need: dict[str, float] = {}
                    for m in group:
                        for r, v in m.requests.items():
                            need[r] = need.get(r, 0.0) + v
                    if any(v > mt.capacity.get(r, 0.0) + 1e-9 for r, v in need.items()):
                        continue
                    names = frozenset(m.name for m in group)
                    for target in sorted(names):
                        if (mt.name, target, names - {target}) not in have:
                            queries.append((target, names - {target}, mt.name))
                    if len(queries) > MAX_SET_ENTRIES:
                        raise InputError(instance.name, [(
                            "limits.max_models_per_machine",
                            f"more than {MAX_SET_ENTRIES} co-location sets to predict; "
                            "expected a smaller --max-degree",
                        )])
    if queries:
        values = pred.predict_many(queries, quantile)
        inter.setdefault("setwise", []).extend(
            {"machine_type": m, "target": t, "with": sorted(c), "slowdown": round(float(v), 6)}
            for (t, c, m), v in zip(queries, values, strict=True)
        )
    if inter.get("missing") == "predict":
        inter["missing"] = "error"
    return data, {"pairwise": len(pairs), "setwise": len(queries)}


def predict_command(
    instance: Annotated[Path, typer.Argument(help="instance file to complete")],
    predictor: Annotated[Path, typer.Option("--predictor", help="predictor file written by "
                                            "`placement predictor fit`")],
    output: Annotated[str, typer.Option("-o", "--output",
                                        help="instance file to write; - for stdout")],
    max_degree: Annotated[int, typer.Option(
        "--max-degree", min=2,
        help="also write setwise entries for sets of up to this many models (2: pairs only)",
    )] = 2,
    quantile: Annotated[float | None, typer.Option(
        help="write this upper quantile (e.g. 0.9) instead of the median: SLO-safe values",
    )] = None,
) -> None:
    """Fill INSTANCE's missing pairwise slowdowns (and, with --max-degree, set-wise ones) from
    a learned predictor, and write the completed instance to -o."""
    from placement.formats.files import check_output, write_json_atomic
    from placement.formats.instance import Instance, validate_model
    from placement.learn.predictor import SlowdownPredictor

    try:
        target = check_output(output, inputs=[instance, predictor])
        inst = Instance.load(instance)
        pred = SlowdownPredictor.load(predictor)
        if quantile is not None and quantile not in pred.quantiles:
            raise InputError(str(predictor), [("$", f"no model for quantile {quantile}; this "
                                                    f"predictor has {pred.quantiles}")])
        try:
            data, added = fill_instance(inst, pred, max_degree, quantile)
        except KeyError as exc:  # a name the predictor cannot describe
            raise InputError(str(instance), [("models", str(exc.args[0]))]) from None
        validate_model(Instance, data, str(output))
    except InputError as exc:
        raise _fail(exc) from None
    write_json_atomic(target, data)
    print(f"predicted {added['pairwise']} pairwise and {added['setwise']} setwise entries "
          f"-> {output}", file=sys.stderr if str(target) == "-" else sys.stdout)


def _standalone() -> typer.Typer:
    root = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    root.add_typer(app, name="predictor", help="Fit and score slowdown predictors.")
    root.command("predict")(predict_command)
    return root


if __name__ == "__main__":
    _standalone()()


def mount(root: typer.Typer) -> None:
    """Join the ``placement`` command: ``predictor fit|score`` and ``predict``."""
    root.add_typer(app, name="predictor", help="Fit and score slowdown predictors.")
    root.command("predict")(predict_command)
