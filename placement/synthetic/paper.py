"""The seed paper's two-machine workloads (Mendoza et al., EuroMLSys 2021, Table 5)."""

from __future__ import annotations

from collections.abc import Sequence

from placement.formats.instance import Instance
from placement.synthetic.assembly import assemble
from placement.synthetic.drafts import (
    MODELS_STREAM,
    SLO_FACTOR,
    SLO_STREAM,
    Draft,
    draw_models,
    option_error,
    stream,
)
from placement.synthetic.packing import plant
from placement.synthetic.truth import GroundTruth
from placement.synthetic.zoo import MACHINE_TYPES

PAPER_CLUSTERS: dict[str, list[str]] = {
    "v100+v100": ["v100", "v100"],
    "v100+cpu-32": ["v100", "cpu-32"],
    "v100+cpu-16": ["v100", "cpu-16"],
}


def paper_workload(
    cluster: Sequence[str],
    n_models: int,
    seed: int,
    *,
    interference: str = "medium",
    load: float = 0.6,
    noise: float = 0.025,
) -> tuple[Instance, GroundTruth]:
    """The seed paper's Table 5 setting: a small cluster (``PAPER_CLUSTERS``: two machines,
    {V100, V100}, {V100, cpu-32}, {V100, cpu-16}) and a workload of ``n_models`` distinct
    models arriving in file order, one replica each, each able to run on every type.

    The models, their order and SLO factors depend only on ``seed``, so one seed gives the
    same workload on each cluster; requests are scaled to ``load`` of the cluster's vCPUs.
    The objective is the paper's cumulative latency degradation (``added_latency``) with soft
    SLOs. Returns the instance and its ground truth.
    """
    unknown = [t for t in cluster if t not in MACHINE_TYPES]
    if unknown or not cluster:
        raise option_error(
            "cluster", f"unknown types {unknown}; expected some of {list(MACHINE_TYPES)}"
        )
    types = [t for t in MACHINE_TYPES if t in set(cluster)]
    rng = stream(seed, MODELS_STREAM)
    drafts = [Draft(zm, list(types), memory_gb=zm.memory_gb) for zm in draw_models(n_models, rng)]
    slo_rng = stream(seed, SLO_STREAM)
    for d in drafts:
        d.slo_factor = float(slo_rng.uniform(*SLO_FACTOR))
    capacity = sum(MACHINE_TYPES[t].vcpus for t in cluster)
    smallest = min(MACHINE_TYPES[t].vcpus for t in cluster)
    base = sum(d.zoo.cpu_vcpus for d in drafts)
    for d in drafts:
        d.vcpus = max(0.05, round(min(smallest, d.zoo.cpu_vcpus * load * capacity / base), 2))
    machines = [{"id": f"m{i}", "type": t} for i, t in enumerate(cluster)]
    placed = plant(drafts, types, list(cluster), None)
    return assemble(
        f"paper-{'+'.join(cluster)}-{n_models}m-s{seed}",
        placed,
        types,
        machines,
        drafts,
        interference=interference,
        seed=seed,
        noise=noise,
        n_setwise=max(2, n_models // 2),
        objective="added_latency",
        slo="soft",
        max_models_per_machine=None,
    )
