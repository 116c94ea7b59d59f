"""The generator's V100 pair slowdowns follow real ones (docs/calibration.md).

Measured: 1,500 slowdowns of the iGniter pairs on a V100 under MPS (tests/data/
igniter_v100_pairs.csv; Xu et al., TPDS 2022, repository icloud-ecnu/igniter). Generated: the
truth ``truth_from_zoo`` draws for the zoo's 20 models on ``v100`` at level ``medium``, seeds
0..19, every ordered pair.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from placement.synthetic.truth import truth_from_zoo
from placement.synthetic.zoo import ZOO

DATA = Path(__file__).parent / "data" / "igniter_v100_pairs.csv"


def measured() -> np.ndarray:
    with DATA.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([float(r[f"cohosted_ms_{s}"]) / float(r[f"alone_ms_{s}"])
                     for r in rows for s in ("a", "b")])


def generated(seeds: range = range(20)) -> np.ndarray:
    names = sorted(ZOO)
    off_diagonal = ~np.eye(len(names), dtype=bool)
    return np.concatenate([
        truth_from_zoo(ZOO, {n: ZOO[n].cpu_vcpus for n in names}, ["v100"], "medium",
                       np.random.default_rng(seed)).pair_matrix("v100", names)[off_diagonal]
        for seed in seeds
    ])


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_v100_pair_slowdown_quantiles_within_10_percent_of_measured(q: float) -> None:
    real, gen = np.quantile(measured(), q), np.quantile(generated(), q)
    assert abs(gen / real - 1) <= 0.10, (q, real, gen)
    # stricter, and the figure that matters to a placement: the degradation (slowdown - 1)
    assert abs((gen - 1) / (real - 1) - 1) <= 0.10, (q, real, gen)


def test_measured_data_is_the_igniter_set() -> None:
    values = measured()
    assert len(values) == 1500 and values.min() > 1.0
