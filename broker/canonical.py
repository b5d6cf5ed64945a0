"""Canonical JSON bytes, with pre-encoded parts that are spliced in rather than re-encoded.

Canonical JSON here: sorted keys, no white space, UTF-8, no NaN/Infinity, only plain JSON types.
:func:`canonical_json` proves the bytes mean exactly the value (the C encoder would silently turn
tuples into arrays and ints into string keys) by decoding them again.

That proof costs as much as the encoding, and on the pre-flight hot path the bulky part of every
audit record (the decision's reasons, a few kilobytes) is the same for every cache hit of one
input. :class:`Canonical` is a read-only dict that carries its own verified canonical bytes;
:func:`canonical_json` splices those bytes into the output instead of encoding and checking the
same value again, so a cached decision's record costs a few microseconds, not tens.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, Self

_MAX_DEPTH = 64
# Placeholder strings that mark where a Canonical's bytes go. The random part makes it
# impossible for caller-supplied text to imitate one (and a splice only happens when each
# placeholder occurs exactly once; otherwise the value is encoded the slow, ordinary way).
_MARK = f"\ue000canonical-{secrets.token_hex(12)}-"


class InvalidJson(ValueError):
    """A value that is not plain JSON; the message names the first offending part."""


# One encoder and one decoder for every call: ``json.dumps`` with these options builds a new
# encoder each time, and ``json.loads`` on bytes first sniffs their encoding; together that
# was a third of the cost of checking a short value.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)
_DECODER = json.JSONDecoder()
# Scalars the encoder cannot get wrong (exact types: a subclass may carry its own repr).
# Strings need escaping only; a non-finite float is refused by allow_nan=False.
_FAITHFUL = frozenset({str, int, bool, float, type(None)})


def _verified(value: Any) -> bytes:
    try:
        text = _ENCODER.encode(value)
        data = text.encode("utf-8")  # a lone surrogate fails here (UnicodeEncodeError)
        same = type(value) in _FAITHFUL or _DECODER.decode(text) == value
    except (ValueError, TypeError, RecursionError):
        same, data = False, b""
    if not same:
        check_json(value, "record")
        raise InvalidJson("not plain JSON (dict with string keys, list, str, int, finite float, "
                          "bool, None)")
    return data


def _encoded(value: Any) -> bytes:
    """:func:`_verified` without the proof, for values decoded from JSON (see Template)."""
    try:
        return _ENCODER.encode(value).encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        return _verified(value)  # names the offending part


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes of ``value``; :class:`InvalidJson` for anything else.

    Top-level values that are :class:`Canonical` are spliced in from their own bytes; a
    :class:`Canonical` or :class:`CheckedRecord` itself is its bytes.
    """
    if isinstance(value, dict) and not isinstance(value, Canonical):
        parts = [(k, v) for k, v in value.items() if type(v) is Canonical]
        if parts:
            spliced = _spliced(value, parts)
            if spliced is not None:
                return spliced
    elif type(value) is Canonical or type(value) is CheckedRecord:
        return value.canonical
    return _verified(value)


def _spliced(value: dict[str, Any], parts: list[tuple[str, Canonical]]) -> bytes | None:
    marks = {k: f"{_MARK}{i}" for i, (k, _) in enumerate(parts)}
    data: bytes | None = _verified({k: marks.get(k, v) if type(v) is Canonical else v for k, v in value.items()})
    for key, part in parts:
        if data is None:
            return None
        data = _put(data, marks[key], part.canonical)
    return data


def _put(data: bytes, mark: str, part: bytes) -> bytes | None:
    """``data`` with the JSON string ``mark`` replaced by ``part``; None unless it occurs once."""
    quoted = f'"{mark}"'.encode()
    if data.count(quoted) != 1:
        return None
    return data.replace(quoted, part, 1)


