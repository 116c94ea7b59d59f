"""What the generator draws before an instance exists: its random streams and model drafts.

Every draw comes from its own stream ``numpy.random.default_rng([seed, stage])``, so a seed
gives the same instance and truth on every run, and changing one stage (say, the number of
measured sets) leaves the others alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.formats.errors import InputError
from placement.synthetic.zoo import MACHINE_TYPES, ZOO, ZooModel, solo_latency_ms, variant

SLO_FACTOR = (1.5, 3.0)  # slo_ms = slowest allowed solo latency x U(SLO_FACTOR)
# Stream ids of the independent random draws (their values are part of every generated file).
(TYPES_STREAM, MACHINES_STREAM, MODELS_STREAM, REPLICAS_STREAM, SLO_STREAM, TRUTH_STREAM,
 PAIRS_STREAM, SETS_STREAM) = range(8)


def stream(seed: int, stage: int) -> np.random.Generator:
    """The random stream of one stage of the generator."""
    return np.random.default_rng([seed, stage])


def option_error(what: str, message: str) -> InputError:
    """A bad generator option (``what`` names it), reported like bad input."""
    return InputError("generate", [(what, message)])


@dataclass
class Draft:
    """A model on its way into the instance."""

    zoo: ZooModel
    allowed: list[str]  # machine types that can host it
    replicas: int = 1
    vcpus: float = 1.0
    memory_gb: float = 0.5
    gpu_memory_gb: float = 0.0  # > 0 only for GPU-only models: the mark of a GPU-only model
    slo_factor: float = 2.0

    @property
    def name(self) -> str:
        return self.zoo.name


def draw_models(n_models: int, rng: np.random.Generator) -> list[ZooModel]:
    """The zoo in random order, then variants (``resnet50-v2``, ...) once it runs out."""
    bases = [ZOO[n] for n in rng.permutation(list(ZOO))]
    out = list(bases[:n_models])
    k = 2
    while len(out) < n_models:
        for base in bases:
            if len(out) == n_models:
                break
            out.append(variant(base, k, rng))
        k += 1
    return out


def draft_latencies(d: Draft) -> dict[str, float]:
    return {
        t: round(max(1e-3, solo_latency_ms(d.zoo, MACHINE_TYPES[t], d.vcpus)), 4) for t in d.allowed
    }
