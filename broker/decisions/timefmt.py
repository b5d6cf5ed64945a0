"""RFC 3339 <-> integer nanoseconds, and time-ordered decision ids.

The policies never parse dates (one engine gets ``Z`` wrong), so every instant crosses into Rego
as integer nanoseconds. ``datetime.fromisoformat`` keeps only microseconds; a nanosecond-exact
parser is small enough to write here.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Engines keep instants as signed 64-bit nanoseconds: 1970 .. 2262-04-11.
MIN_NS = 0
MAX_NS = 2**63 - 1


def parse_rfc3339_ns(text: str) -> int:
    """``2026-07-01T12:00:00.123456789+02:00`` -> ns since the epoch; ValueError if not RFC 3339.

    An explicit offset (or ``Z``) is required: a local time without one is ambiguous.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-07-01T00:00:00Z")
    try:
        wall = datetime.fromisoformat(f"{match['date']}T{match['h']}:{match['m']}:{match['s']}")
    except ValueError as exc:  # month 13, Feb 30, second 60 (leap seconds are not representable)
        raise ValueError(f"not a valid date/time: {exc}") from None
    tz = match["tz"]
    offset_s = 0
    if tz not in ("Z", "z"):
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("UTC offset out of range")
        offset_s = (hours * 3600 + minutes * 60) * (1 if tz[0] == "+" else -1)
    delta = wall.replace(tzinfo=UTC) - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds - offset_s
    frac = match["frac"] or ""
    ns = seconds * 10**9 + int(frac.ljust(9, "0") or "0")
    if not MIN_NS <= ns <= MAX_NS:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 2262-04-11T23:47:16Z")
    return ns


_last_second: tuple[int, str] = (-1, "")
_last_formatted: tuple[int, str] = (-1, "")


def format_rfc3339_ns(ns: int) -> str:
    """ns since the epoch -> ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` (fraction trimmed, exact).

    On the hot path every response formats "now", twice (the answer and its audit record): the
    last result is kept, and the date-time part is memoised per second (strftime alone is ~2 us).
    """
    global _last_second, _last_formatted
    last_ns, formatted = _last_formatted
    if last_ns == ns:
        return formatted
    seconds, rest = divmod(ns, 10**9)
    cached_second, stamp = _last_second
    if cached_second != seconds:
        stamp = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (seconds, stamp)  # one tuple assignment: safe to race
    formatted = f"{stamp}.{rest:09d}".rstrip("0") + "Z" if rest else stamp + "Z"
    _last_formatted = (ns, formatted)
    return formatted


_getrandbits = random.getrandbits
_time_ns = time.time_ns
_last_ms: tuple[int, str] = (-1, "")
_VARIANT = 0b10 << 62
_RAND_B = (1 << 62) - 1


def new_decision_id() -> str:
    """A UUIDv7-layout id (48-bit ms timestamp, version 7, variant 10, 74 random bits).

    Time-ordered ids keep audit-log lookups by id local; Python 3.11 has no ``uuid.uuid7``.
    The random bits only need to be unique, not secret (ids are not credentials), so the
    ``random`` module is used: it is reseeded after fork and costs a fraction of os.urandom.
    The timestamp groups change once a millisecond and are memoised.
    """
    global _last_ms
    ms = _time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    last, head = _last_ms
    if last != ms:
        head = f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7"
        _last_ms = (ms, head)  # one tuple assignment: safe to race
    rand = _getrandbits(74)
    # rand_a: 12 bits after the version; rand_b: 62 bits after the variant bits 10. The 76 bits
    # are formatted as one number and cut into the last three groups (one format, not three).
    low = "%019x" % ((rand >> 62) << 64 | _VARIANT | rand & _RAND_B)
    return f"{head}{low[:3]}-{low[3:7]}-{low[7:]}"
