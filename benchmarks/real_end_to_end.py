"""Real measurements end to end: the predictor on a real profile, and placements measured for real.

On ``instances/local-cpu.json`` and its profile ``instances/local-cpu.csv`` (see
benchmarks/profile_local.py and instances/README.md):

1. **Predictor on held-out sets**: the measured sets of 3 are split in half at random (seed
   0, ``split_random_sets``); ``placement predictor fit`` on solos, pairs and one half,
   ``placement predictor score`` on the other half: learned (``gbt-pairs``) vs additive MAPE.
2. **Placement**: a predictor fitted on the whole profile; ``least-loaded`` (interference
   blind), ``greedy`` and ``cpsat`` (both with the learned predictor) place the 14 replicas on
   the 7 machines (``cpsat`` single-threaded, 30 s).
3. **Measured for real**: every machine of every placement becomes measurement requests (one
   row per replica: its type, its model, the models beside it), all three placements in one
   ``placement profile --requests -`` run (``local-1c`` = CPU 0, ``local-2c`` = CPUs 0,1; back
   to back, 0.2 s warm-up, 0.6 s windows, 3 rounds: the protocol of the profile), so a set
   two placements share is measured once and under the same conditions. The real mean
   degradation of a placement is the mean over replicas of ``max(1, measured slowdown) - 1``.

On a shared machine one measurement run is noisy, so ``--runs N`` measures the same
placements N times in a row (each a fresh ``profile --requests`` run) and reports each run
and the mean.

Run: ``python benchmarks/real_end_to_end.py --runs 3`` (about 10 minutes on 2 cores) ->
benchmarks/results/measure/real_end_to_end.md
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instances" / "local-cpu.json"
PROFILE = ROOT / "instances" / "local-cpu.csv"
OUT = ROOT / "benchmarks" / "results" / "measure" / "real_end_to_end.md"
SOLVERS = ("least-loaded", "greedy", "cpsat")
TIME_LIMIT = 30.0
MEASURE = ["--cpus", "local-1c=0", "--cpus", "local-2c=0,1", "--seconds", "0.6",
           "--warmup", "0.2", "--repeats", "3"]


CONDITIONS: list[str] = []  # the profiler's "conditions:" lines, kept for the report


def run(command: list[str], stdin: str | None = None) -> str:
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=True)
    sys.stderr.write(done.stderr)
    CONDITIONS.extend(line for line in done.stderr.splitlines() if line.startswith("conditions"))
    return done.stdout


def held_out_scores(folder: Path) -> tuple[str, dict]:
    from placement.formats.measurements import measurements_csv, read_measurements
    from placement.learn.evaluation import score_predictor, split_random_sets
    from placement.learn.features import load_catalog
    from placement.learn.predictor import SlowdownPredictor

    rows = read_measurements(PROFILE)
    (fold,) = split_random_sets(rows, fraction=0.5, seed=0)
    train, test = folder / "train.csv", folder / "test.csv"
    train.write_text(measurements_csv([rows[i] for i in fold.train]))
    test.write_text(measurements_csv([rows[i] for i in fold.test]))
    model = folder / "held-out.skops"
    printed = run(["placement", "predictor", "fit", str(train), "--catalog", str(INSTANCE),
                   "-o", str(model)])
    printed += run(["placement", "predictor", "score", str(model), str(test), "--catalog",
                    str(INSTANCE)])
    pred = SlowdownPredictor("gbt-pairs", seed=0).fit([rows[i] for i in fold.train],
                                                      load_catalog(INSTANCE))
    table = score_predictor(pred, [rows[i] for i in fold.test])
    overall = next(r for r in table if r["group"] == "all") if any(
        r["group"] == "all" for r in table) else table[0]
    return printed, {"n_train": len(fold.train), "n_test": len(fold.test), **overall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="measurement runs of the placements")
    runs = parser.parse_args().runs
    from placement.api import solve
    from placement.formats.instance import Instance
    from placement.formats.measurements import read_measurements
    from placement.formats.requests import Request, requests_csv
    from placement.learn.features import load_catalog
    from placement.learn.predictor import SlowdownPredictor

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        printed, score = held_out_scores(Path(tmp))
    print(printed)
    inst = Instance.load(INSTANCE)
    pred = SlowdownPredictor("gbt-pairs", seed=0).fit(read_measurements(PROFILE),
                                                      load_catalog(INSTANCE))
    mtype = dict(inst.machine_ids())
    solutions = {}
    for name in SOLVERS:
        sol = solve(inst, name, time_limit=TIME_LIMIT, seed=0, threads=1,
                    predictor=None if name == "least-loaded" else pred)
        solutions[name] = sol
        print(f"{name}: {sol.status}, predicted mean degradation "
              f"{sol.summary.mean_degradation:.4f}", flush=True)
    per_replica: dict[str, list[Request]] = {}
    for name, sol in solutions.items():
        hosted: dict[str, set[str]] = {}
        for rid, mid in sol.assignment.items():
            hosted.setdefault(mid, set()).add(rid.rsplit("#", 1)[0])
        per_replica[name] = [
            Request(mtype[mid], rid.rsplit("#", 1)[0],
                    frozenset(hosted[mid] - {rid.rsplit("#", 1)[0]}))
            for rid, mid in sorted(sol.assignment.items())
        ]
    asked = list(dict.fromkeys(r for rs in per_replica.values() for r in rs))
    from placement.formats.measurements import parse_measurements

    measured_runs = []
    for _ in range(runs):
        answer = run(["placement", "profile", "--requests", "-", *MEASURE], requests_csv(asked))
        measured_runs.append({Request(m.machine_type, m.target, m.co_runners): m.slowdown
                              for m in parse_measurements(answer, "profile --requests")})
    latency = {m.name: m for m in inst.models}
    lines = [
        "# Real end to end on instances/local-cpu.json",
        "",
        "Generated by `python benchmarks/real_end_to_end.py` (see its docstring).",
        "",
        "## Predictor on held-out measured sets",
        "",
        f"`gbt-pairs` fitted on {score['n_train']} rows (solos, pairs, half the sets of 3), "
        f"scored on {score['n_test']} rows of the other half:",
        "",
        "| rows | learned MAPE % | additive MAPE % | learned MAE | additive MAE |",
        "|---:|---:|---:|---:|---:|",
        f"| {score['n']} | {score['mape']:.2f} | {score['additive_mape']:.2f} | "
        f"{score['mae']:.4f} | {score['additive_mae']:.4f} |",
        "",
        "## Placements measured for real",
        "",
        f"{len(inst.replica_ids())} replicas on {len(mtype)} machines; {len(asked)} distinct "
        f"requests, measured in {runs} `placement profile --requests -` run(s) one after the "
        "other. Real mean degradation per run, their mean, and least-loaded's over this "
        "solver's (the mean's ratio):",
        "",
        "| solver | status | predicted mean deg | "
        + " | ".join(f"REAL run {k + 1}" for k in range(runs))
        + " | REAL mean | real SLO violations (per run) | LL / this (real) |",
        "|---|---|---:|" + "---:|" * (runs + 3),
    ]
    real: dict[str, list[float]] = {}
    slo: dict[str, list[int]] = {}
    for name, rs in per_replica.items():
        real[name] = [statistics.fmean(max(1.0, measured[r]) - 1.0 for r in rs)
                      for measured in measured_runs]
        slo[name] = [sum(latency[r.target].latency_ms[r.machine_type] * max(1.0, measured[r])
                         > latency[r.target].slo_ms for r in rs) for measured in measured_runs]
    for name in SOLVERS:
        sol = solutions[name]
        mean = statistics.fmean(real[name])
        ratio = statistics.fmean(real["least-loaded"]) / mean if mean > 0 else float("inf")
        lines.append(f"| {name} | {sol.status} | {sol.summary.mean_degradation:.4f} | "
                     + " | ".join(f"{v:.4f}" for v in real[name])
                     + f" | {mean:.4f} | {', '.join(map(str, slo[name]))} | {ratio:.2f} |")
    lines += ["", "Placements (machine: models):", ""]
    for name, sol in solutions.items():
        hosted = {}
        for rid, mid in sorted(sol.assignment.items()):
            hosted.setdefault(mid, []).append(rid)
        lines.append(f"- {name}: " + "; ".join(f"{mid}: {', '.join(v)}"
                                              for mid, v in sorted(hosted.items())))
    lines += ["", *(f"Measurement {c}" for c in CONDITIONS), "",
              f"Wall time {time.monotonic() - started:.0f} s.", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
