"""Small helpers shared by the adapters."""

from __future__ import annotations

import json
from typing import Any

from broker.engine.errors import EngineFailure, clean_message

# Built once: json.dumps with options builds a new encoder on every call (once per decision).
_STRICT = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def dumps(value: Any, what: str, engine: str) -> str:
    """Strict JSON (no NaN/Infinity, which Rego cannot represent); EngineFailure otherwise."""
    try:
        return _STRICT.encode(value)
    except (TypeError, ValueError) as exc:
        raise EngineFailure(f"{engine}: {what} is not JSON-serializable: {exc}") from exc


def loads(text: str, engine: str) -> Any:
    """Parse engine output; anything that is not JSON is an engine failure."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise EngineFailure(f"{engine}: engine returned non-JSON output: {clean_message(text, 300)}") from exc


def is_fatal(exc: BaseException) -> bool:
    """Exceptions to let through when fencing an engine call with ``except BaseException``.

    Engine bindings raise ``pyo3_runtime.PanicException`` (a BaseException subclass) on Rust
    panics; those are converted to EngineFailure, but interpreter shutdown signals are not.
    """
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)
