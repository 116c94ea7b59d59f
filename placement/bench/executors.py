"""Where a suite's solves run: a local process pool, or Ray tasks on a laptop or a cluster.

Both executors take a plain function and its argument tuples and yield the function's results
as they complete; the caller (the runner) writes rows, advances the progress bar and puts rows
back in suite order, so resuming, the report and ``results.csv`` do not depend on where a solve
ran. The function is the same for both executors (Ray's "tasks are plain functions": the one
``run_case`` runs in a spawned process or in a Ray worker), so a deterministic solver gives the
same figures either way.

Both keep a bounded number of calls in flight (twice the CPUs that run them): a kill loses at
most those, and a cluster is never flooded with a whole suite at once.

Ray is an optional extra (``pip install "placement[ray]"``) and is imported only when a
:class:`RayExecutor` starts. A local Ray is started for the run with ``jobs`` CPUs and shut down
after; with an ``address`` the executor joins an existing cluster as a driver and ships this
checkout's ``placement`` and ``solvers`` packages to it, so the cluster runs the code the
laptop runs (the third-party dependencies must be installed on the cluster).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from types import TracebackType
from typing import Any, Protocol, TypeVar

from placement.formats.errors import UsageError

Result = TypeVar("Result")
Initializer = Callable[[], None]

#: ``--executor`` values.
EXECUTORS = ("process", "ray")

#: Environment of the workers Ray starts on a cluster, set before they import anything: one task
#: holds one CPU, so BLAS and OpenMP must not start a thread per core (they read these once, at
#: load time). A local Ray needs no runtime environment for it (one would cost its workers ~3 s
#: to start): Ray sets OMP_NUM_THREADS=1 for a one-CPU task's worker, which OpenBLAS obeys, and
#: the runner's initializer limits every pool already loaded (tests/test_bench_ray.py checks).
ONE_THREAD_ENV = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                       "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}

#: Seconds to wait for a cluster's address to accept a connection before calling it unreachable
#: (Ray itself retries a dead address for a minute or more).
CONNECT_TIMEOUT = 5.0

RAY_MISSING = 'Ray is not installed; install the extra with: pip install "placement[ray]"'


class Executor(Protocol):
    """Runs ``function(*arguments)`` for each argument tuple; yields results as they complete."""

    name: str

    def map_unordered(self, function: Callable[..., Result], arguments: Sequence[tuple],
                      *, initializer: Initializer | None = None) -> Iterator[Result]:
        """``initializer`` runs once in each worker process before its first call."""
        ...


# --------------------------------------------------------------------------- process pool
class ProcessExecutor:
    """A pool of ``jobs`` spawned processes (spawned: no thread of the parent leaks into a
    child). ``jobs=1`` runs every call in this process, in order (handy under a debugger)."""

    name = "process"

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map_unordered(self, function: Callable[..., Result], arguments: Sequence[tuple],
                      *, initializer: Initializer | None = None) -> Iterator[Result]:
        if self.jobs <= 1:
            # no initializer here: it is for worker processes, not for the caller's own
            for args in arguments:
                yield function(*args)
            return
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx,
                                 initializer=initializer) as pool:
            queue = list(reversed(arguments))
            running: set[Future] = set()
            try:
                while queue or running:
                    while queue and len(running) < self.jobs * 2:
                        running.add(pool.submit(function, *queue.pop()))
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
            except BaseException:
                for future in running:
                    future.cancel()
                raise


# --------------------------------------------------------------------------- Ray
class RayExecutor:
    """Each call is a Ray task holding one CPU, on a local Ray started for the run (``jobs``
    CPUs) or on the cluster at ``address`` (``host:port`` of its head, or ``auto``).

    Use it as a context manager. Entering imports Ray and joins the cluster at ``address``, so
    Ray missing or a bad address is a :class:`UsageError` before anything is written; a local
    Ray starts with the first call (a resumed run with nothing left to solve starts none).
    Leaving shuts a local Ray down, or disconnects from the cluster.
    """

    name = "ray"

    def __init__(self, jobs: int, address: str | None = None) -> None:
        self.jobs = jobs
        self.address = address
        self._ray: Any = None
        self._connected = False

    def __enter__(self) -> RayExecutor:
        self._ray = import_ray()
        if self.address is not None:
            self._connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._connected:
            self._ray.shutdown()  # stops a local Ray; only disconnects from a cluster
            self._connected = False

    def _connect(self) -> None:
        ray = self._ray
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        if self.address is None:
            # "local": a new Ray for this run even when RAY_ADDRESS names a cluster
            ray.init(address="local", num_cpus=self.jobs, include_dashboard=False, **quiet)
        else:
            check_reachable(self.address)
            import placement
            import solvers

            # the cluster runs this checkout's code, whatever version it has installed
            runtime_env = {"env_vars": dict(ONE_THREAD_ENV), "py_modules": [placement, solvers]}
            try:
                ray.init(address=self.address, runtime_env=runtime_env, **quiet)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                    "; a cluster with token authentication also needs RAY_AUTH_MODE=token "
                    "and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)")
                raise UsageError(f"--address {self.address}: cannot join a Ray cluster there "
                                 f"({exc}){hint}") from None
        self._connected = True

    def map_unordered(self, function: Callable[..., Result], arguments: Sequence[tuple],
                      *, initializer: Initializer | None = None) -> Iterator[Result]:
        ray = self._ray
        if ray is None:
            raise RuntimeError("RayExecutor.map_unordered outside `with RayExecutor(...)`")
        if not arguments:
            return
        if not self._connected:
            self._connect()
        task = ray.remote(call_in_worker).options(num_cpus=1, max_retries=0)
        in_flight = 2 * max(1, int(ray.cluster_resources().get("CPU", self.jobs)))
        queue = list(reversed(arguments))
        running: list[Any] = []
        try:
            while queue or running:
                while queue and len(running) < in_flight:
                    running.append(task.remote(initializer, function, queue.pop()))
                finished, running = ray.wait(running, num_returns=1)
                for ref in finished:
                    yield ray.get(ref)
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise


#: Initializers already run in this (worker) process.
_initialized: set[tuple[str, str]] = set()


def call_in_worker(initializer: Initializer | None, function: Callable[..., Result],
                   arguments: tuple) -> Result:
    """The body of every Ray task: the pool's per-process initializer once, then the call."""
    if initializer is not None:
        key = (initializer.__module__, initializer.__qualname__)
        if key not in _initialized:
            initializer()
            _initialized.add(key)
    return function(*arguments)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


def check_reachable(address: str) -> None:
    """Fail fast, with the address named, when nothing listens there (``auto`` is Ray's own
    discovery of a cluster started on this machine; it fails fast by itself)."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address {address}: expected HOST:PORT of a Ray head node "
                         "(e.g. 10.0.0.5:6379) or `auto`")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"--address {address}: no Ray cluster answers there ({reason})") from None


def open_executor(name: str, jobs: int,
                  address: str | None = None) -> ProcessExecutor | RayExecutor:
    """The executor called ``name`` (``--executor``), not yet started: use it in ``with``."""
    if name not in EXECUTORS:
        raise UsageError(f"--executor {name}: expected one of {', '.join(EXECUTORS)}")
    if name == "process":
        if address is not None:
            raise UsageError("--address joins a Ray cluster; use it with --executor ray")
        return ProcessExecutor(jobs)
    return RayExecutor(jobs, address)

