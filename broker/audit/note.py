"""C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 signatures (type 0x01).

A note is UTF-8 text ending in a newline, a blank line, then ``— <name> base64(keyid||sig)``
lines. Verifiers are matched on (name, key id); unknown signatures are ignored, a failing known
signature rejects the note, and at least one known signature must verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.audit.errors import InvalidNote

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100  # the spec asks for at least 16; Go's reference allows 100
_DASH = "\u2014 "
_NAME_RE = re.compile(r"^[^\s+]+$")


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Key ID = SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    """Key names are non-empty and contain no Unicode spaces and no '+'."""
    if not _NAME_RE.match(name):
        raise InvalidNote(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 with padding; anything else is an error naming ``what``."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise InvalidNote(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key id and the raw signature bytes."""

    name: str
    key_id: bytes
    sig: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.sig).decode()}\n"


class Verifier(Protocol):
    """Anything that can check a signature of a given (name, key id) over note text."""

    name: str
    key_id: bytes

    def verify(self, text: bytes, sig: bytes) -> bool: ...


class Ed25519KeyVerifier:
    """An Ed25519 public key under a note key name, for one signature type (``SIG_TYPE``).

    Plain note signatures (type 0x01) and witness cosignatures (type 0x04) differ only in the
    type byte that enters the key id and the vkey, and in what they sign.
    """

    SIG_TYPE = SIG_ED25519
    TYPE_LABEL = "an Ed25519 (type 0x01)"

    def __init__(self, name: str, public_key: bytes) -> None:
        check_key_name(name)
        if len(public_key) != 32:
            raise InvalidNote("Ed25519 public key must be 32 bytes")
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, self.SIG_TYPE, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        name, kid, material = parse_vkey(vkey)
        if material[0] != cls.SIG_TYPE:
            raise InvalidNote(f"vkey {name} is not {cls.TYPE_LABEL} key")
        verifier = cls(name, material[1:])
        if verifier.key_id != kid:
            raise InvalidNote(f"vkey {name}: key id does not match the key")
        return verifier

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, self.key_id, bytes([self.SIG_TYPE]) + self.public_key)


class Ed25519Verifier(Ed25519KeyVerifier):
    """A type-0x01 verifier built from a vkey string ``name+hexid+base64(0x01||pub)``."""

    def verify(self, text: bytes, sig: bytes) -> bool:
        try:
            self._key.verify(sig, text)
        except InvalidSignature:
            return False
        return True


class Ed25519Signer:
    """Signs note text with an Ed25519 private key under a key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self.private_key = private_key
        self.verifier = Ed25519Verifier(name, private_key.public_key().public_bytes_raw())
        self.key_id = self.verifier.key_id

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def sign(self, text: bytes) -> Signature:
        return Signature(self.name, self.key_id, self.private_key.sign(text))


def format_vkey(name: str, kid: bytes, material: bytes) -> str:
    return f"{name}+{kid.hex()}+{base64.b64encode(material).decode()}"


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """Split a vkey into (name, key id, type||key); base64 may contain '+', so split twice."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise InvalidNote("vkey must look like name+hexid+base64key")
    name, hex_id, b64 = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise InvalidNote(f"vkey {name}: key id must be 8 lowercase hex digits")
    material = b64decode_strict(b64, f"vkey {name} key material")
    if len(material) < 2:
        raise InvalidNote(f"vkey {name}: key material too short")
    return name, bytes.fromhex(hex_id), material


def format_private_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """Go ``x/mod/sumdb/note`` private key string (also used by Tessera); not a C2SP format."""
    seed = private_key.private_bytes_raw()
    pub = private_key.public_key().public_bytes_raw()
    kid = key_id(name, SIG_ED25519, pub).hex()
    return f"PRIVATE+KEY+{name}+{kid}+{base64.b64encode(bytes([SIG_ED25519]) + seed).decode()}"


def parse_private_key(skey: str) -> tuple[str, Ed25519PrivateKey]:
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise InvalidNote("private key must look like PRIVATE+KEY+name+hexid+base64key")
    _, _, name, hex_id, b64 = parts
    check_key_name(name)
    material = b64decode_strict(b64, "private key material")
    if len(material) != 33 or material[0] != SIG_ED25519:
        raise InvalidNote("private key is not an Ed25519 seed")
    key = Ed25519PrivateKey.from_private_bytes(material[1:])
    if key_id(name, SIG_ED25519, key.public_key().public_bytes_raw()).hex() != hex_id:
        raise InvalidNote("private key id does not match the key")
    return name, key


def check_text(text: bytes) -> str:
    """Validate note text: UTF-8, ends in newline, no control characters except newline."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidNote("note is not valid UTF-8") from exc
    if not decoded.endswith("\n"):
        raise InvalidNote("note text must end with a newline")
    bad = next((c for c in decoded if c < " " and c != "\n"), None)
    if bad is not None:
        raise InvalidNote(f"note contains control character U+{ord(bad):04X}")
    return decoded


def sign_note(text: bytes, signers: Sequence[Ed25519Signer]) -> bytes:
    """Return the signed note: text, blank line, one signature line per signer."""
    check_text(text)
    if not signers:
        raise InvalidNote("a note needs at least one signer")
    return text + b"\n" + "".join(s.sign(text).line() for s in signers).encode()


def parse_note(data: bytes) -> tuple[bytes, list[Signature]]:
    """Split a signed note into its text and its (unverified) signatures."""
    check_text(data)
    split = data.rfind(b"\n\n")
    if split < 0:
        raise InvalidNote("note has no blank line before its signatures")
    text, block = data[: split + 1], data[split + 2 :]
    sigs: list[Signature] = []
    for raw in block.decode().splitlines():
        if not raw.startswith(_DASH):
            raise InvalidNote("signature line must start with an em dash and a space")
        fields = raw[len(_DASH) :].split(" ")
        if len(fields) != 2:
            raise InvalidNote("signature line must be '— <name> <base64>'")
        name, b64 = fields
        check_key_name(name)
        blob = b64decode_strict(b64, f"signature by {name}")
        if len(blob) < 5:
            raise InvalidNote(f"signature by {name} is too short")
        sigs.append(Signature(name, blob[:4], blob[4:]))
    if not sigs:
        raise InvalidNote("note has no signatures")
    if len(sigs) > MAX_SIGNATURES:
        raise InvalidNote(f"note has more than {MAX_SIGNATURES} signatures")
    return text, sigs


def open_note(data: bytes, verifiers: Iterable[Verifier]) -> tuple[bytes, list[Signature]]:
    """Verify a note; return its text and the signatures made by known keys.

    Raises :class:`InvalidNote` if a known key's signature fails, or if no known key signed.
    """
    text, sigs = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[Signature] = []
    for s in sigs:
        v = known.get((s.name, s.key_id))
        if v is None:
            continue
        if not v.verify(text, s.sig):
            raise InvalidNote(f"signature by {s.name} ({s.key_id.hex()}) does not verify")
        good.append(s)
    if not good:
        raise InvalidNote("note is not signed by any trusted key")
    return text, good


def add_signatures(data: bytes, extra: Iterable[Signature]) -> bytes:
    """Append signature lines (e.g. witness cosignatures) to a signed note, skipping duplicates."""
    text, sigs = parse_note(data)
    seen = {(s.name, s.key_id) for s in sigs}
    for s in extra:
        if (s.name, s.key_id) not in seen:
            sigs.append(s)
            seen.add((s.name, s.key_id))
    return text + b"\n" + "".join(s.line() for s in sigs).encode()
