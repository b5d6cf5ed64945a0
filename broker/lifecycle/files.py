"""A policy set as files, its content address, and where it can come from (a directory or git).

A set holds Rego modules (``*.rego``), their unit tests (``*_test.rego``) and policy-owned data
(``data.json`` files, placed like in an OPA bundle: ``a/b/data.json`` becomes ``data.a.b``).

The version id is the SHA-256 of a canonical manifest listing every file's path and content hash,
so the same content always gets the same id wherever and whenever it is pushed, and nothing about
who pushed it (author, message, time, parent) changes it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.lifecycle.errors import InvalidPolicySet

MANIFEST_FORMAT = "tollgate.policy-set/1"
TEST_SUFFIX = "_test.rego"
DATA_FILE = "data.json"
MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_BYTES = 10_000_000
MAX_FILES = 500
# The registry owns this part of the data document; a policy set may not shadow it.
RESERVED_DATA_PREFIX = ("tollgate", "registry")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def is_policy_file(path: str) -> bool:
    return path.endswith(".rego") or posixpath.basename(path) == DATA_FILE


def _check_path(path: str) -> str:
    norm = posixpath.normpath(path)
    if (
        not path
        or path != norm
        or path.startswith(("/", "../"))
        or path == ".."
        or "\\" in path
        or "\0" in path
        or len(path) > 300
    ):
        raise InvalidPolicySet(f"invalid file path {path!r}: use a relative POSIX path without '..'")
    if not is_policy_file(path):
        raise InvalidPolicySet(f"{path}: only *.rego modules and data.json files belong to a policy set")
    return path


@dataclass(frozen=True)
class PolicySet:
    """Immutable file contents keyed by relative path. Construct with :meth:`of` to validate."""

    files: Mapping[str, str]
    _data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, files: Mapping[str, str]) -> PolicySet:
        if not files:
            raise InvalidPolicySet("a policy set needs at least one file")
        if len(files) > MAX_FILES:
            raise InvalidPolicySet(f"too many files ({len(files)} > {MAX_FILES})")
        total = 0
        for path, text in files.items():
            _check_path(path)
            size = len(text.encode("utf-8"))
            if size > MAX_FILE_BYTES:
                raise InvalidPolicySet(f"{path}: {size} bytes exceeds the {MAX_FILE_BYTES}-byte limit")
            total += size
        if total > MAX_TOTAL_BYTES:
            raise InvalidPolicySet(f"policy set is {total} bytes; the limit is {MAX_TOTAL_BYTES}")
        ordered = {p: files[p] for p in sorted(files)}
        if not any(p.endswith(".rego") and not p.endswith(TEST_SUFFIX) for p in ordered):
            raise InvalidPolicySet("a policy set needs at least one policy module (*.rego other than *_test.rego)")
        return cls(ordered, _policy_data(ordered))

    # --- content address ------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "files": [{"path": p, "sha256": sha256_text(t), "bytes": len(t.encode())} for p, t in self.files.items()],
        }

    @property
    def version_id(self) -> str:
        return hashlib.sha256(canonical_json(self.manifest())).hexdigest()

    # --- views -----------------------------------------------------------------------------------

    @property
    def modules(self) -> dict[str, str]:
        """Serving modules (what pre-flight loads)."""
        return {p: t for p, t in self.files.items() if p.endswith(".rego") and not p.endswith(TEST_SUFFIX)}

    @property
    def tests(self) -> dict[str, str]:
        return {p: t for p, t in self.files.items() if p.endswith(TEST_SUFFIX)}

    @property
    def rego(self) -> dict[str, str]:
        """Modules and tests: what validation compiles."""
        return {p: t for p, t in self.files.items() if p.endswith(".rego")}

    @property
    def data(self) -> dict[str, Any]:
        """Policy-owned data, merged from every ``data.json`` at its directory's path."""
        copy: dict[str, Any] = json.loads(json.dumps(self._data))  # callers may merge into it
        return copy


