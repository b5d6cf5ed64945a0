"""The per-request log context: what every log line of a request carries, and nothing more."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from structlog.testing import LogCapture

from broker.logging import bind_log, configure_logging, merge_log_context, start_log_context


def _context() -> dict[str, Any]:
    return dict(merge_log_context(None, "info", {}))


def test_a_request_starts_fresh_and_binds_on_top() -> None:
    async def request(request_id: str, tenant: str | None) -> dict[str, Any]:
        start_log_context(request_id=request_id)
        if tenant:
            await asyncio.sleep(0)  # interleave with the other request
            bind_log(tenant=tenant)
        await asyncio.sleep(0)
        return _context()

    async def main() -> list[dict[str, Any]]:
        start_log_context(request_id="outer", tenant="leaked?")
        return list(await asyncio.gather(request("r1", "t1"), request("r2", None)))

    assert asyncio.run(main()) == [{"request_id": "r1", "tenant": "t1"}, {"request_id": "r2"}]


def test_the_event_keys_win_and_an_empty_context_adds_nothing() -> None:
    async def main() -> tuple[Any, Any]:
        empty = merge_log_context(None, "info", {"event": "x"})
        start_log_context(request_id="r", tenant="from-context")
        return empty, merge_log_context(None, "info", {"event": "y", "tenant": "explicit"})

    empty, merged = asyncio.run(main())
    assert empty == {"event": "x"}
    assert merged == {"request_id": "r", "tenant": "explicit", "event": "y"}


def test_configured_logs_carry_the_context() -> None:
    previous = structlog.get_config()
    try:
        configure_logging("info")
        capture = LogCapture()
        chain = structlog.get_config()["processors"]
        assert chain[0] is merge_log_context
        structlog.configure(processors=[merge_log_context, capture], cache_logger_on_first_use=False)

        async def main() -> None:
            start_log_context(request_id="r9")
            bind_log(tenant="t9")
            structlog.get_logger("test").error("request.failed", code="X")

        asyncio.run(main())
        assert capture.entries == [{"request_id": "r9", "tenant": "t9", "event": "request.failed", "code": "X",
                                    "log_level": "error"}]
    finally:
        structlog.configure(**previous)


_STDLIB_SCRIPT = """
import asyncio, logging
from broker.logging import bind_log, configure_logging, start_log_context
configure_logging("info")
configure_logging("info")  # again (a second app in one process): still one line per record
async def request():
    start_log_context(request_id="r7")
    bind_log(tenant="t7")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade %s", "0001")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("broker.audit.process").exception("audit worker lost")
    logging.getLogger("uvicorn.error").debug("below the level")
asyncio.run(request())
"""


def test_standard_library_records_are_json_lines_with_the_request_context() -> None:
    import json
    import subprocess
    import sys

    err = subprocess.run([sys.executable, "-c", _STDLIB_SCRIPT], check=True, capture_output=True,
                         text=True).stderr
    lines = [json.loads(line) for line in err.splitlines()]
    assert [(r["logger"], r["level"], r["event"]) for r in lines] == [
        ("alembic.runtime.migration", "info", "Running upgrade 0001"),
        ("broker.audit.process", "error", "audit worker lost"),
    ]
    assert all(r["request_id"] == "r7" and r["tenant"] == "t7" and r["timestamp"].endswith("Z") for r in lines)
    assert "ZeroDivisionError" in lines[1]["exception"]
