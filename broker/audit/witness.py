"""C2SP tlog-cosignature (Ed25519, type 0x04) and a tlog-witness ``add-checkpoint`` client.

A cosignature line carries ``keyid || u64be(timestamp) || Ed25519 signature`` over::

    cosignature/v1
    time <timestamp>
    <checkpoint note text>
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.errors import InvalidNote
from broker.audit.note import (
    SIG_COSIGNATURE_V1,
    Ed25519KeyVerifier,
    Signature,
    Verifier,
    parse_note,
)
from broker.errors import Unavailable


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text


class CosignatureVerifier(Ed25519KeyVerifier):
    """Verifies timestamped Ed25519 cosignatures from one witness key."""

    SIG_TYPE = SIG_COSIGNATURE_V1
    TYPE_LABEL = "a cosignature/v1 (type 0x04)"

    def timestamp(self, sig: bytes) -> int:
        if len(sig) != 72:
            raise InvalidNote(f"cosignature by {self.name} has the wrong length")
        return int(struct.unpack(">Q", sig[:8])[0])

    def verify(self, text: bytes, sig: bytes) -> bool:
        if len(sig) != 72:
            return False
        ts = self.timestamp(sig)
        if ts == 0:
            return False
        try:
            self._key.verify(sig[8:], cosigned_message(text, ts))
        except InvalidSignature:
            return False
        return True


class Cosigner:
    """Produces cosignature/v1 signatures (used by witnesses, and by tests)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.verifier = CosignatureVerifier(name, private_key.public_key().public_bytes_raw())
        self.name = name

    def cosign(self, text: bytes, timestamp: int) -> Signature:
        sig = self.private_key.sign(cosigned_message(text, timestamp))
        return Signature(self.name, self.verifier.key_id, struct.pack(">Q", timestamp) + sig)


def require_cosignatures(note_data: bytes, witnesses: Sequence[Verifier], k: int,
                         ) -> list[str]:
    """Raise :class:`InvalidNote` unless at least ``k`` distinct witnesses cosigned."""
    text, sigs = parse_note(note_data)
    known = {(w.name, w.key_id): w for w in witnesses}
    good: set[str] = set()
    for s in sigs:
        w = known.get((s.name, s.key_id))
        if w is None:
            continue
        if not w.verify(text, s.sig):
            raise InvalidNote(f"cosignature by witness {s.name} does not verify")
        good.add(s.name)
    if len(good) < k:
        raise InvalidNote(f"checkpoint has {len(good)} valid witness cosignature(s), "
                          f"{k} required")
    return sorted(good)


class WitnessError(Unavailable):
    code = "AUDIT_WITNESS_FAILED"


class WitnessConflict(WitnessError):
    """HTTP 409: the witness's last cosigned size differs from the ``old`` we sent."""

    code = "AUDIT_WITNESS_CONFLICT"

    def __init__(self, message: str, latest_size: int) -> None:
        super().__init__(message, details={"latest_size": latest_size})
        self.latest_size = latest_size


class WitnessClient:
    """Client for ``POST <url>/add-checkpoint`` (c2sp.org/tlog-witness)."""

    def __init__(self, url: str, verifier: CosignatureVerifier,
                 http: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.base_url = url
        self.url = url.rstrip("/") + "/add-checkpoint"
        self.verifier = verifier
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout)

    @classmethod
    def configured(cls, url: str, vkey: str) -> WitnessClient:
        """A client for the witness at ``url`` whose cosignature key is ``vkey`` (settings)."""
        return cls(url, CosignatureVerifier.from_vkey(vkey))

    @property
    def config(self) -> tuple[str, str]:
        """``(url, vkey)``: enough to build the same client in another process."""
        return self.base_url, self.verifier.vkey

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], checkpoint_note: bytes,
                       ) -> Signature:
        """Submit a checkpoint; return the witness's verified cosignature."""
        body = f"old {old_size}\n".encode()
        body += b"".join(base64.b64encode(h) + b"\n" for h in proof)
        body += b"\n" + checkpoint_note
        try:
            resp = self.http.post(self.url, content=body)
        except httpx.HTTPError as exc:
            raise WitnessError(f"witness {self.verifier.name} unreachable: {exc}") from exc
        if resp.status_code == 409:
            size = resp.text.strip()
            if not size.isdigit():
                raise WitnessError(f"witness {self.verifier.name} sent a bad 409 body")
            raise WitnessConflict(f"witness {self.verifier.name} is at size {size}", int(size))
        if resp.status_code != 200:
            raise WitnessError(f"witness {self.verifier.name} answered {resp.status_code}: "
                               f"{resp.text[:200]}")
        text, _ = parse_note(checkpoint_note)
        # The response body is bare signature lines; reuse the note parser on a dummy text.
        _, sigs = parse_note(b"x\n\n" + resp.content)
        for s in sigs:
            if (s.name, s.key_id) == (self.verifier.name, self.verifier.key_id):
                if not self.verifier.verify(text, s.sig):
                    raise WitnessError(f"witness {self.verifier.name} sent a bad cosignature")
                return s
        raise WitnessError(f"witness {self.verifier.name} returned no cosignature of its key")
