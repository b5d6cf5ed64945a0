"""C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed tree head body.

``origin\\nsize\\nbase64(root)\\n[extension lines]``. We add one extension line
``time <unix seconds>`` so an idle log's periodic re-signing is visible to auditors; tools that
do not know it ignore it, since extension lines are opaque to them.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from broker.audit.errors import InvalidNote
from broker.audit.note import b64decode_strict

_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
TIME_PREFIX = "time "


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint body (signatures live on the enclosing note)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    def to_text(self) -> bytes:
        if not self.origin or any(c.isspace() or c == "+" for c in self.origin):
            raise InvalidNote(f"invalid checkpoint origin {self.origin!r}")
        if self.size < 0 or len(self.root) != 32:
            raise InvalidNote("checkpoint needs a non-negative size and a 32-byte root")
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise InvalidNote("checkpoint extension lines must be non-empty single lines")
            lines.append(ext)
        return ("\n".join(lines) + "\n").encode()

    @property
    def timestamp(self) -> int | None:
        """The ``time`` extension (unix seconds), if present."""
        for ext in self.extensions:
            if ext.startswith(TIME_PREFIX) and ext[len(TIME_PREFIX) :].isdigit():
                return int(ext[len(TIME_PREFIX) :])
        return None


def parse_checkpoint(text: bytes) -> Checkpoint:
    """Parse checkpoint note text (without the signature block)."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidNote("checkpoint is not valid UTF-8") from exc
    if not decoded.endswith("\n"):
        raise InvalidNote("checkpoint must end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidNote("checkpoint needs origin, size and root lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise InvalidNote("checkpoint origin is empty")
    if not _SIZE_RE.match(size_text):
        raise InvalidNote(f"checkpoint size {size_text!r} is not a decimal without leading zeros")
    root = b64decode_strict(root_text, "checkpoint root")
    if len(root) != 32:
        raise InvalidNote("checkpoint root is not a 32-byte hash")
    if any(not e for e in extensions):
        raise InvalidNote("checkpoint extension lines must be non-empty")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))
