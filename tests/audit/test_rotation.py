"""Rotating the running broker's log key: API, CLI, files on disk, restart, crash recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from broker.audit.cli import app as audit_cli
from broker.audit.keys import DEFAULT_KEY_FILE, load_log_key, parse_key_history
from broker.audit.note import Ed25519Signer, Ed25519Verifier, parse_note
from broker.audit.rotation import RETIRED_DIR, STAGED_SUFFIX, finish_pending_rotation
from broker.config import Settings
from broker.security.keys import write_private_key


def _signed_by(note: bytes, vkey: str) -> bool:
    text, sigs = parse_note(note)
    v = Ed25519Verifier.from_vkey(vkey)
    return any((s.name, s.key_id) == (v.name, v.key_id) and v.verify(text, s.sig) for s in sigs)


def _vkey(key: Ed25519PrivateKey) -> str:
    return Ed25519Signer(Settings().log_origin, key).vkey


def _published(client: Any) -> None:
    log = client.app.state.audit_log
    log.wait_published(log.health()["sequenced"] - 1)


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_rotation_dual_signs_publishes_the_history_and_survives_a_restart(tmp_path: Path, worker: str) -> None:
    from tests.hardening.conftest import start_in_process

    client, settings, minter = start_in_process(tmp_path, audit_worker=worker, audit_checkpoint_interval_s=0.05)
    admin = {"authorization": f"Bearer {minter.token('admin')}"}
    auditor = {"authorization": f"Bearer {minter.token('auditor')}"}
    key_file = settings.keys_dir / DEFAULT_KEY_FILE
    with client:
        old = _vkey(load_log_key(key_file))
        assert client.post("/v1/audit/keys/rotate", json={"overlap_s": 3600}, headers=auditor).status_code == 403
        bad = client.post("/v1/audit/keys/rotate", json={"overlap_s": -1}, headers=admin)
        assert bad.status_code == 422 and "overlap_s" in bad.text
        resp = client.post("/v1/audit/keys/rotate", json={"overlap_s": 3600}, headers=admin)
        assert resp.status_code == 200, resp.text
        new = resp.json()["vkey"]
        assert new != old and resp.json()["vkeys"] == [old, new]
        # The key file now holds the new key; the old one is kept under retired/.
        assert _vkey(load_log_key(key_file)) == new
        assert [_vkey(load_log_key(p)) for p in (settings.keys_dir / RETIRED_DIR).iterdir()] == [old]
        _published(client)
        note = client.get("/v1/audit/checkpoint", headers=auditor).content
        assert _signed_by(note, old) and _signed_by(note, new)  # the overlap: both sign
        history = client.get("/v1/audit/keys", headers=auditor).content
        assert _signed_by(history, old) and _signed_by(history, new)
        _, periods = parse_key_history(parse_note(history)[0])
        assert [p.vkey for p in periods] == [old, new]
        assert periods[0].not_after is not None and periods[1].not_after is None
        hits = client.get("/v1/audit/search", params={"limit": 1000}, headers=auditor).json()["items"]
        assert any(h["record"].get("action") == "key.rotate" and h["record"].get("subject") == new for h in hits)

    again, _, _ = start_in_process(tmp_path, audit_worker=worker, audit_checkpoint_interval_s=0.05)
    with again:
        _published(again)
        note = again.get("/v1/audit/checkpoint", headers=auditor).content
        assert _signed_by(note, new)


def test_the_cli_rotates_through_the_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.hardening.conftest import start_in_process

    client, _, minter = start_in_process(tmp_path, audit_worker="thread")
    runner = CliRunner()
    with client:
        # The CLI's HTTP call, into the app (TestClient has no use for a timeout).
        monkeypatch.setattr(httpx, "post", lambda url, timeout, **kw: client.post(url, **kw))
        done = runner.invoke(audit_cli, ["rotate-key", "--url", "http://testserver",
                                         "--token", minter.token("admin"), "--overlap-s", "60"])
        assert done.exit_code == 0, done.output
        assert '"overlap_s": 60.0' in done.output
        refused = runner.invoke(audit_cli, ["rotate-key", "--url", "http://testserver",
                                            "--token", minter.token("gateway")])
        assert refused.exit_code == 1 and "403" in refused.output
    missing = runner.invoke(audit_cli, ["rotate-key"], env={"TOLLGATE_TOKEN": ""})
    assert missing.exit_code == 2 and "--token" in missing.output


def test_a_staged_key_is_promoted_only_if_the_history_names_it(tmp_path: Path) -> None:
    current, staged = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    write_private_key(tmp_path / DEFAULT_KEY_FILE, current)
    write_private_key(tmp_path / (DEFAULT_KEY_FILE + STAGED_SUFFIX), staged)
    # Cut off before the log recorded it: discarded, the current key stays.
    assert finish_pending_rotation(tmp_path, [_vkey(current)]) is False
    assert not (tmp_path / (DEFAULT_KEY_FILE + STAGED_SUFFIX)).exists()
    assert _vkey(load_log_key(tmp_path / DEFAULT_KEY_FILE)) == _vkey(current)
    # Cut off after: promoted (a differently named vkey of the same key still counts).
    write_private_key(tmp_path / (DEFAULT_KEY_FILE + STAGED_SUFFIX), staged)
    other_name = Ed25519Signer("other.example/log", staged).vkey
    assert finish_pending_rotation(tmp_path, [_vkey(current), other_name]) is True
    assert _vkey(load_log_key(tmp_path / DEFAULT_KEY_FILE)) == _vkey(staged)
    assert finish_pending_rotation(tmp_path, []) is False  # nothing staged any more


def test_the_broker_finishes_a_rotation_cut_off_after_the_log_recorded_it(tmp_path: Path) -> None:
    from tests.hardening.conftest import start_in_process

    client, settings, minter = start_in_process(tmp_path, audit_worker="thread", audit_checkpoint_interval_s=0.05)
    auditor = {"authorization": f"Bearer {minter.token('auditor')}"}
    staged_path = settings.keys_dir / (DEFAULT_KEY_FILE + STAGED_SUFFIX)
    with client:
        new_key = Ed25519PrivateKey.generate()
        write_private_key(staged_path, new_key)
        client.app.state.audit_log.rotate_key(new_key, overlap_s=60)  # type: ignore[attr-defined]
        # ... and the process dies before the key file is swapped.
    again, _, _ = start_in_process(tmp_path, audit_worker="thread", audit_checkpoint_interval_s=0.05)
    with again:
        assert not staged_path.exists()
        assert _vkey(load_log_key(settings.keys_dir / DEFAULT_KEY_FILE)) == _vkey(new_key)
        _published(again)
        assert _signed_by(again.get("/v1/audit/checkpoint", headers=auditor).content, _vkey(new_key))
