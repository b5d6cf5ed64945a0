"""JSON bytes exactly as OPA hashes structured bundle files (``.manifest``, ``data.json``).

OPA parses such a file (numbers kept as written, ``json.Number``) and hashes a walk of the value:
objects with keys sorted bytewise, no whitespace, primitives as Go's ``json.Encoder`` writes them
with HTML escaping off (v1/bundle/hash.go). We *write* our structured files in that very form, so
their raw-byte SHA-256 and OPA's structured hash are the same value, and any JSON parser that reads
them sees the same data.

Go's string escaping (encoding/json, Go >= 1.22): ``"`` and ``\\`` escaped; ``\\b \\f \\n \\r \\t``
short forms; other bytes below 0x20 as ``\\u00xx``; U+2028/U+2029 as ``\\u2028``/``\\u2029`` (for
JavaScript); invalid UTF-8 (in Python: lone surrogates) becomes U+FFFD; ``< > &`` stay literal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\u2028\u2029\ud800-\udfff]')


class Number(str):
    """A JSON number literal kept verbatim (like Go's ``json.Number``): ``1.0`` stays ``1.0``."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping number literals as :class:`Number` (never re-rendered floats)."""
    return json.loads(data, parse_int=Number, parse_float=Number, parse_constant=_reject_constant)


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\u{code:04x}"


def encode_string(value: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, value) + '"'


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity cannot be written as JSON")
        return repr(value)  # shortest round-trip form; OPA keeps whatever literal we write
    return str(value)


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Number):
        if not _NUMBER.fullmatch(value):
            raise ValueError(f"invalid JSON number literal {value!r}")
        out.append(str(value))
    elif isinstance(value, str):
        out.append(encode_string(value))
    elif isinstance(value, int | float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        keys = list(value)
        if not all(isinstance(k, str) for k in keys):
            raise ValueError("JSON object keys must be strings")
        out.append("{")
        # Python orders str by code point, which is the UTF-8 byte order Go's sort.Strings uses.
        for i, key in enumerate(sorted(keys)):
            if i:
                out.append(",")
            out.append(encode_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise ValueError(f"{type(value).__name__} is not a JSON value")


def dumps(value: Any) -> bytes:
    """OPA's canonical form of ``value`` as UTF-8 bytes."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
