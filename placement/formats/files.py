"""Reading inputs strictly and writing outputs safely.

Reading: :func:`read_json` is strict JSON. It refuses duplicate keys (the last one would
silently win), ``NaN``/``Infinity`` and numbers that overflow a float, and nesting deeper than
:data:`MAX_JSON_DEPTH`; every refusal is an :class:`InputError` naming the file.

Writing: :func:`check_output` is the one place that decides whether a path may be written, and
every command calls it for every output *before* any work starts, so a long solve never ends in
"cannot write". Outputs are then written atomically (a temp file in the same folder, then a
rename), or to standard output for ``-`` (:data:`STDOUT`).

mkstemp creates its file with mode 0600; outputs get the usual mode a plain ``open`` would
give (0666 less the umask), so reports and solutions stay readable by others.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from placement.formats.errors import InputError

#: ``-o -``: the output goes to standard output.
STDOUT = "-"

#: Deepest nesting of arrays/objects a file may have. A valid instance nests about 5 deep; the
#: bound keeps a hostile file from exhausting Python's recursion (json, pydantic, dumps).
MAX_JSON_DEPTH = 64

#: Outputs are never written under these: they are kernel interfaces, not files.
_SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


# --------------------------------------------------------------------------- reading


def read_text(path: str | Path) -> str:
    """A file's text; a missing or unreadable file is an InputError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), [("$", "file not found")]) from None
    except IsADirectoryError:
        raise InputError(str(path), [("$", "is a directory; expected a file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), [("$", f"cannot read the file ({exc})")]) from None


class _Refused(ValueError):
    """Raised inside the JSON decoder's hooks; becomes an InputError with its message."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {key!r} in one object; expected each key once")
        out[key] = value
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text} is too large for a float; expected a finite number")
    return value


def _no_constant(name: str) -> float:
    raise _Refused(f"{name} is not a number in strict JSON; expected a finite number")


def _too_deep(data: Any, limit: int) -> bool:
    """Whether ``data`` nests arrays/objects deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_json(text: str, source: str) -> Any:
    """Strict JSON from ``text``; every refusal is an InputError naming ``source``."""
    try:
        data = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(source, [("$", f"malformed JSON at {where}: {exc.msg}")]) from None
    except _Refused as exc:
        raise InputError(source, [("$", str(exc))]) from None
    except RecursionError:
        data = None
        deep = True
    except ValueError as exc:  # an integer with more digits than Python converts
        raise InputError(source, [("$", f"number out of range ({exc})")]) from None
    else:
        deep = isinstance(data, dict | list) and _too_deep(data, MAX_JSON_DEPTH)
    if deep:
        raise InputError(
            source, [("$", f"nested deeper than {MAX_JSON_DEPTH} levels; expected a flatter file")]
        )
    return data


def read_json(path: str | Path) -> Any:
    """A file parsed as strict JSON (see :func:`parse_json`)."""
    return parse_json(read_text(path), str(path))


def dumps_strict(data: Any) -> str:
    """JSON text as every command writes it: indented, strict (a NaN raises, never written)."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- output paths


def _bad_output(path: str | Path, option: str, reason: str) -> InputError:
    return InputError(str(path) if str(path) else "''", [(option, reason)])


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (or cannot be inspected): compare names
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    path: str | Path, *, inputs: Iterable[str | Path | None] = (), option: str = "-o"
) -> str | Path:
    """Where ``path`` may be written, or an InputError saying why not (nothing is touched).

    Returns :data:`STDOUT` for ``-``, else the file to write: for a symlink, the file it points
    to (the link is kept and the output written through it, as ``open(path, "w")`` would).
    Refused: an empty path; a directory; a path under a regular file; a folder that cannot be
    written; anything under /proc, /sys or /dev, or an existing file that is not a regular file;
    any of ``inputs`` (compared as files, so a symlink or another spelling is caught too).
    ``option`` names the command-line option in the message.
    """
    text = str(path)
    if text == STDOUT:
        return STDOUT
    if not text.strip():
        raise _bad_output(path, option, "empty path; expected a file name, or - for standard "
                                        "output")
    if text.endswith(os.sep):
        raise _bad_output(path, option, "is a folder name; expected a file name")
    target = os.path.realpath(text)  # follows symlinks: we write through them
    if any(target == root or target.startswith(root + os.sep) for root in _SPECIAL_ROOTS):
        raise _bad_output(path, option, "is a kernel or device path, not a file; use - to write "
                                        "to standard output")
    if os.path.isdir(target):
        raise _bad_output(path, option, "is a directory; expected a file name inside it")
    if os.path.lexists(target) and not stat.S_ISREG(os.stat(target).st_mode):
        raise _bad_output(path, option, "exists and is not a regular file")
    for source in inputs:
        if source is None or str(source) == STDOUT:
            continue
        if os.path.exists(target) and _same_file(target, str(source)):
            raise _bad_output(path, option, f"is the input file {source}; an output never "
                                            "replaces an input, expected another path")
    # the nearest existing folder above the target must be a writable folder
    _check_writable_above(os.path.dirname(target), path, option)
    return Path(target)


def _check_writable_above(start: str, path: str | Path, option: str) -> None:
    """The nearest existing path at or above ``start`` must be a folder we can write in."""
    folder = start
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise _bad_output(path, option, f"lies under {folder}, which is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or not _can_create_in(folder):
        raise _bad_output(path, option, f"cannot write in the folder {folder} (permission "
                                        "denied or read-only)")


def _can_create_in(folder: str) -> bool:
    """Whether a file can be created in ``folder`` (catches read-only file systems, which
    ``os.access`` does not see when running as root). The probe file is removed at once."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".placement-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_outputs(
    outputs: Iterable[tuple[str, str | Path | None]], *, inputs: Iterable[str | Path | None] = ()
) -> list[str | Path | None]:
    """:func:`check_output` for every ``(option, path)`` of a command that writes several files
    (``None`` = not asked for); also refuses two outputs that are the same file, or more than
    one going to standard output."""
    inputs = list(inputs)
    checked: list[str | Path | None] = []
    seen: dict[str, str] = {}
    for option, path in outputs:
        if path is None:
            checked.append(None)
            continue
        target = check_output(path, inputs=inputs, option=option)
        key = str(target)
        if key in seen:
            raise _bad_output(path, option, f"is also the output of {seen[key]}; expected "
                                            "different outputs")
        seen[key] = option
        checked.append(target)
    return checked


def check_output_folder(path: str | Path, *, option: str = "-o") -> Path:
    """A folder outputs may be written into (it may not exist yet), or an InputError: an empty
    path, a file, a kernel path, or a place where it cannot be created or written."""
    text = str(path)
    if not text.strip():
        raise _bad_output(path, option, "empty path; expected a folder name")
    target = os.path.realpath(text)
    if any(target == root or target.startswith(root + os.sep) for root in _SPECIAL_ROOTS):
        raise _bad_output(path, option, "is a kernel or device path; expected a folder")
    if os.path.lexists(target) and not os.path.isdir(target):
        raise _bad_output(path, option, "is a file; expected a folder")
    _check_writable_above(target, path, option)
    return Path(target)


# --------------------------------------------------------------------------- writing


def write_output(target: str | Path, text: str) -> None:
    """Write ``text`` to a path checked by :func:`check_output` (atomically), or to standard
    output for :data:`STDOUT`."""
    if str(target) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(target, text)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Strict JSON (no NaN/Infinity: a non-finite number is a bug and raises) to ``path``,
    atomically, or to standard output for ``-``."""
    write_output(path, dumps_strict(data))


def _open_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(os.path.realpath(path))  # through a symlink, never replacing the link
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # the checks passed earlier; the folder changed since
        raise InputError(str(path), [("$", f"cannot write ({exc.strerror})")]) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, _open_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(str(path), [("$", f"cannot write ({exc.strerror})")]) from None
        raise
