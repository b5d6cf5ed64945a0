"""Strict reading of the engine's decision document.

Anything that is not exactly the documented shape is an engine failure (503), never a guess:
``allow`` must be the JSON boolean (``1``, ``"true"`` and ``[true]`` are all refusals to decide).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.decisions.model import Outcome
from broker.errors import EngineFailure


def _fail(what: str) -> EngineFailure:
    return EngineFailure(f"malformed decision document: {what}", code="ENGINE_BAD_OUTPUT")


def _reason(raw: Any, i: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(f"reasons[{i}] is not an object")
    if not isinstance(raw.get("code"), str) or not raw["code"]:
        raise _fail(f"reasons[{i}].code is not a non-empty string")
    if not isinstance(raw.get("message"), str):
        raise _fail(f"reasons[{i}].message is not a string")
    if "facts" in raw and not isinstance(raw["facts"], dict):
        raise _fail(f"reasons[{i}].facts is not an object")
    return raw


def parse_outcome(doc: Mapping[str, Any]) -> Outcome:
    allow = doc.get("allow")
    if type(allow) is not bool:  # not isinstance: bool is the only accepted type, not int
        raise _fail("'allow' is not a boolean")
    reasons = doc.get("reasons")
    if not isinstance(reasons, list):
        raise _fail("'reasons' is not a list")
    obligations = doc.get("obligations", [])
    if not isinstance(obligations, list):
        raise _fail("'obligations' is not a list")
    valid_until = doc.get("valid_until_ns")
    if valid_until is not None and (type(valid_until) is not int):
        raise _fail("'valid_until_ns' is neither null nor an integer")
    parsed = tuple(_reason(r, i) for i, r in enumerate(reasons))
    return Outcome(allow, parsed, tuple(obligations), valid_until)
