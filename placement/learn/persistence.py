"""Predictor files: a skops archive that runs no code when loaded (SPEC section 8).

A predictor file holds one dictionary (its *state*: format, version, kind, feature layout,
catalog, estimator, baseline, pair table, info). This module turns a state into bytes and
back, building only the types in :data:`TRUSTED_TYPES` beyond what skops trusts by default;
:class:`placement.learn.predictor.SlowdownPredictor` makes the state and reads it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from placement.formats.errors import InputError

FORMAT = "placement.learn.predictor"
"""The ``format`` entry of every predictor file (a name, not a module path: kept as files are)."""
FORMAT_VERSION = 1

# Types a predictor file may contain beyond those skops trusts by default (scikit-learn
# estimators, NumPy arrays, builtins containers): the only extra ones skops will build when
# loading. Anything else (os.system, builtins.eval, any class not named here) makes the load
# fail before a single object is built. Never ``trusted=True``. skops records a class by its
# module path, so moving an estimator class is a change of this list (and of the files).
TRUSTED_TYPES: tuple[str, ...] = (
    "placement.learn.estimators.AdditiveSlowdown",
    "placement.learn.estimators.LinearSlowdown",
    "placement.learn.estimators.GBTSlowdown",
    "placement.learn.estimators.MLPSlowdown",
    "placement.learn.estimators.PairGBTSlowdown",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
)


def state_to_bytes(state: dict[str, Any]) -> bytes:
    """The skops archive of a predictor's state."""
    import skops.io as sio

    return sio.dumps(state)


def state_from_bytes(data: bytes, source: str = "<predictor>") -> dict[str, Any]:
    """A predictor's state from skops bytes, checked for format and version. Anything that is
    not a predictor file written by this program is an :class:`InputError` naming ``source``,
    and nothing in the file is executed."""
    import skops.io as sio

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise bad_file(source, "not a predictor file (expected a skops archive written by "
                               "`placement predictor fit`)")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises many kinds on a corrupt archive
        raise bad_file(source, f"corrupt predictor file ({type(exc).__name__}: {exc})") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise bad_file(source, "refusing to load: the file asks for types a predictor never "
                               f"contains: {', '.join(refused)}")
    try:
        state = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:
        raise bad_file(source, f"corrupt predictor file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise bad_file(source, f"not a predictor file (no format {FORMAT!r})")
    if state.get("version") != FORMAT_VERSION:
        raise bad_file(source, f"predictor format version {state.get('version')!r}; this "
                               f"program reads version {FORMAT_VERSION}")
    return state


def read_predictor_file(path: str | Path) -> bytes:
    """The bytes of a predictor file; a missing or unreadable file is an :class:`InputError`."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise bad_file(str(path), "file not found") from None
    except OSError as exc:
        raise bad_file(str(path), f"cannot read the file ({exc})") from None


def bad_file(source: str, what: str) -> InputError:
    """The error for a predictor file that cannot be used (the whole file: JSON path ``$``)."""
    return InputError(source, [("$", what)])
