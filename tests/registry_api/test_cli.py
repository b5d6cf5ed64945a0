"""``tollgate registry ...`` commands against a SQLite file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from broker.registry.cli import app
from broker.storage import create_store
from registry.io import dump_registry
from tests.storage.sample import sample_registry

runner = CliRunner()


def _db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]


def _sample_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    dump_registry(sample_registry(5), src)
    return src


def test_validate(tmp_path: Path) -> None:
    src = _sample_dir(tmp_path)
    r = runner.invoke(app, ["validate", str(src)])
    assert r.exit_code == 0, r.output
    assert "is valid" in r.output


def test_bad_file_names_file_path_line_and_changes_nothing(tmp_path: Path) -> None:
    src = _sample_dir(tmp_path)
    assert runner.invoke(app, ["import", str(src), *_db(tmp_path)]).exit_code == 0
    scopes = src / "scopes.yaml"
    text = scopes.read_text().replace("aws:eu-west-2", "aws:eu-nowhere-9")
    scopes.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "aws:eu-nowhere-9" in s)
    for cmd in (["validate", str(src)], ["import", str(src), *_db(tmp_path)]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 1
        assert f"scopes.yaml:{line}" in r.output, r.output
        assert "members[1]" in r.output and "unknown region 'aws:eu-nowhere-9'" in r.output
    store = create_store(f"sqlite:///{tmp_path / 'cli.db'}")
    assert store.history().total == 1
    store.close()


def test_import_export_history_diff_round_trip(tmp_path: Path) -> None:
    src = _sample_dir(tmp_path)
    r = runner.invoke(app, ["import", str(src), "-m", "first load", "--author", "cli-test", *_db(tmp_path)])
    assert r.exit_code == 0 and r.output.startswith("revision 1 sha256:"), r.output
    assert "no change" in runner.invoke(app, ["import", str(src), *_db(tmp_path)]).output
    out = tmp_path / "out"
    assert runner.invoke(app, ["export", "--out", str(out), *_db(tmp_path)]).exit_code == 0
    for p in src.iterdir():  # export of an import is byte-identical to the input
        assert (out / p.name).read_bytes() == p.read_bytes()

    (out / "tenants.yaml").write_text((out / "tenants.yaml").read_text().replace("Tenant tenant-00001", "Renamed"))
    assert runner.invoke(app, ["import", str(out), *_db(tmp_path)]).exit_code == 0
    r = runner.invoke(app, ["history", *_db(tmp_path)])
    assert "cli-test" in r.output and "first load" in r.output and "(2 of 2 revisions)" in r.output
    r = runner.invoke(app, ["diff", "1", "2", *_db(tmp_path)])
    assert "~ tenant tenant-00001" in r.output and '"Renamed"' in r.output
    assert runner.invoke(app, ["diff", "1", "5", *_db(tmp_path)]).exit_code == 1
    past = tmp_path / "past"
    assert runner.invoke(app, ["export", "--out", str(past), "--revision", "1", *_db(tmp_path)]).exit_code == 0
    assert (past / "tenants.yaml").read_bytes() == (src / "tenants.yaml").read_bytes()


def test_default_database_under_data_dir(tmp_path: Path) -> None:
    src = _sample_dir(tmp_path)
    r = runner.invoke(app, ["import", str(src), "--data-dir", str(tmp_path / "d")],
                      env={"TOLLGATE_DATABASE_URL": ""})
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / "tollgate.db").exists()


def test_missing_path_and_unreachable_database(tmp_path: Path) -> None:
    r = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "does not exist" in r.output
    src = _sample_dir(tmp_path)
    r = runner.invoke(app, ["import", str(src), "--database-url", "postgresql+psycopg://x@127.0.0.1:1/x"])
    assert r.exit_code == 1 and "error:" in r.output
