"""``simulate``: policies over a generated trace, scored by the one evaluator (SPEC section 9)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from placement.api import solve
from placement.cluster.events import apply_event, initial_state, with_current
from placement.cluster.moves import count_moves
from placement.cluster.policies import online_greedy, replan, resolve
from placement.cluster.simulate import COLUMNS, rows_csv, simulate
from placement.evaluate import evaluate
from placement.formats.instance import Instance
from placement.synthetic.trace_generator import CEILING, generate_trace


@pytest.fixture(scope="module")
def small_trace():
    return generate_trace(n_events=8, n_models=8, n_machines=6, n_types=2, seed=3)


@pytest.fixture(scope="module")
def rows(small_trace):
    trace, truth = small_trace
    policies = {
        "online-greedy": online_greedy(time_limit=2),
        "replan": replan("local-search", 1, time_limit=2),
        "resolve": resolve("local-search", time_limit=2),
    }
    return simulate(trace, policies, truth=truth)


def test_every_policy_scores_every_event(small_trace, rows):
    trace, _ = small_trace
    assert [r.policy for r in rows] == (["online-greedy"] * 8 + ["replan"] * 8 + ["resolve"] * 8)
    for r in rows:
        assert r.event == rows.index(r) % 8 and r.kind == trace.events[r.event].kind
        if r.status in ("optimal", "feasible"):
            assert r.true_mean_degradation is not None and r.true_mean_degradation >= 0
    replan_rows = [r for r in rows if r.policy == "replan" and not r.note]
    assert all(r.moves <= 1 for r in replan_rows)
    # online-greedy moves nothing unless it had to make room (and says so)
    assert all(r.moves == 0 for r in rows if r.policy == "online-greedy" and not r.note)


def test_rows_replay_the_policy_placements(small_trace):
    """Replaying online-greedy by hand gives the same moves and true figures as the rows."""
    trace, truth = small_trace
    policy = online_greedy(time_limit=2)
    rows = simulate(trace, {"online-greedy": policy}, truth=truth)

    state = initial_state(trace.instance)
    for row, event in zip(rows, trace.events, strict=True):
        state = apply_event(state, event)
        solution = policy(state, event)
        assert solution.status == row.status
        if solution.status not in ("optimal", "feasible"):
            continue
        moves = count_moves(state.instance, solution.assignment)
        assert (moves.counted, moves.forced) == (row.moves, row.forced_moves)
        true = evaluate(state.instance, solution.assignment, source=truth).summary
        assert true.mean_degradation == pytest.approx(row.true_mean_degradation)
        state = with_current(state, solution.assignment)


def test_csv_is_consistent(rows):
    parsed = list(csv.DictReader(io.StringIO(rows_csv(rows))))
    assert tuple(parsed[0]) == COLUMNS and len(parsed) == len(rows)
    for line, row in zip(parsed, rows, strict=True):
        assert int(line["moves"]) == row.moves and line["policy"] == row.policy
        if row.true_mean_degradation is None:
            assert line["true_mean_degradation"] == ""
        else:
            assert float(line["true_mean_degradation"]) == pytest.approx(
                row.true_mean_degradation)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "placement", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_simulate_command(tmp_path, small_trace):
    trace, truth = small_trace
    (tmp_path / "t.json").write_text(json.dumps(trace.dump()))
    (tmp_path / "truth.json").write_text(json.dumps(truth.to_json()))
    out = tmp_path / "sim"
    proc = run("simulate", "t.json", "--policies", "online-greedy,replan", "--max-moves", "1",
               "--truth", "truth.json", "--time-limit", "1", "-o", "sim", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"events.csv", "report.md", "degradation.png",
                                               "moves.png"}
    assert "| replan |" in (out / "report.md").read_text()
    for bad in (["--policies", "bogus"], ["--policies", "replan"],
                ["--max-moves", "1", "--move-penalty", "-1"],
                ["--max-moves", "1", "--move-penalty", "nan"]):
        proc = run("simulate", "t.json", *bad, "-o", "nothing", cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert not (tmp_path / "nothing").exists()


def test_generated_traces_keep_headroom_on_every_hall_set():
    """After every event, the models that can only run on a set of types ask for at most
    CEILING of those types' ready machines (the generator's promise), checked here from the
    replayed instances, not from the generator's own bookkeeping."""
    for seed in range(4):
        trace, _ = generate_trace(n_events=60, n_models=14, n_machines=6, n_types=3,
                                  seed=seed)
        state = initial_state(trace.instance)
        for event in trace.events:
            state = apply_event(state, event)
            instance = state.instance
            capacity = {t.name: t.capacity for t in instance.machine_types}
            ready = [r for r in instance.machine_records() if r.state != "down"]
            hosts = {
                m.name: {t for t in m.latency_ms
                         if all(v <= capacity[t].get(k, 0.0) + 1e-9
                                for k, v in m.requests.items())}
                for m in instance.models
            }
            for types in ({r.type for r in ready}, *({r.type} for r in ready)):
                mine = [m for m in instance.models if hosts[m.name] <= types]
                for resource in {k for m in mine for k in m.requests}:
                    asked = sum(m.replicas * m.requests.get(resource, 0.0) for m in mine)
                    supply = sum(r.capacity.get(resource, 0.0) for r in ready
                                 if r.type in types)
                    assert asked <= CEILING * supply + 1e-6, (seed, event, types, resource)


