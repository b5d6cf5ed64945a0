"""Witness cosigning end to end against the in-test tlog-witness."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.errors import InvalidNote
from broker.audit.export import export_log
from broker.audit.note import Ed25519Signer, Ed25519Verifier, parse_note, sign_note
from broker.audit.proofs import verify_receipt
from broker.audit.verify import verify_export
from broker.audit.witness import (
    CosignatureVerifier,
    WitnessConflict,
    WitnessError,
    require_cosignatures,
)

from .conftest import ORIGIN, LogFactory, make_decision
from .witness_server import Witness


def test_cosignature_vkey_roundtrip() -> None:
    w = Witness("witness.test/w1", Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate()).vkey)
    vkey = w.verifier.vkey
    assert CosignatureVerifier.from_vkey(vkey).key_id == w.verifier.key_id
    with pytest.raises(InvalidNote, match="0x01"):
        Ed25519Verifier.from_vkey(vkey)


def test_log_checkpoints_get_cosigned(make_log: LogFactory, tmp_path: Path,
                                      key: Ed25519PrivateKey) -> None:
    signer = Ed25519Signer(ORIGIN, key)
    w1, w2 = Witness("witness.test/w1", signer.vkey), Witness("witness.test/w2", signer.vkey)
    log = make_log(witnesses=[w1.client(), w2.client()])
    log.append_many([make_decision(i) for i in range(300)])
    log.wait_published(299)
    log.append_many([make_decision(i) for i in range(300, 400)])
    log.wait_published(399)
    note = log.checkpoint_note()
    assert require_cosignatures(note, [w1.verifier, w2.verifier], 2) == [
        "witness.test/w1", "witness.test/w2"]
    assert log.health()["witness_errors"] == {}
    export_log(log, tmp_path / "x")
    ok = verify_export(tmp_path / "x", keys=[signer.vkey],
                       witness_keys=[w1.verifier.vkey, w2.verifier.vkey], min_witnesses=2)
    assert ok.ok, ok.verdict()
    lone = Witness("witness.test/w3", signer.vkey)
    bad = verify_export(tmp_path / "x", keys=[signer.vkey],
                        witness_keys=[w1.verifier.vkey, lone.verifier.vkey], min_witnesses=2)
    assert not bad.ok and "1 valid witness" in (bad.failure or "")
    receipt = log.receipt(10)
    verify_receipt(receipt, [signer.verifier], witness_verifiers=[w1.verifier],
                   min_witnesses=1)
    with pytest.raises(InvalidNote):
        verify_receipt(receipt, [signer.verifier], witness_verifiers=[lone.verifier],
                       min_witnesses=1)


def test_restarted_log_resyncs_with_witness(make_log: LogFactory, tmp_path: Path,
                                            key: Ed25519PrivateKey) -> None:
    signer = Ed25519Signer(ORIGIN, key)
    w = Witness("witness.test/w1", signer.vkey)
    log = make_log(witnesses=[w.client()])
    log.append_many([make_decision(i) for i in range(50)])
    log.wait_published(49)
    log.close()
    again = make_log(witnesses=[w.client()])  # forgot the witness's size: gets a 409 first
    again.append(make_decision(50))
    again.wait_published(50)
    require_cosignatures(again.checkpoint_note(), [w.verifier], 1)


def test_witness_protocol_errors(key: Ed25519PrivateKey) -> None:
    signer = Ed25519Signer(ORIGIN, key)
    w = Witness("witness.test/w1", signer.vkey)
    client = w.client()
    from broker.audit.checkpoint import Checkpoint
    from broker.audit.merkle import hash_children, hash_leaf
    a, b = hash_leaf(b"a"), hash_leaf(b"b")
    cp1 = sign_note(Checkpoint(ORIGIN, 1, a).to_text(), [signer])
    cp2 = sign_note(Checkpoint(ORIGIN, 2, hash_children(a, b)).to_text(), [signer])
    sig = client.add_checkpoint(0, [], cp1)
    assert w.verifier.verify(parse_note(cp1)[0], sig.sig)
    with pytest.raises(WitnessConflict) as conflict:
        client.add_checkpoint(0, [], cp2)
    assert conflict.value.latest_size == 1
    with pytest.raises(WitnessError, match="422"):
        client.add_checkpoint(1, [a], cp2)  # wrong proof
    client.add_checkpoint(1, [b], cp2)
    stranger = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate())
    forged = sign_note(Checkpoint(ORIGIN, 3, a).to_text(), [stranger])
    with pytest.raises(WitnessError, match="403"):
        client.add_checkpoint(2, [], forged)
