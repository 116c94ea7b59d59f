"""The benchmark runner: a suite's cases x solvers x seeds, into ``DIR/results.csv`` and a report.

Why it is built the way it is:

* **Resumable.** A row's key is (instance id, solver, seed, time limit). Rows already in
  ``results.csv`` are not rerun (rows whose solve raised, status ``error``, are: they are bugs
  that may since be fixed). ``results.csv`` is rewritten atomically after every finished case,
  so a kill loses at most the cases in flight.
* **Per-replica figures on the side.** The CDF of true degradation needs every replica's value;
  they go to ``replicas.jsonl`` (one line per row, appended and fsynced *before* the row reaches
  ``results.csv``, compacted atomically at the end), so the CSV stays one row per solve.
* **Parallel, not oversubscribed.** Cases run in a process pool (``jobs`` workers, spawned, so
  no thread of the parent leaks into a child), or as Ray tasks of one CPU each
  (``executors.py``, the same worker function); every solve gets ``threads=1``.
* **Deterministic.** Instances are drawn from their seed; rows are written in suite order,
  whatever order the workers finish in. (Exact solvers stopped by a wall-clock limit can still
  return a different incumbent on a slower machine; their gap says how far from proved.)
* **True beside predicted.** Solvers see only the instance (measured pairwise slowdowns); every
  figure is recomputed by the one evaluator, once with the instance's data (``pred_*``) and once
  with the generator's hidden ground truth (``true_*``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from placement.bench.executors import Executor, ProcessExecutor
from placement.bench.suite import Case, Suite, load_suite, run_key
from placement.formats.files import write_text_atomic

RESULTS = "results.csv"
REPLICAS = "replicas.jsonl"

SUMMARY_FIELDS = ("mean_degradation", "p99_degradation", "max_degradation",
                  "total_added_latency_ms", "slo_violations", "machines_used", "cost_per_hour")

#: Columns of results.csv, in order, with how to read them back.
COLUMNS: dict[str, type] = {
    "study": str, "kind": str, "instance_id": str, "seed": int, "solver": str,
    "time_limit": float, "solver_ran": str,
    "replicas": int, "machines": int, "types": int, "load": float, "interference": str,
    "cluster": str, "models": int, "objective_name": str, "slo": str,
    "status": str, "objective": float, "bound": float, "gap": float, "seconds": float,
    "wall_seconds": float,
    **{f"pred_{k}": float for k in SUMMARY_FIELDS},
    **{f"true_{k}": float for k in SUMMARY_FIELDS},
    "diagnosis": str, "error": str,
}
for _k in ("pred_slo_violations", "true_slo_violations", "pred_machines_used",
           "true_machines_used"):
    COLUMNS[_k] = int

Row = dict[str, Any]


def row_key(row: Row) -> tuple[str, str, str, str]:
    return run_key(row["instance_id"], row["solver"], row["seed"], row["time_limit"])


# --------------------------------------------------------------------------- building instances
def build_instance(case: Case) -> tuple[Any, Any]:
    """(Instance, GroundTruth) of a case, drawn deterministically from its parameters and seed."""
    from placement.synthetic import generator, paper

    p = case.params
    if case.kind == "paper":
        cluster = paper.PAPER_CLUSTERS.get(p["cluster"]) or p["cluster"].split("+")
        inst, truth = paper.paper_workload(
            cluster, p["models"], case.seed, interference=p["interference"], load=p["load"]
        )
    else:
        inst, truth = generator.generate(
            n_replicas=p["replicas"], n_machines=p["machines"], n_types=p["types"],
            load=p["load"], interference=p["interference"], seed=case.seed,
        )
    if p["objective"]:
        inst.objective.minimize = p["objective"]
    if p["slo"]:
        inst.objective.slo = p["slo"]
    inst.name = f"{case.instance_id}#s{case.seed}"
    return inst, truth


# --------------------------------------------------------------------------- one case (worker)
def run_case(case: Case, runs: list[tuple[str, float]]) -> list[tuple[Row, list[float]]]:
    """Solve one instance with each pending (solver, time limit); (row, true degradations)."""
    from placement.api import solve
    from placement.evaluate import evaluate

    base = base_row(case)
    try:
        inst, truth = build_instance(case)
    except Exception as exc:  # a generator bug must not stop the other cases
        return [({**base, "solver": s, "time_limit": t, "status": "error",
                  "error": f"instance: {type(exc).__name__}: {exc}"}, []) for s, t in runs]
    base["replicas"] = len(inst.replica_ids())
    base["machines"] = len(inst.machine_ids())
    base["types"] = len(inst.machine_types)
    base["objective_name"] = inst.objective.minimize
    base["slo"] = inst.objective.slo
    out: list[tuple[Row, list[float]]] = []
    for solver, limit in runs:
        row: Row = {**base, "solver": solver, "time_limit": limit}
        degradations: list[float] = []
        start = time.perf_counter()
        try:
            sol = solve(inst, solver, time_limit=limit, seed=case.seed, threads=1)
            row.update(status=sol.status, solver_ran=sol.solver, objective=sol.objective,
                       bound=sol.bound, gap=sol.gap, seconds=sol.solve_seconds,
                       diagnosis=" | ".join(sol.diagnosis)[:300] or None)
            if sol.summary is not None and sol.assignment:
                for k in SUMMARY_FIELDS:
                    row[f"pred_{k}"] = getattr(sol.summary, k)
                true = evaluate(inst, sol.assignment, source=truth)
                for k in SUMMARY_FIELDS:
                    row[f"true_{k}"] = getattr(true.summary, k)
                degradations = [round(r.slowdown - 1.0, 6) for r in true.replicas.values()]
        except Exception as exc:  # record and go on; status "error" rows are rerun on resume
            row.update(status="error", error=f"{type(exc).__name__}: {exc}"[:500])
        row["wall_seconds"] = round(time.perf_counter() - start, 6)
        out.append((row, degradations))
    return out


def base_row(case: Case) -> Row:
    p = case.params
    return {
        "study": case.study, "kind": case.kind, "instance_id": case.instance_id,
        "seed": case.seed, "replicas": p.get("replicas"), "machines": p.get("machines"),
        "types": p.get("types"), "load": p.get("load"), "interference": p.get("interference"),
        "cluster": p.get("cluster"), "models": p.get("models"),
        "objective_name": p["objective"], "slo": p["slo"],
    }


def _init_worker() -> None:
    """One thread per solve in a worker: the pool is the parallelism (BLAS or OpenMP threads
    would oversubscribe the cores).

    A spawned worker has already imported NumPy (and its BLAS) when this runs, since
    unpickling this function imports the package; a BLAS reads its thread variable when it is
    loaded, so the variables alone reach only libraries loaded later (SciPy's BLAS, OpenMP).
    threadpoolctl limits the ones already loaded."""
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    threadpool_limits(limits=1)  # called, not entered: the limit stays for the worker's life


# --------------------------------------------------------------------------- files
def read_results(path: Path) -> list[Row]:
    """Rows of a results.csv, typed (empty cells are None). A missing file is no rows."""
    if not path.exists():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            rows.append({k: _parse(raw.get(k, ""), t) for k, t in COLUMNS.items()})
    return rows


def _parse(text: str | None, kind: type) -> Any:
    if text is None or text == "":
        return None
    if kind is int:
        return int(float(text))
    return kind(text)


def results_text(rows: Iterable[Row]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 9))
    return str(value)


def read_replicas(path: Path) -> dict[tuple[str, str, str, str], list[float]]:
    """Per-row true degradations; the last line of a key wins, a torn last line is skipped."""
    out: dict[tuple[str, str, str, str], list[float]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            out[tuple(item["key"])] = [float(v) for v in item["true_degradation"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return out


def _replica_line(key: tuple[str, ...], values: list[float]) -> str:
    return json.dumps({"key": list(key), "true_degradation": values}, separators=(",", ":"))


# --------------------------------------------------------------------------- the run
@dataclass
class Outcome:
    out_dir: Path
    rows: list[Row]  # the suite's rows, in suite order
    ran: int  # solves made by this call (0 on a full resume)
    skipped: int  # solves found in results.csv
    wall_seconds: float


def run_suite(
    suite: Suite | str,
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    time_limit: float | None = None,
    progress: bool = True,
    report: bool = True,
    on_row: Callable[[Row], None] | None = None,
    executor: Executor | None = None,
) -> Outcome:
    """Run every pending solve of ``suite`` into ``out_dir`` and write the report.

    ``jobs`` and ``time_limit`` override the suite's own; ``jobs=1`` runs in this process
    (handy under a debugger). ``executor`` runs the solves elsewhere, e.g. as Ray tasks
    (``placement.bench.executors``); by default a process pool of ``jobs``. A second call
    on the same folder resumes: nothing is solved again.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "tiny.toml").write_text('''
    ... name = "tiny"
    ... [[study]]
    ... name = "grid"
    ... sizes = [[6, 3]]
    ... loads = [0.5]
    ... interference = ["low"]
    ... types = 1
    ... seeds = [0]
    ... solvers = ["greedy", "exhaustive"]
    ... ''')
    >>> done = run_suite(str(folder / "tiny.toml"), folder, jobs=1, progress=False, report=False)
    >>> done.ran, done.skipped, [row["status"] for row in done.rows]
    (2, 0, ['feasible', 'optimal'])
    >>> run_suite(str(folder / "tiny.toml"), folder, jobs=1, progress=False, report=False).ran
    0
    """
    if isinstance(suite, str):
        suite = load_suite(suite)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs or suite.jobs
    cases = suite.cases(time_limit)
    results_path, replicas_path = out / RESULTS, out / REPLICAS

    done = {row_key(r): r for r in read_results(results_path) if r["status"] != "error"}
    wanted = {k for c in cases for k in c.run_keys()}
    foreign = [r for k, r in done.items() if k not in wanted]  # other settings: kept, not reported
    pending: list[tuple[Case, list[tuple[str, float]]]] = []
    for case in cases:
        runs = [run for run, k in zip(case.runs, case.run_keys(), strict=True) if k not in done]
        if runs:
            pending.append((case, runs))
    total = sum(len(r) for _, r in pending)
    skipped = len(wanted) - total
    order = {k: i for i, k in enumerate(k for c in cases for k in c.run_keys())}

    def ordered() -> list[Row]:
        mine = sorted((r for k, r in done.items() if k in order), key=lambda r: order[row_key(r)])
        return mine + foreign

    start = time.perf_counter()
    with replicas_path.open("a", encoding="utf-8") as log, _progress(progress) as bar:
        task = bar.add_task(f"{suite.name}: {total} solves ({skipped} done before)", total=total)

        def finish(results: list[tuple[Row, list[float]]]) -> None:
            for row, values in results:
                log.write(_replica_line(row_key(row), values) + "\n")
            log.flush()
            os.fsync(log.fileno())
            for row, _ in results:
                done[row_key(row)] = row
                if on_row:
                    on_row(row)
            write_text_atomic(results_path, results_text(ordered()))
            bar.advance(task, len(results))

        # the same worker function wherever it runs (process pool, Ray), rows in the same files
        executor = executor or ProcessExecutor(jobs)
        for results in executor.map_unordered(run_case, pending, initializer=_init_worker):
            finish(results)
    wall = time.perf_counter() - start

    rows = [r for r in ordered() if row_key(r) in order]
    replicas = read_replicas(replicas_path)
    replicas = {k: v for k, v in replicas.items() if k in done}
    write_text_atomic(replicas_path, "".join(
        _replica_line(row_key(r), replicas.get(row_key(r), [])) + "\n" for r in ordered()))
    if report:
        from placement.bench.report import write_report

        write_report(suite, out, rows, replicas, ignored=len(foreign))
    return Outcome(out, rows, total, skipped, wall)


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled,
                    transient=False)
