"""Learning from what is placed: `refine` against additive pairs and the truth-exact optimum.

    python benchmarks/refine_loop.py [--seeds 20] [--families zoo,knee] [--time-limit 10]
                                     [--reference-time-limit 60] [--rounds 3] [--budget 60]
                                     [--jobs 2] [--denoise] [--noise 0.025]

For each seed and contention family: a generated 40x12 instance (3 types, load 0.7, soft
SLOs) and its ground truth (``knee``: the same world under hard-knee bandwidths, a shape the
generator's tuning never saw; the instance's pairs and sets are re-measured from it), and
the generator's campaign (every pair plus 200 sets). Every measurement in the run (the
instance's, the campaign's, the measurer's) carries lognormal noise of sigma ``--noise``
(default 2.5%; ``--noise 0`` measures the loop itself, with the noise floor removed). Then,
scored by the TRUE mean degradation:

* ``additive``: cpsat on the instance's measured pairs composed additively;
* ``predictor``: cpsat with a gbt-pairs predictor fitted on the campaign (refine, 0 rounds);
* ``refine``: ``rounds`` x ``budget`` sets measured by ``placement measure --truth`` (the
  simulated profiler, a separate process, as a user's measurer would be);
* ``truth-exact``: cpsat whose slowdowns are answered by the truth itself (the best any
  predictor could reach), with ``--reference-time-limit`` so that it is proved optimal;
* ``noisy-oracle``: cpsat whose slowdowns are answered by the measurer itself, every set
  measured once with its noise (what measuring everything once, with no predictor, gives:
  the yardstick for a loop that never asks for a set twice).

Writes benchmarks/results/refine/report.md and rows.csv.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pooled import pooled  # benchmarks/pooled.py, beside this script

from placement.api import solve
from placement.compile import compile_problem
from placement.evaluate import evaluate
from placement.formats.files import write_text_atomic
from placement.formats.instance import Instance
from placement.formats.requests import Request
from placement.measure.client import CommandMeasurer
from placement.measure.refine import refine
from placement.synthetic.campaign import measure_campaign
from placement.synthetic.generator import generate
from placement.synthetic.measurer import SimulatedMeasurer
from placement.synthetic.truth import GroundTruth, with_family
from solvers import registry

OUT = Path(__file__).parent / "results" / "refine"
NOISE = 0.025  # the generator's and the simulated profiler's default sigma


def remeasured(instance: Instance, truth: GroundTruth, seed: int, noise: float) -> Instance:
    """The instance with its pairwise and set-wise entries measured again from ``truth``."""
    rng = np.random.default_rng([seed, 7])
    data = instance.model_dump(by_alias=True, mode="json")
    for entry in [*data["interference"]["pairwise"], *data["interference"]["setwise"]]:
        co = entry["with"] if isinstance(entry["with"], list) else [entry["with"]]
        value = truth.slowdown(entry["target"], frozenset(co), entry["machine_type"])
        entry["slowdown"] = round(value * float(np.exp(rng.normal(0.0, noise))), 4)
    return Instance.model_validate(data)


class MeasuredOnce:
    """A slowdown source answering every question as the measurer would: the truth times the
    measurer's noise for that row (the same noise ``placement measure --truth --seed`` adds)."""

    def __init__(self, truth: GroundTruth, seed: int, noise: float):
        self.measurer = SimulatedMeasurer(truth, noise=noise, seed=seed)

    def slowdown(self, target: str, co_runners: frozenset[str], machine_type: str) -> float:
        return self.measurer.measure([Request(machine_type, target, frozenset(co_runners))])[0]


def exact_true_mean(instance: Instance, truth: GroundTruth, source, time_limit: float):
    """cpsat on ``source``'s slowdowns, scored by the truth; (true mean, status)."""
    result = registry.run("cpsat", compile_problem(instance, source=source),
                          time_limit=time_limit, seed=0)
    if result.assignment is None:
        return None, result.status.value
    replicas, machines = instance.replica_ids(), instance.machine_ids()
    assignment = {replicas[r][0]: machines[n][0] for r, n in enumerate(result.assignment.tolist())}
    return (evaluate(instance, assignment, source=truth).summary.mean_degradation,
            result.status.value)


