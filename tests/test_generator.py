"""The generator, its hidden ground truth, the zoo and the shipped instances."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from placement.evaluate import verify
from placement.formats.errors import InputError
from placement.formats.instance import Instance
from placement.interference import compose
from placement.synthetic.campaign import measure_campaign
from placement.synthetic.generator import generate
from placement.synthetic.packing import pack
from placement.synthetic.paper import paper_workload
from placement.synthetic.truth import GroundTruth
from placement.synthetic.zoo import CPU_TYPES, MACHINE_TYPES, ZOO, solo_latency_ms

INSTANCES = Path(__file__).resolve().parent.parent / "instances"


@pytest.fixture(scope="module")
def mixed():
    return generate(
        n_replicas=40, n_machines=12, n_types=4, load=0.7, interference="medium", seed=1
    )


def _load(inst: Instance) -> float:
    cap = {t.name: t.capacity for t in inst.machine_types}
    total = sum(cap[t]["vcpus"] for _, t in inst.machine_ids())
    return sum(m.requests["vcpus"] * m.replicas for m in inst.models) / total


def test_valid_and_sized(mixed):
    inst, _ = mixed
    again = Instance.model_validate(inst.dump())  # round-trips through the schema
    assert sum(m.replicas for m in again.models) == 40
    assert len(again.machine_ids()) == 12
    assert {MACHINE_TYPES[t.name].kind for t in inst.machine_types} == {"cpu", "gpu"}
    for m in inst.models:
        hosts = sum(1 for _, t in inst.machine_ids() if t in m.latency_ms)
        assert m.replicas <= hosts
        assert all(m.slo_ms >= v for v in m.latency_ms.values())  # meets its SLO alone


def test_deterministic_for_a_seed(mixed):
    inst, truth = mixed
    inst2, truth2 = generate(n_replicas=40, n_machines=12, n_types=4, load=0.7,
                             interference="medium", seed=1)
    assert json.dumps(inst.dump()) == json.dumps(inst2.dump())
    assert truth.dumps() == truth2.dumps()
    other, _ = generate(n_replicas=40, n_machines=12, n_types=4, load=0.7, seed=2)
    assert json.dumps(other.dump()) != json.dumps(inst.dump())


def test_every_needed_pair_present(mixed):
    inst, _ = mixed
    assert inst.missing_pairs() == []
    assert inst.interference.missing == "error"
    assert inst.interference.setwise  # a few measured sets
    assert all(2 <= len(e.with_) <= 3 for e in inst.interference.setwise)


def test_planted_placement_is_feasible(mixed):
    inst, _ = mixed
    assignment = pack(inst)
    assert assignment is not None
    assert verify(inst, assignment) == []


def test_gpu_only_models_have_no_cpu_latency(mixed):
    inst, _ = mixed
    gpu_only = [m for m in inst.models if m.requests.get("gpu_memory_gb", 0) > 0]
    assert gpu_only
    for m in gpu_only:
        assert not set(m.latency_ms) & set(CPU_TYPES)


def test_truth_at_least_one_and_monotone(mixed):
    inst, truth = mixed
    rng = np.random.default_rng(0)
    for t in inst.machine_types:
        names = [m.name for m in inst.models if t.name in m.latency_ms]
        assert truth.slowdown(names[0], frozenset(), t.name) == 1.0
        for _ in range(30):
            k = int(rng.integers(2, min(6, len(names)) + 1))
            members = [str(x) for x in rng.choice(names, k, replace=False)]
            target, co = members[0], members[1:]
            smaller = truth.slowdown(target, frozenset(co[:-1]), t.name)
            larger = truth.slowdown(target, frozenset(co), t.name)
            assert 1.0 <= smaller <= larger + 1e-12  # a co-runner never helps


def test_truth_is_not_additive(mixed):
    inst, truth = mixed
    rng = np.random.default_rng(1)
    worst = 0.0
    for t in inst.machine_types:
        names = [m.name for m in inst.models if t.name in m.latency_ms]
        if len(names) < 4:
            continue
        for _ in range(50):
            target, *co = [str(x) for x in rng.choice(names, 4, replace=False)]
            pairs = [truth.slowdown(target, frozenset((c,)), t.name) for c in co]
            true = truth.slowdown(target, frozenset(co), t.name)
            worst = max(worst, abs(true - compose(pairs, "additive")))
    assert worst > 0.1


def test_measured_pairs_within_noise(mixed):
    inst, truth = mixed
    logs = [
        math.log(e.slowdown / truth.slowdown(e.target, frozenset((e.with_,)), e.machine_type))
        for e in inst.interference.pairwise
    ]
    assert max(abs(x) for x in logs) < 5 * 0.025
    assert 0.015 < float(np.std(logs)) < 0.035


def test_truth_json_round_trip(mixed, tmp_path):
    _, truth = mixed
    path = tmp_path / "truth.json"
    truth.save(path)
    again = GroundTruth.load(path)
    assert again.to_json() == truth.to_json()
    assert GroundTruth.from_json(json.loads(path.read_text())).dumps() == truth.dumps()
    name = next(iter(truth.models))
    co = frozenset(list(truth.models)[1:4])
    t = next(iter(truth.machine_types))
    assert again.slowdown(name, co - {name}, t) == truth.slowdown(name, co - {name}, t)


def test_truth_load_names_file_and_path(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({
        "format": "placement-ground-truth", "version": 1, "intensity": 1.0,
        "machine_types": {"cpu-8": {"llc": {"capacity": -1, "shape": "share"}}},
        "models": {"a": {"sensitivity": {"llc": 0.2}, "demand": {"gpu-x": {"llc": 1}}}},
    }))
    with pytest.raises(InputError) as err:
        GroundTruth.load(path)
    text = str(err.value)
    assert str(path) in text and "machine_types.cpu-8.llc.capacity" in text
    with pytest.raises(InputError):
        GroundTruth.load(tmp_path / "absent.json")


def test_load_controls_tightness():
    loads = []
    for load in (0.4, 0.8):
        inst, _ = generate(n_replicas=60, n_machines=20, n_types=3, load=load, seed=0)
        loads.append(_load(inst))
        assert abs(loads[-1] - load) < 0.05
    assert loads[0] < loads[1]


def test_interference_levels_order():
    means = []
    for level in ("low", "medium", "high"):
        inst, _ = generate(n_replicas=30, n_machines=10, n_types=3, interference=level, seed=4)
        means.append(np.mean([e.slowdown for e in inst.interference.pairwise]))
    assert means[0] < means[1] < means[2]


def test_large_instance_is_fast():
    import time

    start = time.perf_counter()
    inst, _ = generate(n_replicas=2000, n_machines=500, n_types=7, load=0.7, seed=0)
    assert time.perf_counter() - start < 15
    assert sum(m.replicas for m in inst.models) == 2000
    assert 100 <= len(inst.models) <= 200


def test_measure_campaign(mixed):
    inst, truth = mixed
    rows = measure_campaign(inst, truth, n_sets=10, alone=True, noise=0.02, seed=3)
    degrees = {r.degree for r in rows}
    assert {1, 2}.issubset(degrees) and degrees & {3, 4}
    pairs = [r for r in rows if r.degree == 2]
    assert len(pairs) == len(inst.interference.pairwise)
    assert rows == measure_campaign(inst, truth, n_sets=10, alone=True, noise=0.02, seed=3)


def test_paper_workload_same_models_across_clusters():
    a, _ = paper_workload(["v100", "v100"], 6, seed=3)
    b, truth = paper_workload(["v100", "cpu-16"], 6, seed=3)
    assert [m.name for m in a.models] == [m.name for m in b.models]
    assert len(b.machine_ids()) == 2 and b.objective.minimize == "added_latency"
    assert all(set(m.latency_ms) == {"v100", "cpu-16"} for m in b.models)
    assert truth.slowdown(b.models[0].name, frozenset({b.models[1].name}), "cpu-16") >= 1.0


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError):
        generate(n_replicas=10, n_machines=3, load=1.5)
    with pytest.raises(InputError):
        generate(n_replicas=10, n_machines=3, interference="extreme")
    with pytest.raises(InputError):
        generate(n_replicas=10, n_machines=3, type_names=["tpu"])


def test_zoo_calibration():
    a100 = MACHINE_TYPES["a100"]
    assert solo_latency_ms(ZOO["resnet50"], a100) == pytest.approx(0.49, rel=0.1)  # MLPerf
    bert6 = solo_latency_ms(ZOO["bert-base"], MACHINE_TYPES["cpu-16"], vcpus=6)
    assert 60 < bert6 < 110  # Shah et al.: ~78-86 ms on 6 cores
    assert len(ZOO) >= 20


@pytest.mark.parametrize("name", ["paper-7types.json", "shah-cpu.json", "demo.json"])
def test_shipped_instances_load(name):
    inst = Instance.load(INSTANCES / name)
    assert inst.missing_pairs() == []
    assert pack(inst) is not None


def test_shipped_truth_matches_instance():
    inst = Instance.load(INSTANCES / "paper-7types.json")
    truth = GroundTruth.load(INSTANCES / "paper-7types.truth.json")
    assert {m.name for m in inst.models} == set(truth.models)
    assert len(inst.machine_types) == 7
