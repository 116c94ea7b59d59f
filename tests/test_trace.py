"""Trace files, the events that change a running cluster, and generated traces (SPEC 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from placement.cluster.events import (
    EventError,
    apply_event,
    check_trace,
    initial_state,
    load_trace,
    replay,
    with_current,
)
from placement.formats.errors import InputError
from placement.formats.instance import validate_model
from placement.formats.trace import Event, Trace
from placement.synthetic.trace_generator import generate_trace

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "instances" / "demo.json"


def demo_trace(events: list[dict]) -> dict:
    return {"instance": json.loads(DEMO.read_text()), "events": events}


def event(data: dict) -> Event:
    return Event.model_validate(data)


NEW_MODEL = {"name": "vit", "requests": {"vcpus": 2, "memory_gb": 1}, "slo_ms": 200,
             "latency_ms": {"c5.4xlarge": 50}}


# --------------------------------------------------------------------------- the format


def test_event_holds_exactly_one_change():
    with pytest.raises(InputError) as exc:
        validate_model(Trace, demo_trace([{"at": 1, "depart": "bert-base", "up": "big-1"}]),
                       "t.json")
    assert exc.value.problems[0][0] == "events[0]"
    assert "exactly one" in exc.value.problems[0][1]
    for bad in ({"at": 1}, {"at": 1, "depart": "x", "interference": {}},
                {"at": -1, "depart": "x"}, {"at": 1, "scale": {"model": "x", "replicas": 0}},
                {"at": 1, "load": {"model": "x", "factor": 0}}, {"at": 1, "explode": "x"}):
        with pytest.raises(InputError):
            validate_model(Trace, demo_trace([bad]), "t.json")


def test_events_in_time_order():
    with pytest.raises(InputError) as exc:
        validate_model(Trace, demo_trace([{"at": 5, "depart": "bert-base"},
                                          {"at": 2, "down": "big-1"}]), "t.json")
    assert exc.value.problems[0][0] == "events[1].at"


def test_replay_names_the_event_that_cannot_happen(tmp_path):
    path = tmp_path / "t.json"
    cases = [
        ({"at": 1, "depart": "ghost"}, "events[1].depart"),
        ({"at": 1, "down": "nowhere"}, "events[1].down"),
        ({"at": 1, "arrive": {**NEW_MODEL, "name": "resnet50"}}, "events[1].arrive.name"),
        ({"at": 1, "scale": {"model": "bert-base", "replicas": 2}}, "events[1].scale.model"),
    ]
    for bad, where in cases:
        path.write_text(json.dumps(demo_trace([{"at": 0, "depart": "bert-base"}, bad])))
        with pytest.raises(InputError) as exc:
            load_trace(path)
        assert exc.value.problems[0][0] == where, exc.value.render()
        assert str(path) in exc.value.render()


def test_arrival_without_its_pairs_is_bad_input():
    trace = Trace.model_validate(demo_trace([{"at": 1, "arrive": NEW_MODEL}]))
    with pytest.raises(InputError) as exc:
        check_trace(trace, "t.json")
    assert exc.value.problems[0][0] == "events[0].interference"
    assert "vit" in exc.value.problems[0][1]


# --------------------------------------------------------------------------- events


def test_arrival_brings_its_interference_and_departure_removes_it():
    trace = Trace.model_validate(demo_trace([]))
    state = initial_state(trace.instance)
    others = [m.name for m in trace.instance.models if "c5.4xlarge" in m.latency_ms]
    pairs = [{"machine_type": "c5.4xlarge", "target": a, "with": b, "slowdown": 1.1}
             for o in others for a, b in (("vit", o), (o, "vit"))]
    arrived = apply_event(state, event({"at": 1, "arrive": NEW_MODEL,
                                        "interference": {"pairwise": pairs}}))
    assert "vit" in {m.name for m in arrived.instance.models} and arrived.at == 1
    assert "vit" not in {m.name for m in state.instance.models}  # the input is unchanged
    gone = apply_event(arrived, event({"at": 2, "depart": "vit"}))
    entries = gone.instance.interference.pairwise
    assert all("vit" not in (e.target, e.with_) for e in entries)
    assert len(entries) == len(state.instance.interference.pairwise)


def test_load_is_relative_to_the_start_and_scale_changes_replicas():
    state = initial_state(Trace.model_validate(demo_trace([])).instance)
    base = next(m for m in state.instance.models if m.name == "resnet50").requests
    once = apply_event(state, event({"at": 1, "load": {"model": "resnet50", "factor": 1.5}}))
    twice = apply_event(once, event({"at": 2, "load": {"model": "resnet50", "factor": 0.5}}))
    got = next(m for m in twice.instance.models if m.name == "resnet50").requests
    assert got == {k: v * 0.5 for k, v in base.items()}  # not 1.5 x 0.5
    scaled = apply_event(state, event({"at": 1, "scale": {"model": "resnet50", "replicas": 1}}))
    ids = [rid for rid, _ in scaled.instance.replica_ids() if rid.startswith("resnet50#")]
    assert ids == ["resnet50#0"]  # scale down removes the highest indices


def test_down_and_up_keep_machine_ids_and_departed_replicas_stay_current():
    state = initial_state(Trace.model_validate(demo_trace([])).instance)
    state = with_current(state, {"resnet50#1": "c5.2xlarge/1", "bert-base#0": "big-1"})
    ids = [mid for mid, _ in state.instance.machine_ids()]
    down = apply_event(state, event({"at": 1, "down": "c5.2xlarge/1"}))
    assert [mid for mid, _ in down.instance.machine_ids()] == ids
    states = {r.id: r.state for r in down.instance.machine_records()}
    assert states["c5.2xlarge/1"] == "down" and states["c5.2xlarge/0"] == "ready"
    up = apply_event(down, event({"at": 2, "up": "c5.2xlarge/1"}))
    assert all(r.state == "ready" for r in up.instance.machine_records())
    shrunk = apply_event(up, event({"at": 3, "scale": {"model": "resnet50", "replicas": 1}}))
    assert shrunk.instance.departed() == ["resnet50#1"]
    with pytest.raises(EventError):
        apply_event(up, event({"at": 4, "up": "ghost"}))


# --------------------------------------------------------------------------- generated


def test_generated_trace_is_deterministic_replayable_and_covered_by_its_truth():
    trace, truth = generate_trace(n_events=40, n_models=10, n_machines=6, seed=4)
    again, truth_again = generate_trace(n_events=40, n_models=10, n_machines=6, seed=4)
    other, _ = generate_trace(n_events=40, n_models=10, n_machines=6, seed=5)
    assert trace.dump() == again.dump() and truth.dumps() == truth_again.dumps()
    assert trace.dump() != other.dump()
    assert len(trace.events) == 40 and len(trace.instance.models) == 10
    assert trace.instance.current  # the cluster is running at the start
    kinds = {e.kind for e in trace.events}
    assert {"arrive", "depart", "load"} <= kinds
    states = replay(trace)
    seen = {m.name for s in states for m in s.instance.models}
    assert seen <= set(truth.models)
    times = [e.at for e in trace.events]
    assert times == sorted(times)
    # never more than a sixth of the machines down at once (at least one may be)
    for s in states:
        assert sum(r.state == "down" for r in s.instance.machine_records()) <= 1


def test_generated_trace_options():
    empty, _ = generate_trace(n_events=3, n_models=4, n_machines=3, seed=1, start="empty")
    assert empty.instance.current == {} and empty.instance.objective.slo == "soft"
    hard, _ = generate_trace(n_events=3, n_models=4, n_machines=3, seed=1, slo="hard")
    assert hard.instance.objective.slo == "hard" and hard.instance.current
    with pytest.raises(InputError):
        generate_trace(n_events=3, n_models=4, start="half")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "placement.cli.app", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def test_generate_trace_cli(tmp_path):
    proc = run("generate-trace", "--events", "15", "--models", "6", "--machines", "5",
               "--seed", "2", "-o", "t.json", "--truth", "truth.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trace = load_trace(tmp_path / "t.json")
    assert len(trace.events) == 15
    assert json.loads((tmp_path / "truth.json").read_text())["format"] == "placement-ground-truth"
    proc = run("generate-trace", "--interference", "extreme", "-o", "u.json", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run("generate-trace", "-o", "v.json", "--truth", "v.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert not (tmp_path / "u.json").exists() and not (tmp_path / "v.json").exists()
