"""The audit log service: durable group-commit appends, async integration, signed checkpoints.

Life cycle: ``log = AuditLog(dir, key, origin)``, ``log.start()``, ``log.append(record)`` from
request handlers (returns the leaf index once the record is fsynced), ``log.close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.batching import TurnBatcher
from broker.audit.checkpoint import Checkpoint, parse_checkpoint
from broker.audit.errors import LogCorrupt
from broker.audit.index import SearchIndex
from broker.audit.integrator import TreeBuilder
from broker.audit.keys import KEY_HISTORY_PATH, KeyPeriod, format_key_history, parse_key_history
from broker.audit.note import (
    Ed25519Signer,
    Ed25519Verifier,
    Signature,
    add_signatures,
    open_note,
    parse_note,
    sign_note,
)
from broker.audit.proofs import TileReader
from broker.audit.reader import INDEX_FILE, PUBLIC_DIR, LogReader
from broker.audit.records import (
    IndexFields,
    admin_record,
    blob_path,
    encode_with_index,
    index_fields,
)
from broker.audit.sequencer import GroupCommitSequencer, unavailable
from broker.audit.storage.base import LogStorage, SequenceStore
from broker.audit.storage.fs import FsLogStorage, FsSequenceStore
from broker.audit.witness import WitnessClient, WitnessConflict, WitnessError
from broker.errors import AuditUnavailable, BadRequest, TollgateError

log = logging.getLogger(__name__)
SEQUENCE_FILE = "seq/records.log"
_REBUILD_CHUNK = 65536
_SLICE = 64  # records integrated between GIL hand-offs


def store_blob(storage: LogStorage, digest: str, data: bytes) -> None:
    """Store a payload moved out of a record, durably, before the record is appended."""
    path = blob_path(digest)
    try:
        if not storage.exists(path):
            storage.put(path, data)
            storage.sync()  # the record referencing it is acknowledged after this
    except OSError as exc:
        raise AuditUnavailable(f"audit blob store failed: {exc}") from exc


@dataclass
class _IndexRows:
    """Search-index fields of the records integrated from leaf ``first`` on, not yet stored."""

    first: int
    fields: list[IndexFields] = field(default_factory=list)


class AuditLog(LogReader):
    """A signed, verifiable, append-only log of decisions and admin changes."""

    def __init__(self, directory: Path, signer: Ed25519PrivateKey, origin: str,
                 key_name: str | None = None, *, checkpoint_interval_s: float = 1.0,
                 checkpoint_every: int = 10_000, idle_resign_s: float = 60.0,
                 witnesses: Sequence[WitnessClient] = (),
                 storage: LogStorage | None = None, sequence: SequenceStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        super().__init__(storage or FsLogStorage(self.directory / PUBLIC_DIR),
                         SearchIndex(self.directory / INDEX_FILE))
        self.origin = origin
        self.interval = checkpoint_interval_s
        self.every = checkpoint_every
        self.idle_resign = idle_resign_s
        self.witnesses = list(witnesses)
        self._clock = clock
        self._seq = sequence or FsSequenceStore(self.directory / SEQUENCE_FILE)
        self._signers: list[tuple[Ed25519Signer, float | None]] = [
            (Ed25519Signer(key_name or origin, signer), None)]
        self._periods: list[KeyPeriod] = []
        self._sequencer = GroupCommitSequencer(self._seq, self._on_durable)
        self._batcher = TurnBatcher(self._flush_group)
        self._store_blob = partial(store_blob, self.storage)
        self._cond = threading.Condition()
        self._buffer: list[tuple[int, list[bytes], list[Any]]] = []
        self._seq_size = 0
        self._builder = TreeBuilder(self.storage)
        self._published_size = -1
        self._last_signed = 0.0
        self._republish = False
        self._partials: deque[set[str]] = deque(maxlen=2)
        self._witness_sizes: dict[str, int] = {}
        self._witness_errors: dict[str, str] = {}
        self._integration_error: str | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._started = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Recover from whatever a crash left, publish a fresh checkpoint, start the threads."""
        if self._started:
            raise BadRequest("audit log already started")
        try:
            self._seq_size = self._seq.open()
            self._load_keys()
            self._builder = self._recover_tree()
            self._integrate([], self._seq_size)
            self._publish()
            self.reindex(self._builder.size)
        except TollgateError:
            self._seq.close()
            raise
        except OSError as exc:
            self._seq.close()
            raise AuditUnavailable(f"audit log recovery failed: {exc}") from exc
        self._sequencer.start()
        self._thread = threading.Thread(target=self._run, name="audit-integrator", daemon=True)
        self._thread.start()
        self._started = True

    def close(self) -> None:
        """Stop accepting appends, integrate and publish what is durable, stop the threads."""
        if not self._started:
            return
        self._sequencer.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._seq.close()
        if self.index is not None:
            self.index.close()
        for w in self.witnesses:
            w.close()
        self._started = False

    # -- appends ----------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> int:
        """Durably append one record; return its leaf index. Raises AuditUnavailable."""
        data, meta = self._encode(record)
        return self._sequencer.submit([data], [meta]).result()

    def append_many(self, records: Sequence[Mapping[str, Any]]) -> list[int]:
        """Durably append records contiguously; return their leaf indexes."""
        encoded = [self._encode(r) for r in records]
        first = self._sequencer.submit([d for d, _ in encoded], [m for _, m in encoded]).result()
        return list(range(first, first + len(records)))

    async def append_async(self, record: Mapping[str, Any]) -> int:
        """:meth:`append` for event loops: waits without blocking the loop.

        Records appended during one turn of the loop are handed to the sequencer together at
        the end of that turn (see :class:`~broker.audit.batching.TurnBatcher`).
        """
        data, meta = self._encode(record)
        return await self._batcher.add(data, meta)

    def _flush_group(self, loop: asyncio.AbstractEventLoop, records: list[bytes], meta: list[Any],
                     futures: list[asyncio.Future[int]]) -> None:
        with contextlib.suppress(TollgateError):  # already set on every future of the group
            self._sequencer.submit_async_group(loop, records, meta, futures)

    def submit_encoded(self, records: Sequence[bytes], meta: Sequence[IndexFields | None]) -> Future[int]:
        """Sequence records a caller already validated and encoded (the audit worker process
        receives them so); the future gets the first index once they are durable. Raises
        AuditUnavailable if the log has failed."""
        return self._sequencer.submit_future(records, meta)

    def try_recover(self) -> bool:
        """After a failed append (disk full, database restarted): re-open the sequence store,
        which re-checks it, and accept appends again only if it still holds at least every
        record acknowledged so far. A failed batch was never acknowledged and was rolled back or
        truncated, so nothing is lost or duplicated; anything else keeps the log failed closed.
        """
        if self._sequencer.failure is None:
            return True
        if self._sequencer.failure == "audit log closed" or self._stopping:
            return False
        try:
            self._seq.close()
            size = self._seq.open()
        except Exception as exc:
            log.warning("audit log still unavailable: %s", exc)
            return False
        if size < self._seq_size:
            log.error("audit sequence holds %d records, %d were acknowledged; staying failed", size, self._seq_size)
            return False
        self._sequencer.clear_failure()
        log.warning("audit log accepting appends again at size %d", size)
        return True

    def _encode(self, record: Mapping[str, Any]) -> tuple[bytes, IndexFields]:
        if self._sequencer.failure is not None:
            raise unavailable(self._sequencer.failure)
        return encode_with_index(record, self._store_blob)

    def _on_durable(self, first: int, records: list[bytes], meta: list[Any]) -> None:
        with self._cond:
            self._buffer.append((first, records, meta))
            self._seq_size = first + len(records)
            if self._seq_size - self._builder.size >= self.every:
                self._cond.notify()

    # -- integration --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping or self._republish
                    or self._seq_size - self._builder.size >= self.every,
                    timeout=self.interval)
                batches, self._buffer = self._buffer, []
                target, stopping = self._seq_size, self._stopping
            if self._sequencer.failure is not None and not stopping:
                self.try_recover()  # self-healing once the disk or database is back
            try:
                if self._integration_error is not None:
                    self._builder = self._recover_tree()
                self._integrate(batches, target)
                self._expire_keys()
                now = self._clock()
                if (self._builder.size != self._published_size or self._republish
                        or now - self._last_signed >= self.idle_resign):
                    self._publish()
                self._integration_error = None
            except Exception as exc:
                # Sequenced records are safe in the sequence file; retry from stored state.
                self._integration_error = f"{type(exc).__name__}: {exc}"
                log.exception("audit integration failed")
            if stopping:
                return

    def _integrate(self, batches: list[tuple[int, list[bytes], list[Any]]], target: int,
                   ) -> None:
        """Fold records up to ``target`` into the tree, from memory, else from the sequence."""
        rows = _IndexRows(self._builder.size)
        pos = self._builder.size
        for first, records, meta in batches:
            if first + len(records) <= pos:
                continue
            if first > pos:
                self._add(self._seq.read(pos, first), None, rows)
                pos = first
            self._add(records[pos - first :], meta[pos - first :], rows)
            pos = self._builder.size
        while pos < target:
            self._add(self._seq.read(pos, min(target, pos + _REBUILD_CHUNK)), None, rows)
            pos = self._builder.size
        self._index(rows)

    def _add(self, records: list[bytes], meta: list[Any] | None, rows: _IndexRows) -> None:
        # Small slices, each followed by a GIL hand-off: this thread is CPU-bound Python, and
        # CPython lets it keep the GIL for a whole 5 ms switch interval while the sequencer
        # (back from fsync) and the request loop wait for it. Yielding often keeps their
        # wake-ups prompt, which is what keeps a group-commit cycle short.
        for lo in range(0, len(records), _SLICE):
            part = records[lo : lo + _SLICE]
            self._builder.append(part)
            if self.index is not None:
                fields = meta[lo : lo + _SLICE] if meta is not None else [None] * len(part)
                rows.fields.extend(f if isinstance(f, IndexFields) else index_fields(r)
                                   for r, f in zip(part, fields, strict=True))
                if len(rows.fields) >= _REBUILD_CHUNK:
                    self._index(rows)
            time.sleep(0)

    def _index(self, rows: _IndexRows) -> None:
        """Index what was integrated since ``rows.first``, in one transaction: a commit costs
        far more than its rows (measured 9 of 14 µs per record when committing every 64)."""
        if self.index is not None and rows.fields:
            # The index may already hold some of these (re-integration after a failure).
            have = self.index.size()
            if rows.first <= have < rows.first + len(rows.fields):
                self.index.add(have, rows.fields[have - rows.first :])
        rows.first, rows.fields = self._builder.size, []

    def _recover_tree(self) -> TreeBuilder:
        note = self.storage.get_checkpoint()
        if note is None:
            return TreeBuilder(self.storage)
        text, _ = open_note(note, self._all_verifiers())
        cp = parse_checkpoint(text)
        if cp.origin != self.origin:
            raise LogCorrupt(f"log directory holds origin {cp.origin}, not {self.origin}")
        if self._seq.size() < cp.size:
            raise LogCorrupt(f"sequence has {self._seq.size()} records but the published "
                             f"checkpoint covers {cp.size}")
        try:
            return TreeBuilder.load(self.storage, cp.size, cp.root)
        except LogCorrupt:
            log.warning("audit tiles incomplete; rebuilding them from the sequence")
        builder = TreeBuilder(self.storage)
        for lo in range(0, cp.size, _REBUILD_CHUNK):
            builder.append(self._seq.read(lo, min(cp.size, lo + _REBUILD_CHUNK)))
        if builder.root() != cp.root:
            raise LogCorrupt("sequence does not reproduce the published checkpoint root")
        return builder

    def _publish(self) -> None:
        now = self._clock()
        b = self._builder
        partials = b.write_partials()
        cp = Checkpoint(self.origin, b.size, b.root(), (f"time {int(now)}",))
        note = sign_note(cp.to_text(), [s for s, _ in self._signers])
        note = add_signatures(note, self._cosign(note, b.size))
        self.storage.publish_checkpoint(note)
        self._published_size, self._last_signed, self._republish = b.size, now, False
        # Delete partial tiles two checkpoints old: readers of the previous checkpoint may
        # still fetch its partials, and newer ones have wider prefixes of the same data.
        if len(self._partials) == 2:
            keep = partials | self._partials[1]
            for path in self._partials[0] - keep:
                self.storage.delete(path)
        self._partials.append(partials)
        self._seq.mark_integrated(b.size)

    def _cosign(self, note: bytes, size: int) -> list[Signature]:
        sigs = []
        for w in self.witnesses:
            name = w.verifier.name
            for _attempt in range(2):
                old = min(self._witness_sizes.get(name, 0), size)
                proof = TileReader(self.storage, size).consistency_proof(old) if old > 0 else []
                try:
                    sigs.append(w.add_checkpoint(old, proof, note))
                    self._witness_sizes[name] = size
                    self._witness_errors.pop(name, None)
                    break
                except WitnessConflict as exc:
                    self._witness_sizes[name] = exc.latest_size
                    self._witness_errors[name] = exc.message
                except (WitnessError, TollgateError) as exc:
                    self._witness_errors[name] = exc.message
                    break
        return sigs

    # -- keys ---------------------------------------------------------------------------------

    def _all_verifiers(self) -> list[Ed25519Verifier]:
        verifiers = {s.vkey: s.verifier for s, _ in self._signers}
        for p in self._periods:
            verifiers.setdefault(p.vkey, Ed25519Verifier.from_vkey(p.vkey))
        return list(verifiers.values())

    def _load_keys(self) -> None:
        now = int(self._clock())
        signer = self._signers[0][0]
        if self.storage.exists(KEY_HISTORY_PATH):
            data = self.storage.get(KEY_HISTORY_PATH)
            origin, periods = parse_key_history(parse_note(data)[0])
            open_note(data, [Ed25519Verifier.from_vkey(p.vkey) for p in periods])
            if origin != self.origin:
                raise LogCorrupt(f"key history is for origin {origin}, not {self.origin}")
            self._periods = periods
        mine = [p for p in self._periods if p.vkey == signer.vkey]
        if mine and mine[-1].not_after is not None and mine[-1].not_after < now:
            raise BadRequest(f"log key {signer.vkey} was retired; configure the current key")
        if not mine:
            # A key swapped in by configuration (no overlap): close every open period now.
            self._periods = [p if p.not_after is not None else KeyPeriod(p.vkey, p.not_before, now)
                             for p in self._periods] + [KeyPeriod(signer.vkey, now)]
            self._write_key_history()

    def _write_key_history(self) -> None:
        text = format_key_history(self.origin, self._periods)
        self.storage.put(KEY_HISTORY_PATH, sign_note(text, [s for s, _ in self._signers]))
        self.storage.sync()

    def rotate_key(self, new_key: Ed25519PrivateKey, *, key_name: str | None = None,
                   overlap_s: float = 86400.0, actor: str = "system") -> str:
        """Start signing with ``new_key``; old keys keep co-signing for ``overlap_s``.

        Publishes the updated signed key history, logs a ``key.rotate`` admin record and
        returns the new key's vkey.
        """
        signer = Ed25519Signer(key_name or self._signers[-1][0].name, new_key)
        now = self._clock()
        until = now + overlap_s
        with self._cond:
            old = [s.vkey for s, _ in self._signers]
            self._signers = [(s, until if exp is None else min(exp, until))
                             for s, exp in self._signers] + [(signer, None)]
            self._periods = [KeyPeriod(p.vkey, p.not_before, int(until))
                             if p.not_after is None else p for p in self._periods]
            self._periods.append(KeyPeriod(signer.vkey, int(now)))
            self._write_key_history()
            self._republish = True
            self._cond.notify()
        self.append(admin_record(action="key.rotate", actor=actor, subject=signer.vkey,
                                 details={"previous": old, "overlap_s": overlap_s}))
        return signer.vkey

    def _expire_keys(self) -> None:
        now = self._clock()
        with self._cond:
            live = [(s, exp) for s, exp in self._signers if exp is None or exp > now]
            if live and len(live) != len(self._signers):
                self._signers = live
                self._write_key_history()
                self._republish = True

    # -- status -------------------------------------------------------------------------------

    @property
    def vkeys(self) -> list[str]:
        """Verifier keys of every log key ever used, oldest first."""
        return [p.vkey for p in self._periods]

    def health(self) -> dict[str, Any]:
        """Status for readiness probes: ok, degraded (checkpoints stale), unavailable."""
        failure = self._sequencer.failure if self._started else "not started"
        status = "ok"
        if failure is not None:
            status = "unavailable"
        elif self._integration_error or self._witness_errors:
            status = "degraded"
        return {
            "status": status,
            "reason": failure or self._integration_error,
            "sequenced": self._seq_size,
            "integrated": self._builder.size,
            "checkpoint_size": self._published_size,
            "checkpoint_age_s": round(self._clock() - self._last_signed, 3),
            "signing_keys": [s.vkey for s, _ in self._signers],
            "witness_errors": dict(self._witness_errors),
        }

    def wait_published(self, index: int, timeout: float = 10.0) -> None:
        """Block until leaf ``index`` is covered by a published checkpoint (tests, tools)."""
        deadline = time.monotonic() + timeout
        while self._published_size <= index:
            if time.monotonic() > deadline:
                raise AuditUnavailable(f"leaf {index} not published within {timeout}s")
            with self._cond:
                self._republish = self._republish or self._seq_size > self._builder.size
                self._cond.notify()
            time.sleep(0.005)
