"""The benchmark runner end to end on the `quick` suite: files complete, the report's numbers
agree with results.csv (recomputed here, not by the report's own code), PNGs valid, and a
second run resumes without solving anything."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean, median

import pytest

from placement.bench.runner import run_suite
from placement.bench.suite import load_suite
from placement.formats.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-quick")
    outcome = run_suite("quick", out, jobs=2, progress=False)
    return out, outcome


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def tables(section: str) -> dict[str, list[dict[str, str]]]:
    """Markdown tables of a report section, keyed by the `### title` above each."""
    out: dict[str, list[dict[str, str]]] = {}
    title = ""
    lines = section.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("### "):
            title = lines[i][4:].strip()
        if lines[i].startswith("|") and title not in out:
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out[title] = [dict(zip(block[0], row, strict=True)) for row in block[2:]]
            continue
        i += 1
    return out


def studies(report: str) -> dict[str, str]:
    parts = re.split(r"^## Study `([^`]+)`.*$", report, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def close(text: str, value: float | None, digits: int) -> bool:
    if value is None:
        return text == "-"
    return abs(float(text) - value) <= 0.6 * 10 ** (-digits)


def f(x: str) -> float | None:
    return None if x == "" else float(x)


def test_files_complete_and_pngs_valid(quick):
    out, outcome = quick
    for name in ("results.csv", "report.md", "report.html", "replicas.jsonl"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(images) >= 4
    for name in images:
        assert (out / name).read_bytes()[:8] == PNG, name
        assert f"src='{name}'" in (out / "report.html").read_text()
    assert "Regenerate with: `placement bench --suite quick" in report
    assert "ortools" in report and "Python" in report


def test_one_row_per_key_and_no_errors(quick):
    out, outcome = quick
    rows = read_csv(out / "results.csv")
    keys = [(r["instance_id"], r["solver"], r["seed"], f"{float(r['time_limit']):g}") for r in rows]
    expected = [k for c in load_suite("quick").cases() for k in c.run_keys()]
    assert keys == expected  # suite order, every run once
    assert [r for r in rows if r["status"] == "error"] == []
    assert outcome.ran == len(expected) and outcome.skipped == 0


def test_per_solver_tables_match_results(quick):
    out, _ = quick
    rows = read_csv(out / "results.csv")
    sections = studies((out / "report.md").read_text())
    assert set(sections) == {s.name for s in load_suite("quick").studies}
    for study, text in sections.items():
        table = tables(text)["Per solver"]
        mine = [r for r in rows if r["study"] == study]
        sweep = len({r["time_limit"] for r in mine}) > 1  # then the limit is in the label
        by_solver = defaultdict(list)
        for r in mine:
            name = f"{r['solver']} @{float(r['time_limit']):g}s" if sweep else r["solver"]
            by_solver[name].append(r)
        assert [t["solver"] for t in table] == list(by_solver)
        for line in table:
            sel = by_solver[line["solver"]]
            ok = [r for r in sel if r["status"] in ("optimal", "feasible")]
            assert int(line["runs"]) == len(sel)
            assert int(line["solved"]) == len(ok)
            for col, key in (("true mean deg", "true_mean_degradation"),
                             ("pred mean deg", "pred_mean_degradation"),
                             ("true p99 deg", "true_p99_degradation")):
                assert close(line[col], mean(f(r[key]) for r in ok) if ok else None, 4), col
            assert int(line["true SLO viol"]) == sum(int(r["true_slo_violations"]) for r in ok)
            assert int(line["pred SLO viol"]) == sum(int(r["pred_slo_violations"]) for r in ok)
            assert close(line["median s"], median(float(r["seconds"]) for r in sel), 3)


def test_paper_table_matches_results(quick):
    out, _ = quick
    rows = [r for r in read_csv(out / "results.csv") if r["study"] == "paper"]
    section = studies((out / "report.md").read_text())["paper"]
    table = tables(section)["Table 5: cumulative added latency (seconds)"]
    solvers = list(dict.fromkeys(r["solver"] for r in rows))
    for line in table:
        sel = [r for r in rows if r["cluster"] == line["cluster"]]
        solved = [{r["seed"] for r in sel if r["solver"] == s
                   and r["status"] in ("optimal", "feasible")} for s in solvers]
        common = set.intersection(*solved)
        assert line["workloads"] == f"{len(common)}/{len({r['seed'] for r in sel})}"
        for s in solvers:
            for kind in ("true", "pred"):
                total = sum(float(r[f"{kind}_total_added_latency_ms"]) / 1000 for r in sel
                            if r["solver"] == s and r["seed"] in common)
                assert close(line[f"{s} {kind}"], total, 2), (line["cluster"], s, kind)


def test_second_run_resumes(quick):
    out, _ = quick
    before = (out / "results.csv").read_bytes()
    again = run_suite("quick", out, jobs=2, progress=False)
    assert again.ran == 0 and again.skipped == len(again.rows)
    assert (out / "results.csv").read_bytes() == before


def test_bad_suite_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[study]]\nname = "a"\nsizes = [[4, 2]]\nload = [0.5]\n'
                   'interference = ["low"]\nsolvers = ["greedy"]\n')
    with pytest.raises(InputError) as exc:
        load_suite(str(bad))
    assert str(bad) in str(exc.value) and "study[0].load" in str(exc.value)
    proc = subprocess.run([sys.executable, "-m", "placement.cli.app", "bench", "--suite", "nosuch",
                           "-o", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "nosuch" in proc.stderr
    assert not (tmp_path / "o").exists()


def _thread_pools_of_a_worker() -> list[tuple[str, int]]:
    """In a bench worker: every BLAS and OpenMP pool a solve can reach, with its threads."""
    import numpy  # noqa: F401  (loaded before the initializer runs, as in a real worker)
    import sklearn.ensemble  # noqa: F401  (loads SciPy's BLAS and OpenMP afterwards)
    from threadpoolctl import threadpool_info

    return [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()]


@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2,
                    reason="on one core every pool has one thread anyway")
def test_bench_workers_run_every_thread_pool_with_one_thread():
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from placement.bench import runner

    with ProcessPoolExecutor(1, mp_context=get_context("spawn"),
                             initializer=runner._init_worker) as pool:
        pools = pool.submit(_thread_pools_of_a_worker).result()
    assert pools and all(threads == 1 for _, threads in pools), pools
