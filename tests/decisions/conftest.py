"""Fixtures: a small contract-following Rego policy on the real regorus engine, sinks, tokens, app."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from broker.decisions.api import router  # noqa: E402
from broker.decisions.service import DecisionService  # noqa: E402
from broker.decisions.snapshot import SnapshotInputs, SnapshotManager  # noqa: E402
from broker.engine.factory import create_engine  # noqa: E402
from broker.http.errors import install_error_handlers  # noqa: E402
from broker.security.jwks import KeySet  # noqa: E402
from broker.security.keys import DevTokenKey, ensure_dev_token_key  # noqa: E402
from broker.security.principal import Principal  # noqa: E402
from broker.security.tokens import TokenVerifier, issue_token  # noqa: E402

ISSUER, AUDIENCE = "tollgate-test", "tollgate"
S = 10**9
NOW = 1_800_000_000 * S  # 2027-01-15T08:00:00Z: the fixed "now" of the tests
RELEASE = NOW + 3600 * S  # m-window becomes public one hour later

# Follows the decision contract of the shipped pack (broker/policy, rego/) in a few lines, so the
# service is tested on the real engine independently of the pack's evolving rules.
POLICY = r"""package tollgate.routing

import rego.v1

reg := data.tollgate.registry

default allow := false

allow if count(deny) == 0

r(code, msg) := {"code": code, "message": msg, "facts": {"marker": reg.marker}}

deny contains r("UNKNOWN_TENANT", "unknown tenant") if not reg.tenants[input.tenant]

deny contains r("UNKNOWN_MODEL", "unknown model") if not reg.models[input.model]

deny contains r("UNKNOWN_REGION", "unknown region") if not reg.targets[input.target]

deny contains r("MODEL_NOT_DEPLOYED", "not deployed here") if {
	reg.targets[input.target]
	m := reg.models[input.model]
	not m.deployments[input.target]
}

deny contains r("COVERED_FRONTIER_PRE_RELEASE", "not yet public") if {
	input.now_ns < reg.models[input.model].public_release_ns
}

deny contains r("EXPORT_RESTRICTED_MODEL", "US persons only") if {
	reg.models[input.model].us_persons_only
	not input.subject.us_person == true
}

deny contains r("SANCTIONED_JURISDICTION", "sanctioned nationality") if {
	some n in input.subject.nationalities
	n in reg.sanctioned
}

valid_until_ns := t if {
	t := reg.models[input.model].public_release_ns
	input.now_ns < t
} else := null

decision := {
	"allow": allow,
	"reasons": sort([x | some x in deny]),
	"obligations": [],
	"valid_until_ns": valid_until_ns,
}
"""


def data_doc(marker: str = "A", *, tenants: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "tollgate": {
            "registry": {
                "marker": marker,
                "sanctioned": ["KP", "IR"],
                "tenants": dict(tenants) if tenants is not None else {"acme": {}, "globex": {}},
                "targets": {
                    "aws:eu-central-1": {"members": ["aws:eu-central-1"]},
                    "aws:us-east-1": {"members": ["aws:us-east-1"]},
                    "aws-bedrock:eu": {"members": ["aws:eu-central-1", "aws:eu-west-1"]},
                },
                "models": {
                    "m-open": {"deployments": {"aws:eu-central-1": [], "aws-bedrock:eu": []}},
                    "m-window": {
                        "deployments": {"aws:eu-central-1": []},
                        "public_release_ns": RELEASE,
                    },
                    "m-us": {"deployments": {"aws:us-east-1": []}, "us_persons_only": True},
                },
            }
        }
    }


def inputs(marker: str = "A", policy_revision: str = "p1", registry_revision: int = 1,
           **kw: Any) -> SnapshotInputs:
    return SnapshotInputs({"policy.rego": POLICY}, data_doc(marker, **kw), policy_revision,
                          registry_revision)


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class ListSink:
    """An in-memory sink; ``fail`` makes every append raise."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []
        self.fail: BaseException | None = None

    def append(self, record: Mapping[str, Any]) -> int:
        if self.fail is not None:
            raise self.fail
        self.records.append(record)
        return len(self.records) - 1

    async def append_async(self, record: Mapping[str, Any]) -> int:
        return self.append(record)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def manager() -> Iterator[SnapshotManager]:
    m = SnapshotManager(lambda: create_engine("regorus"), cache_size=1000)
    m.load(inputs())
    yield m
    m.close()  # regorus engines must be freed on the thread that built them


@pytest.fixture
def service(manager: SnapshotManager, sink: ListSink, clock: Clock) -> DecisionService:
    return DecisionService(manager, sink, clock=clock)


def gateway(tenants: list[str] | None = None) -> Principal:
    return Principal(
        subject="gw-1",
        roles=frozenset({"gateway"}),
        tenants=None if tenants is None else frozenset(tenants),
    )


@pytest.fixture(scope="session")
def token_key(tmp_path_factory: pytest.TempPathFactory) -> DevTokenKey:
    return ensure_dev_token_key(tmp_path_factory.mktemp("keys"))


class Tokens:
    def __init__(self, key: DevTokenKey) -> None:
        self.key = key

    def __call__(self, *roles: str, tenants: list[str] | None = None) -> dict[str, str]:
        token = issue_token(self.key, subject="caller", roles=roles or ("gateway",),
                            issuer=ISSUER, audience=AUDIENCE, tenants=tenants)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def tokens(token_key: DevTokenKey) -> Tokens:
    return Tokens(token_key)


def make_app(service: DecisionService, key: DevTokenKey) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.token_verifier = TokenVerifier(KeySet(file=key.jwks_path), issuer=ISSUER,
                                             audience=AUDIENCE)
    app.state.decision_service = service
    return app


@pytest.fixture
def client(service: DecisionService, token_key: DevTokenKey) -> Iterator[TestClient]:
    with TestClient(make_app(service, token_key), raise_server_exceptions=False) as c:
        yield c
