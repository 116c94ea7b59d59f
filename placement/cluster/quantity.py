"""Kubernetes resource quantities (``500m``, ``1.5Gi``, ``2e3``, ``128974848``), parsed exactly.

The grammar is apimachinery's (``pkg/api/resource/quantity.go``)::

    <quantity> ::= <signedNumber><suffix>
    <suffix>   ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI> ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

A lone ``E`` is exa (``1E`` = 10^18); ``E`` followed by digits is an exponent (``1E3`` = 1000).
Values are :class:`~decimal.Decimal` so ``0.1`` CPUs stay 0.1 and ``1Ei`` stays exact.

>>> [float(parse_quantity(q)) for q in ("250m", "1.5Gi", "2e3", "1E")]
[0.25, 1610612736.0, 2000.0, 1e+18]
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Context, Decimal

BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
#: Kubernetes keeps quantities within int64 (about 9.2e18) after scaling; exponents far beyond
#: that are a typo, refused before Decimal arithmetic grows without bound.
MAX_EXPONENT = 40

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)"
)
# enough digits that no realistic quantity is rounded (int64 has 19)
_EXACT = Context(prec=60)


def parse_quantity(text: str | int | float) -> Decimal:
    """A quantity's value in base units (cores, bytes, devices); raises ValueError with the
    reason for anything Kubernetes would refuse."""
    if isinstance(text, bool):
        raise ValueError(f"expected a quantity such as 500m or 2Gi, got {text!r}")
    if isinstance(text, int | float):
        value = Decimal(repr(text)) if isinstance(text, float) else Decimal(text)
        if not value.is_finite():
            raise ValueError(f"expected a finite quantity, got {text!r}")
        return value
    if not isinstance(text, str):
        raise ValueError(f"expected a quantity string such as 500m or 2Gi, got {text!r}")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity; expected a number with an optional "
            "suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (e3)"
        )
    number = Decimal(match["number"])
    if match["exponent"]:
        power = int(match["exponent"][1:])
        if abs(power) > MAX_EXPONENT:
            raise ValueError(f"{text!r}: exponent out of range (at most {MAX_EXPONENT})")
        return _EXACT.multiply(number, Decimal(10) ** power if power >= 0
                               else _EXACT.divide(Decimal(1), Decimal(10) ** -power))
    suffix = match["suffix"] or ""
    if suffix in BINARY_SI:
        return _EXACT.multiply(number, Decimal(2) ** BINARY_SI[suffix])
    power = DECIMAL_SI[suffix]
    return _EXACT.scaleb(number, power)


def format_cpu(cores: float) -> str:
    """CPU cores as Kubernetes writes them: whole cores, else millicores rounded up (a pod
    never gets less than the instance asked for)."""
    milli = (Decimal(repr(float(cores))) * 1000).to_integral_value(ROUND_CEILING)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_memory_gib(gib: float) -> str:
    """GiB as Kubernetes memory: whole Mi when exact, else Ki rounded up."""
    kib = (Decimal(repr(float(gib))) * 1024 * 1024).to_integral_value(ROUND_CEILING)
    return f"{kib // 1024}Mi" if kib % 1024 == 0 else f"{kib}Ki"