def true_mean(instance: Instance, truth: GroundTruth, solution) -> float | None:
    if not solution.assignment:
        return None
    return evaluate(instance, solution.assignment, source=truth).summary.mean_degradation


def one(job: tuple[int, str, argparse.Namespace]) -> dict:
    seed, family, args = job
    instance, truth = generate(
        n_replicas=40, n_machines=12, n_types=3, load=0.7, seed=seed, slo="soft",
        noise=args.noise,
    )
    if family != "zoo":
        truth = with_family(truth, family)
        instance = remeasured(instance, truth, seed, args.noise)
    campaign = measure_campaign(instance, truth, n_sets=200, noise=args.noise, seed=seed)
    row: dict = {"seed": seed, "family": family, "noise": args.noise}
    with tempfile.TemporaryDirectory() as folder:
        truth_path = Path(folder) / "truth.json"
        truth.save(truth_path)
        measurer = CommandMeasurer(
            [sys.executable, "-m", "placement", "measure", "--truth", str(truth_path),
             "--seed", str(seed), "--noise", str(args.noise)]
        )
        started = time.perf_counter()
        additive = solve(instance, "cpsat", time_limit=args.time_limit, seed=0)
        row["additive"] = true_mean(instance, truth, additive)
        row["additive_status"] = additive.status
        row["truth_exact"], row["truth_exact_status"] = exact_true_mean(
            instance, truth, truth, args.reference_time_limit)
        if args.noise > 0:
            row["noisy_oracle"], row["noisy_oracle_status"] = exact_true_mean(
                instance, truth, MeasuredOnce(truth, seed, args.noise),
                args.reference_time_limit)
        else:  # without noise the measurer answers as the truth does: truth-exact itself
            row["noisy_oracle"], row["noisy_oracle_status"] = None, "-"
        alone = refine(instance, campaign, measurer, rounds=0, solver="cpsat",
                       time_limit=args.time_limit)
        row["predictor"] = true_mean(instance, truth, alone.solution)
        row["predictor_status"] = alone.solution.status
        loop = refine(instance, campaign, measurer, rounds=args.rounds, budget=args.budget,
                      solver="cpsat", time_limit=args.time_limit)
        row["refine"] = true_mean(instance, truth, loop.solution)
        row["refine_status"] = loop.solution.status
        if args.denoise:
            quiet = refine(instance, campaign, measurer, rounds=args.rounds, budget=args.budget,
                           solver="cpsat", time_limit=args.time_limit, measurement_noise=args.noise)
            row["refine_denoised"] = true_mean(instance, truth, quiet.solution)
        row["sets_measured"] = sum(r.sets_asked for r in loop.log)
        row["chosen_error_first_pct"] = loop.log[0].chosen_error_pct if loop.log else None
        row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def ratio_median(rows: list[dict], a: str, b: str) -> float | None:
    values = [r[a] / r[b] for r in rows if r.get(a) and r.get(b)]
    return statistics.median(values) if values else None


def output_option(args: argparse.Namespace) -> str:
    """`` -o FOLDER`` (relative to the repository) when the report is not written to OUT."""
    if args.output.resolve() == OUT.resolve():
        return ""
    try:
        return f" -o {args.output.resolve().relative_to(Path(__file__).parent.parent.resolve())}"
    except ValueError:
        return f" -o {args.output}"


