"""Serves the console's static assets at ``/console/``.

The console is plain HTML, CSS and JavaScript modules shipped as package files: no build step and
no server-side templating, so this router only maps a URL to a file and sets safe headers. Access
control happens in the API the console calls (bearer tokens); the assets themselves are public.

The Content-Security-Policy allows nothing but same-origin scripts, styles and fetches: no inline
script, no ``eval``, no third-party origin, so a stray injected string cannot execute.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from broker.errors import NotFound

PREFIX = "/console"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Assets change with the package; revalidate each load so an upgrade is never half-applied.
    "Cache-Control": "no-cache",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}

router = APIRouter(prefix=PREFIX, tags=["console"], include_in_schema=False)


def _static_root() -> Traversable:
    return resources.files("broker.console").joinpath("static")


@cache
def _asset(path: str) -> tuple[bytes, str] | None:
    """Bytes and content type of a shipped asset, or None.

    Only plain relative names made of safe characters are looked up, segment by segment, so no
    ``..``, absolute path or odd encoding can leave the static folder.
    """
    parts = path.split("/")
    if not path or any(not p or p.startswith(".") or not _safe(p) for p in parts):
        return None
    suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
    content_type = CONTENT_TYPES.get(suffix)
    if content_type is None:
        return None
    node = _static_root()
    for part in parts:
        node = node.joinpath(part)
    if not node.is_file():
        return None
    return node.read_bytes(), content_type


def _safe(segment: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "-_.") for c in segment)


def _respond(path: str) -> Response:
    found = _asset(path)
    if found is None:
        raise NotFound(f"no console asset {path!r}")
    body, content_type = found
    return Response(body, media_type=content_type, headers=SECURITY_HEADERS)


@router.get("", summary="The console (redirects to /console/)")
def console_root() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=308)


@router.get("/", summary="The console's single page")
def console_index() -> Response:
    return _respond("index.html")


@router.get("/{path:path}", summary="A console asset (JavaScript module, stylesheet)")
def console_asset(path: str) -> Response:
    return _respond(path)
