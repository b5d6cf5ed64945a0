"""Database failures of the PostgreSQL drivers surface as :class:`AuditUnavailable` (503)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from broker.errors import AuditUnavailable


@contextlib.contextmanager
def audit_db_errors(what: str) -> Iterator[None]:
    # Connection and server errors are "unavailable", like a failing disk for the fs driver;
    # programming errors (bad SQL) stay loud.
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise AuditUnavailable(f"audit {what} failed: {exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise AuditUnavailable(f"audit {what} failed: {exc.orig}") from exc
        raise