def report(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# Learning from what is placed: refine vs additive pairs vs the truth-exact optimum",
        "",
        f"Regenerate with: `python benchmarks/refine_loop.py --seeds {args.seeds} --families "
        f"{args.families} --time-limit {args.time_limit:g} --reference-time-limit "
        f"{args.reference_time_limit:g} --rounds {args.rounds} --budget {args.budget}"
        f"{' --denoise' if args.denoise else ''} --noise {args.noise:g}{output_option(args)}`",
        "",
        "40x12 generated instances (3 types, load 0.7, soft SLOs), campaign: every pair + 200 "
        f"sets; every measurement with {100 * args.noise:g}% lognormal noise. cpsat in every arm, "
        f"{args.time_limit:g} s per solve, {args.reference_time_limit:g} s for the two "
        "references (truth-exact: the truth answers; noisy-oracle: the measurer answers every "
        "set once, noise included). Figures are TRUE mean degradation; ratios are medians over "
        "seeds of per-seed ratios (below 1: better than the denominator).",
        "",
        "| family | seeds | additive | predictor | refine | truth-exact | noisy-oracle "
        "| refine / additive | refine / truth-exact | predictor / truth-exact "
        "| additive / truth-exact | noisy-oracle / truth-exact | refine / noisy-oracle |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family in args.families.split(","):
        part = [r for r in rows if r["family"] == family]
        if not part:
            continue

        def med(key: str, part: list[dict] = part) -> str:
            values = [r[key] for r in part if r.get(key) is not None]
            return f"{statistics.median(values):.4f}" if values else "-"

        def rat(a: str, b: str, part: list[dict] = part) -> str:
            value = ratio_median(part, a, b)
            return "-" if value is None else f"{value:.3f}"

        lines.append(
            f"| {family} | {len(part)} | {med('additive')} | {med('predictor')} | "
            f"{med('refine')} | {med('truth_exact')} | {med('noisy_oracle')} | "
            f"{rat('refine', 'additive')} | {rat('refine', 'truth_exact')} | "
            f"{rat('predictor', 'truth_exact')} | {rat('additive', 'truth_exact')} | "
            f"{rat('noisy_oracle', 'truth_exact')} | {rat('refine', 'noisy_oracle')} |"
        )
    if args.denoise:
        lines += [
            "",
            f"With `--denoise`: `refine --measurement-noise {args.noise:g}` (the final solve "
            "blends each measured co-location with an out-of-fold prediction, docs/refine.md), "
            "on the same measurements:",
            "",
            "| family | seeds | refine | refine, denoised | denoised / truth-exact "
            "| refine / truth-exact | denoised / refine | denoised better / worse / equal |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for family in args.families.split(","):
            part = [r for r in rows if r["family"] == family and r.get("refine_denoised")
                    and r.get("refine")]
            if not part:
                continue
            diff = [r["refine_denoised"] - r["refine"] for r in part]
            lines.append(
                f"| {family} | {len(part)} | "
                f"{statistics.median(r['refine'] for r in part):.4f} | "
                f"{statistics.median(r['refine_denoised'] for r in part):.4f} | "
                f"{ratio_median(part, 'refine_denoised', 'truth_exact'):.3f} | "
                f"{ratio_median(part, 'refine', 'truth_exact'):.3f} | "
                f"{ratio_median(part, 'refine_denoised', 'refine'):.3f} | "
                f"{sum(d < -1e-9 for d in diff)} / {sum(d > 1e-9 for d in diff)} / "
                f"{sum(abs(d) <= 1e-9 for d in diff)} |"
            )
        lines.append("")
    lines += ["", "Per seed:", "", "| family | seed | additive | predictor | refine | "
              "truth-exact (status) | noisy-oracle (status) | sets measured "
              "| first-round error on chosen sets (%) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def f(v):
            return "-" if v is None else f"{v:.4f}"
        err = r.get("chosen_error_first_pct")
        lines.append(
            f"| {r['family']} | {r['seed']} | {f(r['additive'])} | {f(r['predictor'])} | "
            f"{f(r['refine'])} | {f(r['truth_exact'])} ({r['truth_exact_status']}) | "
            f"{f(r['noisy_oracle'])} ({r['noisy_oracle_status']}) | {r['sets_measured']} | "
            f"{'-' if err is None else f'{err:.2f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--families", default="zoo,knee")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--reference-time-limit", type=float, default=60.0,
                        help="seconds for truth-exact and the noisy oracle (they stop when proved)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--denoise", action="store_true",
                        help="also run refine with --measurement-noise (the measurer's sigma)")
    parser.add_argument("--noise", type=float, default=NOISE,
                        help="sigma of every measurement's lognormal noise (0: none)")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not 0.0 <= args.noise < 1.0:
        parser.error(f"--noise must be a sigma in [0, 1), got {args.noise}")
    if args.denoise and args.noise == 0:
        parser.error("--denoise needs noisy measurements (--noise > 0)")
    jobs = [(s, fam, args) for fam in args.families.split(",") for s in range(args.seeds)]
    rows = []
    rows += pooled(one, jobs, args.jobs)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(args.output / "rows.csv", buffer.getvalue())
    write_text_atomic(args.output / "report.md", report(rows, args))
    print(report(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
