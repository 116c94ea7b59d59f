"""Random tiny running clusters for property tests: an instance of :mod:`tests.strategies` with
``current``, machine states, per-machine capacity, labels, ``avoid``, ``spread``,
``limits.max_moves`` and ``objective.move_penalty`` (SPEC sections 2 and 9)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from placement.formats.instance import Instance
from tests.strategies import OBJECTIVES, random_instance_dict


def add_cluster_fields(
    rng: random.Random,
    data: dict[str, Any],
    *,
    max_moves: int | None,
    move_penalty: float,
) -> dict[str, Any]:
    """Put running-cluster fields on ``data`` (in place; returned): a random ``current`` for
    most replicas (some of it on machines that became down, cordoned or smaller) and a
    departed replica, a zone label on most machines, maybe one ``avoid`` pair and one
    ``spread`` over zones."""
    machines = data["machines"]
    for i, machine in enumerate(machines):
        machine["state"] = rng.choice(["ready"] * 5 + ["cordoned", "down"])
        if rng.random() < 0.25:
            machine["capacity"] = {"cpu": rng.choice([3, 5, 9])}
        if rng.random() < 0.8 or i == 0:
            machine["labels"] = {"zone": f"z{rng.randrange(2)}"}
    ids = [m["id"] for m in machines]
    current = {}
    for model in data["models"]:
        for r in range(model["replicas"]):
            if rng.random() < 0.7:
                current[f"{model['name']}#{r}"] = rng.choice(ids)
    current["gone#0"] = rng.choice(ids)  # a departure
    data["current"] = current
    names = [m["name"] for m in data["models"]]
    if len(names) >= 2 and rng.random() < 0.5:
        a, b = rng.sample(names, 2)
        next(m for m in data["models"] if m["name"] == a)["avoid"] = [b]
    if rng.random() < 0.4:
        rng.choice(data["models"])["spread"] = "zone"
    data.setdefault("limits", {})
    if max_moves is not None:
        data["limits"]["max_moves"] = max_moves
    data["objective"]["move_penalty"] = move_penalty
    return data


def random_cluster(seed: int, *, max_moves: int | None, move_penalty: float, **kwargs) -> Instance:
    rng = random.Random(seed)
    data = random_instance_dict(rng, **kwargs)
    return Instance.model_validate(
        add_cluster_fields(rng, data, max_moves=max_moves, move_penalty=move_penalty)
    )


@st.composite
def tiny_clusters(draw: st.DrawFn, objectives: list[str] | None = None) -> Instance:
    """Running clusters small enough for ``exhaustive``."""
    return random_cluster(
        draw(st.integers(0, 10**6)),
        max_moves=draw(st.sampled_from([None, 0, 1, 2, 3])),
        move_penalty=draw(st.sampled_from([0.0, 0.0, 0.05, 0.3])),
        n_models=draw(st.integers(1, 4)),
        n_machines=draw(st.integers(1, 3)),
        n_types=draw(st.integers(1, 2)),
        max_replicas=2,
        objective=draw(st.sampled_from(objectives or OBJECTIVES)),
        compose=draw(st.sampled_from(["additive", "multiplicative", "max"])),
        slo=draw(st.sampled_from(["hard", "soft"])),
        limit=draw(st.sampled_from([None, None, 2, 3])),
    )
