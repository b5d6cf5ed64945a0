"""CLI: export, verify (exit 0/1/2), prove, receipt, verify-receipt."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from broker.audit.cli import app
from broker.audit.log import AuditLog

from .conftest import LogFactory, make_decision

runner = CliRunner()


def _log(make_log: LogFactory) -> AuditLog:
    log = make_log()
    log.append_many([make_decision(i) for i in range(520)])
    log.wait_published(519)
    return log


def test_export_and_verify(make_log: LogFactory, tmp_path: Path) -> None:
    log = _log(make_log)
    data_dir = str(tmp_path / "log")
    (tmp_path / "trusted.cp").write_bytes(log.checkpoint_note())
    (tmp_path / "log.vkey").write_text(log.vkeys[0] + "\n")
    res = runner.invoke(app, ["export", "--out", str(tmp_path / "e"), "--data-dir", data_dir])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["verify", str(tmp_path / "e"), "--key", log.vkeys[0],
                              "--trusted-checkpoint", str(tmp_path / "trusted.cp")])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("VERIFIED") or "VERIFIED" in res.output
    res = runner.invoke(app, ["export", "--out", str(tmp_path / "e.tar.gz"), "--from", "10",
                              "--to", "20", "--data-dir", data_dir])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["verify", str(tmp_path / "e.tar.gz"), "--key",
                              str(tmp_path / "log.vkey")])
    assert res.exit_code == 0, res.output
    bundle = tmp_path / "e/tile/entries/001"
    bundle.write_bytes(bundle.read_bytes()[:-1] + b"!")
    res = runner.invoke(app, ["verify", str(tmp_path / "e"), "--key", log.vkeys[0]])
    assert res.exit_code == 1 and "FAILED at manifest" in res.output


def test_usage_errors_exit_2(make_log: LogFactory, tmp_path: Path) -> None:
    log = _log(make_log)
    data_dir = str(tmp_path / "log")
    assert runner.invoke(app, ["verify", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["verify", str(tmp_path), "--min-witnesses", "1"]).exit_code == 2
    assert runner.invoke(app, ["verify", "--bogus"]).exit_code == 2
    assert runner.invoke(app, ["export", "--out", str(tmp_path / "x"), "--data-dir",
                               str(tmp_path / "nolog")]).exit_code == 2
    assert runner.invoke(app, ["export", "--out", str(tmp_path / "x"), "--to", "9999",
                               "--data-dir", data_dir]).exit_code == 2
    assert runner.invoke(app, ["prove", "--data-dir", data_dir]).exit_code == 2
    assert log.vkeys


def test_prove_and_receipt(make_log: LogFactory, tmp_path: Path) -> None:
    log = _log(make_log)
    data_dir = str(tmp_path / "log")
    res = runner.invoke(app, ["prove", "--decision-id", "dec-300", "--data-dir", data_dir])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["index"] == 300 and body["tree_size"] == 520 and len(body["proof"]) == 10
    res = runner.invoke(app, ["prove", "--consistency-from", "100", "--data-dir", data_dir])
    assert res.exit_code == 0 and json.loads(res.output)["old_size"] == 100
    out = tmp_path / "r.tlog-proof"
    res = runner.invoke(app, ["receipt", "--index", "42", "--out", str(out), "--data-dir",
                              data_dir])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["verify-receipt", str(out), "--key", log.vkeys[0]])
    assert res.exit_code == 0 and "VERIFIED: leaf 42" in res.output
    out.write_bytes(out.read_bytes().replace(b"index 42", b"index 41"))
    res = runner.invoke(app, ["verify-receipt", str(out), "--key", log.vkeys[0]])
    assert res.exit_code == 1 and "FAILED" in res.output
