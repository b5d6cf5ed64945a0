"""The policy-engine seam: what the broker needs from any Rego engine.

Adapters live next to this file (``regorus_engine``, ``regopy_engine``, ``opa_engine``) and are
created through :func:`broker.engine.factory.create_engine`. Nothing here imports an engine library.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from broker.engine.errors import EngineFailure

#: The rule every policy pack must define; its value is the decision document.
DECISION_RULE = "data.tollgate.routing.decision"


@dataclass(frozen=True)
class PolicyBundle:
    """Everything an engine evaluates: Rego modules plus the data document, with their revisions."""

    modules: Mapping[str, str]  # file name -> Rego v1 source
    data: Mapping[str, Any]  # the base document, JSON-compatible
    policy_revision: str
    registry_revision: int


Outcome = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class RuleTestResult:
    """One ``test_*`` rule: pass iff it evaluated to ``true`` (undefined or other values fail)."""

    __test__ = False  # not a pytest class

    package: str  # e.g. "tollgate.routing"
    name: str  # e.g. "test_unknown_tenant"
    file: str
    outcome: Outcome
    message: str = ""
    duration_us: float = 0.0

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True)
class FileCoverage:
    """Line coverage of one module, as reported by the engine (lines are 1-based)."""

    file: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        total = len(self.covered) + len(self.not_covered)
        return 100.0 if total == 0 else 100.0 * len(self.covered) / total


@dataclass(frozen=True)
class TestReport:
    """Result of :meth:`PolicyEngine.run_tests`. ``coverage`` is None when the engine has none."""

    __test__ = False

    engine: str
    results: tuple[RuleTestResult, ...]
    coverage: Mapping[str, FileCoverage] | None = field(default=None)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.outcome == "pass" for r in self.results)

    def summary(self) -> str:
        lines = [f"{r.outcome.upper():5} {r.path} ({r.file}) {r.message}".rstrip() for r in self.results]
        lines.append(
            f"{self.engine}: {self.count('pass')} passed, {self.count('fail')} failed, {self.count('error')} errors"
        )
        for cov in (self.coverage or {}).values():
            lines.append(f"coverage {cov.file}: {cov.percent:.1f}%")
        return "\n".join(lines)


class PolicyEngine(abc.ABC):
    """A loaded Rego engine. ``evaluate`` is safe to call from any thread once ``load`` returned."""

    name: str
    version: str

    @abc.abstractmethod
    def load(self, bundle: PolicyBundle) -> None:
        """Compile ``bundle`` and make it current; PolicyCompileError if it does not compile."""

    @abc.abstractmethod
    def query(self, rule_path: str, input: Mapping[str, Any] | None = None) -> Any:
        """Value of ``rule_path`` (e.g. ``data.pkg.rule``); UndefinedResult if it is undefined."""

    def evaluate(self, input: Mapping[str, Any]) -> dict[str, Any]:
        """The decision document for ``input``. Undefined or non-object → EngineFailure."""
        value = self.query(DECISION_RULE, input)
        if not isinstance(value, dict):
            raise EngineFailure(f"{self.name}: {DECISION_RULE} is not an object (got {type(value).__name__})")
        return value

    @abc.abstractmethod
    def run_tests(self, filter: str | None = None) -> TestReport:
        """Run every ``test_*`` rule of the loaded modules whose path matches regex ``filter``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release engine resources; later calls fail with EngineFailure."""

    @property
    def bundle(self) -> PolicyBundle | None:
        """The bundle currently loaded (None before ``load``)."""
        return None


_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
# A test is a rule whose name starts with test_, written at the start of a line (as `opa fmt` does);
# functions (`test_x(a) := ...`) are excluded, like `opa test` does.
_TEST_RULE = re.compile(r"^(test_\w*)\b(?!\s*\()", re.MULTILINE)


def discover_tests(modules: Mapping[str, str], filter: str | None) -> list[tuple[str, str, str]]:
    """(package, rule name, file) of each ``test_*`` rule, in file order, deduplicated."""
    pattern = re.compile(filter) if filter else None
    found: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for file in sorted(modules):
        source = modules[file]
        package = _PACKAGE.search(source)
        if package is None:
            continue
        for match in _TEST_RULE.finditer(source):
            key = (package.group(1), match.group(1))
            if key in seen:
                continue
            seen.add(key)
            if pattern is None or pattern.search(f"data.{key[0]}.{key[1]}"):
                found.append((key[0], key[1], file))
    return found
