"""The parent side of the profiler's worker processes (see :mod:`placement.measure.worker`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from placement.measure import worker
from placement.measure.models import ModelSource
from placement.measure.worker import Duplex

# A phase that has not answered after its window plus this many seconds is a hung worker.
GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class RunResult:
    """One model's recording window in one phase."""

    latencies_ms: np.ndarray
    cpu_util: float  # CPU seconds per wall second over the window (1.0 = one busy core)
    rss_mb: float  # resident memory at the end of the window
    dropped: int  # arrivals never served because the stream fell too far behind


class WorkerError(RuntimeError):
    """A worker failed to load its model or died; the message names the model."""


def _start(source: ModelSource, cpus: tuple[int, ...], threads: int, seed: int,
           ) -> tuple[subprocess.Popen, Duplex]:
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    proc = subprocess.Popen(
        # -P: the script's folder (placement/measure, with requests.py, models.py, ...) must not
        # shadow top-level modules that numpy or ONNX Runtime import
        [sys.executable, "-P", str(Path(worker.__file__)), str(to_child_r), str(to_parent_w)],
        pass_fds=(to_child_r, to_parent_w), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # stdout may be the answers of `profile --requests -`
    )
    os.close(to_child_r)
    os.close(to_parent_w)
    conn = Duplex(Connection(to_parent_r, writable=False), Connection(to_child_w, readable=False))
    conn.send({"path": str(source.path), "int_bounds": dict(source.int_bounds),
               "cpus": list(cpus), "threads": threads, "seed": seed})
    return proc, conn

class WorkerPool:
    """One pinned worker process per model; ``run`` measures a co-location set.

    Use as a context manager: the processes are ended on exit, also after an error."""

    def __init__(self, sources: list[ModelSource], cpus: tuple[int, ...], threads: int,
                 seed: int = 0, start_timeout: float = 300.0):
        self.cpus = cpus
        self.conns: dict[str, Duplex] = {}
        self.procs: dict[str, Any] = {}
        self.info: dict[str, dict] = {}
        try:
            for k, src in enumerate(sources):
                proc, conn = _start(src, cpus, threads, seed + k)
                self.conns[src.name], self.procs[src.name] = conn, proc
            for name in self.conns:
                kind, payload = self._recv(name, start_timeout)
                if kind != "ready":
                    raise WorkerError(f"model {name!r} failed to load: {payload}")
                self.info[name] = payload
        except BaseException:
            self.close()
            raise

    def _recv(self, name: str, timeout: float) -> tuple[str, Any]:
        conn = self.conns[name]
        try:
            if not conn.poll(timeout):
                raise WorkerError(f"model {name!r}: worker did not answer in {timeout:.0f} s")
            return conn.recv()
        except (EOFError, OSError):
            raise WorkerError(f"model {name!r}: worker process died") from None

    def run(self, names: list[str], *, warmup: float, seconds: float, rate: float | None,
            seed: int) -> dict[str, RunResult]:
        """Serve ``names`` together; each one's recording window. Starts 50 ms from now so
        every worker has the message before the start."""
        start_at = time.monotonic() + 0.05
        for k, name in enumerate(names):
            self.conns[name].send(("run", start_at, warmup, seconds, rate, seed + k))
        results: dict[str, RunResult] = {}
        for name in names:
            kind, payload = self._recv(name, warmup + seconds + GRACE_SECONDS)
            if kind != "result":
                raise WorkerError(f"model {name!r}: {payload}")
            results[name] = RunResult(**payload)
        for name in names:
            self.conns[name].send(("stop",))
        for name in names:
            self._recv(name, GRACE_SECONDS)
        return results

    def close(self) -> None:
        for name, conn in self.conns.items():
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send(("quit",))
            proc = self.procs[name]
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=5)
            conn.close()
        self.conns, self.procs = {}, {}

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
