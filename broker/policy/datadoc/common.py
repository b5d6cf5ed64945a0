"""Instants as integer nanoseconds, windows, and sources as one line of text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from registry.model import (
    Source,
    SourcedFlag,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_DAY = 86_400 * 10**9
UNSOURCED = "no source recorded"
MACAU = "MO"  # treated with D:5 by the advanced-computing rules

JSON = dict[str, Any]


def date_ns(value: date) -> int:
    """Midnight UTC at the start of ``value``, in integer nanoseconds since the epoch."""
    return (value - date(1970, 1, 1)).days * _NS_PER_DAY


def datetime_ns(value: datetime) -> int:
    """An aware ``datetime`` in integer nanoseconds (exact: no float round trip)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: registry instants must carry a time zone")
    delta: timedelta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _ns(value: date | datetime | None) -> int | None:
    if value is None:
        return None
    return datetime_ns(value) if isinstance(value, datetime) else date_ns(value)


def _window(since: date | datetime | None, until: date | datetime | None) -> JSON:
    return {"since": _iso(since), "since_ns": _ns(since), "until": _iso(until), "until_ns": _ns(until)}


def source_text(source: Source | None, *, demo: bool = False) -> str:
    """One line naming a source: ``ref [confidence; as of YYYY-MM-DD]``."""
    if source is None:
        return "demo data (not a sourced fact)" if demo else UNSOURCED
    detail = source.confidence.value
    if source.as_of is not None:
        detail += f"; as of {source.as_of.isoformat()}"
    text = f"{source.ref} [{detail}]"
    return f"{text} (demo data)" if demo else text


def _flag(flag: SourcedFlag | None) -> JSON | None:
    return None if flag is None else {"value": flag.value, "source": source_text(flag.source)}
