"""Timestamps of the emulator: microsecond integers inside, Go's text formats outside.

The store keeps every `tm_*` as an integer count of microseconds since the epoch (UTC). Objects
show them as Go's RFC3339Nano with trailing zeros trimmed (`2020-09-20T03:23:21.995Z`); list
cursors (`next_page_token`) always carry six fractional digits (`2020-09-20T03:23:21.995000Z`),
as fact sheet §2 describes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..core.clock import Clock

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]00:00)?$"
)


def now_us(clock: Clock) -> int:
    """The clock's wall time in whole microseconds."""
    return round(clock.time() * 1_000_000)


def _split(us: int) -> tuple[datetime, int]:
    seconds, micros = divmod(us, 1_000_000)
    return _EPOCH + timedelta(seconds=seconds), micros


def format_time(us: int | None) -> str | None:
    """Go RFC3339Nano in UTC, trailing zeros trimmed; None stays None (emitted as null)."""
    if us is None:
        return None
    moment, micros = _split(us)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        text += "." + f"{micros:06d}".rstrip("0")
    return text + "Z"


def format_token(us: int) -> str:
    """A list cursor: the timestamp with exactly six fractional digits."""
    moment, micros = _split(us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


def parse_token(text: str) -> int | None:
    """Read a cursor back into microseconds; None when it is not a timestamp.

    Up to nine fractional digits are accepted. Digits beyond the microsecond round the bound up,
    so `tm_create < token` keeps meaning the same thing at microsecond precision.
    """
    match = _TOKEN_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(9, "0")
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    nanos = int(fraction)
    micros, rest = divmod(nanos, 1000)
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    return whole * 1_000_000 + micros + (1 if rest else 0)
