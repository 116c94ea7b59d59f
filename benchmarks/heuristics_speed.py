"""Issue 2, must show: time of greedy and least-loaded on 2,000 replicas x 500 machines.

Times the solver alone (the compile step, which tabulates pairwise slowdowns, is timed apart),
median of --repeats runs, on one generated instance.

    python benchmarks/heuristics_speed.py [--replicas 2000] [--machines 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from placement.compile import compile_problem
from placement.formats.files import write_text_atomic
from placement.synthetic.generator import generate
from solvers import registry

SOLVERS = ("least-loaded", "greedy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2000)
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--types", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/heuristics"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    inst, _ = generate(n_replicas=args.replicas, n_machines=args.machines, n_types=args.types,
                       load=0.7, interference="medium", seed=args.seed)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    problem = compile_problem(inst)
    t_compile = time.perf_counter() - t0
    times: dict[str, list[float]] = {n: [] for n in SOLVERS}
    status: dict[str, str] = {}
    for _ in range(args.repeats):
        for name in SOLVERS:
            problem = compile_problem(inst)  # cold slowdown cache for every run
            t0 = time.perf_counter()
            result = registry.run(name, problem, time_limit=60.0, seed=args.seed, threads=1)
            times[name].append(time.perf_counter() - t0)
            status[name] = result.status.value
    lines = [
        "# Heuristic speed at scale",
        "",
        f"Command: `python benchmarks/heuristics_speed.py --replicas {args.replicas} --machines "
        f"{args.machines} --repeats {args.repeats}`  ",
        f"Machine: {platform.platform()}, Python {platform.python_version()}",
        "",
        f"Instance: {len(inst.models)} models, {problem.n_replicas} replicas, "
        f"{problem.n_machines} machines, {problem.n_types} types. Generate {t_gen:.2f} s, "
        f"compile (pairwise table) {t_compile:.2f} s.",
        "",
        "| solver | status | median seconds | runs |",
        "|---|---|---|---|",
    ]
    for name in SOLVERS:
        lines.append(f"| {name} | {status[name]} | {statistics.median(times[name]):.2f} | "
                     + ", ".join(f"{t:.2f}" for t in times[name]) + " |")
    ratio = statistics.median(times["greedy"]) / statistics.median(times["least-loaded"])
    lines += ["", f"greedy / least-loaded time ratio: {ratio:.2f} (every run starts from a "
              "freshly compiled problem, so set slowdowns are computed cold each time)"]
    text = "\n".join(lines) + "\n"
    write_text_atomic(args.output / "speed.md", text)
    print(text)


if __name__ == "__main__":
    main()
