"""Find and load the default policy pack (``rego/`` at the repository root).

``DEFAULT_PACK_DIR`` is resolved here and nowhere else. In a source checkout the pack sits at
``<repo>/rego``; in an installed wheel it is mapped as the top-level ``rego`` package directory
(package-data). ``TOLLGATE_POLICY_DIR`` overrides both, for operators shipping their own pack.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_ENV = "TOLLGATE_POLICY_DIR"
TEST_SUFFIX = "_test.rego"


def _resolve_default() -> Path:
    override = os.environ.get(_ENV)
    if override:
        return Path(override).resolve()
    # Source checkout: broker/policy/pack.py -> <repo>/rego
    checkout = Path(__file__).resolve().parents[2] / "rego"
    if checkout.is_dir():
        return checkout
    # Installed wheel: `rego` is mapped as a top-level package directory in site-packages; it is
    # data only (no __init__.py), so find it next to the installed `broker` package.
    import broker

    for base in getattr(broker, "__path__", []):
        candidate = Path(base).resolve().parent / "rego"
        if candidate.is_dir():
            return candidate
    return checkout  # does not exist: load_pack then raises a clear FileNotFoundError


DEFAULT_PACK_DIR: Path = _resolve_default()


@dataclass(frozen=True)
class Pack:
    """A pack split into serving modules and unit-test modules, keyed by path relative to its root."""

    directory: Path
    policies: dict[str, str]
    tests: dict[str, str]

    @property
    def all_modules(self) -> dict[str, str]:
        return {**self.policies, **self.tests}

    @property
    def revision(self) -> str:
        """Content hash of the serving modules (tests do not change decisions)."""
        h = hashlib.sha256()
        for name in sorted(self.policies):
            h.update(name.encode() + b"\0" + self.policies[name].encode() + b"\0")
        return "sha256:" + h.hexdigest()


def read_pack(directory: Path | None = None) -> Pack:
    """Every ``*.rego`` under ``directory`` (default the shipped pack), split by ``*_test.rego``."""
    root = (directory or DEFAULT_PACK_DIR).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"policy pack directory not found: {root} (set {_ENV}?)")
    policies: dict[str, str] = {}
    tests: dict[str, str] = {}
    for path in sorted(root.rglob("*.rego")):
        name = path.relative_to(root).as_posix()
        (tests if path.name.endswith(TEST_SUFFIX) else policies)[name] = path.read_text("utf-8")
    if not policies:
        raise FileNotFoundError(f"no policy modules (*.rego) under {root}")
    return Pack(root, policies, tests)


def load_pack(directory: Path | None = None, *, include_tests: bool = False) -> dict[str, str]:
    """Policy modules of a pack (file name -> source); with ``include_tests`` also ``*_test.rego``."""
    pack = read_pack(directory)
    return pack.all_modules if include_tests else dict(pack.policies)
