"""Registry errors: a list of located problems, independent of the broker.

The registry must not import ``broker``; the broker maps :class:`RegistryError` to its own
422 / CLI error and can put :meth:`Problem.as_dict` of each problem into the details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]
"""A path inside an entity or a file, e.g. ``("deployments", 0, "target")``."""


def format_loc(loc: Loc) -> str:
    """``("models", 3, "deployments", 0, "target")`` -> ``models[3].deployments[0].target``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with registry content.

    ``kind``/``id`` name the entity (empty when the problem is with a file as a whole), ``loc`` the
    field inside it. ``file``, ``file_loc`` and ``line`` are filled in when the content was loaded
    from YAML files, so a user can go straight to the offending line.
    """

    kind: str
    id: str
    loc: Loc
    message: str
    file: str | None = None
    file_loc: Loc = ()
    line: int | None = None

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
            if self.file_loc:
                where += format_loc(self.file_loc) + ": "
        elif self.kind:
            where = f"{self.kind} {self.id!r}" + (f" {self.path}" if self.loc else "") + ": "
        return where + self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "path": self.path,
            "message": self.message,
            "file": self.file,
            "file_path": format_loc(self.file_loc) if self.file_loc else None,
            "line": self.line,
        }


class RegistryError(Exception):
    """Registry content was rejected; ``problems`` says exactly where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"registry invalid ({len(problems)} problem(s)):\n{shown}{more}")
