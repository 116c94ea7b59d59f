"""A running cluster's fields in the instance and solution files, the one move count,
`solve --current` and `placement diff` (SPEC sections 2, 3, 4 and 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from placement.cluster.current import replace_current
from placement.cluster.diff import diff_solutions
from placement.cluster.moves import count_moves
from placement.evaluate import evaluate
from placement.formats.errors import InputError
from placement.formats.instance import Instance, validate_model
from placement.formats.solution import Solution

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "instances" / "demo.json"


def demo(**changes) -> dict:
    data = json.loads(DEMO.read_text())
    data.update(changes)
    return data


def problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(InputError) as exc:
        validate_model(Instance, data, "x.json")
    return exc.value.problems


# --------------------------------------------------------------------------- instance fields


def test_group_fields_reach_every_expanded_machine():
    data = demo()
    data["machines"][0].update(state="cordoned", labels={"zone": "a"}, capacity={"vcpus": 6})
    inst = Instance.model_validate(data)
    records = inst.machine_records()
    group = [r for r in records if r.type == "c5.2xlarge"]
    assert len(group) == 3
    for r in group:
        assert r.state == "cordoned" and r.labels == {"zone": "a"}
        assert r.capacity == {"vcpus": 6.0, "memory_gb": 16.0}  # memory keeps the type's
    assert [r.id for r in records] == [mid for mid, _ in inst.machine_ids()]
    assert all(r.state == "ready" for r in records if r.type != "c5.2xlarge")


def test_current_departures_are_kept_aside_not_errors():
    inst = Instance.model_validate(demo(current={"resnet50#0": "big-1", "resnet50#9": "big-2",
                                                 "retired#0": "big-1"}))
    assert inst.current_placement() == {"resnet50#0": "big-1"}
    assert inst.departed() == ["resnet50#9", "retired#0"]


def test_bad_running_cluster_fields_name_their_path():
    data = demo(current={"resnet50#0": "nowhere"})
    data["models"][0]["spread"] = "zone"
    data["models"][1]["avoid"] = ["bert-base", "ghost"]
    data["machines"][0]["state"] = "broken"
    data["limits"] = {"max_moves": -1}
    data["objective"]["move_penalty"] = -0.5
    found = dict(problems(data))
    assert "machines[0].state" in found
    assert "limits.max_moves" in found and "objective.move_penalty" in found
    data["machines"][0]["state"] = "down"
    data["limits"] = {"max_moves": 2}
    data["objective"]["move_penalty"] = 0.5
    found = dict(problems(data))
    assert "nowhere" in found["current.resnet50#0"]
    assert "zone" in found["models[0].spread"]
    assert "itself" in found["models[1].avoid[0]"] or "anyway" in found["models[1].avoid[0]"]
    assert "ghost" in found["models[1].avoid[1]"]


def test_spread_key_on_some_machine_and_symmetric_avoid_are_accepted():
    data = demo()
    data["machines"][1]["labels"] = {"zone": "b"}
    data["models"][0]["spread"] = "zone"
    data["models"][0]["avoid"] = ["bert-base"]
    inst = Instance.model_validate(data)
    assert frozenset(("resnet50", "bert-base")) in inst.avoid_pairs()


def test_empty_cluster_is_written_as_before():
    dumped = Instance.load(DEMO).dump()
    text = json.dumps(dumped)
    for key in ('"state"', '"labels"', '"avoid"', '"current"', '"move_penalty"', '"max_moves"'):
        assert key not in text
    running = Instance.model_validate(demo(current={"resnet50#0": "big-1"}))
    assert Instance.model_validate(running.dump()) == running


def test_old_solution_files_stay_valid_and_moves_round_trip():
    old = {"instance": "x", "solver": "greedy", "status": "feasible",
           "summary": {"mean_degradation": 0, "p99_degradation": 0, "max_degradation": 0,
                       "total_added_latency_ms": 0, "slo_violations": 0, "machines_used": 1,
                       "cost_per_hour": 1}}
    sol = Solution.model_validate(old)
    assert sol.moves == [] and sol.summary.moves == 0 and sol.summary.forced_moves == 0
    sol = Solution.model_validate({**old, "moves": [{"replica": "a#0", "from": "m1", "to": "m2",
                                                     "forced": True}]})
    assert sol.dump()["moves"] == [{"replica": "a#0", "from": "m1", "to": "m2", "forced": True}]


# --------------------------------------------------------------------------- moves


def running_demo(**extra) -> Instance:
    data = demo(current={"resnet50#0": "c5.2xlarge/0", "resnet50#1": "c5.2xlarge/1",
                         "bert-base#0": "big-1", "gone#0": "big-2"}, **extra)
    data["machines"][0]["state"] = "ready"
    data["machines"].append({"id": "dead", "type": "c5.4xlarge", "state": "down"})
    data["current"]["yolo-v5#0"] = "dead"
    return Instance.model_validate(data)


def test_moves_counted_forced_and_new_replicas_free():
    inst = running_demo()
    assignment = {"resnet50#0": "c5.2xlarge/0", "resnet50#1": "c5.2xlarge/2",
                  "bert-base#0": "big-1", "yolo-v5#0": "big-2", "mobilenet-v2#0": "big-1"}
    found = count_moves(inst, assignment)
    assert [(m.replica, m.from_, m.to, m.forced) for m in found.moves] == [
        ("resnet50#1", "c5.2xlarge/1", "c5.2xlarge/2", False),
        ("yolo-v5#0", "dead", "big-2", True),
    ]
    assert (found.counted, found.forced, found.departed) == (1, 1, ("gone#0",))


def test_evaluator_lists_moves_and_adds_the_penalty():
    plain = running_demo()
    penalised_data = plain.dump()
    penalised_data["objective"]["move_penalty"] = 0.25
    penalised = Instance.model_validate(penalised_data)
    assignment = {"resnet50#0": "c5.2xlarge/2", "resnet50#1": "c5.2xlarge/1",
                  "bert-base#0": "big-2", "yolo-v5#0": "big-1", "mobilenet-v2#0": "big-1",
                  "mobilenet-v2#1": "c5.2xlarge/0", "distilbert#0": "c5.2xlarge/1"}
    a, b = evaluate(plain, assignment), evaluate(penalised, assignment)
    assert a.summary.moves == 2 and a.summary.forced_moves == 1 and len(a.moves) == 3
    assert a.info["departed"] == ["gone#0"]
    assert b.objective == pytest.approx(a.objective + 0.25 * 2)
    assert b.summary.mean_degradation == a.summary.mean_degradation
    # without current nothing changes
    empty = evaluate(Instance.load(DEMO), assignment)
    assert empty.moves == [] and empty.summary.moves == 0 and "departed" not in empty.info


def test_replace_current_checks_machines_and_keeps_departures():
    inst = Instance.load(DEMO)
    new = replace_current(inst, {"resnet50#0": "big-1", "old#0": "big-2"}, "cur.json")
    assert new.current == {"resnet50#0": "big-1", "old#0": "big-2"} and inst.current == {}
    with pytest.raises(InputError) as exc:
        replace_current(inst, {"resnet50#0": "nope"}, "cur.json")
    assert exc.value.problems[0][0] == "assignment.resnet50#0"
    assert "cur.json" in exc.value.render()


def test_diff_moves_and_figure_changes():
    inst = Instance.load(DEMO)
    a = {"resnet50#0": "c5.2xlarge/0", "bert-base#0": "big-1", "old#0": "big-1"}
    b = {"resnet50#0": "big-2", "bert-base#0": "big-1", "yolo-v5#0": "big-1"}
    result = diff_solutions(inst, a, b)
    assert [(m.replica, m.from_, m.to) for m in result.moves.moves] == [
        ("resnet50#0", "c5.2xlarge/0", "big-2")]
    assert result.moves.departed == ("old#0",)
    assert result.new_in_b == ("yolo-v5#0",) and result.unplaced_in_b == ()
    figures = result.to_json()["figures"]
    assert figures["machines_used"] == {"a": 2.0, "b": 2.0, "change": 0.0}
    assert figures["cost_per_hour"]["change"] == pytest.approx(0.68 - 0.34)


# --------------------------------------------------------------------------- CLI


def run(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "placement.cli.app", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "COLUMNS": str(columns)})


def test_solve_current_and_diff_cli(tmp_path):
    proc = run("solve", str(DEMO), "--solver", "greedy", "-o", "a.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    a = json.loads((tmp_path / "a.json").read_text())["assignment"]
    rid = sorted(a)[0]
    moved = {**a, rid: "big-2" if a[rid] != "big-2" else "big-1", "left#0": "big-1"}
    (tmp_path / "cur.json").write_text(json.dumps({"assignment": moved}))
    proc = run("solve", str(DEMO), "--solver", "greedy", "--current", "cur.json", "-o", "b.json",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["info"]["departed"] == ["left#0"]
    assert b["summary"]["moves"] == len(b["moves"]) == sum(
        1 for r, m in b["assignment"].items() if moved.get(r, m) != m)
    proc = run("diff", str(DEMO), "cur.json", "b.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    assert "mean_degradation" in proc.stdout and "left#0" in proc.stdout
    proc = run("diff", str(DEMO), "cur.json", "b.json", "--format", "json", cwd=tmp_path)
    data = json.loads(proc.stdout)
    assert data["counted_moves"] == b["summary"]["moves"] and data["departed"] == ["left#0"]
    # bad input: exit 2, named file, no traceback
    (tmp_path / "bad.json").write_text(json.dumps({"assignment": {"resnet50#0": "zz"}}))
    for args in (("solve", str(DEMO), "--current", "bad.json", "-o", "c.json"),
                 ("diff", str(DEMO), "a.json", "bad.json")):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 2 and "bad.json" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "c.json").exists()
