"""Issue 13, must show: the quick suite's wall time and peak memory, Ray vs the process pool.

Each run is a fresh child process that does what `placement bench --suite quick --executor E
--jobs 2 -o NEW_FOLDER` does (executor opened, every solve run, report written, executor
closed), so nothing is resumed and Ray's start and shutdown are counted. The child reports its
own phases: executor start (for Ray: a local Ray with 2 CPUs and its first worker, timed with
one trivial task), the solve loop, and the whole run. Meanwhile this process samples the child's
whole process tree in /proc (the pool's workers; Ray's GCS, raylet, agents and workers are all
descendants of the driver): the peak of the summed PSS (proportional set size, so pages shared
between processes, Ray's object store among them, are counted once) and the largest single
RSS. Runs alternate between the executors; each figure is the median of --runs.

The results of the two executors are compared with benchmarks/diff_results.py.

    python benchmarks/bench_executors.py [--suite quick] [--jobs 2] [--runs 3]
                                         [-o benchmarks/results/executors.md]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = ("process", "ray")
SAMPLE_SECONDS = 0.2
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the child
def child(executor: str, suite: str, jobs: int, folder: Path) -> None:
    """One bench run, as the CLI does it; prints its phases as one JSON line."""
    from placement.bench.executors import open_executor
    from placement.bench.runner import run_suite

    start = time.perf_counter()
    with open_executor(executor, jobs) as pool:
        if executor == "ray":
            # a trivial call first, so starting a local Ray and a first worker is timed apart
            # from the solves (a process pool starts inside the solve loop, as in the CLI)
            list(pool.map_unordered(abs, [(0,)]))
        started = time.perf_counter()
        outcome = run_suite(suite, folder, jobs=jobs, progress=False, executor=pool)
        solved = time.perf_counter()
    end = time.perf_counter()
    print(json.dumps({"start": started - start, "loop": outcome.wall_seconds,
                      "report": solved - started - outcome.wall_seconds,
                      "shutdown": end - solved, "total": end - start, "ran": outcome.ran}))


# --------------------------------------------------------------------------- memory of a tree
def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the name (field 2) may hold spaces; the parent id is the 2nd field after its ")"
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return 0, 0
    kb = {k: int(v.split()[0]) for k, v in fields.items() if k in ("Pss", "Rss")}
    return kb.get("Pss", 0), kb.get("Rss", 0)


@dataclass
class Peak:
    tree_pss_kb: int = 0
    process_rss_kb: int = 0
    processes: int = 0
    samples: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, root: int) -> None:
        while not self.stop.is_set():
            tree = descendants(root)
            sizes = [memory_kb(pid) for pid in tree]
            self.tree_pss_kb = max(self.tree_pss_kb, sum(pss for pss, _ in sizes))
            self.process_rss_kb = max([self.process_rss_kb, *(rss for _, rss in sizes)])
            self.processes = max(self.processes, len(tree))
            self.samples += 1
            self.stop.wait(SAMPLE_SECONDS)


# --------------------------------------------------------------------------- one measured run
def measure(executor: str, suite: str, jobs: int, folder: Path) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", executor,
               "--suite", suite, "--jobs", str(jobs), "-o", str(folder)]
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    peak = Peak()
    watcher = threading.Thread(target=peak.watch, args=(proc.pid,), daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    peak.stop.set()
    watcher.join()
    if proc.returncode != 0:
        sys.exit(f"{executor} run failed ({proc.returncode}):\n{err}")
    phases = json.loads(out.strip().splitlines()[-1])
    return {**phases, "wall": wall, "tree_pss_mb": peak.tree_pss_kb / 1024,
            "process_rss_mb": peak.process_rss_kb / 1024, "processes": peak.processes,
            "samples": peak.samples}


def compare(folder_a: Path, folder_b: Path) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diff_results.py"),
                           str(folder_a / "results.csv"), str(folder_b / "results.csv")],
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1] + f" (exit {done.returncode})"


# --------------------------------------------------------------------------- the note
def note(runs: dict[str, list[dict[str, float]]], agreement: str, load: tuple[float, float],
         args: argparse.Namespace) -> str:
    import ray

    def med(executor: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[executor])

    lines = [
        "# The quick suite: Ray tasks vs the process pool",
        "",
        f"`python benchmarks/bench_executors.py --suite {args.suite} --jobs {args.jobs} "
        f"--runs {args.runs}`: {args.jobs} workers each, {runs['process'][0]['ran']} solves, "
        f"median of {args.runs} fresh runs (nothing resumed), runs alternating between the "
        "executors.",
        "",
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, "
        f"Python {platform.python_version()}, Ray {ray.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average (1 min) "
        f"{load[0]:.1f} before, {load[1]:.1f} after (other work shares the machine: compare "
        "the executors within a run, not with other notes).",
        "",
        "| executor | wall (s) | executor start (s) | solve loop (s) | report (s) | "
        "shutdown (s) | peak memory, whole tree PSS (MB) | largest process RSS (MB) | "
        "processes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for executor in EXECUTORS:
        lines.append(
            f"| {executor} | {med(executor, 'wall'):.1f} | {med(executor, 'start'):.1f} | "
            f"{med(executor, 'loop'):.1f} | {med(executor, 'report'):.1f} | "
            f"{med(executor, 'shutdown'):.1f} | {med(executor, 'tree_pss_mb'):.0f} | "
            f"{med(executor, 'process_rss_mb'):.0f} | {med(executor, 'processes'):.0f} |")
    lines += ["", "Every run:", "", "| executor | run | wall (s) | solve loop (s) | "
              "tree PSS (MB) |", "|---|---|---|---|---|"]
    for executor in EXECUTORS:
        for i, r in enumerate(runs[executor], 1):
            lines.append(f"| {executor} | {i} | {r['wall']:.1f} | {r['loop']:.1f} | "
                         f"{r['tree_pss_mb']:.0f} |")
    lines += [
        "",
        f"Same results: `diff_results.py` process vs ray, first run of each: {agreement}.",
        "",
        "How to read it: *wall* is the whole child process (imports, executor start, solves, "
        "report, shutdown). *Executor start* is, for Ray, the time to a first trivial result "
        "(a local Ray starts its GCS, raylet, agents and a worker); the process pool spawns its "
        "workers inside the solve loop, as the CLI does, so its start shows as 0 and its loop "
        f"includes spawning {args.jobs} interpreters that import the solvers (Ray prestarts its "
        "workers while it starts). "
        "The *solve loop* is the runner's own clock around the solves. Memory is sampled every "
        f"{SAMPLE_SECONDS} s over the child's whole process tree; PSS counts a page shared by n "
        "processes as 1/n in each, so the sum is the tree's real footprint.",
        "",
    ]
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path,
                        default=ROOT / "benchmarks" / "results" / "executors.md")
    parser.add_argument("--child", choices=EXECUTORS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.suite, args.jobs, args.output)
        return

    from placement.formats.files import write_text_atomic

    # bytecode compiled before the first run, so that run does not pay for every executor after
    for package in ("placement", "solvers"):
        compileall.compile_dir(ROOT / package, quiet=1)
    runs: dict[str, list[dict[str, float]]] = {e: [] for e in EXECUTORS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as scratch:
        for i in range(args.runs):
            for executor in EXECUTORS:
                folder = Path(scratch) / f"{executor}-{i}"
                runs[executor].append(measure(executor, args.suite, args.jobs, folder))
                r = runs[executor][-1]
                print(f"{executor} run {i + 1}: wall {r['wall']:.1f} s, start {r['start']:.1f} "
                      f"s, loop {r['loop']:.1f} s, tree PSS {r['tree_pss_mb']:.0f} MB",
                      flush=True)
        agreement = compare(Path(scratch) / "process-0", Path(scratch) / "ray-0")
    print(agreement)
    load = (load_before, os.getloadavg()[0])
    write_text_atomic(args.output, note(runs, agreement, load, args))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
