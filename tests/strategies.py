"""Random small instances for property tests (hypothesis) and brute-force comparisons."""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import strategies as st

from placement.formats.instance import Instance

OBJECTIVES = ["mean_degradation", "added_latency", "max_degradation", "machines", "cost"]
COMPOSE = ["additive", "multiplicative", "max"]


def random_instance_dict(
    rng: random.Random,
    *,
    n_models: int = 3,
    n_machines: int = 3,
    n_types: int = 2,
    max_replicas: int = 2,
    objective: str = "mean_degradation",
    slo: str = "hard",
    compose: str = "additive",
    n_setwise: int = 3,
    limit: int | None = None,
    slo_tightness: float = 1.6,
) -> dict[str, Any]:
    """A random, valid instance: every pair measured, a few set-wise entries, some types
    disallowed per model, SLOs at ``slo_tightness`` x the solo latency (some tight)."""
    types = []
    for t in range(n_types):
        types.append(
            {
                "name": f"type{t}",
                "capacity": {"cpu": rng.choice([4, 6, 8]), "mem": rng.choice([8, 12, 16])},
                "cost_per_hour": round(rng.uniform(0.2, 2.0), 2),
                "features": {"cores": 4 + 2 * t},
            }
        )
    machines = []
    for i in range(n_machines):
        machines.append({"id": f"m{i}", "type": f"type{rng.randrange(n_types)}"})
    present = sorted({m["type"] for m in machines})
    models = []
    for i in range(n_models):
        allowed = [t["name"] for t in types if rng.random() < 0.8] or [rng.choice(present)]
        if not set(allowed) & set(present):
            allowed.append(rng.choice(present))
        latency = {t: round(rng.uniform(5, 50), 2) for t in allowed}
        models.append(
            {
                "name": f"model{i}",
                "requests": {"cpu": rng.choice([1, 2, 3]), "mem": rng.choice([1, 2, 4])},
                "slo_ms": round(max(latency.values()) * rng.uniform(1.0, slo_tightness), 2),
                "latency_ms": latency,
                "replicas": rng.randint(1, max_replicas),
                "weight": rng.choice([1.0, 1.0, 2.0, 0.5]),
                "features": {"size": rng.uniform(0, 1)},
            }
        )
    names = [m["name"] for m in models]
    pairwise = []
    for t in types:
        for a, b in itertools.permutations(names, 2):
            pairwise.append(
                {
                    "machine_type": t["name"],
                    "target": a,
                    "with": b,
                    "slowdown": round(rng.uniform(0.95, 1.6), 3),
                }
            )
    setwise = []
    for _ in range(n_setwise if n_models >= 3 else 0):
        target = rng.choice(names)
        others = rng.sample([n for n in names if n != target], rng.randint(2, min(3, n_models - 1)))
        setwise.append(
            {
                "machine_type": rng.choice(types)["name"],
                "target": target,
                "with": others,
                "slowdown": round(rng.uniform(1.0, 2.5), 3),
            }
        )
    inst: dict[str, Any] = {
        "name": f"random-{rng.randrange(10**6)}",
        "machine_types": types,
        "machines": machines,
        "models": models,
        "interference": {"pairwise": pairwise, "setwise": setwise, "compose": compose},
        "objective": {"minimize": objective, "slo": slo},
    }
    if limit is not None:
        inst["limits"] = {"max_models_per_machine": limit}
    return inst


def random_instance(seed: int, **kwargs: Any) -> Instance:
    return Instance.model_validate(random_instance_dict(random.Random(seed), **kwargs))


@st.composite
def tiny_instances(
    draw: st.DrawFn,
    objectives: list[str] | None = None,
    composes: list[str] | None = None,
    slos: list[str] | None = None,
    max_models: int = 4,
    max_machines: int = 3,
) -> Instance:
    """Instances small enough for ``exhaustive`` (at most about 8 replicas)."""
    seed = draw(st.integers(0, 10**6))
    return random_instance(
        seed,
        n_models=draw(st.integers(1, max_models)),
        n_machines=draw(st.integers(1, max_machines)),
        n_types=draw(st.integers(1, 2)),
        max_replicas=2,
        objective=draw(st.sampled_from(objectives or OBJECTIVES)),
        compose=draw(st.sampled_from(composes or COMPOSE)),
        slo=draw(st.sampled_from(slos or ["hard", "soft"])),
        limit=draw(st.sampled_from([None, None, 2, 3])),
    )
