"""One audit log shared by several broker processes: everybody sequences, one integrates.

Every replica appends through the shared PostgreSQL sequence (acknowledged after COMMIT) and
serves reads from the shared PostgreSQL object storage. Only the replica holding the
integrator lease folds the sequence into tiles and signs checkpoints; the others follow the
published checkpoint (for health, ``wait_published`` and their local search index). When
the holder dies its session lock goes with it, a follower takes the lease at its next tick,
reloads the tree from the last published checkpoint and carries on from the sequence.

This is :class:`~broker.audit.log.AuditLog` with its integration hooks overridden; the log
format, the sequencer and the integration code are the same ones the single-process log uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.checkpoint import parse_checkpoint
from broker.audit.integrator import TreeBuilder
from broker.audit.keys import KEY_HISTORY_PATH, KeyPeriod, parse_key_history
from broker.audit.log import AuditLog
from broker.audit.note import parse_note
from broker.audit.storage.base import LogStorage, SequenceStore
from broker.audit.storage.pg_objects import CheckpointSuperseded
from broker.errors import BadRequest, Conflict
from broker.replicas.lease import AdvisoryLease

log = logging.getLogger(__name__)


def _checkpoint_time(extensions: Sequence[str], default: float) -> float:
    for ext in extensions:
        if ext.startswith("time ") and ext[5:].isdigit():
            return float(ext[5:])
    return default


class ReplicatedAuditLog(AuditLog):
    """An :class:`AuditLog` on shared storage whose integrator runs only under ``lease``."""

    def __init__(self, directory: Path, signer: Ed25519PrivateKey, origin: str, *,
                 storage: LogStorage, sequence: SequenceStore, lease: AdvisoryLease,
                 **kwargs: Any) -> None:
        super().__init__(directory, signer, origin, storage=storage, sequence=sequence, **kwargs)
        self.lease = lease
        self._leading = False
        self._followed: bytes | None = None
        self._shared_size = 0
        self._retires_at: int | None = None  # when the shared key history ends this replica's keys
        self.takeovers = 0

    @property
    def leading(self) -> bool:
        return self._leading

    # -- the integrator thread's hooks ---------------------------------------------------------

    def _integrate(self, batches: list[tuple[int, list[bytes], list[Any]]], target: int,
                   ) -> None:
        if not self.lease.held():
            if self._leading:
                log.warning("audit integrator lease lost; following the published log")
                self._leading = False
            self._follow()
            return
        if not self._leading:
            self._take_over()
        # Other replicas' records reach us only through the shared sequence, not _on_durable.
        self._shared_size = self._seq.size()
        with self._cond:
            self._seq_size = max(self._seq_size, self._shared_size)
        super()._integrate(batches, max(target, self._shared_size))

    def _take_over(self) -> None:
        try:
            self._load_keys()  # the history may have changed under the previous holder
            self._builder = super()._recover_tree()
            self.reindex(self._builder.size)
        except BaseException:
            self.lease.release()  # let a healthier replica try
            raise
        self._leading = True
        self._partials.clear()  # the previous holder's partial tiles are left in place
        self._republish = True  # announce the new integrator with a fresh checkpoint at once
        self.takeovers += 1
        log.info("audit integrator lease acquired at tree size %d", self._builder.size)

    def _follow(self) -> None:
        """Track the published checkpoint: sizes for health, entries for the search index."""
        self._shared_size = self._seq.size()
        note = self.storage.get_checkpoint()
        if note is None or note == self._followed:
            return
        cp = parse_checkpoint(parse_note(note)[0])
        self._note_retirement(self._shared_periods())  # the integrator may have rotated the key
        self.reindex(cp.size)  # before announcing the size, so wait_published implies search
        self._builder = self._recover_tree()
        self._published_size = cp.size
        self._last_signed = _checkpoint_time(cp.extensions, self._clock())
        self._followed = note

    def _recover_tree(self) -> TreeBuilder:
        if self._leading:
            return super()._recover_tree()
        # A follower never appends, so its builder only marks the published size (and keeps
        # the wait predicate from spinning); the real tree is loaded when it takes over.
        marker = TreeBuilder(self.storage)
        note = self.storage.get_checkpoint()
        marker.size = parse_checkpoint(parse_note(note)[0]).size if note else 0
        with self._cond:
            self._seq_size = marker.size
        return marker

    def _on_durable(self, first: int, records: list[bytes], meta: list[Any]) -> None:
        with self._cond:
            if self._leading:
                before = self._seq_size
                super()._on_durable(first, records, meta)
                self._seq_size = max(before, self._seq_size)
            # Followers keep nothing: the integrator reads these records from the sequence.

    def _publish(self) -> None:
        if not self._leading:
            return
        try:
            super()._publish()
        except CheckpointSuperseded:
            log.warning("a newer checkpoint was published by another integrator; stepping down")
            self._leading = False
            self.lease.release()

    def _expire_keys(self) -> None:
        if not self._leading:
            return
        if all(exp is not None and exp < self._clock() for _, exp in self._signers):
            # Every key this replica holds is past the end the shared history gave it (a
            # rotation made elsewhere, whose new key this replica lacks): never sign with a
            # retired key. Hand the lease to a replica that holds the current one.
            self._leading = False
            self.lease.release()
            raise BadRequest(self._retired_message(), code="AUDIT_KEY_RETIRED")
        super()._expire_keys()

    def rotate_key(self, new_key: Ed25519PrivateKey, *, key_name: str | None = None,
                   overlap_s: float = 86400.0, actor: str = "system") -> str:
        # The integrator is the one writer of the shared key history and the one signer. A
        # follower's rotation would not reach the integrator's signers (the old key would go on
        # signing past its overlap), and an integrator's later history write could drop the key.
        if not self._leading:
            raise Conflict("this replica follows the shared audit log; rotate the log key on the "
                           "integrator replica (its audit health says role: integrator)",
                           code="AUDIT_NOT_INTEGRATOR")
        vkey = super().rotate_key(new_key, key_name=key_name, overlap_s=overlap_s, actor=actor)
        self._note_retirement(self._periods)
        return vkey

    def _load_keys(self) -> None:
        # Replicas must sign with the one log key: a replica with another key would otherwise
        # "swap it in" and close the others' key periods on every start.
        periods = self._shared_periods()
        mine = self._signers[0][0].vkey
        if periods and mine not in {p.vkey for p in periods}:
            raise BadRequest(
                "this replica's audit log key is not a key of the shared log; every replica "
                "must be configured with the same log key", details={"vkey": mine})
        super()._load_keys()
        # A key the shared history rotated out signs only until the end of its overlap.
        ends = {p.vkey: p.not_after for p in self._periods}
        self._signers = [(s, ends.get(s.vkey) if exp is None else exp) for s, exp in self._signers]
        self._note_retirement(self._periods)

    def _shared_periods(self) -> list[KeyPeriod]:
        """The key periods of the shared, published key history (a follower never writes it)."""
        if not self.storage.exists(KEY_HISTORY_PATH):
            return []
        return parse_key_history(parse_note(self.storage.get(KEY_HISTORY_PATH))[0])[1]

    def _note_retirement(self, periods: Sequence[KeyPeriod]) -> None:
        """Remember when ``periods`` end the last of this replica's keys (None: one is current)."""
        ends = {p.vkey: p.not_after for p in periods}
        mine = [ends.get(s.vkey) for s, _ in self._signers if s.vkey in ends]
        self._retires_at = None if not mine or None in mine else max(e for e in mine if e is not None)

    def _retired_message(self) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._retires_at or 0))
        return (f"this replica's audit log key was retired at {when}: it may not integrate or sign "
                "checkpoints; install the current log key (see GET /v1/audit/keys) and restart it")

    # -- life cycle and status ---------------------------------------------------------------

    def close(self) -> None:
        super().close()
        self.lease.release()

    def health(self) -> dict[str, Any]:
        status = super().health()
        status["role"] = "integrator" if self._leading else "follower"
        if self._retires_at is not None and self._clock() > self._retires_at and status["status"] == "ok":
            # Appends still work; what it cannot do is take over if the integrator goes.
            status["status"], status["reason"] = "degraded", self._retired_message()
        status["sequenced"] = max(status["sequenced"], self._shared_size)
        if self.lease.last_error:
            status["lease_error"] = self.lease.last_error
        return status
