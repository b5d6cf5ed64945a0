"""Structured JSON logs (structlog) with request id, tenant and decision id bound per request.

The per-request values live in one context variable holding a small dict, set afresh when a
request starts: structlog's own ``contextvars`` helpers keep one variable per key and clear
them by walking a copy of the whole context, ~1 µs a request on the pre-flight hot path.
Each request runs in its own asyncio task (and sync routes in a copy of its context), so a
request sees only its own values.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

_EMPTY: Mapping[str, Any] = {}
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("tollgate_log_context", default=_EMPTY)


def start_log_context(**values: Any) -> None:
    """A fresh log context for the current request: nothing carries over from an earlier one."""
    _CONTEXT.set(values)


def bind_log(**values: Any) -> None:
    """Add ``values`` to the current request's log context."""
    _CONTEXT.set({**_CONTEXT.get(), **values})


def merge_log_context(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the request's context under the event's own keys."""
    context = _CONTEXT.get()
    return {**context, **event_dict} if context else event_dict


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr; the request's context (request_id, tenant, decision_id) merged in.

    The standard library's records (uvicorn, alembic, the audit supervisor) come out as the
    same JSON lines, with their logger's name, so a log pipeline parses every line alike.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    configure_stdlib_logging(numeric)
    structlog.configure(
        processors=[
            merge_log_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring again replaces it."""


def configure_stdlib_logging(level: int, **static: Any) -> None:
    """Render standard-library log records as JSON lines on stderr, ``static`` added to each."""

    def add_static(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.update(static)
        return event_dict

    handler = _JsonHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            merge_log_context,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            add_static,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
