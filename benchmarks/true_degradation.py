"""TRUE mean degradation of solvers against least-loaded, on generated instances.

20 generated instances (seeds 0..19; 40 replicas, 12 machines of mixed types, load 0.7,
medium interference). Each solver places with the instance's measured (predicted) slowdowns;
the ground truth then says what really happens. Prints and writes a Markdown table.

    python benchmarks/true_degradation.py [--solvers least-loaded,greedy,local-search,cpsat]
        [--seeds 20] [--time-limit 10] [-o DIR]
"""

from __future__ import annotations

import argparse
import platform
import statistics
from pathlib import Path

from placement import evaluate, solve
from placement.formats.files import write_text_atomic
from placement.synthetic.generator import generate

DEFAULT_SOLVERS = "least-loaded,greedy,local-search,cpsat"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", default=DEFAULT_SOLVERS, help="comma-separated; "
                        "least-loaded is always run, as the baseline of the ratios")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=40)
    parser.add_argument("--machines", type=int, default=12)
    parser.add_argument("--types", type=int, default=3)
    parser.add_argument("--load", type=float, default=0.7)
    parser.add_argument("--interference", default="medium")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("-o", "--output", type=Path,
                        default=Path("benchmarks/results/true-degradation.md"))
    args = parser.parse_args()
    solvers = ["least-loaded"] + [s for s in args.solvers.split(",") if s and s != "least-loaded"]

    rows = []
    for seed in range(args.seeds):
        inst, truth = generate(n_replicas=args.replicas, n_machines=args.machines,
                               n_types=args.types, load=args.load,
                               interference=args.interference, seed=seed)
        row: dict[str, float | int | str] = {"seed": seed}
        for name in solvers:
            sol = solve(inst, name, time_limit=args.time_limit, seed=seed, threads=1)
            row[f"{name}:status"] = sol.status
            if not sol.assignment:
                continue
            true = evaluate(inst, sol.assignment, source=truth).summary
            row[f"{name}:pred"] = sol.summary.mean_degradation
            row[f"{name}:true"] = true.mean_degradation
            row[f"{name}:pred_viol"] = sol.summary.slo_violations
            row[f"{name}:true_viol"] = true.slo_violations
        rows.append(row)
        print(seed, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})

    def ratios(other: str, kind: str) -> list[float]:
        base = f"least-loaded:{kind}"
        key = f"{other}:{kind}"
        return [r[base] / r[key] for r in rows if key in r and base in r and r[key] > 0]

    lines = [
        "# Solvers against the ground truth",
        "",
        f"Command: `python benchmarks/true_degradation.py --solvers {','.join(solvers)} "
        f"--seeds {args.seeds} --time-limit {args.time_limit}`  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "",
        f"{args.seeds} generated instances: {args.replicas} replicas, {args.machines} machines of "
        f"{args.types} types, load {args.load}, {args.interference} interference. Solvers place "
        "with the measured (noisy pairwise + a few sets) slowdowns; *true* figures come from the "
        "hidden contention model.",
        "",
        "| solver | solved | median true mean degradation | median predicted | "
        "median true ratio least-loaded / solver | total true SLO violations | "
        "total predicted SLO violations |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in solvers:
        solved = [r for r in rows if f"{name}:true" in r]
        r_true = ratios(name, "true")
        lines.append(
            f"| {name} | {len(solved)}/{len(rows)} | "
            f"{statistics.median(r[f'{name}:true'] for r in solved):.4f} | "
            f"{statistics.median(r[f'{name}:pred'] for r in solved):.4f} | "
            f"{statistics.median(r_true):.2f} | "
            f"{sum(r[f'{name}:true_viol'] for r in solved)} | "
            f"{sum(r[f'{name}:pred_viol'] for r in solved)} |"
        )
    lines += ["", "Per seed (true mean degradation):", "",
              "| seed | " + " | ".join(solvers) + " |", "|---" * (len(solvers) + 1) + "|"]
    for r in rows:
        cells = [f"{r[f'{n}:true']:.4f}" if f"{n}:true" in r else str(r[f"{n}:status"])
                 for n in solvers]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(args.output, text)
    print(text)


if __name__ == "__main__":
    main()