def _policy_data(files: Mapping[str, str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path, text in files.items():
        if posixpath.basename(path) != DATA_FILE:
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidPolicySet(f"{path}: not valid JSON: {exc}", details={"file": path}) from exc
        prefix = [part for part in posixpath.dirname(path).split("/") if part]
        if not prefix and not isinstance(value, dict):
            raise InvalidPolicySet(f"{path}: a top-level data.json must hold a JSON object")
        merge_into(root, prefix, value, path)
    owned = root.get(RESERVED_DATA_PREFIX[0])
    if isinstance(owned, dict) and RESERVED_DATA_PREFIX[1] in owned:
        raise InvalidPolicySet("data.tollgate.registry belongs to the registry; a policy set may not define it")
    return root


def merge_into(root: dict[str, Any], prefix: list[str], value: Any, what: str) -> None:
    """Deep-merge ``value`` at ``prefix``; two sources for the same leaf is an error, not a silent win."""
    node = root
    for part in prefix[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidPolicySet(f"{what}: data path {'.'.join(prefix)} collides with a value")
        node = child
    if not prefix:
        if not isinstance(value, dict):
            raise InvalidPolicySet(f"{what}: data root must be an object")
        for key, sub in value.items():
            merge_into(root, [key], sub, what)
        return
    key = prefix[-1]
    if key not in node:
        node[key] = value
    elif isinstance(node[key], dict) and isinstance(value, dict):
        for sub_key, sub in value.items():
            merge_into(node[key], [sub_key], sub, what)
    else:
        raise InvalidPolicySet(f"{what}: data path {'.'.join(prefix)} is defined twice")


def merged_data(registry_doc: Mapping[str, Any], policy_data: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's data document: the registry's compiled document plus the policy-owned data."""
    out: dict[str, Any] = json.loads(json.dumps(registry_doc))
    merge_into(out, [], dict(policy_data), "policy data")
    return out


# --- sources ------------------------------------------------------------------------------------


def read_directory(directory: Path) -> tuple[PolicySet, list[str]]:
    """Every ``*.rego`` and ``data.json`` under ``directory``; returns the set and the ignored files."""
    root = directory.resolve()
    if not root.is_dir():
        raise InvalidPolicySet(f"not a directory: {directory}")
    files: dict[str, str] = {}
    ignored: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        rel = path.relative_to(root).as_posix()
        if is_policy_file(rel):
            files[rel] = _decode(path.read_bytes(), rel)
        else:
            ignored.append(rel)
    return PolicySet.of(files), ignored


def _decode(raw: bytes, rel: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPolicySet(f"{rel}: not UTF-8 text") from exc


@dataclass(frozen=True)
class GitSource:
    repository: str
    commit: str
    subdir: str
    dirty: bool  # the working tree had uncommitted changes (they were NOT imported)


def read_git(worktree: Path, *, rev: str = "HEAD", subdir: str = "") -> tuple[PolicySet, GitSource]:
    """The policy files of commit ``rev`` under ``subdir`` of the git work tree at ``worktree``.

    Files are read from the commit, not from the working tree: then the recorded commit id names
    exactly the content that was imported, and an uncommitted edit can never slip in unreviewed.
    ``dirty`` tells the officer their working tree differed.
    """

    def git(*args: str) -> bytes:
        try:
            done = subprocess.run(["git", "-C", str(worktree), *args], capture_output=True, check=True, timeout=60)
        except FileNotFoundError as exc:
            raise InvalidPolicySet("git is not installed") from exc
        except subprocess.CalledProcessError as exc:
            raise InvalidPolicySet(f"git {args[0]} failed: {exc.stderr.decode(errors='replace').strip()}") from exc
        return done.stdout

    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
    top = Path(git("rev-parse", "--show-toplevel").decode().strip())
    prefix = subdir.strip("/")
    listing = git("ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".")
    files: dict[str, str] = {}
    for entry in filter(None, listing.split(b"\0")):
        meta, _, raw_path = entry.partition(b"\t")
        _mode, kind, blob = meta.decode().split()
        path = raw_path.decode("utf-8")
        rel = posixpath.relpath(path, prefix) if prefix else path
        if kind != "blob" or not is_policy_file(rel) or any(p.startswith(".") for p in rel.split("/")):
            continue
        files[rel] = _decode(git("cat-file", "blob", blob), rel)
    dirty = bool(git("status", "--porcelain", "--", prefix or ".").strip())
    return PolicySet.of(files), GitSource(str(top), commit, prefix, dirty)
