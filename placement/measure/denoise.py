"""Measured slowdowns blended with what the rest of the data says about them (docs/refine.md).

One measurement of a co-location carries the measurer's noise (2.5% lognormal for the
simulated profiler), and an optimizer that trusts single measurements favours the sets the
noise made look good. A predictor that never saw a set still knows something about it from the
sets around it. :func:`denoised` combines the two in log space, each weighted by its precision:

    log s = w log measured + (1 - w) log predicted,  w = (1/sigma_m^2) / (1/sigma_m^2 + 1/sigma_p^2)

``sigma_m`` is the measurer's noise (the user says it). ``sigma_p`` is the predictor's own
uncertainty for that query: its robust 0.9 quantile (the fitted quantile trees, widened for
sets far from the training data; docs/predictor.md) over its median, in log space, divided by
the normal 0.9 quantile (1.2816). A per-set weight matters. Near a hard knee the predictor's
error is bias, not noise, and one weight for every set pulled the sets it underestimates
towards its optimism.

*Out of fold*: measured rows are predicted by predictors fitted without their set (``folds``
set-wise folds, seeded), so a measurement is not blended with a prediction that memorised it.
The instance's own entries are not training rows; the predictor fitted on everything answers
them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np

from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.learn.predictor import SlowdownPredictor

#: The normal distribution's 0.9 quantile: a log-normal's sigma from its 0.9 quantile.
Z90 = NormalDist().inv_cdf(0.9)
#: Fits a predictor on some rows (refine's own fit, so every fold is fitted alike).
Fit = Callable[[Sequence[Measurement]], SlowdownPredictor]
#: A spread below this is treated as this (a predictor certain of itself would erase a
#: measurement entirely).
MIN_SPREAD = 1e-3


def blend(measured: float, predicted: float, upper: float, noise: float) -> float:
    """``measured`` and ``predicted`` (whose 0.9 quantile is ``upper``) weighted by their
    precisions in log space; ``noise`` is the measurement's sigma. Never below 1.

    >>> round(blend(1.30, 1.20, 1.20 * math.exp(0.025 * Z90), 0.025), 4)  # equal precision
    1.249
    """
    if noise <= 0.0:
        return measured
    spread = max(math.log(max(upper, predicted) / predicted) / Z90, MIN_SPREAD)
    weight = (1.0 / noise**2) / (1.0 / noise**2 + 1.0 / spread**2)
    return max(1.0, math.exp(weight * math.log(measured) + (1.0 - weight) * math.log(predicted)))


def out_of_fold(
    rows: Sequence[Measurement], fit: Fit, folds: int, seed: int
) -> dict[int, tuple[float, float]]:
    """For each co-location row (by index): (median, 0.9 quantile) from a predictor fitted
    without the row's set. ``fit(rows)`` returns a fitted :class:`SlowdownPredictor`."""
    def key(m: Measurement) -> tuple[str, tuple[str, ...]]:
        return m.machine_type, tuple(sorted(m.co_runners | {m.target}))

    sets = sorted({key(m) for m in rows if m.co_runners})
    draw = np.random.default_rng([seed, 11]).integers(0, folds, len(sets))
    fold_of = dict(zip(sets, draw.tolist(), strict=True))
    out: dict[int, tuple[float, float]] = {}
    for fold in range(folds):
        held = [i for i, m in enumerate(rows) if m.co_runners and fold_of[key(m)] == fold]
        if not held:
            continue
        predictor = fit([m for m in rows if not m.co_runners or fold_of[key(m)] != fold])
        queries = [(rows[i].target, rows[i].co_runners, rows[i].machine_type) for i in held]
        median = predictor.predict_slowdown_many(queries, quantile=0.5)  # the median
        upper = predictor.predict_slowdown_many(queries, quantile=0.9)
        for i, med, up in zip(held, median, upper, strict=True):
            out[i] = (float(med), float(up))
    return out


def denoised(
    instance: Instance,
    rows: Sequence[Measurement],
    predictor: SlowdownPredictor,
    fit: Fit,
    *,
    noise: float,
    folds: int = 5,
    seed: int = 0,
) -> tuple[Instance, list[Measurement]]:
    """The instance with its own pairwise and set-wise entries blended with ``predictor``
    (fitted on every row), and the rows with each co-location blended with its out-of-fold
    prediction (``fit(rows)`` fits one); see the module docstring."""
    if not noise > 0.0 or not math.isfinite(noise):
        raise ValueError(f"the measurement noise must be a positive sigma, got {noise}")
    if folds < 2:
        raise ValueError(f"denoising needs at least 2 folds, got {folds}")
    predicted = out_of_fold(rows, fit, folds, seed)
    blended = [
        Measurement(m.machine_type, m.target, m.co_runners,
                    blend(m.slowdown, *predicted[i], noise))
        if i in predicted else m
        for i, m in enumerate(rows)
    ]
    inter = instance.interference
    own = [*inter.pairwise, *inter.setwise]
    queries = [(e.target, frozenset({e.with_}), e.machine_type) for e in inter.pairwise]
    queries += [(e.target, frozenset(e.with_), e.machine_type) for e in inter.setwise]
    if not own:
        return instance, blended
    median = predictor.predict_slowdown_many(queries, quantile=0.5)  # the median
    upper = predictor.predict_slowdown_many(queries, quantile=0.9)
    moved = [
        e.model_copy(update={"slowdown": blend(e.slowdown, float(med), float(up), noise)})
        for e, med, up in zip(own, median, upper, strict=True)
    ]
    n = len(inter.pairwise)
    interference = inter.model_copy(update={"pairwise": moved[:n], "setwise": moved[n:]})
    return instance.model_copy(update={"interference": interference}), blended
