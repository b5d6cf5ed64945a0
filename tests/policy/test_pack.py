"""The pack's Rego unit tests, run through the default engine (like `opa test`), and the loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle, TestReport
from broker.policy.pack import DEFAULT_PACK_DIR, read_pack
from tests.policy.fixture_registry import FIXTURE_REGO, fixture_rego


@pytest.fixture(scope="module")
def report() -> TestReport:
    pack = read_pack()
    eng = create_engine("regorus")
    eng.load(PolicyBundle(pack.all_modules, {}, pack.revision, 0))
    return eng.run_tests()


def test_pack_found_and_split() -> None:
    pack = read_pack()
    assert pack.directory == DEFAULT_PACK_DIR.resolve()
    assert "tollgate/routing/main.rego" in pack.policies
    assert all(not name.endswith("_test.rego") for name in pack.policies)
    assert "tollgate/routing/fixture_test.rego" in pack.tests


def test_missing_pack_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_pack(tmp_path / "absent")


def test_generated_fixture_is_current() -> None:
    assert FIXTURE_REGO.read_text("utf-8") == fixture_rego(), (
        "rego/tollgate/routing/fixture_test.rego is stale: run python -m tests.policy.fixture_registry"
    )


def test_every_rego_unit_test_passes(report: TestReport) -> None:
    failures = [f"{r.path} ({r.file}): {r.outcome} {r.message}" for r in report.results if r.outcome != "pass"]
    assert len(report.results) >= 80
    assert not failures, "\n".join(failures)


def test_serving_modules_fully_exercised(report: TestReport) -> None:
    assert report.coverage is not None
    pack = read_pack()
    for name in pack.policies:
        cov = report.coverage[name]
        # Two lines are `else := false` branches of fact renderers that no fixture reaches.
        assert cov.percent >= 95.0, f"{name}: {cov.percent:.1f}% (not covered {cov.not_covered})"


def test_every_reason_code_has_unit_tests() -> None:
    readme = (DEFAULT_PACK_DIR / "README.md").read_text("utf-8")
    sources = "\n".join(read_pack().policies.values())
    tests = "\n".join(read_pack().tests.values())
    for code in CODES:
        assert f"`{code}`" in readme, f"{code} not documented in rego/README.md"
        assert f'"{code}"' in sources, f"{code} not produced by any rule"
        assert f'"{code}"' in tests, f"{code} not tested in Rego"


CODES = (
    "UNKNOWN_TENANT",
    "UNKNOWN_MODEL",
    "UNKNOWN_REGION",
    "INVALID_INPUT",
    "TENANT_SUSPENDED",
    "MODEL_NOT_DEPLOYED",
    "SANCTIONED_JURISDICTION",
    "EMBARGOED_DESTINATION",
    "EXPORT_RESTRICTED_MODEL",
    "COVERED_FRONTIER_PRE_RELEASE",
    "RESIDENCY_VIOLATION",
    "PROVIDER_TERMS",
    "ENTITY_LIST_PROVIDER",
    "CN_FILING_REQUIRED",
)
