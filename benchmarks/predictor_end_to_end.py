"""End to end: does a learned set predictor give better TRUE placements than additive pairs?

For each of 20 generated instances (seeds 0..19; 40 replicas on 12 machines of 3 types, load
0.7, medium interference, soft SLOs: with hard SLOs greedy and least-loaded find no placement
on some seeds, so there would be nothing to compare) we

1. measure a profiling campaign against the instance's hidden truth: every ordered pair on
   every type plus ``N_SETS`` random sets of 3..5 models that fit one machine, 2.5% lognormal
   noise (``measure_campaign``). The instance itself keeps the pairs it was generated with;
2. fit the ``gbt-pairs`` predictor on that campaign (no quantile models: only the median is
   used here);
3. place with ``cpsat`` + the predictor (``solve(inst, "cpsat", predictor=...)``: the
   instance's measured entries first, the predictor for every set of >= 2 co-runners), with
   ``cpsat`` on the instance as is (additive composition of the measured pairs), with
   ``greedy`` and with ``least-loaded`` (interference-blind);
4. score every placement with the TRUE slowdowns (``evaluate(..., source=truth)``): weighted
   mean degradation and SLO violations.

cpsat runs single-threaded (the benchmarks share a 2-core machine) with ``TIME_LIMIT`` s per
solve. Run: ``python benchmarks/predictor_end_to_end.py`` ->
benchmarks/results/predictor/end_to_end.md (``--seeds 3`` for a quick look).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from placement.api import solve
from placement.evaluate import evaluate
from placement.formats.files import write_text_atomic
from placement.learn.evaluation import markdown_table
from placement.learn.predictor import SlowdownPredictor
from placement.synthetic.generator import generate, measure_campaign

OUT = Path(__file__).parent / "results" / "predictor" / "end_to_end.md"
CONFIG = {"n_replicas": 40, "n_machines": 12, "n_types": 3, "load": 0.7,
          "interference": "medium", "slo": "soft"}
N_SETS = 200
CAMPAIGN = {"pairs": "all", "n_sets": N_SETS, "max_degree": 5, "noise": 0.025}
TIME_LIMIT = 30.0  # cpsat with a predictor spends ~20 s enumerating sets at 40x12
THREADS = 1
PARAMS = {"quantiles": ()}
METHODS = ("cpsat+predictor", "cpsat+additive", "greedy", "least-loaded")


class Timed:
    """Counts and times the predictor's answers as the solver asks them."""

    def __init__(self, inner: Any):
        self.inner, self.calls, self.seconds, self.bound = inner, 0, 0.0, None

    def for_instance(self, instance: Any) -> Timed:
        self.bound = self.inner.for_instance(instance)
        return self

    def predict_slowdown(self, target: str, co_runners: frozenset[str], machine_type: str):
        started = time.perf_counter()
        value = (self.bound or self.inner).predict_slowdown(target, co_runners, machine_type)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return value


def run_seed(seed: int) -> dict[str, Any]:
    inst, truth = generate(**CONFIG, seed=seed)
    rows = measure_campaign(inst, truth, **CAMPAIGN, seed=seed)
    started = time.perf_counter()
    pred = SlowdownPredictor("gbt-pairs", seed=0, params=PARAMS).fit(rows, inst)
    fit_s = time.perf_counter() - started
    timed = Timed(pred)
    sols = {
        "cpsat+predictor": solve(inst, "cpsat", predictor=timed, time_limit=TIME_LIMIT,
                                 threads=THREADS, seed=0),
        "cpsat+additive": solve(inst, "cpsat", time_limit=TIME_LIMIT, threads=THREADS, seed=0),
        "greedy": solve(inst, "greedy", time_limit=TIME_LIMIT, threads=THREADS, seed=0),
        "least-loaded": solve(inst, "least-loaded", time_limit=TIME_LIMIT, threads=THREADS,
                              seed=0),
    }
    out: dict[str, Any] = {"seed": seed, "rows": len(rows), "fit_s": fit_s,
                           "pred_calls": timed.calls, "pred_s": timed.seconds,
                           "pred_sets": len(timed.bound._cache) if timed.bound else 0}
    for name, sol in sols.items():
        if not sol.assignment:
            out[name] = float("nan")
            out[f"{name} slo"] = -1
            out[f"{name} status"] = sol.status
            continue
        true = evaluate(inst, sol.assignment, source=truth).summary
        out[name] = true.mean_degradation
        out[f"{name} slo"] = true.slo_violations
        out[f"{name} status"] = sol.status
        out[f"{name} s"] = sol.solve_seconds
        out[f"{name} believed"] = sol.summary.mean_degradation if sol.summary else float("nan")
    return out


def main(seeds: int = 20, out: Path = OUT) -> str:
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    text = ""
    for seed in range(seeds):
        r = run_seed(seed)
        results.append(r)
        sys.stderr.write(
            f"seed {seed}: " + ", ".join(f"{m} {r[m]:.4f} ({r[m + ' slo']})" for m in METHODS)
            + f"; predictor {r['pred_calls']} calls {r['pred_s']:.1f}s\n"
        )
        # rewritten after every seed, so an interrupted run still leaves its figures
        text = report(results, seeds, time.perf_counter() - started, out)
    return text


