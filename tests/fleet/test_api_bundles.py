"""GET /bundles/<name>: roles, ETag/304, content types, long polling."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import httpx

from broker.fleet.server import LONG_POLL_CONTENT_TYPE, etag_matches, prefer_wait
from broker.fleet.verify import verify_bundle
from tests.fleet.conftest import KEY_ID, Fleet, sample_bundle


def test_bundle_download_verifies(fleet: Fleet, rsa_key) -> None:  # type: ignore[no-untyped-def]
    r = fleet.client.get("/bundles/tollgate", headers=fleet.headers())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/gzip"
    assert r.headers["x-tollgate-bundle-revision"] == "p-7+r42"
    etag = r.headers["etag"]
    report = verify_bundle(r.content, {KEY_ID: (rsa_key.public_key(), "RS256")}, key_id=KEY_ID)
    assert report.revision == "p-7+r42"
    # the .tar.gz spelling of the resource works too, with the same bytes
    again = fleet.client.get("/bundles/tollgate.tar.gz", headers=fleet.headers())
    assert again.content == r.content and again.headers["etag"] == etag


def test_roles_and_unknown_bundle(fleet: Fleet) -> None:
    assert fleet.client.get("/bundles/tollgate").status_code == 401
    r = fleet.client.get("/bundles/tollgate", headers=fleet.headers(["officer"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_FORBIDDEN"
    r = fleet.client.get("/bundles/other", headers=fleet.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "BUNDLE_NOT_FOUND"


def test_etag_304_and_change(fleet: Fleet) -> None:
    etag = fleet.client.get("/bundles/tollgate", headers=fleet.headers()).headers["etag"]
    r = fleet.client.get("/bundles/tollgate", headers=fleet.headers(**{"If-None-Match": etag}))
    assert r.status_code == 304 and r.headers["etag"] == etag and r.content == b""
    fleet.source.bundle = sample_bundle(registry_revision=43)
    r = fleet.client.get("/bundles/tollgate", headers=fleet.headers(**{"If-None-Match": etag}))
    assert r.status_code == 200 and r.headers["etag"] != etag
    assert r.headers["x-tollgate-bundle-revision"] == "p-7+r43"


def test_opa_requests_get_the_long_poll_content_type(fleet: Fleet) -> None:
    r = fleet.client.get("/bundles/tollgate", headers=fleet.headers(Prefer="modes=snapshot,delta"))
    assert r.status_code == 200 and r.headers["content-type"] == LONG_POLL_CONTENT_TYPE


def test_header_parsing() -> None:
    assert prefer_wait("modes=snapshot,delta;wait=30") == 30
    assert prefer_wait("wait=5") == 5
    assert prefer_wait("modes=snapshot,delta") is None
    assert prefer_wait(None) is None
    assert etag_matches('"abc"', '"abc"') and etag_matches('W/"abc", "x"', '"abc"') and etag_matches("*", '"a"')
    assert not etag_matches('"abd"', '"abc"') and not etag_matches(None, '"abc"')


async def _poll(fleet: Fleet, etag: str, wait: int) -> tuple[httpx.Response, float]:
    transport = httpx.ASGITransport(app=fleet.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker") as client:
        start = time.monotonic()
        r = await client.get("/bundles/tollgate", headers=fleet.headers(
            **{"If-None-Match": etag, "Prefer": f"modes=snapshot,delta;wait={wait}"}), timeout=60)
        return r, time.monotonic() - start


def _slow_recheck(fleet: Fleet) -> None:
    # Only the notifier can end the poll early now (no periodic re-read during the test).
    server = fleet.service.bundles
    server.config = dataclasses.replace(server.config, long_poll_recheck_s=60)


def test_long_poll_returns_promptly_on_notify(fleet: Fleet) -> None:
    _slow_recheck(fleet)
    etag = fleet.client.get("/bundles/tollgate", headers=fleet.headers()).headers["etag"]

    async def scenario() -> tuple[httpx.Response, float]:
        poll = asyncio.create_task(_poll(fleet, etag, 30))
        await asyncio.sleep(0.3)
        fleet.source.bundle = sample_bundle(registry_revision=44)
        # activation may happen on another thread: notify() must wake the loop safely
        threading.Thread(target=fleet.notifier.notify).start()
        return await poll

    r, elapsed = asyncio.run(scenario())
    assert r.status_code == 200 and r.headers["etag"] != etag
    assert r.headers["x-tollgate-bundle-revision"] == "p-7+r44"
    assert 0.25 < elapsed < 5


def test_long_poll_times_out_with_304(fleet: Fleet) -> None:
    _slow_recheck(fleet)
    etag = fleet.client.get("/bundles/tollgate", headers=fleet.headers()).headers["etag"]

    async def scenario() -> tuple[httpx.Response, float]:
        poll = asyncio.create_task(_poll(fleet, etag, 1))
        await asyncio.sleep(0.2)
        fleet.notifier.notify()  # re-activation of the same content: not a change, keep waiting
        return await poll

    r, elapsed = asyncio.run(scenario())
    assert r.status_code == 304 and r.headers["etag"] == etag
    assert 0.9 < elapsed < 5


def test_long_poll_without_notifier_rechecks(fleet: Fleet) -> None:
    fleet.app.state.bundle_notifier = None  # recheck interval is 0.2 s in the fixture
    etag = fleet.client.get("/bundles/tollgate", headers=fleet.headers()).headers["etag"]

    async def scenario() -> tuple[httpx.Response, float]:
        poll = asyncio.create_task(_poll(fleet, etag, 30))
        await asyncio.sleep(0.3)
        fleet.source.bundle = sample_bundle(registry_revision=45)
        return await poll

    r, elapsed = asyncio.run(scenario())
    assert r.status_code == 200 and elapsed < 5


def test_bundle_is_built_once_per_revision(fleet: Fleet) -> None:
    calls = 0
    real = fleet.source

    def counting():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real()

    fleet.app.state.bundle_source = counting
    first = fleet.client.get("/bundles/tollgate", headers=fleet.headers())
    cached = fleet.service.bundles._cached
    second = fleet.client.get("/bundles/tollgate", headers=fleet.headers())
    assert first.content == second.content and fleet.service.bundles._cached is cached and calls >= 2
