"""Engine-specific errors and the helpers that turn raw engine messages into them.

Runtime failures use :class:`broker.errors.EngineFailure` (503, never an allow); a policy that does
not compile is the author's fault, hence a 422 :class:`PolicyCompileError` with located diagnostics.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from broker.errors import EngineFailure, ValidationFailed

__all__ = [
    "Diagnostic",
    "EngineFailure",
    "PolicyCompileError",
    "UndefinedResult",
    "clean_message",
    "line_col_at",
]


@dataclass(frozen=True)
class Diagnostic:
    """One compile problem. ``line``/``column`` are 1-based; 0 means the engine gave no location."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyCompileError(ValidationFailed):
    """The policy modules do not parse or compile; ``diagnostics`` says where."""

    code = "POLICY_COMPILE_ERROR"

    def __init__(self, engine: str, diagnostics: list[Diagnostic]) -> None:
        self.engine = engine
        self.diagnostics = diagnostics
        summary = "; ".join(str(d) for d in diagnostics) or "unknown error"
        super().__init__(
            f"policy does not compile ({engine}): {summary}",
            details={"engine": engine, "diagnostics": [asdict(d) for d in diagnostics]},
        )


class UndefinedResult(EngineFailure):
    """The queried document is undefined. Still a failure: callers must never read it as allow."""


# RUST_BACKTRACE=1 (set on this machine) appends a multi-kilobyte backtrace to every regorus error.
_BACKTRACE = re.compile(r"\n\s*(?:Stack backtrace|stack backtrace):.*", re.DOTALL)


def clean_message(raw: object, limit: int = 2000) -> str:
    """Return an engine message without Rust backtraces, trimmed to ``limit`` characters."""
    text = _BACKTRACE.sub("", str(raw)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def line_col_at(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character ``offset`` in ``source`` (clamped to its bounds)."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column
