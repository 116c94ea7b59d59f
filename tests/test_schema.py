"""Bad input: a message naming the file, the JSON path and what was expected."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from placement import InputError, Instance
from tests.test_evaluate import BASE


def write(tmp_path: Path, data, name: str = "inst.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def problems_of(tmp_path: Path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(InputError) as info:
        Instance.load(path)
    text = str(info.value)
    assert str(path) in text
    return text


def mutate(fn) -> dict:
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def test_valid_instance_loads(tmp_path):
    inst = Instance.load(write(tmp_path, BASE))
    assert [m for m, _ in inst.machine_ids()] == ["small/0", "small/1", "B"]
    assert [r for r, _ in inst.replica_ids()] == ["a#0", "a#1", "b#0", "c#0"]
    assert inst.objective.minimize == "mean_degradation" and inst.objective.slo == "hard"


def test_malformed_json(tmp_path):
    text = problems_of(tmp_path, '{"name": "x", ')
    assert "malformed JSON at line 1" in text


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        Instance.load(tmp_path / "nope.json")


def test_wrong_type_names_path(tmp_path):
    text = problems_of(tmp_path, mutate(lambda d: d["models"][1].update(slo_ms="fast")))
    assert "models[1].slo_ms" in text and "fast" in text


def test_unknown_machine_type(tmp_path):
    text = problems_of(
        tmp_path, mutate(lambda d: d["machines"].append({"type": "huge", "count": 1}))
    )
    assert "machines[2].type" in text and "unknown machine type 'huge'" in text
    text = problems_of(
        tmp_path, mutate(lambda d: d["models"][0]["latency_ms"].update({"tiny": 3.0}))
    )
    assert "models[0].latency_ms.tiny" in text


def test_duplicate_names(tmp_path):
    text = problems_of(tmp_path, mutate(lambda d: d["models"][2].update(name="a")))
    assert "models[2].name" in text and "duplicate" in text
    text = problems_of(tmp_path, mutate(lambda d: d["machines"].append({"id": "B", "type": "big"})))
    assert "duplicate machine id 'B'" in text


def test_negative_request(tmp_path):
    text = problems_of(tmp_path, mutate(lambda d: d["models"][0]["requests"].update(cpu=-1)))
    assert "models[0].requests.cpu" in text and "greater than or equal to 0" in text


def test_empty_model_list(tmp_path):
    text = problems_of(tmp_path, mutate(lambda d: d.update(models=[])))
    assert "models" in text and "at least 1" in text


def test_missing_required_and_unknown_field(tmp_path):
    text = problems_of(tmp_path, mutate(lambda d: d["models"][0].pop("slo_ms")))
    assert "models[0].slo_ms: required field is missing" in text
    text = problems_of(tmp_path, mutate(lambda d: d["models"][0].update(slo=3)))
    assert "models[0].slo: unknown field" in text


def test_missing_pairs_named(tmp_path):
    text = problems_of(
        tmp_path,
        mutate(lambda d: d["interference"].update(pairwise=d["interference"]["pairwise"][1:])),
    )
    assert "interference.pairwise" in text and "small: a with b" in text


def test_machine_entry_needs_id_or_count(tmp_path):
    text = problems_of(tmp_path, mutate(lambda d: d["machines"].append({"type": "big"})))
    assert "machines[2]" in text and '"id"' in text


def test_interference_references_checked(tmp_path):
    text = problems_of(
        tmp_path,
        mutate(
            lambda d: d["interference"]["setwise"].append(
                {"machine_type": "big", "target": "c", "with": ["a", "zz"], "slowdown": 1.5}
            )
        ),
    )
    assert "interference.setwise[1].with[1]" in text and "unknown model 'zz'" in text
    text = problems_of(tmp_path, mutate(lambda d: d["interference"].update(missing="guess")))
    assert "interference.missing" in text


def test_missing_predict_requires_predictor():
    data = mutate(lambda d: d["interference"].update(missing="predict", pairwise=[]))
    inst = Instance.model_validate(data)
    from placement.compile import compile_problem

    with pytest.raises(ValueError, match="predictor"):
        compile_problem(inst)
