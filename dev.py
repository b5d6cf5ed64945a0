#!/usr/bin/env python3
"""The two quick-start commands, runnable with nothing but Python 3.11+.

    python3 dev.py serve [tollgate serve options]   # start the broker on embedded defaults
    python3 dev.py test  [pytest options]           # ruff, mypy --strict, then the whole test suite

Both create ``.venv`` next to this file on first use and (re)install the project into it
whenever ``pyproject.toml`` changes, so a fresh clone needs no other set-up step.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".tollgate-installed"


def _run(*cmd: str | os.PathLike[str]) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_env() -> None:
    """Create the virtual environment and install the project with its dev extras."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must explain itself on old Pythons
        sys.exit(f"Tollgate needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [BIN / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run(*pip, "--upgrade", "pip") != 0 or _run(*pip, "-e", ".[dev]") != 0:
        sys.exit("installing the project into .venv failed (see the pip output above)")
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"serve", "test", "install"}:
        print(__doc__)
        return 2
    ensure_env()
    command, rest = argv[0], argv[1:]
    if command == "install":
        return 0
    if command == "serve":
        return _run(BIN / "tollgate", "serve", *(rest or ["--demo"]))
    steps = [
        [BIN / "ruff", "check", "broker", "registry", "tests", "benchmarks", "dev.py"],
        [BIN / "mypy", "--strict", "broker", "registry"],
        [BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", *rest],
    ]
    for step in steps:
        code = _run(*step)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
