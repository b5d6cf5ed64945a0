"""`decide` (main.rego) asks a concern only when the request has the fact it starts from: the test
before `some r in` on each concern's line. Those tests only save time (regorus 0.13 charges
microseconds per function call): this checks that the pack with every such test removed, so that
every concern is always asked, gives the same decisions on the fixture registry and on the
shipped catalog. It fails when a concern is changed to give reasons its test in main.rego skips.
"""

from __future__ import annotations

import re
from typing import Any

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle
from broker.policy.datadoc import compile_data_document
from broker.policy.matrix import DEFAULT_SUBJECTS, DecisionMatrix
from broker.policy.pack import load_pack
from registry.model import Registry
from tests.policy.fixture_registry import TIMES, fixture_registry

MAIN = "tollgate/routing/main.rego"
# `{r | <test>; some r in concern(args)}` (and `{o | ...}` for obligations) on one line.
GUARDED = re.compile(r"\{(?P<v>[ro]) \| [^\n]*?; some (?P=v) in (?P<call>\w+\([\w, ]*\))\}")
SUBJECTS = (
    *DEFAULT_SUBJECTS,
    {"nationalities": ["HK", "MO"], "us_person": False},
    {"nationalities": ["CU", "KH"], "us_person": True},
)


def unguarded(modules: dict[str, str]) -> tuple[dict[str, str], int]:
    """The pack with every concern asked unconditionally, and how many tests were removed."""
    text, n = GUARDED.subn(lambda m: m.group("call"), modules[MAIN])
    return {**modules, MAIN: text}, n


def _decisions(modules: dict[str, str], reg: Registry, inputs: list[dict[str, Any]]) -> list[Any]:
    engine = create_engine("regorus")
    engine.load(PolicyBundle(modules, compile_data_document(reg), "guards", 1))
    try:
        return [engine.evaluate(item) for item in inputs]
    finally:
        engine.close()


def _check(reg: Registry, now_ns: int, n: int, seed: int) -> None:
    modules = load_pack()
    plain, removed = unguarded(modules)
    # Nine concerns and the obligations: if the layout of `decide` changes, update GUARDED.
    assert removed == 10, f"expected 10 guarded concern calls in {MAIN}, found {removed}"
    inputs = DecisionMatrix.of(reg, now_ns, targets="all", subjects=SUBJECTS).sample(n, seed=seed)
    guarded, everything = _decisions(modules, reg, inputs), _decisions(plain, reg, inputs)
    differ = [(i, a, b) for i, a, b in zip(inputs, guarded, everything, strict=True) if a != b]
    assert not differ, f"{len(differ)} decisions depend on the guards in decide, e.g. {differ[0]}"


def test_guards_change_no_decision_fixture() -> None:
    _check(fixture_registry(), TIMES["now"], 3000, seed=5)


def test_guards_change_no_decision_shipped() -> None:
    from registry.io import load_shipped

    _check(load_shipped(include_demo=True), TIMES["now"], 3000, seed=6)
