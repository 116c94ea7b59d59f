"""Fit time and held-out error of the predictor kinds, for issue 12 item 4.

    python benchmarks/predictor_fit_time.py [--repeats 3] [--settings default,fast]

Fit time: ``SlowdownPredictor(kind).fit`` (quantile models included, as ``placement predictor
fit`` does) on the campaign of a generated 40x12 instance (3 types, load 0.7, seed 0; every
pair plus 200 sets), median of ``--repeats`` runs. Error: held-out MAPE / true MAPE (against
the noise-free truth) on the quicker equivalent of benchmarks/predictor_generated.py's splits
on the same campaign: ``random-sets`` (20% of the sets of degree >= 3), ``degree`` (train on
<= 3, test on >= 4) and ``machine-type`` (leave each type out in turn). Writes
benchmarks/results/predictor/fit_time.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from placement.formats.files import write_text_atomic
from placement.learn.evaluation import cross_validate, markdown_table, summarize
from placement.learn.predictor import SlowdownPredictor
from placement.synthetic.campaign import measure_campaign
from placement.synthetic.generator import generate

OUT = Path(__file__).parent / "results" / "predictor" / "fit_time.md"
SPLITS = ("random-sets", "degree", "machine-type")
#: (kind, estimator parameters) per named setting; ``default`` is what ``fit`` uses today
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "gbt-pairs-400": ("gbt-pairs", {"max_iter": 400, "learning_rate": 0.05}),
    "gbt-pairs-default": ("gbt-pairs", {}),
    "gbt-pairs-150": ("gbt-pairs", {"max_iter": 150, "learning_rate": 0.12}),
    "gbt-pairs-100": ("gbt-pairs", {"max_iter": 100, "learning_rate": 0.15}),
    "mlp-default": ("mlp", {}),
    "gbt-default": ("gbt", {}),
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--no-cv", action="store_true", help="fit times only")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    instance, truth = generate(n_replicas=40, n_machines=12, n_types=3, load=0.7, seed=0,
                               slo="soft")
    rows = measure_campaign(instance, truth, n_sets=200, seed=0)
    timing, errors = [], []
    for name in args.settings.split(","):
        kind, params = SETTINGS[name]
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            SlowdownPredictor(kind, seed=0, params=params).fit(rows, instance)
            seconds.append(time.perf_counter() - started)
        timing.append({"setting": name, "kind": kind, "params": str(params or "(defaults)"),
                       "rows": len(rows), "fit_s_median": round(statistics.median(seconds), 2),
                       "fit_s_all": " ".join(f"{s:.1f}" for s in seconds)})
        print(timing[-1], flush=True)
        if args.no_cv:
            continue
        table = cross_validate(rows, instance, kinds=(kind,), splits=SPLITS, seed=0,
                               params={kind: params}, truth=truth)
        for r in summarize(table):
            errors.append({"setting": name, **r})
        print(errors[-len(SPLITS):], flush=True)
    text = "\n".join([
        "# Predictor fit time and held-out error (issue 12, item 4)",
        "",
        f"Regenerate: `python benchmarks/predictor_fit_time.py --repeats {args.repeats} "
        f"--settings {args.settings}`. Campaign of generate(n_replicas=40, n_machines=12, "
        f"n_types=3, load=0.7, seed=0): {len(rows)} rows (every pair + 200 sets, 2.5% noise). "
        "Fit includes the 0.9 quantile models. The machine is shared (2 cores, other jobs "
        "running), so seconds are noisy.",
        "",
        "## Fit time (median of repeats)",
        "",
        markdown_table(timing, ["setting", "kind", "params", "rows", "fit_s_median",
                                "fit_s_all"]),
        "",
        "## Held-out error (n-weighted over folds)",
        "",
        markdown_table(errors, ["setting", "split", "kind", "folds", "n", "mape",
                                "additive_mape", "true_mape", "additive_true_mape"]),
        "",
    ])
    write_text_atomic(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
