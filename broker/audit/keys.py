"""Log signing keys: development key files and the signed key-history document.

The key history is a C2SP signed note (so any note verifier can check it), signed by every
key that is active when it is written::

    tollgate.audit/key-history/v1
    origin <origin>
    key <vkey> <not_before unix s> <not_after unix s or ->
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.errors import InvalidNote
from broker.audit.note import Ed25519Verifier, parse_vkey
from broker.errors import BadRequest
from broker.security.keys import write_private_key

HISTORY_HEADER = "tollgate.audit/key-history/v1"
KEY_HISTORY_PATH = "keys"
DEFAULT_KEY_FILE = "log-signing-key.pem"


@dataclass(frozen=True)
class KeyPeriod:
    """One log key and when it was (or is) valid for signing checkpoints."""

    vkey: str
    not_before: int
    not_after: int | None = None

    def valid_at(self, t: int) -> bool:
        return self.not_before <= t and (self.not_after is None or t <= self.not_after)


def format_key_history(origin: str, periods: list[KeyPeriod]) -> bytes:
    lines = [HISTORY_HEADER, f"origin {origin}"]
    for p in periods:
        end = "-" if p.not_after is None else str(p.not_after)
        lines.append(f"key {p.vkey} {p.not_before} {end}")
    return ("\n".join(lines) + "\n").encode()


def parse_key_history(text: bytes) -> tuple[str, list[KeyPeriod]]:
    """Parse key-history note text; raise :class:`InvalidNote` if malformed."""
    lines = text.decode("utf-8", errors="replace").rstrip("\n").split("\n")
    if len(lines) < 2 or lines[0] != HISTORY_HEADER or not lines[1].startswith("origin "):
        raise InvalidNote("not a tollgate key-history document")
    periods = []
    for line in lines[2:]:
        fields = line.split(" ")
        if len(fields) != 4 or fields[0] != "key" or not fields[2].isdigit() or not (
            fields[3] == "-" or fields[3].isdigit()
        ):
            raise InvalidNote(f"bad key-history line {line!r}")
        Ed25519Verifier.from_vkey(fields[1])
        periods.append(KeyPeriod(fields[1], int(fields[2]),
                                 None if fields[3] == "-" else int(fields[3])))
    return lines[1][len("origin "):], periods


def vkey_name(vkey: str) -> str:
    return parse_vkey(vkey)[0]


def generate_log_key(directory: Path, filename: str = DEFAULT_KEY_FILE) -> Path:
    """Write a new Ed25519 key as unencrypted PKCS#8 PEM, mode 0600 (development use)."""
    path = directory / filename
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to replace a log key")
    write_private_key(path, Ed25519PrivateKey.generate())
    return path


def load_log_key(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 PEM key; refuse files other users can read."""
    if path.stat().st_mode & 0o077:
        raise BadRequest(f"log key {path} must not be readable by group or others (chmod 600)")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BadRequest(f"log key {path} is not an Ed25519 key")
    return key


def load_or_create_log_key(directory: Path, filename: str = DEFAULT_KEY_FILE) -> Ed25519PrivateKey:
    path = directory / filename
    if not path.exists():
        generate_log_key(directory, filename)
    return load_log_key(path)
