"""Hostile input: each malicious request is refused with a clean 4xx and a code, and memory stays
bounded (the broker's RSS is measured around the attacks; the in-process app shares our process).
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from broker.audit.export import check_export_name, unpack_export
from broker.errors import BadRequest
from tests.hardening.conftest import ALLOWED, InProcess, error_code, live_minter
from tests.live import ROOT, LiveBroker

MiB = 1024 * 1024
# Growth allowed across one attack: far below the payload sizes used, so a buffered or
# amplified payload would show; above allocator noise (arena growth, caches warming up).
RSS_SLACK = 48 * MiB


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def assert_refused(response: Any, status: int | tuple[int, ...], code: str | None = None) -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    got = error_code(response)
    assert got is not None, response.text[:300]
    if code is not None:
        assert got == code, response.text[:300]


# --- bodies -----------------------------------------------------------------------------------


def test_oversized_body_with_content_length_is_refused_before_reading(broker: InProcess) -> None:
    limit = broker.settings.max_body_bytes
    before = rss()
    r = broker.client.post("/v1/preflight", content=b"x" * (limit + 1),
                           headers={**broker.auth("gateway"), "content-type": "application/json"})
    assert_refused(r, 413, "PAYLOAD_TOO_LARGE")
    assert rss() - before < RSS_SLACK


def test_oversized_chunked_body_is_cut_off_while_streaming(live: LiveBroker) -> None:
    """No Content-Length: the cap is enforced on the stream, so 64 MiB is never buffered.

    Over a raw socket to the real server (the in-process test client buffers request bodies
    itself, which would hide what the broker does)."""
    token = live_minter(live).token("gateway")
    server = psutil.Process(live.proc.pid if live.proc else 0)
    before = server.memory_info().rss
    block = b"[" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall((f"POST /v1/preflight HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        try:
            for _ in range(1024):  # 64 MiB if nobody stops us
                sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                sent += len(block)
        except OSError:
            pass  # the server answered and closed: what we want
        sock.settimeout(10)
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or b"PAYLOAD_TOO_LARGE" not in reply:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b"PAYLOAD_TOO_LARGE" in reply
    assert server.memory_info().rss - before < RSS_SLACK


def test_batch_over_the_limit_is_refused_and_a_full_batch_is_answered(broker: InProcess) -> None:
    h = broker.auth("gateway")
    r = broker.client.post("/v1/preflight/batch", json={"items": [ALLOWED] * 1001}, headers=h)
    assert_refused(r, 422, "VALIDATION_FAILED")
    started = time.monotonic()
    r = broker.client.post("/v1/preflight/batch", json={"items": [ALLOWED] * 1000}, headers=h)
    assert r.status_code == 200 and len(r.json()["items"]) == 1000
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("depth", [1_000, 100_000, 400_000])
def test_deeply_nested_json_is_refused(broker: InProcess, depth: int) -> None:
    body = '{"tenant":' + "[" * depth + "]" * depth + ',"region":"aws:x","model":"m"}'
    for path in ("/v1/preflight", "/v1/preflight/batch", "/v1/registry/models", "/v1/policies"):
        r = broker.client.post(path, content=body.encode(),
                               headers={**broker.auth("admin"), "content-type": "application/json"})
        assert_refused(r, (400, 413, 422))


@pytest.mark.parametrize("body", [b"\xff\xfe\x00{", b'{"tenant": "\xc3\x28"}', b"\x80" * 1000,
                                  '{"tenant":"caf\u00e9"}'.encode("latin-1")])
def test_non_utf8_bodies_are_refused(broker: InProcess, body: bytes) -> None:
    for path in ("/v1/preflight", "/v1/registry/tenants", "/v1/policies",
                 "/v1/data/tollgate/routing/decision", "/beta/litellm_basic_guardrail_api"):
        r = broker.client.post(path, content=body,
                               headers={**broker.auth("admin", "gateway"), "content-type": "application/json"})
        assert_refused(r, (400, 422))


def test_huge_strings_are_refused(broker: InProcess) -> None:
    huge = "a" * (broker.settings.max_body_bytes - 100)
    h = broker.auth("admin", "gateway")
    before = rss()
    for field in ("tenant", "region", "model"):
        r = broker.client.post("/v1/preflight", json={**ALLOWED, field: huge}, headers=h)
        assert_refused(r, 422, "VALIDATION_FAILED")
    r = broker.client.post("/v1/registry/tenants", json={"id": "t-huge", "name": huge, "hq_country": "US"}, headers=h)
    assert_refused(r, 422)
    # Headers: h11/uvicorn caps them in production; here the value still must not crash a dialect.
    r = broker.client.post("/ext-authz/x", headers={"x-tollgate-authorization": h["authorization"],
                                                    "x-tollgate-tenant": "t" * 60_000,
                                                    "x-tollgate-region": ALLOWED["region"],
                                                    "x-tollgate-model": ALLOWED["model"]})
    assert r.status_code < 500
    assert rss() - before < RSS_SLACK


def test_unknown_fields_are_refused_not_ignored(broker: InProcess) -> None:
    h = broker.auth("admin", "gateway")
    r = broker.client.post("/v1/preflight", json={**ALLOWED, "allow": True}, headers=h)
    assert_refused(r, 422, "VALIDATION_FAILED")
    r = broker.client.post("/v1/preflight", json={**ALLOWED, "subject": {"us_person": True, "admin": True}}, headers=h)
    assert_refused(r, 422, "VALIDATION_FAILED")
    tenant = broker.client.get("/v1/registry/tenants/demo-us-commercial", headers=h).json()
    r = broker.client.put("/v1/registry/tenants/demo-us-commercial",
                          json={**tenant, "sanctioned_override": False}, headers=h)
    assert_refused(r, 422)


# --- path traversal ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/v1/registry/models/..%2F..%2F..%2Fetc%2Fpasswd",
    "/v1/registry/models/../../../etc/passwd",
    "/v1/registry/tenants/%2e%2e/%2e%2e/keys",
    "/v1/audit/tile/../../keys/log-signing.pem",
    "/v1/audit/tile/..%2F..%2Fkeys%2Fjwks.json",
    "/v1/audit/tile/entries/../../../tollgate.db",
    "/v1/audit/tile/0/..%2F..%2F..%2Ftollgate.db",
    "/bundles/..%2F..%2Fkeys%2Ftoken-signing.pem",
    "/v1/policies/..%2F..%2Fetc/files",
    "/v1/tenants/..%2F..%2Fetc%2Fpasswd/routes?region=aws:x",
])
def test_path_traversal_in_ids_never_reads_files(broker: InProcess, path: str) -> None:
    for roles in (("admin",), ("auditor",), ("gateway",)):
        r = broker.client.get(path, headers=broker.auth(*roles))
        assert r.status_code in (400, 403, 404, 422), (path, r.status_code, r.text[:200])
        assert b"PRIVATE KEY" not in r.content and b"SQLite format" not in r.content
        assert error_code(r) is not None


@pytest.mark.parametrize("name", ["../x", "..", ".hidden", "a/b", "a\\b", "x\x00y", "a" * 200, "", "-rf"])
def test_export_names_with_traversal_are_refused(name: str) -> None:
    with pytest.raises(BadRequest):
        check_export_name(name)


def test_hostile_export_archives_are_refused(tmp_path: Path) -> None:
    """The offline verifier unpacks archives it is handed: traversal and links are refused."""
    def archive(name: str, build: Any) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            build(tar)
        return path

    def add(tar: tarfile.TarFile, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE,
            link: str = "") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    cases = {
        "dotdot.tar.gz": lambda t: add(t, "export/../../evil"),
        "abs.tar.gz": lambda t: add(t, "/tmp/evil"),
        "symlink.tar.gz": lambda t: (add(t, "export", kind=tarfile.DIRTYPE),
                                     add(t, "export/link", kind=tarfile.SYMTYPE, link="/etc/passwd")),
        "hardlink.tar.gz": lambda t: add(t, "export/hl", kind=tarfile.LNKTYPE, link="/etc/passwd"),
        "two-tops.tar.gz": lambda t: (add(t, "a/x"), add(t, "b/y")),
    }
    for name, build in cases.items():
        out = tmp_path / f"out-{name}"
        out.mkdir()
        with pytest.raises(BadRequest):
            unpack_export(archive(name, build), out)
        assert not (tmp_path / "evil").exists()


def test_export_archives_too_big_or_too_many_or_corrupt_are_refused(tmp_path: Path) -> None:
    """A crafted archive cannot fill the auditor's disk: sizes and member counts are capped
    before anything is extracted, and an unreadable archive is a clear error."""
    def archive(name: str, files: dict[str, int]) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for member, size in files.items():
                info = tarfile.TarInfo(member)
                info.size = size
                tar.addfile(info, io.BytesIO(bytes(size)))  # zeros: compresses to almost nothing
        return path

    big = archive("big.tar.gz", {"export/a": 600_000, "export/b": 600_000})
    with pytest.raises(BadRequest, match="more than 1,000,000 bytes"):
        unpack_export(big, tmp_path / "out-big", max_bytes=1_000_000)
    assert not (tmp_path / "out-big" / "export").exists()  # nothing was extracted
    many = archive("many.tar.gz", {f"export/{i}": 1 for i in range(5)})
    with pytest.raises(BadRequest, match="more than 4 members"):
        unpack_export(many, tmp_path / "out-many", max_members=4)
    assert unpack_export(many, tmp_path / "out-ok", max_members=5).name == "export"
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(big.read_bytes()[:200])
    with pytest.raises(BadRequest, match="not a readable"):
        unpack_export(corrupt, tmp_path / "out-corrupt")


def test_policy_file_paths_with_traversal_are_refused(broker: InProcess) -> None:
    h = broker.auth("officer")
    for bad in ("../evil.rego", "/abs.rego", "a/../../b.rego", "a\\b.rego", "x.py", "ok/./x.rego"):
        r = broker.client.post("/v1/policies", json={"files": {bad: "package x\n"}, "message": "m"}, headers=h)
        assert_refused(r, (400, 422))


# --- Rego injection through registry strings --------------------------------------------------

INJECTED_NAME = '"}\nallow := true\nreasons := set()\n# '
INJECTED_ID = "rego/data.tollgate.routing.allow:true@x+y"


def test_rego_looking_registry_strings_stay_data(broker: InProcess) -> None:
    """A model whose id and name look like Rego is created through the registry API, then asked
    about: its decisions must equal those of a twin with a plain id, the id comes back verbatim,
    and nothing else changes (the pack's rules were not rewritten by the string)."""
    h = broker.auth("admin", "gateway")
    base = broker.client.get(f"/v1/registry/models/{ALLOWED['model']}", headers=h).json()
    denied = {"tenant": "demo-de-eu-resident", "region": "aws-bedrock:eu", "model": ALLOWED["model"]}
    before = {k: broker.client.post("/v1/preflight", json=q, headers=h).json()["allow"]
              for k, q in (("allowed", ALLOWED), ("denied", denied))}
    twins = {"plain": {**base, "id": "hardening.plain-twin", "name": "plain twin"},
             "rego": {**base, "id": INJECTED_ID, "name": INJECTED_NAME, "family": "default allow := true"}}
    for body in twins.values():
        r = broker.client.post("/v1/registry/models", json=body, headers=h)
        assert r.status_code == 201, r.text[:500]
    got = broker.client.get(f"/v1/registry/models/{INJECTED_ID}", headers=h).json()
    assert got["name"] == INJECTED_NAME.strip() and got["id"] == INJECTED_ID

    deadline = time.monotonic() + 10  # the snapshot refresh after a commit is asynchronous
    while True:
        answers = {}
        for label, body in twins.items():
            for tenant, region in (("demo-us-commercial", "aws-bedrock:us"), ("demo-de-eu-resident", "aws-bedrock:eu")):
                r = broker.client.post("/v1/preflight", json={"tenant": tenant, "region": region,
                                                              "model": body["id"]}, headers=h)
                assert r.status_code == 200, r.text
                d = r.json()
                answers[(label, tenant)] = (d["allow"], sorted(x["code"] for x in d["reasons"]))
        known = all("UNKNOWN_MODEL" not in codes for _, codes in answers.values())
        if known or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert known, answers
    for tenant in ("demo-us-commercial", "demo-de-eu-resident"):
        assert answers[("rego", tenant)] == answers[("plain", tenant)], answers
    after = {k: broker.client.post("/v1/preflight", json=q, headers=h).json()["allow"]
             for k, q in (("allowed", ALLOWED), ("denied", denied))}
    assert after == before == {"allowed": True, "denied": False}
    # The Rego-looking id as the *queried* model, unregistered, is an unknown model, not an allow.
    r = broker.client.post("/v1/preflight", json={**ALLOWED, "model": 'x"]} allow := true {["'}, headers=h)
    assert r.status_code in (200, 422)
    if r.status_code == 200:
        assert r.json()["allow"] is False


# --- YAML bombs in registry imports -----------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    ["models:", "  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"  - &a{i} [{', '.join(['*a' + str(i - 1)] * 9)}]" for i in range(1, 10)]
) + "\n"


