"""Witnesses configured through Settings: the running broker has its checkpoints cosigned."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from broker.audit.keys import load_or_create_log_key
from broker.audit.note import Ed25519Signer
from broker.audit.witness import require_cosignatures
from broker.config import Settings

from .witness_server import Witness, WitnessHttpServer


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_a_configured_witness_cosigns_the_brokers_checkpoints(tmp_path: Path, worker: str) -> None:
    from tests.hardening.conftest import ALLOWED, start_in_process

    origin = Settings().log_origin
    log_key = load_or_create_log_key(Settings(data_dir=tmp_path).keys_dir)
    witness = Witness("witness.test", Ed25519Signer(origin, log_key).vkey)
    with WitnessHttpServer(witness) as server:
        client, _, minter = start_in_process(
            tmp_path, audit_worker=worker, audit_checkpoint_interval_s=0.05,
            audit_witnesses=[{"url": server.url, "vkey": witness.verifier.vkey}])
        gateway = {"authorization": f"Bearer {minter.token('gateway')}"}
        auditor = {"authorization": f"Bearer {minter.token('auditor')}"}
        with client:
            log = client.app.state.audit_log  # type: ignore[attr-defined]
            assert client.post("/v1/preflight", json=ALLOWED, headers=gateway).status_code == 200
            log.wait_published(log.health()["sequenced"] - 1)
            deadline = time.monotonic() + 10
            while True:  # the record may be published by a checkpoint cosigned just before it
                note = client.get("/v1/audit/checkpoint", headers=auditor).content
                try:
                    assert require_cosignatures(note, [witness.verifier], 1) == ["witness.test"]
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            health = log.health()
            assert health["witness_errors"] == {} and health["status"] == "ok"
    assert witness.requests >= 1


def test_an_unreachable_witness_degrades_health_but_appends_go_on(tmp_path: Path) -> None:
    from tests.hardening.conftest import ALLOWED, start_in_process

    witness = Witness("witness.test", Ed25519Signer("x", load_or_create_log_key(tmp_path / "k")).vkey)
    client, _, minter = start_in_process(
        tmp_path, audit_checkpoint_interval_s=0.05,
        audit_witnesses=[{"url": "http://127.0.0.1:9/", "vkey": witness.verifier.vkey}])  # discard port
    with client:
        gateway = {"authorization": f"Bearer {minter.token('gateway')}"}
        assert client.post("/v1/preflight", json=ALLOWED, headers=gateway).status_code == 200
        log = client.app.state.audit_log  # type: ignore[attr-defined]
        log.wait_published(log.health()["sequenced"] - 1)
        health = log.health()
        assert health["status"] == "degraded"
        assert "witness.test" in health["witness_errors"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"url": "ftp://w.example/", "vkey": "VKEY"}, "audit_witnesses[0].url must be an http(s) URL"),
    ({"url": "https://w.example/", "vkey": "not-a-vkey"}, "audit_witnesses[0].vkey"),
])
def test_malformed_witness_settings_name_the_entry(entry: dict[str, str], message: str) -> None:
    good = _witness_vkey("w.example")
    entry = {k: (good if v == "VKEY" else v) for k, v in entry.items()}
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings(audit_witnesses=[entry])


def test_a_witness_listed_twice_is_refused() -> None:
    vkey = _witness_vkey("w.example")
    with pytest.raises(ValidationError, match=re.escape("witness w.example is listed twice")):
        Settings(audit_witnesses=[{"url": "https://a.example/", "vkey": vkey},
                                  {"url": "https://b.example/", "vkey": vkey}])


def test_witnesses_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    vkey = _witness_vkey("w.example")
    monkeypatch.setenv("TOLLGATE_AUDIT_WITNESSES", f'[{{"url": "https://w.example/", "vkey": "{vkey}"}}]')
    [w] = Settings().audit_witnesses
    assert (w.url, w.vkey) == ("https://w.example/", vkey)


def _witness_vkey(name: str) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from broker.audit.witness import Cosigner

    return Cosigner(name, Ed25519PrivateKey.generate()).verifier.vkey
