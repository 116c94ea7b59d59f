"""The generator's simulated profiler: measurement requests answered by the ground truth.

``placement measure --truth TRUTH`` speaks the protocol of SPEC section 10 (requests CSV in,
measurements CSV out, same rows, same order) so that every loop that measures (``refine``,
end-to-end benchmarks) runs on generated worlds as it does on real machines.

Each answer is the true slowdown times lognormal noise of sigma ``noise``, the noise the
generator puts on the pairs and sets it writes into instances (``generate(noise=0.025)``).
The noise of a row is drawn from a stream keyed by the seed and the row's content (machine
type, target, co-runners as a set), so an answer does not depend on which other rows were
asked or in what order, and asking the same set twice gives the same measurement, as one
measured set answers every row about it. A target alone has slowdown 1.0 by definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from placement.measure.requests import Request, check_known
from placement.synthetic.truth import GroundTruth

NOISE = 0.025  # sigma of the lognormal measurement noise, as in generate()


class SimulatedMeasurer:
    """Answers measurement requests from a :class:`GroundTruth`.

    >>> measurer = SimulatedMeasurer(GroundTruth.load("gen.truth.json"), seed=3)  # doctest: +SKIP
    >>> measurer.measure([Request("v100", "resnet50", frozenset({"bert-base"}))])  # doctest: +SKIP
    [1.41...]
    """

    def __init__(self, truth: GroundTruth, *, noise: float = NOISE, seed: int = 0):
        self.truth = truth
        self.noise = float(noise)
        self.seed = int(seed)

    def _noise_factor(self, request: Request) -> float:
        key = "\x1f".join([request.machine_type, request.target, *sorted(request.co_runners)])
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
        rng = np.random.default_rng([self.seed, digest])
        return float(np.exp(rng.normal(0.0, self.noise)))

    def measure(self, requests: Sequence[Request], source: str = "<stdin>") -> list[float]:
        """One slowdown per request, in order; unknown names are an InputError."""
        check_known(requests, self.truth.machine_types, self.truth.models, source)
        return [
            1.0 if not r.co_runners
            else self.truth.slowdown(r.target, r.co_runners, r.machine_type) * self._noise_factor(r)
            for r in requests
        ]
