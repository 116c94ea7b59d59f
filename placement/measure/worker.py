"""One model served in its own process, pinned to a CPU set (the profiler's unit of work).

This file runs as a script (``python worker.py READ_FD WRITE_FD``), not as a module of the
package, so a worker starts without importing ``placement`` or ``onnx`` and cannot re-run
the caller's main module; it needs only numpy and ONNX Runtime. The parent
(:class:`placement.measure.pool.WorkerPool`) starts one process per model, each pinned with
``os.sched_setaffinity`` *before* ONNX Runtime starts any thread, so every thread of the
session inherits the CPU set; the pin is re-applied to every thread of the process once the
session exists, in case the runtime set its own. Then a phase runs the models of one
co-location set at the same time:

1. the parent sends ``run`` with a start time on the system-wide monotonic clock;
2. each worker waits for it, serves requests for ``warmup`` seconds (discarded), then records
   latencies for ``seconds``: back to back, or open loop at ``rate`` requests per second
   (Poisson arrivals; a latency then includes the time spent waiting for the model);
3. each worker sends its latencies and **keeps serving** until the parent says ``stop``, so a
   target that finishes its window late still had its co-runners running the whole time.

ONNX Runtime's idle intra-op threads spin by default; spinning would steal a shared core from
the co-runners and measure the spin, not the model, so it is turned off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

# A request stream that falls this far behind its arrivals (overload at --rate) stops early.
MAX_BACKLOG_SECONDS = 5.0
INPUT_VARIANTS = 16  # distinct inputs cycled through, so an embedding lookup reads new rows


class Duplex:
    """Two one-way pipes used as one connection (``send``, ``recv``, ``poll``)."""

    def __init__(self, reader: Connection, writer: Connection):
        self.reader, self.writer = reader, writer

    def send(self, obj: Any) -> None:
        self.writer.send(obj)

    def recv(self) -> Any:
        return self.reader.recv()

    def poll(self, timeout: float = 0.0) -> bool:
        return self.reader.poll(timeout)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()



def _pin_all_threads(cpus: tuple[int, ...]) -> None:
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _feeds(session: Any, int_bounds: dict[str, int], rng: np.random.Generator,
           ) -> list[dict]:
    """Random inputs of the session's shapes (a dynamic dimension is 1)."""
    out = []
    for _ in range(INPUT_VARIANTS):
        feed = {}
        for inp in session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
            if "int" in inp.type:
                bound = int_bounds.get(inp.name, 2)
                dtype = np.int32 if "int32" in inp.type else np.int64
                feed[inp.name] = rng.integers(0, bound, size=shape).astype(dtype)
            elif "double" in inp.type:
                feed[inp.name] = rng.standard_normal(shape)
            elif "float16" in inp.type:
                feed[inp.name] = rng.standard_normal(shape).astype(np.float16)
            elif "bool" in inp.type:
                feed[inp.name] = rng.random(shape) < 0.5
            else:
                feed[inp.name] = rng.standard_normal(shape).astype(np.float32)
        out.append(feed)
    return out


def _serve_phase(
    session: Any, feeds: list[dict], conn: Duplex, start_at: float, warmup: float,
    seconds: float, rate: float | None, seed: int,
) -> None:
    """Record one window, send it, then keep the load on until ``stop``."""
    rng = np.random.default_rng(seed)
    record_from, end = start_at + warmup, start_at + warmup + seconds
    latencies: list[float] = []
    mark: tuple[float, float] | None = None  # (cpu time, wall time) when recording began
    dropped, i = 0, 0
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    arrival = start_at
    while True:
        if rate is not None:
            arrival += float(rng.exponential(1.0 / rate))
            if arrival >= end:
                break
            now = time.monotonic()
            if now - arrival > MAX_BACKLOG_SECONDS:
                dropped += 1
                continue
            if now < arrival:
                time.sleep(arrival - now)
        t0 = time.monotonic()
        if mark is None and t0 >= record_from:
            mark = (time.process_time(), t0)
        session.run(None, feeds[i % len(feeds)])
        t1 = time.monotonic()
        i += 1
        began = arrival if rate is not None else t0
        if began >= record_from:
            latencies.append((t1 - began) * 1000.0)
        # back to back, the window closes once it holds a request: a process the scheduler
        # kept off the CPU for the whole window still reports one latency
        if rate is None and t1 >= end and latencies:
            break
    now = time.monotonic()
    cpu_util = (time.process_time() - mark[0]) / max(now - mark[1], 1e-9) if mark else 0.0
    conn.send(("result", {"latencies_ms": np.array(latencies), "cpu_util": cpu_util,
                          "rss_mb": _rss_mb(), "dropped": dropped}))
    # background load until the parent has every result
    while not conn.poll(0 if rate is None else float(rng.exponential(1.0 / rate))):
        session.run(None, feeds[i % len(feeds)])
        i += 1
    message = conn.recv()
    if message[0] != "stop":
        raise RuntimeError(f"worker expected stop, got {message[0]!r}")
    conn.send(("idle", None))


def serve(conn: Duplex) -> None:
    """Pin, load, warm up, then obey the parent until ``quit``. The first message is the
    spec: ``{"path", "int_bounds", "cpus", "threads", "seed"}``."""
    spec = conn.recv()
    cpus = tuple(spec["cpus"])
    try:
        os.sched_setaffinity(0, cpus)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = spec["threads"]
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        session = ort.InferenceSession(
            spec["path"], options, providers=["CPUExecutionProvider"]
        )
        _pin_all_threads(cpus)
        feeds = _feeds(session, spec["int_bounds"], np.random.default_rng(spec["seed"]))
        for k in range(3):  # first runs allocate buffers and page in the weights
            session.run(None, feeds[k % len(feeds)])
    except Exception as exc:  # reported to the parent, which names the model
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", {"pid": os.getpid(), "affinity": sorted(os.sched_getaffinity(0)),
                         "threads": len(os.listdir("/proc/self/task"))}))
    while True:
        message = conn.recv()
        if message[0] == "run":
            _serve_phase(session, feeds, conn, *message[1:])
        elif message[0] == "quit":
            return


if __name__ == "__main__":
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    serve(Duplex(Connection(read_fd, writable=False), Connection(write_fd, readable=False)))
