"""The console router: assets, content types, security headers, no escape from the static folder."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from broker.console import router
from broker.console.api import CONTENT_SECURITY_POLICY, _static_root
from broker.http.errors import install_error_handlers


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_index_is_html_with_strict_csp(client: TestClient) -> None:
    r = client.get("/console/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_bare_prefix_redirects(client: TestClient) -> None:
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/console/"


@pytest.mark.parametrize(("path", "ctype"), [
    ("/console/js/main.js", "text/javascript; charset=utf-8"),
    ("/console/css/console.css", "text/css; charset=utf-8"),
    ("/console/index.html", "text/html; charset=utf-8"),
])
def test_assets_have_their_content_type(client: TestClient, path: str, ctype: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", [
    "/console/../api.py", "/console/%2e%2e/api.py", "/console/js/../../api.py", "/console/.hidden",
    "/console/js/", "/console/nope.js", "/console/js/main.py", "/console/js//main.js", "/console/js/ma%00in.js",
])
def test_nothing_outside_the_static_folder(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"


def test_every_module_import_resolves_to_a_shipped_file(client: TestClient) -> None:
    """A typo in an import path would only show in a browser; catch it here for every module."""
    root = _static_root()
    js_files = [p for p in _walk(root) if p.endswith(".js")]
    assert "js/main.js" in js_files
    for rel in js_files:
        text = client.get(f"/console/{rel}").text
        base = rel.rsplit("/", 1)[0]
        for target in re.findall(r"""(?:from|import)\s*\(?\s*["'](\.{1,2}/[^"']+)["']""", text):
            resolved = _join(base, target)
            assert resolved in js_files, f"{rel} imports {target} -> {resolved}, which does not exist"


def test_no_inline_script_or_handlers_in_html(client: TestClient) -> None:
    html = client.get("/console/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script> would be blocked by the CSP"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handlers would be blocked by the CSP"


def _walk(node, prefix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    out: list[str] = []
    for child in node.iterdir():
        name = f"{prefix}{child.name}"
        if child.is_dir():
            out += _walk(child, name + "/")
        else:
            out.append(name)
    return out


def _join(base: str, target: str) -> str:
    parts = base.split("/") if base else []
    for seg in target.split("/"):
        if seg == "..":
            parts.pop()
        elif seg != ".":
            parts.append(seg)
    return "/".join(parts)


def test_every_imported_name_is_used(client: TestClient) -> None:
    """No linter runs over the JavaScript here; this keeps the modules free of dead imports."""
    for rel in [p for p in _walk(_static_root()) if p.endswith(".js")]:
        text = client.get(f"/console/{rel}").text
        for names in re.findall(r"^import \{([^}]*)\} from", text, flags=re.M):
            for name in (n.strip().split(" as ")[-1] for n in names.split(",") if n.strip()):
                uses = len(re.findall(rf"\b{re.escape(name)}\b", text))
                assert uses > 1, f"{rel}: {name} is imported but never used"