def report(results: list[dict[str, Any]], seeds: int, seconds: float, out: Path) -> str:
    per_seed = []
    for r in results:
        row = {"seed": r["seed"]}
        for m in METHODS:
            row[m] = r[m]
            row[f"{m} slo"] = r[f"{m} slo"]
        row["cpsat+pred status"] = r["cpsat+predictor status"]
        row["cpsat+add status"] = r["cpsat+additive status"]
        per_seed.append(row)
    med: dict[str, Any] = {"seed": "median (placed seeds)"}
    for m in METHODS:
        ok = [r for r in results if r[m] == r[m]]
        med[m] = statistics.median(r[m] for r in ok) if ok else float("nan")
        med[f"{m} slo"] = statistics.median(r[f"{m} slo"] for r in ok) if ok else float("nan")
    per_seed.append(med)
    ll = [r["least-loaded"] for r in results]
    ratios = []
    for m in METHODS:
        rs = [a / r[m] for a, r in zip(ll, results, strict=True) if r[m] > 0 and a == a]
        ok = [r[m] for r in results if r[m] == r[m]]
        ratios.append({
            "method": m,
            "placed": f"{len(ok)}/{len(results)}",
            "median true degradation": statistics.median(ok) if ok else float("nan"),
            "mean true degradation": statistics.fmean(ok) if ok else float("nan"),
            "least-loaded / method (median of ratios)": statistics.median(rs) if rs else "",
            "least-loaded / method (ratio of medians)": (
                statistics.median(ll) / med[m] if med[m] == med[m] and med[m] > 0 else ""),
            "SLO violations (total)": sum(max(0, r[f"{m} slo"]) for r in results),
            "wins vs cpsat+additive": sum(r[m] < r["cpsat+additive"] - 1e-9 for r in results),
        })
    believed = [{"seed": r["seed"],
                 "cpsat+predictor believed": r.get("cpsat+predictor believed", float("nan")),
                 "cpsat+predictor true": r["cpsat+predictor"],
                 "cpsat+additive believed": r.get("cpsat+additive believed", float("nan")),
                 "cpsat+additive true": r["cpsat+additive"]} for r in results]
    cost = [{"seed": r["seed"], "campaign rows": r["rows"], "fit s": r["fit_s"],
             "predictor calls": r["pred_calls"], "distinct sets predicted": r["pred_sets"],
             "predictor s": r["pred_s"],
             "ms / call": 1000 * r["pred_s"] / max(1, r["pred_calls"]),
             "cpsat+predictor s": r.get("cpsat+predictor s", float("nan")),
             "cpsat+additive s": r.get("cpsat+additive s", float("nan"))} for r in results]
    cols = ["seed"] + [c for m in METHODS for c in (m, f"{m} slo")] + [
        "cpsat+pred status", "cpsat+add status"]
    text = "\n".join([
        "# End to end: learned set predictor vs additive pairs, scored by the true slowdowns",
        "",
        f"Generated by `python benchmarks/predictor_end_to_end.py` ({seconds:.0f} s; "
        f"{len(results)} of {seeds} seeds done).",
        "",
        f"Instances: `generate({', '.join(f'{k}={v!r}' for k, v in CONFIG.items())}, "
        f"seed=0..{seeds - 1})` (soft SLOs: fewest violations first, then mean degradation). "
        "Campaign per instance: "
        f"`measure_campaign(inst, truth, {', '.join(f'{k}={v!r}' for k, v in CAMPAIGN.items())}"
        ", seed=seed)`; predictor `gbt-pairs` fitted on it (median only). The instance keeps "
        "its own measured pairs and sets (the predictor is bound to it and uses its pairs).",
        "",
        f"cpsat: {TIME_LIMIT:g} s, {THREADS} thread, seed 0. Every figure is TRUE weighted mean "
        "degradation (`evaluate(..., source=truth)`, slowdown - 1) and TRUE SLO violations "
        "(replicas). `status` is the solver's own (optimal = proven under its slowdown model). "
        "`nan` / `-1`: the heuristic found no placement that fits (capacity).",
        "",
        "## Summary",
        "",
        markdown_table(ratios, list(ratios[0])),
        "",
        "## Per seed (true mean degradation, true SLO violations)",
        "",
        markdown_table(per_seed, cols),
        "",
        "## What the solver believed vs the truth (mean degradation)",
        "",
        markdown_table(believed, list(believed[0])),
        "",
        "## Predictor cost inside cpsat",
        "",
        "Calls = `predict_slowdown` calls reaching the predictor (measured pairs and measured "
        "sets never do); each miss predicts the whole co-location set in one batch.",
        "",
        markdown_table(cost, list(cost[0])),
        "",
    ])
    write_text_atomic(out, text)
    return text


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args()
    sys.stdout.write(main(args.seeds, args.out))
