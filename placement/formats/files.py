"""Writing outputs atomically: a temp file in the same folder, then a rename.

mkstemp creates its file with mode 0600; outputs get the usual mode a plain ``open`` would
give (0666 less the umask), so reports and solutions stay readable by others.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _open_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def read_text(path: str | Path) -> str:
    """A file's text; a missing or unreadable file is an InputError naming it."""
    from placement.formats.errors import InputError

    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), [("$", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), [("$", f"cannot read the file ({exc})")]) from None


def read_json(path: str | Path) -> Any:
    """A file parsed as JSON; unreadable or malformed files are InputErrors naming the line."""
    from placement.formats.errors import InputError

    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(str(path), [("$", f"malformed JSON at {where}: {exc.msg}")]) from None


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, _open_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
