"""Shared fixtures for the engine tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The package is not installed in the venv; make the repo root importable when pytest is run
# through the .venv/bin/pytest entry point.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from broker.engine.interface import PolicyBundle  # noqa: E402

POLICY = """package tollgate.routing

import rego.v1

default allow := false

allow if {
	input.tenant in data.tenants_ok
	not input.region in data.blocked
}

decision := {"allow": allow, "now_ns": input.now_ns, "flag": data.flag}

explode := strings.count(input.s, "")
"""

TESTS = """package tollgate.routing

import rego.v1

test_allow_known if {
	allow with input.tenant as "t1"
}

test_deny_blocked_fails if {
	allow with input.region as "x"
}

test_count_panics if {
	strings.count("abc", "") == 0
}
"""

DATA = {"tenants_ok": ["t1"], "blocked": ["x"], "flag": False}


@pytest.fixture
def bundle() -> PolicyBundle:
    return PolicyBundle({"routing.rego": POLICY}, DATA, "rev-1", 1)


@pytest.fixture
def bundle_with_tests() -> PolicyBundle:
    return PolicyBundle({"routing.rego": POLICY, "routing_test.rego": TESTS}, DATA, "rev-1", 1)
