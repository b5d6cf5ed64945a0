"""The differential check: regorus vs regopy, on the fixture registry and on the shipped catalog."""

from __future__ import annotations

import time
from typing import Any

import pytest
from typer.testing import CliRunner

from broker.policy.cli import app
from broker.policy.datadoc import compile_data_document
from broker.policy.differential import canonical, run_differential
from broker.policy.matrix import DecisionMatrix
from broker.policy.pack import load_pack
from tests.policy.fixture_registry import TIMES, fixture_registry

NOW = TIMES["now"]


def test_matrix_indexing_and_sampling() -> None:
    m = DecisionMatrix.of(fixture_registry(), NOW)
    assert len(m) == len(m.tenants) * len(m.targets) * len(m.models) * len(m.subjects) * len(m.times)
    assert m[0]["tenant"] == m.tenants[0] and m[len(m) - 1]["now_ns"] == m.times[-1]
    assert NOW in m.times and TIMES["exempt"] in m.times
    a, b = m.sample(50, seed=7), m.sample(50, seed=7)
    assert a == b and len({canonical(x) for x in a}) == 50
    assert m.sample(10, seed=8) != m.sample(10, seed=7)
    bounded = DecisionMatrix.of(fixture_registry(), NOW, start_ns=NOW, end_ns=NOW)
    assert bounded.times == (NOW,)


def test_normalisation() -> None:
    assert canonical({"a": 1.0, "b": [0.5]}) == canonical({"b": [0.5], "a": 1})


def test_differential_fixture_registry() -> None:
    m = DecisionMatrix.of(fixture_registry(), NOW)
    report = run_differential(
        ["regorus", "regopy"], load_pack(), compile_data_document(fixture_registry()), m.sample(600, seed=1)
    )
    assert report.evaluated == 600
    assert report.ok, report.summary() + "\n" + "\n".join(str(d) for d in report.disagreements[:5])


# Not marked slow on purpose: the issue requires this check in the default test run (~1 min,
# almost all of it regopy at ~30 ms per decision).
def test_differential_shipped_catalog_2000() -> None:
    from registry.io import load_shipped

    reg = load_shipped(include_demo=True)
    if not reg.models or not reg.tenants:
        pytest.skip("shipped catalog or demo tenants not present yet")
    m = DecisionMatrix.of(reg, NOW)
    started = time.perf_counter()
    inputs = m.sample(2000, seed=20261122)
    report = run_differential(["regorus", "regopy"], load_pack(), compile_data_document(reg), inputs)
    elapsed = time.perf_counter() - started
    print(f"\n{m.describe()}\n{report.summary()} total {elapsed:.1f}s")
    assert report.evaluated == 2000
    assert report.ok, report.summary() + "\n" + "\n".join(str(d) for d in report.disagreements[:5])


def test_cli_check_reports_and_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    import registry.io

    monkeypatch.setattr(registry.io, "load_shipped", lambda include_demo=False: fixture_registry())
    result = CliRunner().invoke(app, ["check", "--sample", "40", "--seed", "3", "--at", "2026-11-22T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "0 disagreements" in result.output


def test_cli_check_exit_1_on_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    import broker.policy.cli as cli
    from broker.policy.differential import DifferentialReport, Disagreement

    def fake(*_: Any, **__: Any) -> DifferentialReport:
        r = DifferentialReport(("a", "b"), evaluated=1)
        r.disagreements.append(Disagreement({"tenant": "t"}, {"a": {"allow": True}, "b": {"allow": False}}))
        return r

    import registry.io

    monkeypatch.setattr(registry.io, "load_shipped", lambda include_demo=False: fixture_registry())
    monkeypatch.setattr(cli, "run_differential", fake)
    result = CliRunner().invoke(app, ["check", "--sample", "1"])
    assert result.exit_code == 1
    assert "DISAGREEMENT" in result.output and '"allow": false' in result.output


def test_cli_test_command() -> None:
    result = CliRunner().invoke(app, ["test"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output and "coverage" in result.output
