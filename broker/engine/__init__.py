"""Policy-engine seam: load Rego modules + a data document, evaluate routing decisions.

Use :func:`create_engine` (``"regorus"`` default, ``"regopy"`` referee, ``"opa"`` server) and the
:class:`PolicyEngine` interface; adapters are imported lazily by the factory.
"""

from broker.engine.errors import Diagnostic, EngineFailure, PolicyCompileError, UndefinedResult
from broker.engine.factory import DEFAULT_ENGINE, ENGINES, create_engine
from broker.engine.interface import (
    DECISION_RULE,
    FileCoverage,
    PolicyBundle,
    PolicyEngine,
    RuleTestResult,
    TestReport,
)

__all__ = [
    "DECISION_RULE",
    "DEFAULT_ENGINE",
    "ENGINES",
    "Diagnostic",
    "EngineFailure",
    "FileCoverage",
    "PolicyBundle",
    "PolicyCompileError",
    "PolicyEngine",
    "RuleTestResult",
    "TestReport",
    "UndefinedResult",
    "create_engine",
]
