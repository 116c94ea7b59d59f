"""The benchmarks' one way to run independent jobs in worker processes: results in job order,
each printed as it arrives (a long run shows its progress, and a killed one what it had)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Job = TypeVar("Job")
Row = TypeVar("Row")


def pooled(work: Callable[[Job], Row], jobs: Iterable[Job], workers: int) -> Iterator[Row]:
    """``work(job)`` for every job in ``workers`` processes, yielded (and printed) in order."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for row in pool.map(work, jobs):
            print(row, flush=True)
            yield row
