from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveBroker


@pytest.fixture(scope="package")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    live = LiveBroker(Path(tmp_path_factory.mktemp("gateways-broker"))).start()
    yield live
    live.stop()


@pytest.fixture(scope="package")
def gateway_token(broker: LiveBroker) -> str:
    return broker.token("gateway")


ALLOWED = {"tenant": "demo-us-commercial", "region": "aws-bedrock:us", "model": "anthropic.claude-opus-4-7"}
DENIED = {"tenant": "demo-de-eu-resident", "region": "aws-bedrock:eu", "model": "anthropic.claude-opus-4-7"}