def _fragmented() -> Instance:
    """Two 4-cpu machines each half full; a new 4-cpu model fits only once one moves."""
    return Instance.model_validate({
        "machine_types": [{"name": "t", "capacity": {"cpu": 4}}],
        "machines": [{"id": "m0", "type": "t"}, {"id": "m1", "type": "t"}],
        "models": [
            {"name": "a", "requests": {"cpu": 2}, "slo_ms": 100, "latency_ms": {"t": 10}},
            {"name": "b", "requests": {"cpu": 2}, "slo_ms": 100, "latency_ms": {"t": 10}},
            {"name": "c", "requests": {"cpu": 4}, "slo_ms": 100, "latency_ms": {"t": 10}},
        ],
        "interference": {"missing": 1.2, "pairwise": []},
        "current": {"a#0": "m0", "b#0": "m1"},
    })


def test_online_greedy_makes_room_when_nothing_fits_where_things_run():
    state = initial_state(_fragmented())
    pinned = solve(state.instance, "greedy", time_limit=5)
    assert pinned.status not in ("optimal", "feasible")  # no machine has 4 cpus free
    solution = online_greedy(time_limit=5)(state, None)
    assert solution.status in ("optimal", "feasible")
    assert solution.summary.moves == 1 and "made room within 1 moves" in solution.info["fallback"]


def test_replan_move_penalty_moves_only_when_it_pays():
    trace, truth = generate_trace(n_events=12, n_models=10, n_machines=6, n_types=2, seed=5)
    free = simulate(trace, {"r": replan("local-search", 2, time_limit=2)}, truth=truth)
    assert sum(r.moves for r in free) > 0
    # a move never saves 10 of mean degradation: it moves only where the event leaves no
    # placement without a counted move (a load rise that overfills a machine)
    policy = replan("local-search", 2, time_limit=2, move_penalty=10.0)
    state = initial_state(trace.instance)
    moved = 0
    for event in trace.events:
        state = apply_event(state, event)
        solution = policy(state, event)
        assert solution.status in ("optimal", "feasible")
        if solution.summary.moves:
            moved += solution.summary.moves
            pinned = state.instance.dump()
            pinned["limits"] = {"max_moves": 0}
            assert solve(Instance.model_validate(pinned), "cpsat",
                         time_limit=10).status == "infeasible"
        state = with_current(state, solution.assignment)
    assert moved < sum(r.moves for r in free)
