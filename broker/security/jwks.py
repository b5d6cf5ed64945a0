"""Verification keys by ``kid``, from a JWKS file or URL, refreshed without a restart.

Keys rotate by publishing the new key in the JWKS before tokens are minted with it; the set is
re-read when the file changes (checked at most every ``refresh_s``) or, for a URL, every
``refresh_s`` and once on an unknown ``kid`` (rate-limited so a flood of forged kids cannot turn
the broker into a JWKS-fetching amplifier).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import structlog

from broker.security.tokens_constants import ACCEPTED_JWK_ALGORITHMS

log = structlog.get_logger(__name__)


def parse_jwks(document: Any, origin: str) -> dict[str, jwt.PyJWK]:
    """Parse a JWKS document, keeping only asymmetric signing keys with a ``kid``."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError(f"{origin}: not a JWKS document (needs a 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for i, raw in enumerate(document["keys"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            raise ValueError(f"{origin}: keys[{i}] has no string 'kid'")
        if raw.get("kty") == "oct":
            # Symmetric keys never come from a JWKS: HS256 uses only the configured secret.
            raise ValueError(f"{origin}: keys[{i}] is a symmetric key; not accepted in a JWKS")
        try:
            key = jwt.PyJWK(raw)
        except jwt.PyJWTError as exc:
            raise ValueError(f"{origin}: keys[{i}] ({raw['kid']}): {exc}") from exc
        if key.algorithm_name not in ACCEPTED_JWK_ALGORITHMS:
            raise ValueError(f"{origin}: keys[{i}] uses {key.algorithm_name}, not an accepted algorithm")
        keys[raw["kid"]] = key
    return keys


class KeySet:
    """A thread-safe, self-refreshing map ``kid -> PyJWK``."""

    def __init__(self, *, file: Path | None = None, url: str | None = None, refresh_s: float = 60.0) -> None:
        if (file is None) == (url is None):
            raise ValueError("give exactly one of a JWKS file or URL")
        self._file, self._url, self._refresh = file, url, refresh_s
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._checked = 0.0
        self._file_mtime: float | None = None
        self._last_forced = 0.0
        self._load()

    def get(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._checked >= self._refresh:
            self._refresh_quietly()
        key = self._keys.get(kid)
        if key is None and self._url and now - self._last_forced >= 5.0:
            self._last_forced = now
            self._refresh_quietly()
            key = self._keys.get(kid)
        return key

    def kids(self) -> list[str]:
        return sorted(self._keys)

    def _refresh_quietly(self) -> None:
        try:
            self._load()
        except (OSError, ValueError, httpx.HTTPError) as exc:
            # Keep serving with the last good key set; a broken JWKS must not lock everyone out.
            log.warning("jwks.refresh_failed", error=str(exc))
            self._checked = time.monotonic()

    def _load(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            if self._file is not None:
                mtime = self._file.stat().st_mtime
                if mtime == self._file_mtime:
                    return
                doc = json.loads(self._file.read_text())
                self._keys = parse_jwks(doc, str(self._file))
                self._file_mtime = mtime
            else:
                assert self._url is not None
                response = httpx.get(self._url, timeout=5.0)
                response.raise_for_status()
                self._keys = parse_jwks(response.json(), self._url)
