"""Asking a measurer (SPEC section 10): requests in, one measurement per request out.

A measurer is any function ``requests -> measurements`` (the library), or any command that
reads a requests CSV on standard input and writes a measurements CSV on standard output
(``placement measure --truth T``, ``placement profile --requests -``, a user's script that
deploys sets on a staging cluster). :class:`CommandMeasurer` runs such a command, without a
shell, under a timeout, and holds its answer to the protocol.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence

from placement.formats.errors import InputError
from placement.formats.measurements import Measurement, parse_measurements
from placement.formats.requests import Request, match_answers, requests_csv

Measurer = Callable[[Sequence[Request]], Sequence[Measurement]]

#: A measurer that deploys and times sets may take minutes; one that hangs must not block a
#: refinement forever.
DEFAULT_TIMEOUT_SECONDS = 600.0


class MeasurerError(RuntimeError):
    """The measurer failed, hung, or answered something other than what was asked."""


class CommandMeasurer:
    """A measurer command line, split like a shell's (``shlex``) and run without a shell."""

    def __init__(self, command: str | Sequence[str], timeout: float = DEFAULT_TIMEOUT_SECONDS):
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise ValueError("the measurer command is empty")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.argv = argv
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"CommandMeasurer({shlex.join(self.argv)!r})"

    def __call__(self, requests: Sequence[Request]) -> list[Measurement]:
        shown = shlex.join(self.argv)
        try:
            done = subprocess.run(
                self.argv,
                input=requests_csv(requests),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise MeasurerError(f"cannot run the measurer {shown!r}: no such program") from None
        except PermissionError:
            raise MeasurerError(f"cannot run the measurer {shown!r}: not executable") from None
        except subprocess.TimeoutExpired:
            raise MeasurerError(
                f"the measurer {shown!r} gave no answer within {self.timeout:g} s "
                f"({len(requests)} requests)"
            ) from None
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no message"
            raise MeasurerError(
                f"the measurer {shown!r} failed with exit code {done.returncode}: {tail}"
            )
        return checked_answers(requests, done.stdout, shown)


def checked_answers(
    requests: Sequence[Request], text: str, source: str = "measurer"
) -> list[Measurement]:
    """Parse a measurer's CSV answer and hold it to the requests (one row each, same order)."""
    try:
        return match_answers(requests, parse_measurements(text, source), source)
    except InputError as exc:
        raise MeasurerError(f"the measurer's answer is not usable:\n{exc.render()}") from None


def ask(measure: Measurer, requests: Sequence[Request]) -> list[Measurement]:
    """Ask any measurer (function or command) and hold its answer to the requests."""
    if not requests:
        return []
    answers = list(measure(requests))
    if isinstance(measure, CommandMeasurer):
        return answers  # already checked against the requests
    try:
        return match_answers(requests, answers, repr(measure))
    except InputError as exc:
        raise MeasurerError(f"the measurer's answer is not usable:\n{exc.render()}") from None
