"""The console's in-browser verifiers (WebCrypto Ed25519, SubtleCrypto SHA-256) agree with the
broker's Python implementation: receipts it makes verify in Chromium, tampered ones do not."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint
from broker.audit.note import Ed25519Signer, sign_note
from broker.audit.proofs import format_receipt

ORIGIN = "tollgate.test/log"


def _fixture(size: int) -> dict[str, Any]:
    signer = Ed25519Signer("tollgate-test-log", Ed25519PrivateKey.generate())
    entries = [json.dumps({"i": i, "kind": "decision"}).encode() for i in range(size)]
    leaves = [merkle.hash_leaf(e) for e in entries]
    node = merkle.list_node_getter(leaves)
    root = merkle.root_of(leaves)
    note = sign_note(Checkpoint(ORIGIN, size, root, ("time 1800000000",)).to_text(), [signer])
    receipts = [
        format_receipt(i, merkle.inclusion_proof(i, size, node), note, entries[i]).decode() for i in range(size)
    ]
    return {"vkey": signer.vkey, "note": note.decode(), "receipts": receipts}


def _verify(page: Any, receipt: str, vkey: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """async ([receipt, vkey]) => {
            const m = await import("/console/js/lib/receipt.js");
            try {
              const r = await m.verifyReceipt(receipt, vkey);
              return {ok: r.ok, steps: r.steps.map(s => [s.label, s.ok, s.detail])};
            } catch (e) { return {ok: false, error: String(e)}; }
        }""",
        [receipt, vkey],
    )
    return result


@pytest.fixture
def console_page(page: Any, console_only: str) -> Any:
    page.goto(f"{console_only}/console/")
    page.wait_for_selector("#view .page")
    return page


@pytest.mark.parametrize("size", [1, 2, 7, 8, 13])
def test_every_receipt_of_a_tree_verifies(console_page: Any, size: int) -> None:
    fx = _fixture(size)
    for i, receipt in enumerate(fx["receipts"]):
        result = _verify(console_page, receipt, fx["vkey"])
        assert result["ok"], (size, i, result)


def test_signed_note_verifies_and_key_mismatch_is_reported(console_page: Any) -> None:
    fx = _fixture(3)
    other = _fixture(3)
    out = console_page.evaluate(
        """async ([note, vkey, otherKey]) => {
            const n = await import("/console/js/lib/note.js");
            const good = await n.verifyNote(note, vkey);
            const wrong = await n.verifyNote(note, otherKey);
            const cp = n.parseCheckpoint(good.text);
            return {good: good.ok, wrong: wrong.ok, wrongReason: wrong.reason, size: String(cp.size), time: cp.time};
        }""",
        [fx["note"], fx["vkey"], other["vkey"]],
    )
    assert out["good"] is True
    assert out["wrong"] is False and "no signature" in out["wrongReason"]
    assert out["size"] == "3" and out["time"] == 1800000000


def test_tampering_is_detected(console_page: Any) -> None:
    fx = _fixture(8)
    receipt = fx["receipts"][5]
    head, _, note = receipt.partition("\n\n")
    lines = head.split("\n")
    # 1. another entry's bytes
    entry = base64.b64decode(lines[1][6:])
    forged_entry = entry.replace(b'"i": 5', b'"i": 6')
    bad_entry = "\n".join([lines[0], "extra " + base64.b64encode(forged_entry).decode(), *lines[2:]]) + "\n\n" + note
    # 2. a flipped proof hash
    h = bytearray(base64.b64decode(lines[3]))
    h[0] ^= 1
    bad_proof = "\n".join([*lines[:3], base64.b64encode(bytes(h)).decode(), *lines[4:]]) + "\n\n" + note
    # 3. a wrong index
    bad_index = "\n".join([lines[0], lines[1], "index 4", *lines[3:]]) + "\n\n" + note
    # 4. a checkpoint claiming another size (its signature no longer matches)
    bad_note = receipt.replace("\n8\n", "\n9\n", 1)
    for forged in (bad_entry, bad_proof, bad_index, bad_note):
        result = _verify(console_page, forged, fx["vkey"])
        assert result["ok"] is False, forged
    assert _verify(console_page, receipt, fx["vkey"])["ok"] is True


def test_rego_tokenizer_round_trips_and_classifies(console_page: Any) -> None:
    source = (
        "package tollgate.routing\n\nimport rego.v1\n# a comment\n"
        'deny contains r("X", "m \\"q\\"") if {\n'
        '\tt := time.parse_rfc3339_ns("2026-06-12T00:00:00Z")\n'
        "\tinput.now_ns >= t\n\tnot data.x[input.tenant]\n\tcount([1, 2.5]) == 2\n}\n"
    )
    out = console_page.evaluate(
        """async (src) => {
            const r = await import("/console/js/lib/rego.js");
            const toks = r.tokenize(src);
            const types = toks.filter(t => t.type !== "space").map(t => [t.type, t.text]);
            return {text: toks.map(t => t.text).join(""), types, lines: r.lines(toks).length};
        }""",
        source,
    )
    assert out["text"] == source
    types = {(t, x) for t, x in out["types"]}
    for expected in [("keyword", "package"), ("keyword", "contains"), ("keyword", "if"), ("comment", "# a comment"),
                     ("call", "time.parse_rfc3339_ns"), ("root", "input.now_ns"), ("number", "2.5"),
                     ("string", '"m \\"q\\""'), ("operator", ":="), ("keyword", "not")]:
        assert expected in types, expected
    assert out["lines"] == source.count("\n") + 1


def test_consistency_proofs_verify_for_every_pair_and_detect_rewrites(console_page: Any) -> None:
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(17)]
    node = merkle.list_node_getter(leaves)
    cases = []
    for n in range(1, 18):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, node) if m < n else []
            cases.append([m, n, base64.b64encode(merkle.root_of(leaves[:m])).decode(),
                          base64.b64encode(merkle.root_of(leaves[:n])).decode(),
                          [base64.b64encode(p).decode() for p in proof]])
    out = console_page.evaluate(
        """async (cases) => {
            const mk = await import("/console/js/lib/merkle.js");
            const b = await import("/console/js/lib/bytes.js");
            const bad = [];
            for (const [m, n, r1, r2, proof] of cases) {
              const p = proof.map(x => b.b64decode(x));
              const good = await mk.verifyConsistency(m, n, b.b64decode(r1), b.b64decode(r2), p);
              if (!good.ok) bad.push(["good", m, n, good.reason]);
              if (p.length) {
                const forged = p.map(x => x.slice());
                forged[0][5] ^= 1;
                const r = await mk.verifyConsistency(m, n, b.b64decode(r1), b.b64decode(r2), forged);
                if (r.ok) bad.push(["forged", m, n]);
              }
              if (m < n && (await mk.verifyConsistency(n, m, b.b64decode(r2), b.b64decode(r1), p)).ok) {
                bad.push(["shrunk", m, n]);
              }
            }
            return bad;
        }""",
        cases,
    )
    assert out == []


def test_the_browser_enforces_the_csp(browser: Any, console_only: str) -> None:
    """An injected inline script does not run: the header is strict, and Chromium applies it.
    (eval cannot be probed from here: Playwright's own evaluation bypasses the page's CSP.)"""
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{console_only}/console/")
    page.wait_for_selector("#view .page")
    ran = page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__injected = true";
            document.body.append(s);
            return {inline: window.__injected === true};
        }"""
    )
    context.close()
    assert ran == {"inline": False}
    assert violations
