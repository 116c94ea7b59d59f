"""Fuzzing the instance loader and the CLI with mutated valid instances (issue 9).

Random mutations of the demo instance (types swapped, numbers extreme, keys duplicated, keys
dropped or added, strings hostile, nesting deep, literals JSON cannot hold) never make
``Instance.load`` raise anything but :class:`InputError`, and the CLI on them never exits with
anything but 0, 1 or 2, never with a traceback, and writes nothing when it exits 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placement import InputError, Instance

ROOT = Path(__file__).resolve().parents[1]
DEMO = json.loads((ROOT / "instances" / "demo.json").read_text())
SCRATCH = Path(tempfile.mkdtemp(prefix="placement-fuzz-"))


class Raw:
    """A JSON token written as is (``NaN``, ``1e400``, deep brackets): text no encoder makes."""

    def __init__(self, text: str):
        self.text = text


class Duplicated:
    """An object whose ``key`` appears twice: first with ``first``, then with the real value."""

    def __init__(self, data: dict[str, Any], key: str, first: Any):
        self.data, self.key, self.first = data, key, first


def encode(value: Any) -> str:
    """JSON text of ``value``, with :class:`Raw` tokens and :class:`Duplicated` keys."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Duplicated):
        pairs = [(value.key, value.first), *value.data.items()]
        return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in pairs) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    return json.dumps(value)  # NaN/Infinity floats come out as bare tokens, as hostile files do


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a JSON document (keys and indices from the root)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


DEMO_PATHS = paths(DEMO)[1:]

hostile_strings = st.sampled_from([
    "", " ", "[red]x[/red]", "[/]", "[/bold]", "\x1b[2J", "a\nb", "a\rb", "\x00", "\u202e",
    "\x9b", "x" * 5000, "c5.2xlarge", "resnet50", "error", "predict", "-", "NaN", "🙂",
])
extreme_numbers = st.one_of(
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63), 10**12, 10**30, 1e15, 1e308,
                     -1e308, 5e-324, -0.0, 0.5, 1e-300, float("nan"), float("inf"),
                     float("-inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
)
raw_tokens = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400",
                              "9" * 5000, "1" + "0" * 400 + ".5"]).map(Raw)
deep = st.integers(min_value=60, max_value=5000).map(lambda n: Raw("[" * n + "]" * n))
leaf = st.one_of(hostile_strings, extreme_numbers, st.none(), st.booleans(), raw_tokens, deep)
hostile_value = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(hostile_strings, inner, max_size=3)),
    max_leaves=6,
)


def get(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def mutate(doc: Any, path: tuple, kind: str, value: Any) -> Any:
    """A copy of ``doc`` with one mutation at ``path`` (the root is never replaced)."""
    doc = json.loads(json.dumps(doc))
    parent, last = get(doc, path[:-1]), path[-1]
    current = parent[last]
    if kind == "replace":
        parent[last] = value
    elif kind == "swap-type":
        parent[last] = (str(current) if not isinstance(current, str)
                        else [current] if isinstance(value, bool) else {"value": current})
    elif kind == "delete":
        del parent[last]
    elif kind == "unknown-key" and isinstance(current, dict):
        current["sl0_ms" if isinstance(value, str) else "extra"] = value
    elif kind == "duplicate" and isinstance(current, dict) and current:
        parent[last] = Duplicated(current, next(iter(current)), value)
    else:
        parent[last] = value
    return doc


mutations = st.lists(
    st.tuples(st.sampled_from(DEMO_PATHS),
              st.sampled_from(["replace", "swap-type", "delete", "unknown-key", "duplicate"]),
              hostile_value),
    min_size=1, max_size=3,
)


NUMERIC_PATHS = [p for p in DEMO_PATHS
                 if isinstance(get(DEMO, p), int | float) and not isinstance(get(DEMO, p), bool)]
#: Numbers at the edges of the accepted ranges (and just past them): most such files load, so
#: the solvers, not only the loader, meet extreme values.
edge_numbers = st.sampled_from([0, 0.0, 1e-9, 1, 1.0, 100.0, 100.5, 1e3, 1e4, 1e6, 1e9, 2e9])
in_range_mutations = st.lists(
    st.tuples(st.sampled_from(NUMERIC_PATHS), st.just("replace"), edge_numbers),
    min_size=1, max_size=6,
)


def hostile_text(steps: list[tuple[tuple, str, Any]]) -> str:
    doc: Any = DEMO
    for path, kind, value in steps:
        try:
            doc = mutate(doc, path, kind, value)
        except (KeyError, IndexError, TypeError):  # an earlier step removed or changed the path
            continue
        except ValueError:  # json.dumps of a Raw/Duplicated from an earlier step: stop there
            break
    return encode(doc)


counter = iter(range(10**9))


def write_case(text: str) -> Path:
    path = SCRATCH / f"case-{next(counter)}.json"
    path.write_text(text, encoding="utf-8")
    return path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_loader_raises_only_input_error(steps):
    path = write_case(hostile_text(steps))
    try:
        inst = Instance.load(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    # accepted: then it holds only finite numbers and dumps as strict JSON
    text = json.dumps(inst.dump(), allow_nan=False)
    assert all(math.isfinite(m.slo_ms) for m in inst.models) and text


def run_cli_in_process(args: list[str]) -> int:
    """``placement ARGS`` through the real entry point; returns its exit code. Any exception
    other than SystemExit escapes (that would be a traceback for a user)."""
    from placement.cli.app import main

    with mock.patch.object(sys, "argv", ["placement", *args]), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutations, in_range_mutations),
       st.sampled_from(["greedy", "least-loaded", "local-search", "cpsat", "milp"]))
def test_cli_exits_0_1_or_2_and_writes_nothing_on_2(steps, solver):
    path = write_case(hostile_text(steps))
    out = path.with_suffix(".solution.json")
    code = run_cli_in_process(["solve", str(path), "--solver", solver, "--time-limit", "1",
                               "-o", str(out)])
    assert code in (0, 1, 2)
    if code == 2:
        assert not out.exists()
    else:
        json.loads(out.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(
            AssertionError(f"{c} in a solution file")))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutations, in_range_mutations))
def test_cli_process_never_shows_a_traceback(steps):
    path = write_case(hostile_text(steps))
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "placement.cli.app", "solve", str(path),
         "--solver", "greedy", "--time-limit", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
