"""The `placement` command by subprocess: exit codes, messages, nothing written on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "instances" / "demo.json"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "placement.cli.app", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},  # rich wraps tables at 80 columns without a tty
    )


def test_solve_writes_solution(tmp_path):
    out = tmp_path / "sol.json"
    proc = run("solve", str(DEMO), "--solver", "greedy", "--time-limit", "5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    sol = json.loads(out.read_text())
    assert sol["status"] == "feasible" and sol["solver"] == "greedy"
    assert set(sol["assignment"]) == {
        "resnet50#0",
        "resnet50#1",
        "bert-base#0",
        "yolo-v5#0",
        "mobilenet-v2#0",
        "mobilenet-v2#1",
        "distilbert#0",
    }
    assert sol["summary"]["slo_violations"] == 0
    assert "mean_degradation" in proc.stdout
    # evaluate recomputes the same figures from the assignment
    proc = run("evaluate", str(DEMO), str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"{sol['summary']['mean_degradation']:.4g}" in proc.stdout


def test_bad_instance_exit_2_nothing_written(tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads(DEMO.read_text())
    data["models"][1]["requests"]["vcpus"] = -4
    bad.write_text(json.dumps(data))
    out = tmp_path / "sol.json"
    proc = run("solve", str(bad), "-o", str(out))
    assert proc.returncode == 2
    assert "models[1].requests.vcpus" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_malformed_json_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    proc = run("solve", str(bad))
    assert proc.returncode == 2 and "malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_and_unknown_solver_exit_2(tmp_path):
    proc = run("solve", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "file not found" in proc.stderr
    proc = run("solve", str(DEMO), "--solver", "magic")
    assert proc.returncode == 2 and "unknown solver 'magic'" in proc.stderr
    proc = run("solve", str(DEMO), "--time-limit", "soon")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run("frobnicate")
    assert proc.returncode == 2


def test_infeasible_exit_1(tmp_path):
    data = json.loads(DEMO.read_text())
    data["models"][0]["slo_ms"] = 1.0  # resnet50 cannot meet 1 ms even alone
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "sol.json"
    proc = run("solve", str(path), "--solver", "greedy", "-o", str(out))
    assert proc.returncode == 1
    assert "resnet50" in proc.stdout and "SLO even alone" in proc.stdout
    sol = json.loads(out.read_text())
    assert sol["status"] in ("unknown", "infeasible") and sol["assignment"] == {}


def test_schema_prints_json_schema():
    proc = run("schema", "instance")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert "machine_types" in schema["properties"]
    proc = run("schema", "solution")
    assert proc.returncode == 0 and "assignment" in json.loads(proc.stdout)["properties"]
    assert run("schema", "nonsense").returncode == 2


def test_solvers_lists_names():
    proc = run("solvers")
    assert proc.returncode == 0
    for name in ("least-loaded", "greedy", "local-search", "exhaustive", "auto"):
        assert name in proc.stdout


def test_compare_rows_and_ratio():
    proc = run("compare", str(DEMO), "--solvers", "least-loaded,greedy", "--time-limit", "5")
    assert proc.returncode == 0, proc.stderr
    assert "least-loaded" in proc.stdout and "greedy" in proc.stdout
    assert "LL /" in proc.stdout and "this" in proc.stdout
    proc = run("compare", str(DEMO), "--solvers", "least-loaded,greedy", "--time-limit", "5",
               "--format", "json")
    rows = {r["solver"]: r for r in json.loads(proc.stdout)["rows"]}
    assert rows["least-loaded"]["ratio_to_least_loaded"] == 1.0  # its ratio to itself
    greedy = rows["greedy"]
    assert greedy["ratio_to_least_loaded"] == pytest.approx(
        rows["least-loaded"]["mean_degradation"] / greedy["mean_degradation"]
    )


@pytest.mark.parametrize("bad", ['{"assignment": {"ghost#0": "big-1"}}', "[]"])
def test_evaluate_bad_solution_exit_2(tmp_path, bad):
    path = tmp_path / "sol.json"
    path.write_text(bad)
    proc = run("evaluate", str(DEMO), str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr


def test_generate_writes_instance_truth_and_campaign(tmp_path):
    inst, truth, csv = tmp_path / "g.json", tmp_path / "g.truth.json", tmp_path / "m.csv"
    proc = run("generate", "--replicas", "12", "--machines", "5", "--seed", "2", "-o", str(inst),
               "--truth", str(truth), "--measurements", str(csv), "--sets", "20")
    assert proc.returncode == 0, proc.stderr
    from placement import Instance
    from placement.formats.measurements import read_measurements

    loaded = Instance.load(inst)
    assert len(loaded.replica_ids()) == 12 and len(loaded.machine_ids()) == 5
    rows = read_measurements(csv)
    assert {r.degree for r in rows} >= {2, 3}
    assert json.loads(truth.read_text())["format"] == "placement-ground-truth"
    proc = run("compare", str(inst), "--solvers", "least-loaded,local-search",
               "--truth", str(truth), "--time-limit", "2")
    assert proc.returncode == 0, proc.stderr
    assert "true" in proc.stdout and "LL / this" in proc.stdout
    bad = run("generate", "--interference", "extreme", "-o", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and not (tmp_path / "x.json").exists()


def test_exact_solvers_keep_backend_banners_out_of_stdout(tmp_path):
    out = tmp_path / "sol.json"
    proc = run("solve", str(DEMO), "--solver", "milp", "--time-limit", "5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "HiGHS" not in proc.stdout and "optimal" in proc.stdout
    assert json.loads(out.read_text())["status"] == "optimal"


def test_generate_with_models_only_places_one_replica_each(tmp_path):
    path = tmp_path / "g.json"
    proc = run("generate", "--models", "8", "--machines", "5", "--seed", "1", "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(path.read_text())
    assert len(data["models"]) == 8
    assert sum(m.get("replicas", 1) for m in data["models"]) == 8
