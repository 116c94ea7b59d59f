"""The measure-and-refit loop (SPEC section 10): what it asks, what it keeps, where it ends."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from placement.compile import compile_problem
from placement.evaluate import evaluate
from placement.formats.measurements import Measurement, read_measurements
from placement.formats.requests import Request, parse_requests, requests_csv
from placement.interference import Interference
from placement.measure.client import CommandMeasurer, MeasurerError, ask
from placement.measure.refine import refine
from placement.synthetic.campaign import measure_campaign
from placement.synthetic.generator import generate
from solvers import registry


def world(seed: int, replicas: int = 9, machines: int = 3):
    """A tiny generated instance whose stated pairs are exact (no noise) and a campaign of
    pairs only: what the predictor cannot know is how sets of three and more behave."""
    instance, truth = generate(
        n_replicas=replicas, n_machines=machines, n_types=2, load=0.75, seed=seed, slo="soft",
        noise=0.0, n_setwise=0,
    )
    rows = measure_campaign(instance, truth, n_sets=0, noise=0.0, seed=seed)
    return instance, KnownFunction(instance), rows


class KnownFunction:
    """The measured world of these tests: the instance's pairs, composed additively, with a
    degradation that grows with the number of co-runners (a crowded machine thrashes) — a
    shape no campaign of pairs reveals, so only measuring sets finds the optimum."""

    def __init__(self, instance):
        self.pairs = Interference(instance)

    def slowdown(self, target, co_runners, machine_type):
        co = frozenset(co_runners)
        additive = self.pairs.slowdown(target, co, machine_type)
        return 1.0 + (additive - 1.0) * (1.0 + 1.5 * max(0, len(co) - 1))


def truth_measurer(truth, calls: list[list[Request]] | None = None):
    def measure(requests):
        if calls is not None:
            calls.append(list(requests))
        return [
            Measurement(r.machine_type, r.target, r.co_runners,
                        truth.slowdown(r.target, r.co_runners, r.machine_type))
            for r in requests
        ]

    return measure


def true_optimum(instance, truth) -> float:
    problem = compile_problem(instance, source=truth)
    result = registry.run("exhaustive", problem, time_limit=60)
    return result.objective


def true_mean_degradation(instance, truth, solution) -> float:
    return evaluate(instance, solution.assignment, source=truth).summary.mean_degradation


@pytest.mark.parametrize("seed", [12, 10, 0])
def test_converges_to_the_measured_functions_optimum(seed):
    instance, truth, rows = world(seed)
    result = refine(
        instance, rows, truth_measurer(truth), rounds=5, budget=50, solver="exhaustive",
        time_limit=30,
    )
    optimum = true_optimum(instance, truth)
    assert true_mean_degradation(instance, truth, result.solution) == pytest.approx(
        optimum, abs=1e-9
    )
    assert result.stopped is None and len(result.log) == 5
    if seed == 12:
        # (a seed where, in today's generated world, the pairs alone mislead: composed
        # additively, they miss the optimum by far; a change of the generator may need
        # another seed, found by comparing refine(rounds=0) with true_optimum)
        # measuring the sets the optimizer looks at finds it, even with no learning at all
        # (the measured sets enter the instance as set-wise entries)
        alone = refine(instance, rows, truth_measurer(truth), rounds=0, solver="exhaustive",
                       time_limit=30, kind="additive")
        assert true_mean_degradation(instance, truth, alone.solution) > optimum + 0.1
        looped = refine(instance, rows, truth_measurer(truth), rounds=5, budget=50,
                        solver="exhaustive", time_limit=30, kind="additive")
        assert true_mean_degradation(instance, truth, looped.solution) == pytest.approx(
            optimum, abs=1e-9
        )


def test_never_asks_a_set_twice_nor_beyond_its_budget():
    instance, truth, rows = world(6)
    calls: list[list[Request]] = []
    budget = 3
    refine(instance, rows, truth_measurer(truth, calls), rounds=4, budget=budget,
           solver="exhaustive", time_limit=30)
    assert calls, "the loop asked nothing"
    asked_sets = [(r.machine_type, r.members) for call in calls for r in call]
    per_call = [{(r.machine_type, r.members) for r in call} for call in calls]
    assert all(len(sets) <= budget for sets in per_call)
    every = [s for sets in per_call for s in sets]
    assert len(every) == len(set(every)), "a set was asked in two rounds"
    rows_asked = [r for call in calls for r in call]
    assert len(rows_asked) == len(set(rows_asked)), "a row was asked twice"
    measured = {(m.machine_type, m.target, m.co_runners) for m in rows}
    assert not [r for r in rows_asked if (r.machine_type, r.target, r.co_runners) in measured]
    assert asked_sets


def test_wrong_rows_are_refused_and_earlier_rounds_kept():
    instance, truth, rows = world(6)
    good = truth_measurer(truth)
    seen: list[int] = []

    def sloppy(requests):
        answers = good(requests)
        if len(seen) >= 1:  # second round: answers a row it was not asked
            first = answers[0]
            answers[0] = Measurement(first.machine_type, first.target, frozenset(), 1.0)
        seen.append(len(requests))
        return answers

    saved: list[int] = []
    with pytest.raises(MeasurerError, match="request was"):
        refine(instance, rows, sloppy, rounds=3, budget=2, solver="exhaustive", time_limit=30,
               on_round=lambda entry, all_rows: saved.append(len(all_rows)))
    assert saved == [len(rows) + seen[0]]


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "measurer.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_command_measurer_round_trip(tmp_path):
    argv = script(tmp_path, """
        import sys
        lines = sys.stdin.read().splitlines()
        print("machine_type,target,co_runners,slowdown,slowdown_p99")
        for line in lines[1:]:
            print(line + ",1.25,1.5")
    """)
    asked = [Request("t", "a", frozenset({"b", "c"})), Request("t", "b", frozenset({"a"}))]
    answers = ask(CommandMeasurer(argv), asked)
    assert [(m.target, m.co_runners, m.slowdown) for m in answers] == [
        ("a", frozenset({"b", "c"}), 1.25), ("b", frozenset({"a"}), 1.25)]
    assert parse_requests(requests_csv(asked)) == asked


@pytest.mark.parametrize(
    "body, message",
    [
        ("import sys; sys.stderr.write('no GPU here'); sys.exit(3)", "exit code 3: no GPU here"),
        ("import time; time.sleep(60)", "no answer within"),
        ("print('machine_type,target,co_runners,slowdown')", "no measurements"),
        ("print('nonsense')", "missing columns"),
    ],
)
def test_command_measurer_failures_are_clear(tmp_path, body, message):
    hangs = "sleep" in body
    measurer = CommandMeasurer(script(tmp_path, body), timeout=2.0 if hangs else 60.0)
    with pytest.raises(MeasurerError, match=message):
        ask(measurer, [Request("t", "a", frozenset({"b"}))])


def test_missing_program_is_clear():
    with pytest.raises(MeasurerError, match="no such program"):
        ask(CommandMeasurer("no-such-measurer-xyz --flag"), [Request("t", "a", frozenset("b"))])


def test_cli_keeps_every_measurement_when_the_measurer_fails(tmp_path):
    instance, _, rows = world(6)
    inst_path = tmp_path / "inst.json"
    inst_path.write_text(instance.model_dump_json(by_alias=True))
    from placement.formats.measurements import measurements_csv

    csv_path = tmp_path / "m.csv"
    csv_path.write_text(measurements_csv(rows))
    before = csv_path.read_bytes()
    counter = tmp_path / "calls"
    # answers 1.2 for every row on the first call, fails on the second
    argv = script(tmp_path, f"""
        import sys
        from pathlib import Path
        calls = Path({str(counter)!r})
        n = int(calls.read_text()) if calls.exists() else 0
        calls.write_text(str(n + 1))
        if n >= 1:
            sys.exit("the staging cluster is gone")
        lines = sys.stdin.read().splitlines()
        print("machine_type,target,co_runners,slowdown")
        for line in lines[1:]:
            print(line + ",1.2")
    """)
    out = tmp_path / "sol.json"
    rows_out = tmp_path / "all.csv"
    log = tmp_path / "log.json"
    done = subprocess.run(
        ["placement", "refine", str(inst_path), "--measurements", str(csv_path),
         "--measure", " ".join(argv), "--rounds", "3", "--budget", "2", "--solver",
         "exhaustive", "--time-limit", "30", "-o", str(out), "--measurements-out",
         str(rows_out), "--log", str(log)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "the staging cluster is gone" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
    kept = read_measurements(rows_out)
    assert csv_path.read_bytes() == before  # the input is never changed
    new = kept[len(rows):]
    assert new and all(m.slowdown == 1.2 and len(m.co_runners) >= 2 for m in new)
    assert counter.read_text() == "2"
    rounds = json.loads(log.read_text())["rounds"]
    assert [r["rows_measured"] for r in rounds] == [len(new)]


def test_a_later_solve_that_finds_nothing_keeps_the_last_placement(monkeypatch):
    import placement.measure.refine as loop

    instance, truth, rows = world(6)
    real_solve = loop.solve
    solved = []

    def cut_by_the_clock_from_the_second_solve(*args, **kwargs):
        solution = real_solve(*args, **kwargs)
        solved.append(solution)
        if len(solved) >= 2:  # what a time limit cutting the solve short would leave
            return solution.model_copy(update={"assignment": {}, "status": "unknown"})
        return solution

    monkeypatch.setattr(loop, "solve", cut_by_the_clock_from_the_second_solve)
    result = refine(instance, rows, truth_measurer(truth), rounds=3, budget=2,
                    solver="exhaustive", time_limit=30)
    assert len(solved) == 2 and len(result.log) == 1  # stopped at the empty solve
    assert result.solution.assignment == solved[0].assignment
    assert result.solution.status == solved[0].status
    assert result.stopped and "round 1" in result.stopped


def test_denoising_blends_each_measurement_towards_what_the_rest_of_the_data_says():
    import math

    from placement.measure.denoise import blend, denoised
    from placement.measure.refine import fit_predictor

    instance, truth, rows = world(6)

    def fit(part):
        return fit_predictor(instance, part, "gbt-pairs", 0, None)

    predictor = fit(rows)
    stated, blended = denoised(instance, rows, predictor, fit, noise=0.025, seed=0)
    assert len(blended) == len(rows)
    moved = 0
    for before, after in zip(rows, blended, strict=True):
        assert (before.machine_type, before.target, before.co_runners) == (
            after.machine_type, after.target, after.co_runners)
        if not before.co_runners:
            assert after.slowdown == before.slowdown  # alone is 1.0 by definition
            continue
        moved += after.slowdown != before.slowdown
    assert moved > sum(1 for m in rows if m.co_runners) // 2
    # the same seed, the same folds and fits: the same values
    again = denoised(instance, rows, predictor, fit, noise=0.025, seed=0)[1]
    assert [m.slowdown for m in again] == [m.slowdown for m in blended]
    # the instance's own entries are blended with the predictor fitted on everything
    for own, new in zip(instance.interference.pairwise, stated.interference.pairwise,
                        strict=True):
        med = predictor.predict_slowdown(own.target, frozenset({own.with_}), own.machine_type,
                                         quantile=0.5)
        low, high = sorted((math.log(own.slowdown), math.log(med)))
        assert low - 1e-12 <= math.log(new.slowdown) <= high + 1e-12 or new.slowdown == 1.0
    # a precise measurer keeps its values; a predictor it trusts more than itself moves them
    assert blend(1.3, 1.2, 1.2 * math.exp(0.05), 1e-6) == pytest.approx(1.3, rel=1e-6)
    assert blend(1.3, 1.2, 1.2 * math.exp(1e-4), 0.025) == pytest.approx(1.2, rel=1e-3)
    with pytest.raises(ValueError, match="positive sigma"):
        denoised(instance, rows, predictor, fit, noise=0.0)


def test_refine_with_measurement_noise_denoises_only_the_final_solve(monkeypatch):
    import placement.measure.refine as loop

    instance, truth, rows = world(6)
    calls = []
    real = loop.denoised

    def counted(*args, **kwargs):
        calls.append(kwargs["noise"])
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "denoised", counted)
    result = refine(instance, rows, truth_measurer(truth), rounds=2, budget=3,
                    solver="exhaustive", time_limit=30, measurement_noise=0.025)
    assert calls == [0.025]  # once: the final solve; the rounds measure where it looks
    assert result.solution.assignment
    # measurements are returned as measured, never blended
    assert [m.slowdown for m in result.measurements[:len(rows)]] == [m.slowdown for m in rows]
    with pytest.raises(ValueError, match="measurement_noise"):
        refine(instance, rows, truth_measurer(truth), measurement_noise=1.5)
