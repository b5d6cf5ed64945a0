"""Build an OPA snapshot bundle (tar.gz) from the active :class:`PolicyBundle`.

Layout (OPA v1/bundle/bundle.go)::

    .manifest                 {"revision": "<policy_revision>+r<registry_revision>", "roots": ["tollgate"],
                               "rego_version": 1, "metadata": {...}}
    .signatures.json          one JWS over every other file (signing.py)
    tollgate/data.json        data["tollgate"]: a data.json's directory is its data path
    <module path>.rego        each policy module under its own file name; OPA places rules by
                              their ``package``, and every package must sit under the root

The checks OPA runs on activation (roots, data paths, package paths) are run here first, so a
policy set OPA would reject fails at build time with a clear message instead of leaving the fleet
on the previous revision. The archive is deterministic: sorted members, fixed mtime/owner/mode,
no directory entries (OPA ignores them), gzip without timestamp or file name; with a deterministic
signature (RS256) the same content always gives the same bytes and therefore the same ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from broker.engine.interface import PolicyBundle
from broker.fleet import canonical
from broker.fleet.config import BUNDLE_ROOT
from broker.fleet.errors import BundleBuildError
from broker.fleet.signing import SIGNATURES_FILE, BundleSigner

MANIFEST_FILE = ".manifest"
DATA_FILE = f"{BUNDLE_ROOT}/data.json"
_RESERVED_SUFFIXES = ("signatures.json", ".manifest", "data.json", "data.yaml", "data.yml", "patch.json")
_PACKAGE = re.compile(r"^\s*package\s+(\S+)", re.MULTILINE)
_SEGMENT = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\["((?:[^"\\]|\\.)*)"\]')


@dataclass(frozen=True)
class BuiltBundle:
    content: bytes  # the tar.gz served to OPA
    etag: str  # strong ETag: quoted SHA-256 of ``content``
    revision: str  # manifest revision
    policy_revision: str
    registry_revision: int
    files: tuple[str, ...]  # member names, sorted

    @property
    def digest(self) -> str:
        return self.etag.strip('"')


def bundle_revision(policy_revision: str, registry_revision: int) -> str:
    return f"{policy_revision}+r{registry_revision}"


def split_revision(revision: str) -> tuple[str, int] | None:
    """Inverse of :func:`bundle_revision`; None for a revision Tollgate did not make."""
    policy, sep, reg = revision.rpartition("+r")
    if not sep or not policy or not reg.isdigit():
        return None
    return policy, int(reg)


def module_path(name: str) -> str:
    """A safe, normalised bundle path for a module name; rejects anything OPA would misread."""
    if not name or "\\" in name or name.startswith("/"):
        raise BundleBuildError(f"module name {name!r} must be a relative POSIX path")
    path = PurePosixPath(name)
    if any(part in ("", ".", "..") for part in path.parts) or str(path) != name.rstrip("/"):
        raise BundleBuildError(f"module name {name!r} must not contain '.', '..' or empty segments")
    if path.suffix != ".rego" or name.endswith(_RESERVED_SUFFIXES):
        raise BundleBuildError(f"module name {name!r} must end in .rego")
    return str(path)


def package_path(source: str, where: str) -> list[str]:
    """The package of a Rego module as path segments (``package a.b["c"]`` -> [a, b, c])."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith("#")]
    match = _PACKAGE.search("\n".join(lines))
    if match is None:
        raise BundleBuildError(f"{where}: no package declaration")
    ref, segments, pos = match.group(1), [], 0
    while pos < len(ref):
        seg = _SEGMENT.match(ref, pos)
        if seg is None or (pos == 0 and ref.startswith(".")):
            raise BundleBuildError(f"{where}: cannot read package {ref!r}")
        segments.append(seg.group(1) if seg.group(1) is not None else seg.group(2))
        pos = seg.end()
    return segments


def _check_package(pkg: list[str], data_root: Mapping[str, Any], where: str) -> None:
    if not pkg or pkg[0] != BUNDLE_ROOT:
        raise BundleBuildError(
            f"{where}: package {'.'.join(pkg)} is outside the bundle root {BUNDLE_ROOT!r}; "
            "OPA would refuse the whole bundle",
            details={"module": where, "package": ".".join(pkg), "roots": [BUNDLE_ROOT]},
        )
    node: Any = data_root
    for depth, seg in enumerate(pkg[1:], start=1):
        if not isinstance(node, Mapping):
            raise BundleBuildError(f"{where}: data.{'.'.join(pkg[:depth])} is a value, not an object, "
                                   f"so package {'.'.join(pkg)} cannot live under it")
        if seg not in node:
            return
        node = node[seg]
    if len(pkg) > 1:
        raise BundleBuildError(f"{where}: data.{'.'.join(pkg)} is both a data document and a package")


def bundle_files(bundle: PolicyBundle, *, include_tests: bool = False) -> dict[str, bytes]:
    """Every file of the bundle except ``.signatures.json``."""
    extra = sorted(set(bundle.data) - {BUNDLE_ROOT})
    if extra:
        raise BundleBuildError(
            f"data document keys {extra} are outside the bundle root {BUNDLE_ROOT!r}",
            details={"keys": extra, "roots": [BUNDLE_ROOT]},
        )
    data_root = bundle.data.get(BUNDLE_ROOT, {})
    if not isinstance(data_root, Mapping):
        raise BundleBuildError(f"data.{BUNDLE_ROOT} must be an object")
    files: dict[str, bytes] = {}
    for name, source in bundle.modules.items():
        path = module_path(name)
        if not include_tests and path.endswith("_test.rego"):
            continue
        _check_package(package_path(source, path), data_root, path)
        if path in files:
            raise BundleBuildError(f"two modules map to the bundle path {path!r}")
        files[path] = source.encode("utf-8")
    if not files:
        raise BundleBuildError("the policy set has no modules to ship")
    try:
        files[DATA_FILE] = canonical.dumps(data_root)
    except ValueError as exc:
        raise BundleBuildError(f"data document is not JSON: {exc}") from exc
    manifest = {
        "revision": bundle_revision(bundle.policy_revision, bundle.registry_revision),
        "roots": [BUNDLE_ROOT],
        "rego_version": 1,
        "metadata": {
            "producer": "tollgate",
            "policy_revision": bundle.policy_revision,
            "registry_revision": bundle.registry_revision,
        },
    }
    files[MANIFEST_FILE] = canonical.dumps(manifest)
    return files


def pack(files: Mapping[str, bytes]) -> bytes:
    """Deterministic tar.gz of ``files`` (name -> content)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def build_bundle(bundle: PolicyBundle, signer: BundleSigner | None, *, include_tests: bool = False) -> BuiltBundle:
    """The servable bundle; unsigned only when ``signer`` is None (tests, never the API)."""
    files = bundle_files(bundle, include_tests=include_tests)
    if signer is not None:
        files[SIGNATURES_FILE] = signer.sign(files)
    content = pack(files)
    return BuiltBundle(
        content=content,
        etag=f'"{hashlib.sha256(content).hexdigest()}"',
        revision=bundle_revision(bundle.policy_revision, bundle.registry_revision),
        policy_revision=bundle.policy_revision,
        registry_revision=bundle.registry_revision,
        files=tuple(sorted(files)),
    )
