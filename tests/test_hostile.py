"""Hostile input and everyday use (issue 9): one test per defect, the CLI by subprocess.

Every bad value, in a file or on the command line, is exit 2 with a message and no traceback,
and nothing is written; output paths are checked before any work starts.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from placement import AssignmentError, InputError, Instance, Solution, UsageError, solve
from placement.formats.limits import MAX_COST, MAX_LATENCY_MS, MAX_SLOWDOWN, MAX_WEIGHT

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "instances" / "demo.json"
DEMO_DATA = json.loads(DEMO.read_text())


def placement(*args: str, cwd: Path | None = None, columns: int | None = None
              ) -> subprocess.CompletedProcess:
    """`placement ARGS` in a fresh process (no tty: rich and our tables see a pipe)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "placement.cli.app", *args],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=300, env=env,
    )


def refused(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, no traceback, and every needle in the message."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def demo_with(tmp_path: Path, change, name: str = "inst.json") -> Path:
    data = copy.deepcopy(DEMO_DATA)
    change(data)
    return write(tmp_path / name, data)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- output paths

@pytest.mark.parametrize("make_output, reason", [
    (lambda tmp: str(tmp), "is a directory"),
    (lambda tmp: str(write(tmp / "file.json", "{}") / "sol.json"), "which is a file"),
    (lambda tmp: "", "empty path"),
    (lambda tmp: "/proc/placement-sol.json", "kernel or device path"),
    (lambda tmp: "/sys/placement-sol.json", "kernel or device path"),
    (lambda tmp: str(tmp) + "/", "folder name"),
])
def test_solve_bad_output_refused_before_work(tmp_path, make_output, reason):
    output = make_output(tmp_path)
    before = listing(tmp_path)
    proc = placement("solve", str(DEMO), "--solver", "greedy", "-o", output)
    refused(proc, "-o", reason)
    assert "mean_degradation" not in proc.stdout  # refused before solving, not after
    assert listing(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_output_in_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(placement("solve", str(DEMO), "--solver", "greedy", "-o",
                          str(locked / "s.json")), "cannot write")
    finally:
        locked.chmod(0o755)


def test_output_never_replaces_the_input(tmp_path):
    inst = write(tmp_path / "inst.json", DEMO.read_text())
    text = inst.read_text()
    link = tmp_path / "link.json"
    link.symlink_to(inst)
    for output in (str(inst), str(tmp_path / "." / "inst.json"), str(link)):
        refused(placement("solve", str(inst), "--solver", "greedy", "-o", output),
                "is the input file")
    assert inst.read_text() == text and link.is_symlink()


def test_symlink_output_is_written_through(tmp_path):
    target = write(tmp_path / "real.json", "{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    proc = placement("solve", str(DEMO), "--solver", "greedy", "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and link.resolve() == target
    assert json.loads(target.read_text())["solver"] == "greedy"


def test_dash_writes_json_to_stdout_summary_to_stderr():
    proc = placement("solve", str(DEMO), "--solver", "greedy", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "feasible"
    assert "mean_degradation" in proc.stderr


def test_generate_checks_every_output_first(tmp_path):
    inst = tmp_path / "ok.json"
    refused(placement("generate", "-o", str(inst), "--truth", "/proc/t.json"), "--truth")
    refused(placement("generate", "-o", str(inst), "--measurements", str(tmp_path)),
            "--measurements", "is a directory")
    refused(placement("generate", "-o", str(inst), "--truth", str(inst)),
            "also the output of -o")
    assert listing(tmp_path) == []


def test_predict_fit_and_bench_check_outputs(tmp_path):
    refused(placement("predict", str(DEMO), "--predictor", str(tmp_path / "p.skops"),
                      "-o", str(tmp_path)), "is a directory")
    refused(placement("predict", str(DEMO), "--predictor", str(tmp_path / "p.skops"),
                      "-o", str(DEMO)), "is the input file")
    csv = write(tmp_path / "m.csv", "machine_type,target,co_runners,slowdown\n")
    refused(placement("predictor", "fit", str(csv), "--catalog", str(DEMO), "-o", ""),
            "empty path")
    refused(placement("predictor", "fit", str(csv), "--catalog", str(DEMO), "-o", str(csv)),
            "is the input file")
    refused(placement("bench", "--suite", "quick", "-o", str(csv)), "is a file")
    assert listing(tmp_path) == ["m.csv"]


# --------------------------------------------------------------------------- seeds

@pytest.mark.parametrize("command", [
    ["solve", str(DEMO), "--solver", "random"],
    ["solve", str(DEMO), "--solver", "cpsat"],
    ["compare", str(DEMO)],
    ["generate", "-o", "never.json"],
])
@pytest.mark.parametrize("seed", ["-1", str(2**63), "1.5"])
def test_bad_seed_exit_2(tmp_path, command, seed):
    refused(placement(*command, "--seed", seed, cwd=tmp_path), "--seed")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("solver", ["random", "local-search", "cpsat", "milp", "auto"])
def test_largest_seed_solves(solver):
    sol = solve(DEMO, solver, time_limit=3, seed=2**63 - 1)
    assert sol.status in ("optimal", "feasible")


def test_library_seed_and_argument_checks():
    with pytest.raises(ValueError, match="seed"):
        solve(DEMO, "greedy", seed=-1)
    with pytest.raises(ValueError, match="seed"):
        solve(DEMO, "greedy", seed=2**63)
    with pytest.raises(TypeError, match="seed"):
        solve(DEMO, "greedy", seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        solve(DEMO, "greedy", seed=True)
    with pytest.raises(TypeError, match="instance"):
        solve(42, "greedy")
    with pytest.raises(TypeError, match="solver"):
        solve(DEMO, 3)
    with pytest.raises(TypeError, match="time_limit"):
        solve(DEMO, "greedy", time_limit="5")
    for bad in (float("inf"), float("nan"), 0, -1, 1e7):
        with pytest.raises(ValueError, match="time_limit"):
            solve(DEMO, "greedy", time_limit=bad)
    with pytest.raises(TypeError, match="predictor"):
        solve(DEMO, "greedy", predictor=3)


# --------------------------------------------------------------------------- names

def test_names_print_literally_and_output_is_written(tmp_path):
    def rename(d):
        d["name"] = "demo[/bold] [red]x"
        d["models"][0]["name"] = "bert[red]"
        d["models"][0]["slo_ms"] = 1  # no machine meets it: the diagnosis names the model
        for e in d["interference"]["pairwise"] + d["interference"]["setwise"]:
            for key in ("target", "with"):
                if e[key] == "resnet50":
                    e[key] = "bert[red]"
                elif isinstance(e[key], list):
                    e[key] = ["bert[red]" if n == "resnet50" else n for n in e[key]]

    inst = demo_with(tmp_path, rename)
    out = tmp_path / "sol.json"
    proc = placement("solve", str(inst), "--solver", "greedy", "-o", str(out))
    assert proc.returncode == 1, proc.stderr  # infeasible, said in words
    assert "Traceback" not in proc.stderr
    assert "demo[/bold] [red]x" in proc.stdout and "bert[red]" in proc.stdout
    assert json.loads(out.read_text())["instance"] == "demo[/bold] [red]x"


@pytest.mark.parametrize("name", ["bert\x1b[31m", "bert\nbase", "a\rb", "x\x00", "\x9b2J"])
def test_control_characters_in_names_refused(tmp_path, name):
    inst = demo_with(tmp_path, lambda d: d["models"][1].update(name=name))
    refused(placement("solve", str(inst), "--solver", "greedy"), "models[1].name")


def test_free_text_of_a_solution_file_never_reaches_the_terminal_raw(tmp_path):
    sol = tmp_path / "s.json"
    assert placement("solve", str(DEMO), "--solver", "greedy", "-o", str(sol)).returncode == 0
    data = json.loads(sol.read_text())
    data.update(solver="\x1b[2Jgreedy", status="\x1b]0;title\x07")
    write(sol, data)
    proc = placement("evaluate", str(DEMO), str(sol))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\\x1b[2Jgreedy" in proc.stdout


def test_markup_in_solver_name_is_literal():
    refused(placement("solve", str(DEMO), "--solver", "[/bold]"), "unknown solver '[/bold]'")


# --------------------------------------------------------------------------- truth

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    for seed, replicas, machines in ((1, 40, 12), (2, 30, 10)):
        proc = placement("generate", "--replicas", str(replicas), "--machines", str(machines),
                         "--seed", str(seed), "-o", str(folder / f"g{seed}.json"), "--truth",
                         str(folder / f"g{seed}.truth.json"))
        assert proc.returncode == 0, proc.stderr
    return folder


def test_truth_of_another_instance_refused(generated, tmp_path):
    g1, other_truth = generated / "g1.json", generated / "g2.truth.json"
    sol = tmp_path / "s.json"
    proc = placement("solve", str(g1), "--solver", "local-search", "-o", str(sol))
    assert proc.returncode == 0, proc.stdout
    refused(placement("evaluate", str(g1), str(sol), "--truth", str(other_truth)),
            "another instance")
    refused(placement("compare", str(g1), "--solvers", "local-search", "--truth",
                      str(other_truth)), "another instance")


# --------------------------------------------------------------------------- JSON files

def test_deep_nesting_refused(tmp_path):
    deep = write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    refused(placement("solve", str(deep)), "nested deeper")
    refused(placement("evaluate", str(DEMO), str(deep)), "nested deeper")
    inner = write(tmp_path / "inner.json", json.dumps({**DEMO_DATA, "x": [[[[[[[]]]]]]]})
                  .replace("[[[[[[[]]]]]]]", "[" * 70 + "]" * 70))
    with pytest.raises(InputError, match="nested deeper"):
        Instance.load(inner)


def test_duplicate_keys_refused(tmp_path):
    text = DEMO.read_text().replace('"models": [', '"models": [], "models": [', 1)
    refused(placement("solve", str(write(tmp_path / "dup.json", text))), "duplicate key 'models'")


@pytest.mark.parametrize("change, where", [
    (lambda d: d["machine_types"][0].update(cost_per_hour=1e15), "cost_per_hour"),
    (lambda d: d["machine_types"][0].update(cost_per_hour=1e308), "cost_per_hour"),
    (lambda d: d["models"][0].update(weight=1e308), "weight"),
    (lambda d: d["models"][0].update(slo_ms=1e300), "slo_ms"),
    (lambda d: d["models"][0]["features"].update(gflops=float("nan")), "NaN"),
    (lambda d: d["models"][0]["features"].update(gflops=float("inf")), "Infinity"),
    (lambda d: d["machine_types"][0]["features"].update(llc_mb=1e300), "features"),
    (lambda d: d["machines"][0].update(count=10**12), "count"),
    (lambda d: d["models"][0].update(replicas=10**9), "replicas"),
    (lambda d: d["machines"].extend([{"type": "c5.2xlarge", "count": 900_000}] * 2), "machines"),
    (lambda d: d["interference"]["pairwise"][0].update(slowdown=1e6), "slowdown"),
])
def test_numbers_out_of_range_refused(tmp_path, change, where):
    refused(placement("solve", str(demo_with(tmp_path, change))), where)


def test_overflowing_literals_refused(tmp_path):
    text = DEMO.read_text().replace('"cost_per_hour": 0.34', '"cost_per_hour": 1e400', 1)
    refused(placement("solve", str(write(tmp_path / "a.json", text))), "too large")
    text = DEMO.read_text().replace('"replicas": 2', '"replicas": ' + "9" * 5000, 1)
    refused(placement("solve", str(write(tmp_path / "b.json", text))), "out of range")


@pytest.mark.parametrize("objective", ["mean_degradation", "added_latency", "max_degradation",
                                       "machines", "cost"])
def test_extreme_valid_numbers_solve_with_finite_strict_json(tmp_path, objective):
    """Every number at the top of its range: every solver computes, the JSON is strict."""
    def extreme(d):
        d["objective"]["minimize"] = objective
        d["interference"]["compose"] = "multiplicative"
        for t in d["machine_types"]:
            t["cost_per_hour"] = MAX_COST
        for m in d["models"]:
            m["weight"] = MAX_WEIGHT
            m["slo_ms"] = MAX_LATENCY_MS
            m["latency_ms"] = {k: MAX_LATENCY_MS / 2 for k in m["latency_ms"]}
        for e in d["interference"]["pairwise"] + d["interference"]["setwise"]:
            e["slowdown"] = MAX_SLOWDOWN

    inst = demo_with(tmp_path, extreme)
    for solver in ("greedy", "local-search", "cpsat", "milp", "least-loaded"):
        out = tmp_path / f"{solver}.json"
        proc = placement("solve", str(inst), "--solver", solver, "--time-limit", "5", "-o",
                         str(out))
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
        json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in output"))


@pytest.mark.parametrize("row, where", [
    ("c5.2xlarge,resnet50,bert-base,1e300", "slowdown"),
    ("c5.2xlarge,resnet50,bert-base,nan", "slowdown"),
    ("c5.2xlarge,resnet50,bert-base,-inf", "slowdown"),
    ("c5.2xlarge,res\x1bnet50,bert-base,1.2", "target"),
])
def test_hostile_measurements_refused(tmp_path, row, where):
    csv = write(tmp_path / "m.csv", "machine_type,target,co_runners,slowdown\n"
                "c5.2xlarge,resnet50,bert-base,1.3\n" + row + "\n")
    out = tmp_path / "p.skops"
    refused(placement("predictor", "fit", str(csv), "--catalog", str(DEMO), "-o", str(out)),
            f"line 3.{where}")
    assert not out.exists()


# --------------------------------------------------------------------------- options

def test_exhaustive_beyond_its_size(generated):
    big = generated / "g1.json"  # 40 replicas
    refused(placement("solve", str(big), "--solver", "exhaustive"), "exhaustive")
    proc = placement("compare", str(big), "--solvers", "local-search,exhaustive", "--time-limit",
                     "2")
    assert proc.returncode == 0, proc.stderr
    assert "exhaustive" in proc.stdout and "skipped" in proc.stdout


def test_unknown_backend_and_options():
    refused(placement("solve", str(DEMO), "--solver", "milp", "--backend", "bogus"), "bogus")
    with pytest.raises(UsageError, match="backnd"):
        solve(DEMO, "milp", backnd="cbc")
    with pytest.raises(ValueError, match="no option"):
        solve(DEMO, "greedy", backend="cbc")


@pytest.mark.parametrize("limit", ["inf", "nan", "0", "-1", "1e7", "soon"])
def test_bad_time_limit(limit):
    refused(placement("solve", str(DEMO), "--solver", "greedy", "--time-limit", limit),
            "--time-limit")


def test_generate_load_help_and_check_agree():
    help_text = placement("generate", "-h", columns=200).stdout
    assert "(0, 1]" in help_text
    refused(placement("generate", "--load", "1.5", "-o", "never.json"), "--load")
    refused(placement("generate", "--load", "0", "-o", "never.json"), "--load")


def test_choices_are_choices():
    refused(placement("generate", "--interference", "extreme", "-o", "never.json"),
            "interference")
    refused(placement("schema", "bogus"), "bogus")
    assert "low" in placement("generate", "-h", columns=200).stdout


# --------------------------------------------------------------------------- compare

def test_compare_nothing_solved_exit_1_with_reasons(tmp_path):
    inst = demo_with(tmp_path, lambda d: d["models"][2].update(slo_ms=1))  # yolo-v5 never meets
    proc = placement("compare", str(inst), "--solvers", "greedy,cpsat", "--time-limit", "3")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.count("yolo-v5") >= 2  # one reason per solver


def test_compare_fits_80_columns_with_best_and_legend(generated):
    g1, truth = generated / "g1.json", generated / "g1.truth.json"
    for extra in ([], ["--truth", str(truth)]):
        proc = placement("compare", str(g1), "--time-limit", "2", *extra)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert max(map(len, lines)) <= 80, max(lines, key=len)
        assert sum(line.startswith("* ") for line in lines) == 1
        assert any("marks the best row" in line for line in lines)


def test_compare_json(generated):
    proc = placement("compare", str(generated / "g1.json"), "--solvers",
                     "local-search,round-robin", "--time-limit", "2", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    assert [r["solver"] for r in rows] == ["local-search", "round-robin"]
    assert sum(r["best"] for r in rows) == 1


# --------------------------------------------------------------------------- everyday use

def test_version_and_short_help():
    proc = placement("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("placement ")
    for args in (["-h"], ["solve", "-h"], ["predictor", "-h"], ["predictor", "fit", "-h"]):
        proc = placement(*args, columns=200)
        assert proc.returncode == 0 and "Usage" in proc.stdout, args
    assert "[default: 10.0]" in placement("solve", "-h", columns=200).stdout


def test_solve_and_evaluate_json(tmp_path):
    out = tmp_path / "s.json"
    proc = placement("solve", str(DEMO), "--solver", "cpsat", "--time-limit", "5", "-o",
                     str(out), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(out.read_text())
    proc = placement("evaluate", str(DEMO), str(out), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["file"]["status"] == "optimal" and data["evaluated"]["status"] == "feasible"


def test_evaluate_shows_the_files_own_status_and_bound(tmp_path):
    out = tmp_path / "s.json"
    assert placement("solve", str(DEMO), "--solver", "cpsat", "--time-limit", "5", "-o",
                     str(out)).returncode == 0
    proc = placement("evaluate", str(DEMO), str(out))
    assert proc.returncode == 0, proc.stderr
    status_line = next(line for line in proc.stdout.splitlines() if "status" in line)
    assert "feasible" in status_line and "optimal" in status_line
    assert "in the file" in proc.stdout and "cpsat" in proc.stdout


def test_schema_describes_every_field_and_allows_dollar_schema(tmp_path):
    for which in ("instance", "solution"):
        schema = json.loads(placement("schema", which).stdout)
        undescribed = [
            f"{name}.{field}"
            for name, model in [(which, schema), *schema["$defs"].items()]
            for field, prop in model.get("properties", {}).items()
            if not prop.get("description")
        ]
        assert undescribed == [], which
    ranges = json.loads(placement("schema", "instance").stdout)["$defs"]["Model"]["properties"]
    assert ranges["weight"]["maximum"] == MAX_WEIGHT
    inst = demo_with(tmp_path, lambda d: d.update({"$schema": "placement-instance.json"}))
    assert Instance.load(inst).name == "demo"


def test_library_path_save_and_assignment_error(tmp_path):
    sol = solve(str(DEMO), "greedy")
    sol.save(tmp_path / "s.json")
    assert Solution.load(tmp_path / "s.json").assignment == sol.assignment
    with pytest.raises(InputError, match="is a directory"):
        sol.save(tmp_path)
    from placement import evaluate

    with pytest.raises(AssignmentError):
        evaluate(Instance.load(DEMO), {"nobody#0": "c5.2xlarge/0"})
    with pytest.raises(TypeError, match="assignment"):
        evaluate(Instance.load(DEMO), ["resnet50#0"])
