"""Certified placements at cluster size (issue 13's "Must show").

Generated instances (``placement.synthetic.generator.generate``: 7 types, its usual model mix,
load 0.7, seeds 0..2) at 320 x 96 (60 s), 2,000 x 500 (60 s) and 10,000 x 2,000 (120 s); each
solve runs in its own child process, which reports its peak memory (``ru_maxrss``: instance,
compile and solve together). For ``lns`` (what ``auto`` runs at these sizes) the proved gap
(SPEC section 3) and the time to its first feasible placement; beside it ``local-search`` at the
same limit.

    python benchmarks/scale.py                       # every size, seeds 0..2 (about 25 min)
    python benchmarks/scale.py --sizes 320x96 --seeds 0   # one size at a time, merged

Writes ``benchmarks/results/scale/results.csv`` (rows merged by size, seed, solver) and
``report.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "results" / "scale"
#: (replicas, machines, time limit s, target gap, target peak memory GB or None)
SIZES = {
    "320x96": (320, 96, 60.0, 0.01, None),
    "2000x500": (2000, 500, 60.0, 0.01, 1.0),
    "10000x2000": (10_000, 2000, 120.0, 0.02, 1.5),
}
SOLVERS = ("lns", "local-search")
FIELDS = ["size", "seed", "solver", "time_limit", "status", "objective", "bound", "gap",
          "first_feasible_seconds", "seconds", "wall_seconds", "peak_rss_mb", "compiled_rss_mb",
          "lns_rounds", "lns_accepted", "error"]


def child(size: str, seed: int, solver: str) -> dict:
    """One solve in this process; its figures as a row."""
    from placement.compile import compile_problem
    from placement.synthetic.generator import generate
    from solvers import registry

    replicas, machines, limit, _gap, _mem = SIZES[size]
    instance, _truth = generate(n_replicas=replicas, n_machines=machines, n_types=7, load=0.7,
                                seed=seed, name=f"scale-{size}-s{seed}")
    problem = compile_problem(instance)
    compiled = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = registry.run(solver, problem, time_limit=limit, seed=0)
    wall = time.perf_counter() - start
    lns_info = result.info.get("lns") if isinstance(result.info.get("lns"), dict) else {}
    return {
        "size": size, "seed": seed, "solver": solver, "time_limit": limit,
        "status": str(result.status), "objective": result.objective, "bound": result.bound,
        "gap": result.gap, "first_feasible_seconds": result.info.get("first_feasible_seconds"),
        "seconds": round(result.seconds, 2), "wall_seconds": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "compiled_rss_mb": round(compiled, 1),
        "lns_rounds": lns_info.get("rounds"), "lns_accepted": lns_info.get("accepted"),
        "error": "",
    }


def run_one(size: str, seed: int, solver: str) -> dict:
    limit = SIZES[size][2]
    cmd = [sys.executable, __file__, "--child", size, str(seed), solver]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3 * limit + 300,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"size": size, "seed": seed, "solver": solver, "time_limit": limit,
                "error": "child timed out"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"size": size, "seed": seed, "solver": solver, "time_limit": limit,
                "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(lines[-1])


def load_rows() -> dict[tuple[str, int, str], dict]:
    path = OUT / "results.csv"
    if not path.exists():
        return {}
    with path.open() as f:
        return {(r["size"], int(r["seed"]), r["solver"]): r for r in csv.DictReader(f)}


def write(rows: dict[tuple[str, int, str], dict]) -> None:
    from placement.formats.files import write_text_atomic

    OUT.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows.values(), key=lambda r: (list(SIZES).index(r["size"]), int(r["seed"]),
                                                   r["solver"]))
    lines = [",".join(FIELDS)]
    for r in ordered:
        lines.append(",".join(_cell(r.get(k)) for k in FIELDS))
    write_text_atomic(OUT / "results.csv", "\n".join(lines) + "\n")
    write_text_atomic(OUT / "report.md", report(ordered))


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', "'") + '"' if "," in text else text


def _num(row: dict, key: str) -> float | None:
    value = row.get(key)
    return None if value in (None, "") else float(value)


def report(rows: list[dict]) -> str:
    out = [
        "# Certified placements at cluster size (issue 13)",
        "",
        "`python benchmarks/scale.py`: generated instances (7 types, the generator's usual model",
        "mix, load 0.7), each solve in its own process; peak memory is the child's `ru_maxrss`",
        "(instance, compile and solve). Gap = (objective - bound) / max(|objective|, 1e-9)",
        "(SPEC section 3). `lns` is what `auto` runs at these sizes.",
        "",
        "| size | seed | limit s | lns objective | bound | proved gap | first feasible s | "
        "peak MB | local-search objective | its peak MB | lns rounds (accepted) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r["size"], int(r["seed"]), r["solver"]): r for r in rows}
    for size in SIZES:
        for seed in sorted({int(r["seed"]) for r in rows if r["size"] == size}):
            lns_row = by_key.get((size, seed, "lns"), {})
            ls_row = by_key.get((size, seed, "local-search"), {})
            gap = _num(lns_row, "gap")
            first = _num(lns_row, "first_feasible_seconds")
            out.append(
                f"| {size} | {seed} | {lns_row.get('time_limit', '')} | "
                f"{_fmt(_num(lns_row, 'objective'))} | {_fmt(_num(lns_row, 'bound'))} | "
                f"{'-' if gap is None else f'{100 * gap:.2f}%'} | "
                f"{'-' if first is None else f'{first:.1f}'} | "
                f"{lns_row.get('peak_rss_mb', '-')} | {_fmt(_num(ls_row, 'objective'))} | "
                f"{ls_row.get('peak_rss_mb', '-')} | {_rounds(lns_row)} |"
                + (f" error: {lns_row['error']}" if lns_row.get("error") else "")
            )
    out += ["", "## Against the targets", "",
            "| size | target gap | mean proved gap (worst) | target peak | worst peak MB |",
            "|---|---|---|---|---|"]
    for size, (_r, _n, _limit, target_gap, target_mem) in SIZES.items():
        mine = [r for r in rows if r["size"] == size and r["solver"] == "lns"
                and _num(r, "gap") is not None]
        if not mine:
            continue
        gaps = [float(r["gap"]) for r in mine]
        peaks = [float(r["peak_rss_mb"]) for r in mine]
        out.append(
            f"| {size} | {100 * target_gap:.0f}% | {100 * statistics.mean(gaps):.2f}% "
            f"({100 * max(gaps):.2f}%) | {'-' if target_mem is None else f'{target_mem} GB'} | "
            f"{max(peaks):.0f} |"
        )
    return "\n".join(out) + "\n"


def _rounds(row: dict) -> str:
    """LNS rounds (accepted); none when the master's placement was proved optimal first."""
    if row.get("lns_rounds") in (None, ""):
        return "none (proved first)" if row.get("status") == "optimal" else "-"
    return f"{row['lns_rounds']} ({row.get('lns_accepted', '')})"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--child", nargs=3, metavar=("SIZE", "SEED", "SOLVER"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite report.md from results.csv")
    args = parser.parse_args()
    if args.report_only:
        write(load_rows())
        return
    if args.child:
        size, seed, solver = args.child
        print(json.dumps(child(size, int(seed), solver)), flush=True)
        return
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}; expected one of {', '.join(SIZES)}")
    for size in sizes:
        for seed in (int(s) for s in args.seeds.split(",")):
            for solver in args.solvers.split(","):
                row = run_one(size, seed, solver)
                rows = load_rows()  # again: another run (another size) may have written
                rows[(size, seed, solver)] = row
                write(rows)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