class Template:
    """Canonical bytes of an object of which one member varies: encoded and checked once,
    then filled in for each value of that member (e.g. a record result's ``source``).

    ``decoded=True`` says every part of ``value`` was decoded from JSON text or is a plain
    ``str``/``int``/``bool``/``None``/``list`` of them: such a value holds nothing the encoder
    could change (no tuples, no non-string keys, no subclasses), so proving the bytes by decoding
    them again is skipped. Encoding still refuses NaN, Infinity and lone surrogates.
    """

    def __init__(self, value: Mapping[str, Any], key: str, *, decoded: bool = False) -> None:
        self._value = dict(value)
        self._key = key
        self._mark = _MARK
        full = self._value | {key: self._mark}
        self._data = _encoded(full) if decoded else _verified(full)

    def fill(self, member: Any) -> Canonical:
        value = self._value | {self._key: member}
        data = _put(self._data, self._mark, canonical_json(member))
        # A value imitating the placeholder: encode it the ordinary way.
        return Canonical(value) if data is None else Canonical.assembled(value, data)


def check_json(value: Any, where: str, depth: int = 0) -> None:
    """Find and name the first non-JSON part of ``value`` (slow path, errors only)."""
    if depth > _MAX_DEPTH:
        raise InvalidJson(f"{where}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidJson(f"{where}: NaN and Infinity are not allowed")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidJson(f"{where}: object keys must be strings, got {k!r}")
            check_json(v, f"{where}.{k}", depth + 1)
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_json(v, f"{where}[{i}]", depth + 1)
        return
    raise InvalidJson(f"{where}: {type(value).__name__} is not a JSON value")


class Canonical(dict[str, Any]):
    """A read-only JSON object that knows its canonical bytes (computed and verified once).

    It is a real ``dict``, so every reader (schema checks, ``json.dumps``, tests) sees an
    ordinary object; mutation raises, because the bytes would silently go stale.
    """

    __slots__ = ("canonical",)

    def __init__(self, value: Mapping[str, Any]) -> None:
        super().__init__(value)
        self.canonical = _verified(dict(self))

    @classmethod
    def assembled(cls, value: Mapping[str, Any], data: bytes) -> Self:
        """A Canonical whose bytes the caller assembled from canonical pieces.

        For hot paths that build a record from pre-encoded parts. The caller's tests must show
        ``data == canonical_json(dict(value))`` for every shape it builds; nothing re-checks it.
        """
        obj = cls.__new__(cls)
        dict.update(obj, value)
        obj.canonical = data
        return obj

    def _readonly(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("a Canonical JSON object is read-only")

    __setitem__ = __delitem__ = _readonly
    update = pop = popitem = clear = setdefault = __ior__ = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (Canonical, (dict(self),))


class CheckedRecord(Mapping[str, Any]):
    """An audit record whose producer guarantees the record schema, with its search keys.

    The audit log appends ``canonical`` without parsing or checking it again (for the
    pre-flight path: ``broker.decisions.encoded.decision_record``); the producer's tests run the
    log's schema check and key extraction on every shape it builds and compare. ``index_keys``
    is ``(kind, decision_id, tenant, model)``, ``time_s`` the record's time in unix seconds.

    It reads as a read-only mapping, but the value behind it is built by ``build`` only when
    something reads it (a test, a sink that keeps objects): the log needs only the bytes, and
    building the value on every cache hit cost 1.3 of a pre-flight's 6 microseconds.
    """

    __slots__ = ("_build", "_value", "canonical", "index_keys", "time_s")

    def __init__(self, canonical: bytes, index_keys: tuple[str, str | None, str | None, str | None],
                 time_s: float, build: Callable[[], Mapping[str, Any]]) -> None:
        self.canonical = canonical
        self.index_keys = index_keys
        self.time_s = time_s
        self._build = build
        self._value: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        value = self._value
        if value is None:
            # Two threads reading at once both build it: equal values, a benign race.
            value = self._value = dict(self._build())
        return value

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return f"CheckedRecord({self._dict()!r})"
