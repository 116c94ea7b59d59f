"""A measurement campaign against the ground truth, as a user's profiling would give."""

from __future__ import annotations

import numpy as np

from placement.formats.instance import Instance
from placement.formats.measurements import Measurement
from placement.synthetic.assembly import fits_on_machine, sample_sets
from placement.synthetic.drafts import option_error
from placement.synthetic.truth import GroundTruth


def measure_campaign(
    instance: Instance,
    truth: GroundTruth,
    *,
    pairs: str = "all",
    n_sets: int = 0,
    max_degree: int = 4,
    noise: float = 0.025,
    alone: bool = False,
    seed: int = 0,
) -> list[Measurement]:
    """Profile ``instance``'s models against ``truth``, as a user's measurement campaign would.

    Rows: with ``alone``, each model alone on each type it runs on (slowdown 1 x noise);
    with ``pairs="all"``, every ordered pair on every type that hosts both (``"none"``: no
    pairs); ``n_sets`` random sets of 3..``max_degree`` models that fit on one machine, one
    row per member. Every value is the true slowdown x lognormal noise of sigma ``noise``.
    Write them with :func:`placement.formats.measurements.measurements_csv`.
    """
    if pairs not in ("all", "none"):
        raise option_error("pairs", f'expected "all" or "none" (got {pairs!r})')
    rng = np.random.default_rng([seed, 100])
    types = [t.name for t in instance.machine_types]
    hosted = {t: [m.name for m in instance.models if t in m.latency_ms] for t in types}
    out: list[Measurement] = []
    if alone:
        for t in types:
            for n in hosted[t]:
                out.append(Measurement(t, n, frozenset(), float(np.exp(rng.normal(0.0, noise)))))
    if pairs == "all":
        for t in types:
            names = hosted[t]
            if len(names) < 2:
                continue
            measured = truth.pair_matrix(t, names) * np.exp(
                rng.normal(0.0, noise, (len(names),) * 2)
            )
            for i, a in enumerate(names):
                for j, b in enumerate(names):
                    if i != j:
                        out.append(Measurement(t, a, frozenset((b,)), float(measured[i, j])))
    if n_sets > 0:
        capacity = {t.name: t.capacity for t in instance.machine_types}
        requests = {m.name: dict(m.requests) for m in instance.models}
        for m in sample_sets(
            truth, types, hosted, requests, n_sets, max_degree, noise,
            np.random.default_rng([seed, 101]), instance.limits.max_models_per_machine,
        ):
            # sample_sets checks the catalog capacity; recheck against this instance's types
            if fits_on_machine([m.target, *m.co_runners], requests, capacity[m.machine_type]):
                out.append(m)
    return out
