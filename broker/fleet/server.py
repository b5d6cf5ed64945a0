"""OPA's Bundle Service API, minus HTTP: ETags, 304s and long polling (download.go).

* A 200 carries the bundle and its strong ETag. OPA sends that ETag back in ``If-None-Match``
  (only after it activated the bundle, so a bundle it failed to activate is re-sent).
* OPA switches to long polling only after a 200 whose ``Content-Type`` is exactly
  ``application/vnd.openpolicyagent.bundles``; from then on it sends ``Prefer: ...;wait=<s>`` and
  expects the server to hold the request until the bundle changes, or answer 304 at the timeout.
  So requests from an OPA (they all carry ``Prefer``) get that content type; other clients get
  ``application/gzip``. OPA accepts both as a bundle.
* The built bundle is cached per (policy revision, registry revision): PolicyBundle's contract is
  that the two revisions identify its content, and building (JSON + tar + gzip + RSA) costs
  milliseconds that a fleet of pollers should not multiply.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from broker.engine.interface import PolicyBundle
from broker.fleet.bundle import BuiltBundle, build_bundle
from broker.fleet.config import FleetConfig
from broker.fleet.notify import ActivationNotifier, BundleSource
from broker.fleet.signing import BundleSigner

LONG_POLL_CONTENT_TYPE = "application/vnd.openpolicyagent.bundles"
GZIP_CONTENT_TYPE = "application/gzip"
_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class BundleReply:
    status: int  # 200 or 304
    etag: str
    revision: str
    content: bytes | None = None


def prefer_wait(prefer: str | None) -> float | None:
    """Seconds from a ``Prefer`` header such as ``modes=snapshot,delta;wait=30``."""
    if not prefer:
        return None
    match = _WAIT.search(prefer)
    return float(match.group(1)) if match else None


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an ``If-None-Match`` list (OPA sends our value back verbatim)."""
    if not if_none_match:
        return False
    want = etag.removeprefix("W/").strip('"')
    for item in if_none_match.split(","):
        candidate = item.strip()
        if candidate == "*" or candidate.removeprefix("W/").strip('"') == want:
            return True
    return False


class BundleServer:
    def __init__(self, signer: BundleSigner, config: FleetConfig) -> None:
        self.signer = signer
        self.config = config
        self._cached: BuiltBundle | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, source: BundleSource) -> tuple[BuiltBundle | None, PolicyBundle]:
        bundle = source()
        key = (bundle.policy_revision, bundle.registry_revision)
        cached = self._cached
        if cached is not None and (cached.policy_revision, cached.registry_revision) == key:
            return cached, bundle
        return None, bundle

    async def current(self, source: BundleSource) -> BuiltBundle:
        """The built bundle for the active policy set (built once per revision pair)."""
        cached, _ = self._fresh(source)
        if cached is not None:
            return cached
        async with self._lock:  # many pollers wake at once after an activation: build once
            cached, bundle = self._fresh(source)
            if cached is not None:
                return cached
            built = await asyncio.to_thread(
                build_bundle, bundle, self.signer, include_tests=self.config.include_test_modules
            )
            self._cached = built
            return built

    async def serve(
        self,
        source: BundleSource,
        *,
        if_none_match: str | None,
        wait_s: float | None,
        notifier: ActivationNotifier | None = None,
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> BundleReply:
        since = notifier.generation if notifier is not None else 0
        built = await self.current(source)
        if not etag_matches(if_none_match, built.etag):
            return BundleReply(200, built.etag, built.revision, built.content)
        if not wait_s or wait_s <= 0:
            return BundleReply(304, built.etag, built.revision)
        deadline = time.monotonic() + min(wait_s, self.config.long_poll_max_s)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return BundleReply(304, built.etag, built.revision)
            tick = min(remaining, self.config.long_poll_recheck_s)
            if notifier is not None:
                await notifier.wait_changed(tick, since=since)
                since = notifier.generation
            else:
                await asyncio.sleep(tick)
            if is_disconnected is not None and await is_disconnected():
                return BundleReply(304, built.etag, built.revision)
            built = await self.current(source)
            if not etag_matches(if_none_match, built.etag):
                return BundleReply(200, built.etag, built.revision, built.content)
            # A notification without a content change (same revisions re-activated): keep waiting.
