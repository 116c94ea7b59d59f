"""`placement bench --executor ray`: the quick suite as Ray tasks gives the process pool's
figures, Ray workers run one BLAS thread, and a missing Ray or a bad --address is exit 2 with
nothing written. Tests that need Ray are skipped when the optional extra is not installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from placement.bench.executors import ProcessExecutor, RayExecutor
from placement.bench.runner import run_suite

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_pool():
    """One local Ray (2 CPUs) for the module: it takes seconds to start."""
    pytest.importorskip("ray")
    with RayExecutor(jobs=2) as pool:
        yield pool


def cli(*args: str, python_prelude: str = "") -> subprocess.CompletedProcess:
    """`placement ARGS` in a fresh interpreter, after ``python_prelude``."""
    code = "\n".join((python_prelude, "import sys", "from placement.cli import main",
                      "sys.argv = ['placement', *sys.argv[1:]]", "main()"))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- same results
def test_quick_suite_ray_equals_process_pool(tmp_path, ray_pool):
    by_pool = run_suite("quick", tmp_path / "process", jobs=2, progress=False, report=False)
    by_ray = run_suite("quick", tmp_path / "ray", progress=False, report=False,
                       executor=ray_pool)
    assert by_ray.ran == by_pool.ran > 0
    assert not [r for r in by_ray.rows if r["status"] == "error"]

    # the repository's own comparison of two results.csv (objective and every figure)
    diff = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diff_results.py"),
                           str(tmp_path / "process" / "results.csv"),
                           str(tmp_path / "ray" / "results.csv")],
                          capture_output=True, text=True, timeout=60)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    compared = int(diff.stdout.split(" deterministic rows compared")[0].split()[-1])
    heuristic_rows = [r for r in by_pool.rows if r["solver"] not in {"cpsat", "exhaustive"}]
    assert compared >= len(heuristic_rows) > 0

    # and the order of rows does not depend on where the solves ran
    keys = [(r["instance_id"], r["solver"], r["time_limit"]) for r in by_pool.rows]
    assert keys == [(r["instance_id"], r["solver"], r["time_limit"]) for r in by_ray.rows]


def test_ray_resume_solves_nothing_again(tmp_path, ray_pool):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\n[[study]]\nname = "grid"\nsizes = [[6, 3]]\n'
                     'loads = [0.5]\ninterference = ["low"]\ntypes = 1\nseeds = [0, 1]\n'
                     'solvers = ["greedy", "exhaustive"]\n')
    first = run_suite(str(suite), tmp_path / "out", progress=False, report=False,
                      executor=ray_pool)
    again = run_suite(str(suite), tmp_path / "out", progress=False, report=False,
                      executor=ray_pool)
    assert (first.ran, again.ran, again.skipped) == (4, 0, 4)
    # read back from results.csv, which keeps 9 decimals
    assert [r["objective"] for r in again.rows] == pytest.approx(
        [r["objective"] for r in first.rows], rel=0, abs=1e-9)


# --------------------------------------------------------------------------- workers
def blas_threads() -> tuple[int, str | None, int]:
    """(process id, times the initializer ran here, OpenBLAS threads) in a worker."""
    import numpy  # noqa: F401  (loads OpenBLAS, whose pool size is what we check)
    from threadpoolctl import threadpool_info

    threads = max((lib["num_threads"] for lib in threadpool_info()
                   if lib["internal_api"] == "openblas"), default=1)
    return os.getpid(), os.environ.get("PLACEMENT_TEST_INIT"), threads


def count_initializations() -> None:
    os.environ["PLACEMENT_TEST_INIT"] = str(int(os.environ.get("PLACEMENT_TEST_INIT", "0")) + 1)


def test_ray_workers_run_one_blas_thread_and_initialize_once(ray_pool):
    pytest.importorskip("threadpoolctl")
    results = list(ray_pool.map_unordered(blas_threads, [()] * 6,
                                          initializer=count_initializations))
    assert len(results) == 6
    assert {threads for _, _, threads in results} == {1}
    assert {count for _, count, _ in results} == {"1"}  # once per process, not once per call


@pytest.mark.parametrize("jobs", [1, 2])  # 1: in this process; 2: spawned workers
def test_process_executor_yields_every_result(jobs):
    squares = ProcessExecutor(jobs).map_unordered(pow, [(n, 2) for n in range(5)])
    assert sorted(squares) == [0, 1, 4, 9, 16]


# --------------------------------------------------------------------------- bad input
def test_bad_address_is_exit_2_and_nothing_written(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    for address, said in ((f"127.0.0.1:{unused_port()}", "no Ray cluster answers"),
                          ("nonsense", "expected HOST:PORT")):
        done = cli("bench", "--suite", "quick", "--executor", "ray", "--address", address,
                   "-o", str(out))
        assert done.returncode == 2, done.stderr
        assert f"--address {address}" in done.stderr and said in done.stderr
        assert "Traceback" not in done.stderr
        assert not out.exists()


def test_address_needs_the_ray_executor_and_executors_are_named(tmp_path):
    done = cli("bench", "--suite", "quick", "--address", "127.0.0.1:6379", "-o",
               str(tmp_path / "out"))
    assert done.returncode == 2 and "--executor ray" in done.stderr
    done = cli("bench", "--suite", "quick", "--executor", "dask", "-o", str(tmp_path / "out"))
    assert done.returncode == 2 and "expected one of process, ray" in done.stderr
    assert not (tmp_path / "out").exists()


def test_without_ray_the_error_names_the_extra(tmp_path):
    # `import ray` fails as on a machine without the extra (None in sys.modules blocks it)
    done = cli("bench", "--suite", "quick", "--executor", "ray", "-o", str(tmp_path / "out"),
               python_prelude="import sys; sys.modules['ray'] = None")
    assert done.returncode == 2
    assert 'pip install "placement[ray]"' in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
