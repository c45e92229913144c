"""The normal form of "what the platform stores", shared by every comparison.

VoIPBin keeps free-form JSON (`parameter`) as a Go `map[string]any`: numbers become float64 and
print back without a fraction when whole (`1.0` -> `1`, `2**53 + 1` -> `9007199254740992`), key
order is lost, and a bool is never a number. The planner's comparison, the content fingerprint
that recognises what a create with a lost answer made, and drift detection all use this one
normal form, so they can never disagree: two values are the same exactly when their normal JSON
texts are equal (`same`), which keeps `true` apart from `1` (Python's `==` does not).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

_MAX_EXACT = 1e21  # Go prints larger floats in exponent form; Python's repr agrees on those


def _number(value: int | float) -> int | float:
    number = float(value)  # OverflowError for integers beyond float64, as Go refuses them
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    if number.is_integer() and abs(number) < _MAX_EXACT:
        return int(number)
    return number


def normal(value: Any) -> Any:
    """`value` as the platform stores and returns it: float64 numbers, sorted keys.

    Raises ValueError for what JSON cannot carry (NaN, infinities, numbers beyond float64).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        try:
            return _number(value)
        except OverflowError:
            raise ValueError("a number beyond float64") from None
    if isinstance(value, Mapping):
        return {str(k): normal(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def text(value: Any) -> str:
    """The normal form as compact JSON text (the thing compared and hashed)."""
    return json.dumps(normal(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def same(a: Any, b: Any) -> bool:
    """Whether the platform would store `a` and `b` as the same value."""
    if a is b:
        return True
    if type(a) is str and type(b) is str:  # the common case, and text() would agree
        return a == b
    if identical(a, b):  # equal values of equal types have equal normal texts
        return True
    try:
        return text(a) == text(b)
    except (ValueError, TypeError):
        return a == b


def identical(a: Any, b: Any) -> bool:
    """Equal all the way down with the very same types (so `True` is never `1`): a quick
    sufficient test for `same`, which otherwise compares normal JSON texts."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is str:
        return bool(a == b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    return type(a) in (str, int, float, bool, type(None)) and a == b


def survives(value: Any) -> bool:
    """Whether a value comes back from the platform unchanged (no rounding, no lost fraction
    form). `validate` warns about numbers that do not: `2**53 + 1` comes back as `2**53`."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        try:
            return abs(value) < _MAX_EXACT and int(float(value)) == value
        except OverflowError:
            return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(survives(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(survives(v) for v in value)
    return False


def digest(data: Any, size: int = 16) -> str:
    """A short SHA-256 digest of JSON-able data (sorted keys), for fingerprints."""
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:size]
