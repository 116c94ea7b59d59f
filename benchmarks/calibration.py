"""The generator's GPU interference against real V100 pairs: measured vs generated quantiles.

Measured: the 750 iGniter pairs on one V100 under MPS (Xu et al., TPDS 2022; repository
icloud-ecnu/igniter), both directions, slowdown = co-hosted / alone at the same GPU share:
1,500 slowdowns (``tests/data/igniter_v100_pairs.csv``, a copy of
``/work/shared/data/igniter_v100_pairs.csv``).

Generated: the hidden truth the generator draws (``truth_from_zoo``) for the 20 models of the
zoo on ``v100`` at the default interference level (``medium``), seeds 0..19, every ordered
pair: 7,600 slowdowns. The same population is checked by tests/test_calibration.py.

Run: ``python benchmarks/calibration.py`` (a second) -> a markdown table on standard output
(pasted into docs/calibration.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from placement.synthetic.truth import truth_from_zoo
from placement.synthetic.zoo import GPU_TYPES, ZOO

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "igniter_v100_pairs.csv"
QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90, 0.99)
SEEDS = range(20)


def measured_pair_slowdowns(path: Path = DATA) -> np.ndarray:
    """Both members' slowdowns of every measured pair."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for side in ("a", "b"):
                out.append(float(row[f"cohosted_ms_{side}"]) / float(row[f"alone_ms_{side}"]))
    return np.array(out)


def generated_pair_slowdowns(machine_type: str = "v100", level: str = "medium",
                             seeds=SEEDS) -> np.ndarray:
    """True slowdown of every ordered pair of zoo models on ``machine_type``, over seeds."""
    names = sorted(ZOO)
    vcpus = {n: ZOO[n].cpu_vcpus for n in names}
    out = []
    off_diagonal = ~np.eye(len(names), dtype=bool)
    for seed in seeds:
        truth = truth_from_zoo(ZOO, vcpus, [machine_type], level, np.random.default_rng(seed))
        out.append(truth.pair_matrix(machine_type, names)[off_diagonal])
    return np.concatenate(out)


def main() -> None:
    measured = measured_pair_slowdowns()
    rows = [("measured V100 (iGniter, MPS)", measured),
            ("generated v100 (medium)", generated_pair_slowdowns())]
    rows += [(f"generated {t} (medium)", generated_pair_slowdowns(t))
             for t in GPU_TYPES if t != "v100"]
    head = " | ".join(f"q{int(q * 100)}" for q in QUANTILES)
    print(f"| pair slowdowns | n | {head} | mean |")
    print("|---|---:|" + "---:|" * (len(QUANTILES) + 1))
    for name, values in rows:
        qs = " | ".join(f"{v:.3f}" for v in np.quantile(values, QUANTILES))
        print(f"| {name} | {len(values)} | {qs} | {values.mean():.3f} |")
    gen = generated_pair_slowdowns()
    for q in (0.5, 0.9):
        m, g = np.quantile(measured, q), np.quantile(gen, q)
        print(f"q{int(q * 100)}: slowdown {g / m - 1:+.1%}, degradation "
              f"{(g - 1) / (m - 1) - 1:+.1%} (generated vs measured)")


if __name__ == "__main__":
    main()
