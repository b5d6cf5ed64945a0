"""OPA adapter: against a fake OPA REST server always, against a real ``opa`` when on PATH."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from adapter_contract import NS, check_evaluate, check_non_object_decision, check_undefined_decision
from fake_opa import FakeOpa

from broker.engine.errors import EngineFailure, PolicyCompileError
from broker.engine.interface import PolicyBundle
from broker.engine.opa_engine import OpaEngine


@pytest.fixture
def fake() -> Iterator[FakeOpa]:
    with FakeOpa() as server:
        yield server


def test_fake_load_pushes_modules_and_data(fake: FakeOpa, bundle: PolicyBundle) -> None:
    engine = OpaEngine(url=fake.url)
    check_evaluate(engine, bundle)
    assert ("PUT", "/v1/policies/tollgate/routing.rego") in fake.requests
    assert {p for m, p in fake.requests if m == "PUT" and p.startswith("/v1/data/")} == {
        "/v1/data/tenants_ok",
        "/v1/data/blocked",
        "/v1/data/flag",
    }
    assert ("POST", "/v1/data/tollgate/routing/decision") in fake.requests
    assert engine.version == "0.0.0-fake"


def test_fake_parse_error_located(fake: FakeOpa) -> None:
    engine = OpaEngine(url=fake.url)
    with pytest.raises(PolicyCompileError) as info:
        engine.load(PolicyBundle({"bad.rego": "package x\n\nimport rego.v1\n\np if {\n  x := \n}\n"}, {}, "r", 1))
    d = info.value.diagnostics[0]
    assert (d.file, d.line) == ("tollgate/bad.rego", 6) and d.column > 0


def test_fake_undefined_and_non_object(fake: FakeOpa) -> None:
    check_undefined_decision(OpaEngine(url=fake.url))
    check_non_object_decision(OpaEngine(url=fake.url))


def test_fake_server_error_is_engine_failure(fake: FakeOpa, bundle: PolicyBundle) -> None:
    engine = OpaEngine(url=fake.url)
    engine.load(bundle)
    fake.fail_next_eval_with = 500
    with pytest.raises(EngineFailure, match="500"):
        engine.evaluate({"tenant": "t1", "now_ns": NS})


def test_unreachable_is_engine_failure(bundle: PolicyBundle) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = OpaEngine(url=f"http://127.0.0.1:{port}", timeout=0.5)
    with pytest.raises(EngineFailure):
        engine.load(bundle)
    with pytest.raises(EngineFailure):
        engine.query("data.tollgate.routing.decision", {})


def test_fake_run_tests(fake: FakeOpa, bundle_with_tests: PolicyBundle) -> None:
    engine = OpaEngine(url=fake.url)
    engine.load(bundle_with_tests)
    report = engine.run_tests()
    assert {r.name: r.outcome for r in report.results} == {
        "test_allow_known": "pass",
        "test_deny_blocked_fails": "fail",
        "test_count_panics": "error",
    }


def test_fake_removed_module_is_deleted(fake: FakeOpa, bundle_with_tests: PolicyBundle, bundle: PolicyBundle) -> None:
    engine = OpaEngine(url=fake.url)
    engine.load(bundle_with_tests)
    engine.load(bundle)
    assert ("DELETE", "/v1/policies/tollgate/routing_test.rego") in fake.requests


@pytest.fixture
def real_opa() -> Iterator[str]:
    binary = shutil.which("opa")
    if binary is None:
        pytest.skip("opa binary not on PATH; the OPA adapter is tested against fake_opa.FakeOpa only")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "run", "--server", "--addr", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_opa(real_opa: str, bundle_with_tests: PolicyBundle) -> None:
    engine = OpaEngine(url=real_opa)
    check_evaluate(
        engine,
        PolicyBundle({"routing.rego": bundle_with_tests.modules["routing.rego"]}, bundle_with_tests.data, "r", 1),
    )
    engine.load(bundle_with_tests)
    report = engine.run_tests()
    assert report.count("pass") == 1
