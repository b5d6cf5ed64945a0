"""An independent check of a signed OPA bundle, written from OPA's verification rules.

It deliberately shares no code with the builder (bundle.py, signing.py, canonical.py): it parses
the archive, verifies the JWS with pyjwt against a public key, and re-derives every file hash with
its own walk of OPA's structured-file hashing (v1/bundle/hash.go). Then it checks what OPA checks
on activation: exactly one JWS, key id precedence, scope, every file listed and no listed file
missing, manifest roots that do not overlap and that contain every data path and package.

Usage: ``python -m broker.fleet.verify BUNDLE.tar.gz --key PUB.pem [--key-id ID] [--alg RS256]``
Exit status 0 when the bundle verifies, 1 when it does not (each problem printed), 2 on usage.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.exceptions import InvalidTokenError

_HASHES: dict[str, Callable[[], Any]] = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
    "SHA-512-224": lambda: hashlib.new("sha512_224"),
    "SHA-512-256": lambda: hashlib.new("sha512_256"),
}
_STRUCTURED = {"data.json", "data.yaml", ".manifest"}
_MAX_UNPACKED = 1 << 30  # OPA's own default bundle size limit


class VerificationFailed(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass
class Report:
    key_id: str
    algorithm: str
    revision: str | None
    roots: list[str]
    files: dict[str, str] = field(default_factory=dict)  # name -> verified hex hash


class _Literal(str):
    """A JSON number exactly as written (OPA decodes with json.Number)."""


def _parse_json(raw: bytes) -> Any:
    def bad(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw, parse_int=_Literal, parse_float=_Literal, parse_constant=bad)


def _go_string(s: str) -> bytes:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20 or o in (0x2028, 0x2029):
            out.append("\\u%04x" % o)  # noqa: UP031 - mirrors Go's fixed-width hex
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out).encode()


def _walk(value: Any, feed: Callable[[bytes], None]) -> None:
    """Feed OPA's canonical encoding of a parsed value into a hash (hash.go ``walk``)."""
    if isinstance(value, dict):
        feed(b"{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-8", "surrogatepass"))):
            if i:
                feed(b",")
            feed(_go_string(key))
            feed(b":")
            _walk(value[key], feed)
        feed(b"}")
    elif isinstance(value, list):
        feed(b"[")
        for i, item in enumerate(value):
            if i:
                feed(b",")
            _walk(item, feed)
        feed(b"]")
    elif isinstance(value, _Literal):
        feed(str(value).encode())
    elif isinstance(value, str):
        feed(_go_string(value))
    elif value is None:
        feed(b"null")
    elif isinstance(value, bool):
        feed(b"true" if value else b"false")
    else:
        raise ValueError(f"unexpected JSON value {value!r}")


def opa_file_hash(name: str, content: bytes, algorithm: str = "SHA-256") -> str:
    """Hex digest of a bundle file as OPA computes it when verifying."""
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported hashing algorithm: {algorithm}")
    h = _HASHES[algorithm]()
    base = name.rsplit("/", 1)[-1]
    if base == "data.yaml":
        raise ValueError("data.yaml hashing (YAML->JSON) is not implemented by this verifier")
    if base in _STRUCTURED:
        _walk(_parse_json(content), h.update)
    else:
        h.update(content)
    return str(h.hexdigest())


