"""Signed notes and checkpoints against the C2SP and Go sumdb/note published vectors."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import note
from broker.audit.checkpoint import Checkpoint, parse_checkpoint
from broker.audit.errors import InvalidNote

# golang.org/x/mod/sumdb/note note_test.go
PN_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PN_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PN_TEXT = (b"If you think cryptography is the answer to your problem,\n"
           b"then you don't know what your problem is.\n")
PN_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
          "qdngotpRZb6KE6RyyBwJnAM=\n")
PN_NOTE = PN_TEXT + b"\n" + PN_SIG.encode()
# C2SP signed-note.md example verifier key.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"


def test_c2sp_example_vkey_key_id() -> None:
    v = note.Ed25519Verifier.from_vkey(C2SP_VKEY)
    assert v.name == "example.com/foo"
    assert v.key_id.hex() == "530d903a"
    assert v.vkey == C2SP_VKEY


def test_go_vector_sign_byte_for_byte_and_verify() -> None:
    name, key = note.parse_private_key(PN_SKEY)
    signer = note.Ed25519Signer(name, key)
    assert signer.vkey == PN_VKEY
    assert note.format_private_key(name, key) == PN_SKEY
    assert note.sign_note(PN_TEXT, [signer]) == PN_NOTE
    text, sigs = note.open_note(PN_NOTE, [note.Ed25519Verifier.from_vkey(PN_VKEY)])
    assert text == PN_TEXT
    assert [s.name for s in sigs] == ["PeterNeumann"]


def test_tampered_note_rejected() -> None:
    v = note.Ed25519Verifier.from_vkey(PN_VKEY)
    with pytest.raises(InvalidNote, match="does not verify"):
        note.open_note(PN_NOTE.replace(b"cryptography", b"cryptographY"), [v])
    for i in range(len(PN_NOTE)):
        mutated = bytearray(PN_NOTE)
        mutated[i] ^= 0x01
        with pytest.raises(InvalidNote):
            note.open_note(bytes(mutated), [v])


def test_unknown_signatures_ignored_but_needed() -> None:
    other = note.Ed25519Signer("other.example/key", Ed25519PrivateKey.generate())
    both = note.add_signatures(PN_NOTE, [other.sign(PN_TEXT)])
    text, sigs = note.open_note(both, [note.Ed25519Verifier.from_vkey(PN_VKEY)])
    assert text == PN_TEXT and len(sigs) == 1
    with pytest.raises(InvalidNote, match="not signed by any trusted key"):
        note.open_note(PN_NOTE, [other.verifier])


@pytest.mark.parametrize("bad", [
    "PeterNeumann+c74f20a3", "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
])
def test_bad_vkeys(bad: str) -> None:
    with pytest.raises(InvalidNote):
        note.Ed25519Verifier.from_vkey(bad)


def test_every_substring_and_byte_bump_of_vkey_rejected() -> None:
    b = PN_VKEY
    for i in range(len(b)):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(InvalidNote):
                    note.Ed25519Verifier.from_vkey(b[i:j])


@pytest.mark.parametrize("bad", [
    b"no newline", b"text\n", b"text\n\n", b"text\n\nnot a sig\n", b"te\x01xt\n\n" + PN_SIG.encode(),
    b"\xff\n\n" + PN_SIG.encode(), b"text\n\n\xe2\x80\x94 name !!!\n",
])
def test_malformed_notes(bad: bytes) -> None:
    with pytest.raises(InvalidNote):
        note.parse_note(bad)


def test_checkpoint_roundtrip_and_validation() -> None:
    root = bytes(range(32))
    cp = Checkpoint("example.com/log", 70000, root, ("time 1700000000",))
    text = cp.to_text()
    assert text == b"example.com/log\n70000\n" + base64.b64encode(root) + b"\ntime 1700000000\n"
    parsed = parse_checkpoint(text)
    assert parsed == cp and parsed.timestamp == 1700000000
    for bad in [b"example.com/log\n070\n" + base64.b64encode(root) + b"\n",
                b"example.com/log\n-1\n" + base64.b64encode(root) + b"\n",
                b"example.com/log\n1\nAAAA\n", b"example.com/log\n1\n",
                b"\n1\n" + base64.b64encode(root) + b"\n",
                b"example.com/log\n1\n" + base64.b64encode(root) + b"\n\n",
                b"example.com/log\n1\n" + base64.b64encode(root)]:
        with pytest.raises(InvalidNote):
            parse_checkpoint(bad)
    with pytest.raises(InvalidNote):
        Checkpoint("bad origin", 1, root).to_text()
