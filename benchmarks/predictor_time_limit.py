"""Does `--time-limit` bound a solve that asks a learned predictor? (issue 9, "Must show")

Generates an instance with its simulated measurement campaign, fits the default predictor,
then runs `placement solve INSTANCE --predictor P --time-limit L --format json` RUNS times per
solver, each in a fresh process as a user would, and reports per solver: the median and worst
``solve_seconds / L`` (target: median <= 1.1), the predictor's load time (reported apart by
the solve; target < 1 s) and the process's wall time.

    python benchmarks/predictor_time_limit.py                      # auto, cpsat, milp; 10 runs
    python benchmarks/predictor_time_limit.py --solvers cpsat --runs 3 --limit 5

Timings depend on the machine and on its load: the script prints the load average before and
after, and writes a markdown table to ``--out`` (default
benchmarks/results/predictor_time_limit.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def placement(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "placement.cli.app", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=3600)


def prepare(folder: Path, replicas: int, machines: int, seed: int) -> tuple[Path, Path]:
    inst, csv, pred = folder / "gen.json", folder / "measurements.csv", folder / "p.skops"
    for args in (
        ["generate", "--replicas", str(replicas), "--machines", str(machines), "--seed",
         str(seed), "-o", str(inst), "--measurements", str(csv)],
        ["predictor", "fit", str(csv), "--catalog", str(inst), "-o", str(pred)],
    ):
        proc = placement(*args)
        if proc.returncode != 0:
            raise SystemExit(f"placement {' '.join(args)} failed:\n{proc.stderr}")
    return inst, pred


def measure(inst: Path, pred: Path, solver: str, limit: float, runs: int) -> dict:
    ratios, loads, walls, statuses = [], [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = placement("solve", str(inst), "--solver", solver, "--predictor", str(pred),
                         "--time-limit", str(limit), "--format", "json")
        walls.append(time.perf_counter() - started)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"solve --solver {solver} failed:\n{proc.stderr}")
        sol = json.loads(proc.stdout)
        ratios.append(sol["solve_seconds"] / limit)
        loads.append(sol["info"]["predictor_load_seconds"])
        statuses.append(sol["status"])
    return {
        "solver": solver,
        "runs": runs,
        "median_ratio": statistics.median(ratios),
        "worst_ratio": max(ratios),
        "median_load_s": statistics.median(loads),
        "median_wall_s": statistics.median(walls),
        "statuses": ",".join(sorted(set(statuses))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", default="auto,cpsat,milp")
    parser.add_argument("--limit", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=40)
    parser.add_argument("--machines", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "predictor_time_limit.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        inst, pred = prepare(Path(tmp), args.replicas, args.machines, args.seed)
        rows = [measure(inst, pred, s, args.limit, args.runs) for s in args.solvers.split(",")]
    load_after = os.getloadavg()
    lines = [
        f"# Time limit with a learned predictor ({args.replicas} replicas x {args.machines} "
        f"machines, --time-limit {args.limit:g}, {args.runs} runs per solver)",
        "",
        f"`python benchmarks/predictor_time_limit.py --solvers {args.solvers} --limit "
        f"{args.limit:g} --runs {args.runs}` on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        "",
        "| solver | median solve_seconds / limit | worst | predictor load (s, median) "
        "| process wall (s, median) | statuses |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['solver']} | {r['median_ratio']:.3f} | {r['worst_ratio']:.3f} | "
                     f"{r['median_load_s']:.2f} | {r['median_wall_s']:.1f} | {r['statuses']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