def read_bundle(content: bytes) -> dict[str, bytes]:
    """Regular files of a tar.gz bundle by OPA path (leading '/' trimmed); rejects odd members."""
    try:
        raw = gzip.GzipFile(fileobj=io.BytesIO(content)).read(_MAX_UNPACKED + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise VerificationFailed([f"not a gzip archive: {exc}"]) from exc
    if len(raw) > _MAX_UNPACKED:
        raise VerificationFailed(["bundle inflates beyond 1 GiB"])
    files: dict[str, bytes] = {}
    problems: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                name = member.name.lstrip("/")
                if member.isdir():
                    continue
                if not member.isreg():
                    problems.append(f"{name}: not a regular file (links and devices are refused)")
                    continue
                if name in files:
                    problems.append(f"{name}: appears twice in the archive")
                    continue
                extracted = tar.extractfile(member)
                files[name] = extracted.read() if extracted is not None else b""
    except tarfile.TarError as exc:
        raise VerificationFailed([f"not a tar archive: {exc}"]) from exc
    if problems:
        raise VerificationFailed(problems)
    return files


def _b64json(part: str, what: str) -> Any:
    try:
        return json.loads(jwt.utils.base64url_decode(part.encode()))
    except (ValueError, TypeError) as exc:
        raise VerificationFailed([f"JWS {what} is not base64url JSON: {exc}"]) from exc


def load_public_key(pem: bytes) -> Any:
    """A PEM ``PUBLIC KEY``, ``RSA PUBLIC KEY`` or ``CERTIFICATE`` (what OPA accepts)."""
    if b"CERTIFICATE" in pem:
        from cryptography import x509

        return x509.load_pem_x509_certificate(pem).public_key()
    return serialization.load_pem_public_key(pem)


def verify_token(
    token: str, keys: Mapping[str, tuple[Any, str]], *, key_id: str | None = None, scope: str | None = None
) -> tuple[dict[str, Any], str, str]:
    """Verify the JWS like OPA; ``keys``: key id -> (public key or HMAC secret, algorithm).

    Returns (payload, key id used, algorithm).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationFailed(["signature is not a compact JWS (three segments)"])
    header = _b64json(parts[0], "header")
    payload = _b64json(parts[1], "payload")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise VerificationFailed(["JWS header and payload must be JSON objects"])
    # Key id precedence (verify.go): configured > JWS "kid" header > deprecated "keyid" claim.
    kid = key_id or header.get("kid") or payload.get("keyid")
    if not isinstance(kid, str) or not kid:
        raise VerificationFailed(["verification key ID is empty"])
    if kid not in keys:
        raise VerificationFailed([f"verification key corresponding to ID {kid} not found"])
    key, algorithm = keys[kid]
    if header.get("alg") != algorithm:
        raise VerificationFailed([f"JWS alg {header.get('alg')!r} is not the key's algorithm {algorithm!r}"])
    try:
        jwt.api_jws.decode(token, key, algorithms=[algorithm])
    except InvalidTokenError as exc:
        raise VerificationFailed([f"JWS signature does not verify with key {kid}: {exc}"]) from exc
    if payload.get("scope", "") != (scope or ""):
        raise VerificationFailed([f"scope mismatch: token {payload.get('scope')!r}, expected {scope!r}"])
    return payload, kid, algorithm


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _under(roots: Sequence[str], path: Sequence[str]) -> bool:
    for root in roots:
        r = _segments(root)
        if len(r) <= len(path) and list(path[: len(r)]) == r:
            return True
    return False


_PKG = re.compile(r"^\s*package\s+([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*$", re.MULTILINE)


def _check_manifest(files: Mapping[str, bytes], problems: list[str]) -> tuple[str | None, list[str]]:
    if ".manifest" not in files:
        problems.append(".manifest is missing (Tollgate bundles always carry one)")
        return None, [""]
    try:
        manifest = json.loads(files[".manifest"])
    except ValueError as exc:
        problems.append(f".manifest is not JSON: {exc}")
        return None, [""]
    revision = manifest.get("revision")
    if not isinstance(revision, str) or not revision:
        problems.append(".manifest revision must be a non-empty string")
    roots = manifest.get("roots", [""])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        problems.append(".manifest roots must be a list of strings")
        return revision, [""]
    for i, a in enumerate(roots):
        for b in roots[i + 1 :]:
            sa, sb = _segments(a), _segments(b)
            n = min(len(sa), len(sb))
            if sa[:n] == sb[:n]:
                problems.append(f".manifest roots overlap: {a!r} and {b!r}")
    if manifest.get("rego_version", 1) not in (0, 1):
        problems.append(".manifest rego_version must be 0 or 1")
    for name, content in files.items():
        base = name.rsplit("/", 1)[-1]
        if base == "data.json":
            try:
                _check_data_paths(json.loads(content), _segments(name)[:-1], roots, name, problems)
            except ValueError as exc:
                problems.append(f"{name} is not JSON: {exc}")
        elif name.endswith(".rego"):
            m = _PKG.search(content.decode("utf-8", "replace"))
            if m is None:
                problems.append(f"{name}: no simple package declaration found")
            elif not _under(roots, m.group(1).split(".")):
                problems.append(f"{name}: package {m.group(1)} is outside the manifest roots {roots}")
    return revision if isinstance(revision, str) else None, roots


def _check_data_paths(value: Any, path: list[str], roots: Sequence[str], name: str, problems: list[str]) -> None:
    if _under(roots, path):
        return
    if isinstance(value, dict) and any(_under([("/".join(path))], _segments(r)) for r in roots):
        for key, sub in value.items():
            _check_data_paths(sub, [*path, key], roots, name, problems)
        return
    problems.append(f"{name}: data at /{'/'.join(path)} is outside the manifest roots {roots}")


def verify_bundle(
    content: bytes,
    keys: Mapping[str, tuple[Any, str]],
    *,
    key_id: str | None = None,
    scope: str | None = None,
    expected_revision: str | None = None,
) -> Report:
    """Verify a bundle; raise :class:`VerificationFailed` listing every problem found."""
    files = read_bundle(content)
    if ".signatures.json" not in files:
        raise VerificationFailed(["bundle missing .signatures.json file"])
    try:
        sigdoc = json.loads(files.pop(".signatures.json"))
    except ValueError as exc:
        raise VerificationFailed([f".signatures.json is not JSON: {exc}"]) from exc
    tokens = sigdoc.get("signatures") if isinstance(sigdoc, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise VerificationFailed([".signatures.json must hold exactly one JWS string"])
    payload, kid, alg = verify_token(tokens[0], keys, key_id=key_id, scope=scope)
    listed = payload.get("files")
    if not isinstance(listed, list):
        raise VerificationFailed(["JWS payload has no files list"])
    problems: list[str] = []
    expected: dict[str, dict[str, Any]] = {}
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"malformed files entry {entry!r}")
            continue
        name = entry["name"].lstrip("/")
        if name in expected:
            problems.append(f"{name}: listed twice in the signature")
        expected[name] = entry
    report = Report(key_id=kid, algorithm=alg, revision=None, roots=[])
    for name, data in sorted(files.items()):
        if name.endswith("signatures.json"):
            problems.append(f"{name}: OPA would read any *signatures.json as the signature file")
        entry = expected.pop(name, None)
        if entry is None:
            problems.append(f"file {name} not included in bundle signature")
            continue
        try:
            actual = opa_file_hash(name, data, str(entry.get("algorithm", "")))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if str(entry.get("hash", "")).lower() != actual:
            problems.append(f"{name}: digest mismatch (want: {entry.get('hash')}, got: {actual})")
        else:
            report.files[name] = actual
    for name in sorted(expected):
        problems.append(f"file {name} specified in bundle signature but not found in the target bundle")
    report.revision, report.roots = _check_manifest(files, problems)
    if expected_revision is not None and report.revision != expected_revision:
        problems.append(f"manifest revision {report.revision!r} is not the expected {expected_revision!r}")
    if problems:
        raise VerificationFailed(problems)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.fleet.verify", description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="the bundle tar.gz (as served by GET /bundles/<name>)")
    parser.add_argument("--key", type=Path, required=True, help="PEM public key (or certificate)")
    parser.add_argument("--key-id", default=None, help="the keyid OPA is configured with (signing.keyid)")
    parser.add_argument("--alg", default="RS256", help="the key's algorithm in OPA's keys: config")
    parser.add_argument("--scope", default=None, help="signing.scope configured in OPA, if any")
    parser.add_argument("--revision", default=None, help="fail unless the manifest has this revision")
    args = parser.parse_args(argv)
    try:
        key = load_public_key(args.key.read_bytes())
        content = args.bundle.read_bytes()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    token_kid = args.key_id
    if token_kid is None:  # accept whatever id the bundle names, but only with this one key
        token_kid = _kid_in(content) or "default"
    try:
        report = verify_bundle(content, {token_kid: (key, args.alg)}, key_id=token_kid, scope=args.scope,
                               expected_revision=args.revision)
    except VerificationFailed as exc:
        for problem in exc.problems:
            print(f"FAIL {problem}")
        return 1
    print(f"OK revision={report.revision} roots={report.roots} key_id={report.key_id} alg={report.algorithm}")
    for name, digest in report.files.items():
        print(f"  {digest}  {name}")
    return 0


def _kid_in(content: bytes) -> str | None:
    try:
        token = json.loads(read_bundle(content)[".signatures.json"])["signatures"][0]
        header = jwt.get_unverified_header(token)
    except (KeyError, IndexError, TypeError, ValueError, VerificationFailed, InvalidTokenError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


if __name__ == "__main__":
    sys.exit(main())