def _run_import(path: Path, data_dir: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``tollgate registry import`` and sample the child's peak RSS while it runs."""
    proc = psutil.Popen([sys.executable, "-m", "broker.cli.main", "registry", "import", str(path),
                         "--data-dir", str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                peak = max(peak, int(proc.memory_info().rss))
            except psutil.Error:
                return
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    out, err = proc.communicate(timeout=120)
    stop.set()
    t.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), peak


@pytest.fixture(scope="module")
def baseline_import_rss(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS of the CLI refusing a trivially bad file: the interpreter + imports baseline."""
    d = tmp_path_factory.mktemp("yaml-baseline")
    (d / "bad.yaml").write_text("models: 3\n")
    result, peak = _run_import(d / "bad.yaml", d / "data")
    assert result.returncode != 0
    return peak


@pytest.mark.parametrize("kind", ["billion-laughs", "merge-key", "huge-file", "deep-nesting",
                                  "many-keys", "not-utf8", "python-tag"])
def test_yaml_bombs_are_refused_by_registry_import(tmp_path: Path, baseline_import_rss: int, kind: str) -> None:
    path = tmp_path / f"{kind}.yaml"
    if kind == "billion-laughs":
        path.write_text(BILLION_LAUGHS)
    elif kind == "merge-key":
        path.write_text("base: &b {id: x}\nmodels:\n  - <<: *b\n")
    elif kind == "huge-file":
        with path.open("wb") as fh:  # 9 MiB (the per-file cap is 8 MiB): refused before reading
            fh.write(b"models:\n")
            fh.write(b"  - {id: m, name: " + b"a" * (9 * MiB) + b"}\n")
    elif kind == "deep-nesting":
        path.write_text("models: " + "[" * 200_000 + "]" * 200_000 + "\n")
    elif kind == "many-keys":
        # Just under the cap: 300k tiny mappings. Slow to parse, but bounded by the byte cap.
        path.write_text("models:\n" + "".join(f"  - {{i: {i}}}\n" for i in range(300_000))[: 7 * MiB])
    elif kind == "not-utf8":
        path.write_bytes(b"models:\n  - id: \xff\xfe\n")
    elif kind == "python-tag":
        path.write_text("models: !!python/object/apply:os.system ['touch /tmp/tollgate-pwned']\n")
    data_dir = tmp_path / "data"
    result, peak = _run_import(path, data_dir)
    assert result.returncode == 1, (result.stdout, result.stderr[-2000:])
    assert "error" in (result.stdout + result.stderr).lower()
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not Path("/tmp/tollgate-pwned").exists()
    # Bounded: the refusals stay within a fixed budget over the interpreter's baseline (the node
    # cap, not the byte cap, is what bounds the "many-keys" case).
    assert peak - baseline_import_rss < 320 * MiB, (kind, peak, baseline_import_rss)


def test_yaml_anchors_refused_before_expansion_in_memory() -> None:
    """The same loader serves API uploads (load_texts): refused without expanding the bomb."""
    from registry.errors import RegistryError
    from registry.io import load_texts

    before = rss()
    with pytest.raises(RegistryError, match="anchors and aliases"):
        load_texts([("bomb.yaml", BILLION_LAUGHS)])
    assert rss() - before < RSS_SLACK


def test_gzip_bomb_on_decision_log_upload_is_bounded(broker: InProcess) -> None:
    bomb = gzip.compress(b"[" + b" " * (512 * MiB) + b"]", compresslevel=9)
    assert len(bomb) < broker.settings.max_body_bytes
    before = rss()
    r = broker.client.post("/logs", content=bomb,
                           headers={**broker.auth("gateway"), "content-encoding": "gzip",
                                    "content-type": "application/json"})
    assert_refused(r, 413)
    assert rss() - before < 4 * RSS_SLACK


def test_json_with_duplicate_and_nan_values_does_not_crash(broker: InProcess) -> None:
    h = {**broker.auth("gateway"), "content-type": "application/json"}
    for body in ('{"tenant":"a","tenant":"b","region":"aws:x","model":"m"}',
                 '{"tenant":NaN,"region":"aws:x","model":"m"}',
                 '{"tenant":"a","region":"aws:x","model":"m","at":"2026-13-45T99:99:99Z"}',
                 '{"tenant":"a","region":"aws:x","model":"m","subject":{"nationalities":[' + '"US",' * 40 + '"US"]}}',
                 json.dumps({"items": [1, "x", None, [], {"tenant": {}}]})):
        for path in ("/v1/preflight", "/v1/preflight/batch"):
            r = broker.client.post(path, content=body.encode(), headers=h)
            assert r.status_code < 500, (path, body[:80], r.text[:300])
            if r.status_code >= 400:
                assert error_code(r) is not None
