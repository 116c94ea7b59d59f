"""Errors a user can act on: each names the file, the JSON path and what was expected."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Exit codes of every `placement` command (SPEC section 4).
SOLVED, NO_SOLUTION, BAD_INPUT = 0, 1, 2


def json_path(loc: Iterable[str | int]) -> str:
    """A location tuple as a JSON path: ``("models", 2, "slo_ms")`` -> ``models[2].slo_ms``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "$"


class InputError(Exception):
    """Bad input. The CLI turns it into a message on stderr and exit code 2, never a traceback.

    ``problems`` holds ``(json_path, what was expected)`` pairs; ``source`` is the file name.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]):
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self, limit: int = 20) -> str:
        lines = [f"{self.source}: {path}: {what}" for path, what in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"{self.source}: ... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


class CrossCheckError(ValueError):
    """Raised inside pydantic validators when fields disagree with each other (unknown names,
    duplicates, missing interference pairs); carries JSON paths so the loader can report them."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{p}: {m}" for p, m in self.problems))


class UsageError(ValueError):
    """A request that cannot be carried out as asked (e.g. an instance that needs a predictor and
    none was named). The CLI prints it and exits with code 2."""
