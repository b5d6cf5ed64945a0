"""Rotating the broker's log signing key, file and log together, safe against a crash.

The log key lives in ``<keys dir>/log-signing-key.pem``. A rotation:

1. writes the new key to ``log-signing-key.pem.next`` (0600, fsynced);
2. rotates the running log (:meth:`AuditLog.rotate_key`): the old key keeps co-signing
   checkpoints for the overlap, the signed key history names both, a ``key.rotate`` record is
   appended;
3. moves the old key to ``retired/`` and the new one into place.

A crash between 1 and 2 leaves a staged key the history does not name: it is discarded at the
next start. A crash between 2 and 3 leaves one the history names: it is promoted at the next
start (:func:`finish_pending_rotation`), so the broker never signs with a retired key.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.keys import DEFAULT_KEY_FILE, load_log_key
from broker.audit.note import Ed25519Verifier
from broker.audit.storage.fs import fsync_dir
from broker.errors import BadRequest
from broker.security.keys import write_private_key

STAGED_SUFFIX = ".next"
RETIRED_DIR = "retired"
MAX_OVERLAP_S = 30 * 86400.0
_lock = threading.Lock()  # one rotation at a time per process


class RotatingLog(Protocol):
    @property
    def vkeys(self) -> list[str]: ...

    def rotate_key(self, new_key: Ed25519PrivateKey, *, key_name: str | None = None,
                   overlap_s: float = 86400.0, actor: str = "system") -> str: ...


def rotate_log_key(log: RotatingLog, keys_dir: Path, *, overlap_s: float, actor: str) -> dict[str, object]:
    """Rotate ``log`` to a new key stored in ``keys_dir``; return the new vkey and the history."""
    if not 0 <= overlap_s <= MAX_OVERLAP_S:
        raise BadRequest(f"overlap_s must be between 0 and {MAX_OVERLAP_S:.0f} seconds",
                         code="AUDIT_BAD_OVERLAP")
    with _lock:
        staged = keys_dir / (DEFAULT_KEY_FILE + STAGED_SUFFIX)
        key = Ed25519PrivateKey.generate()
        write_private_key(staged, key)
        try:
            vkey = log.rotate_key(key, overlap_s=overlap_s, actor=actor)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        _promote(keys_dir)
    return {"vkey": vkey, "overlap_s": overlap_s, "vkeys": log.vkeys}


def finish_pending_rotation(keys_dir: Path, history_vkeys: Iterable[str]) -> bool:
    """After a crash mid-rotation: promote a staged key the key history names (True), or
    discard one it does not (the rotation never took effect)."""
    staged = keys_dir / (DEFAULT_KEY_FILE + STAGED_SUFFIX)
    if not staged.exists():
        return False
    public = load_log_key(staged).public_key().public_bytes_raw()
    if any(Ed25519Verifier.from_vkey(v).public_key == public for v in history_vkeys):
        _promote(keys_dir)
        return True
    staged.unlink()
    fsync_dir(keys_dir)
    return False


def _promote(keys_dir: Path) -> None:
    current = keys_dir / DEFAULT_KEY_FILE
    retired = keys_dir / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    if current.exists():
        # Kept, not deleted: a signature made during the overlap may need the key's owner to
        # prove it later, and deleting key material is the operator's decision.
        os.replace(current, retired / f"log-signing-key-{time.time_ns()}.pem")
        fsync_dir(retired)
    os.replace(keys_dir / (DEFAULT_KEY_FILE + STAGED_SUFFIX), current)
    fsync_dir(keys_dir)
