"""Shared fixtures: the hand-built registry compiled once, and a regorus engine loaded with the pack."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.policy.datadoc import compile_data_document
from broker.policy.pack import load_pack
from tests.policy.fixture_registry import TIMES, fixture_registry

# Rust backtraces make every engine error kilobytes long; they help nobody in a test report.
os.environ.setdefault("RUST_BACKTRACE", "0")


@pytest.fixture(scope="session")
def fixture_doc() -> dict[str, Any]:
    return compile_data_document(fixture_registry())


@pytest.fixture(scope="session")
def engine(fixture_doc: dict[str, Any]) -> Iterator[PolicyEngine]:
    eng = create_engine("regorus")
    eng.load(PolicyBundle(load_pack(), fixture_doc, "test", 1))
    yield eng
    eng.close()


Decide = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def decide(engine: PolicyEngine) -> Decide:
    def run(**over: Any) -> dict[str, Any]:
        item: dict[str, Any] = {
            "tenant": "acme",
            "target": "aws:us-east-1",
            "model": "meta.llama",
            "subject": None,
            "now_ns": TIMES["now"],
        }
        item.update(over)
        return engine.evaluate(item)

    return run
