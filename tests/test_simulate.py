"""``simulate``: policies over a generated trace, scored by the one evaluator (SPEC section 9)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from placement.cluster.events import apply_event, initial_state, with_current
from placement.cluster.moves import count_moves
from placement.cluster.policies import online_greedy, replan, resolve
from placement.cluster.simulate import COLUMNS, rows_csv, simulate
from placement.evaluate import evaluate
from placement.synthetic.trace_generator import generate_trace


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
    assert all(r.moves == 0 for r in rows if r.policy == "online-greedy")


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
    for bad in (["--policies", "bogus"], ["--policies", "replan"]):
        proc = run("simulate", "t.json", *bad, "-o", "nothing", cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert not (tmp_path / "nothing").exists()
