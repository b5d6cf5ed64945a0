"""What the composition root needs to run as one of several replicas on PostgreSQL.

``open_replicas(settings)`` returns ``None`` in the default single-process mode (SQLite, audit
log on the local filesystem), so ``broker/runtime.py`` changes nothing there. With PostgreSQL it
migrates the database, then builds the shared audit log and, once the registry and lifecycle
exist, the watcher that follows other replicas' changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from broker.audit.storage.pg_objects import PgLogStorage
from broker.audit.storage.pg_sequence import PgSequenceStore
from broker.config import Settings
from broker.errors import ValidationFailed
from broker.lifecycle.service import LifecycleService
from broker.registry.service import RegistryService
from broker.replicas.audit import ReplicatedAuditLog
from broker.replicas.lease import AdvisoryLease, lease_engine
from broker.replicas.watcher import ActivationRef, ChangeWatcher, PolicySource
from broker.storage.migrations import migrate
from broker.storage.postgres import CONNECT_TIMEOUT_S


def replicated(settings: Settings) -> bool:
    """PostgreSQL audit log and propagation: explicit ``audit_backend``, else by database URL."""
    on_pg = make_url(settings.resolved_database_url).get_backend_name() == "postgresql"
    if settings.audit_backend == "postgres" and not on_pg:
        raise ValidationFailed("TOLLGATE_AUDIT_BACKEND=postgres needs a postgresql+psycopg:// "
                               "TOLLGATE_DATABASE_URL")
    return on_pg if settings.audit_backend == "auto" else settings.audit_backend == "postgres"


def shared_engine(url: str) -> Engine:
    # Request threads read tiles and write blobs, the sequencer and integrator write: a pool
    # a little larger than the registry's default.
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


class Replicas:
    def __init__(self, url: str, *, poll_interval_s: float = 0.2) -> None:
        self.engine = shared_engine(url)
        migrate(self.engine)  # the audit tables must exist before the log starts
        self.lease_engine = lease_engine(url)
        self.poll_interval_s = poll_interval_s
        self.watcher: ChangeWatcher | None = None

    def audit_log(self, directory: Path, signer: Ed25519PrivateKey, origin: str,
                  **kwargs: Any) -> ReplicatedAuditLog:
        """Same arguments as :class:`AuditLog`; ``directory`` keeps only the search index."""
        lease = AdvisoryLease(self.lease_engine, f"audit-integrator:{origin}")
        return ReplicatedAuditLog(directory, signer, origin, storage=PgLogStorage(self.engine),
                                  sequence=PgSequenceStore(self.engine), lease=lease, **kwargs)

    def watch(self, registry: RegistryService, lifecycle: LifecycleService,
              live_version: Callable[[], str]) -> ChangeWatcher:
        def current() -> ActivationRef | None:
            act = lifecycle.store.current_activation()
            return None if act is None else ActivationRef(act.seq, act.version_id)

        policy = PolicySource(current=current, live=live_version,
                              reactivate=lifecycle.restore_active,
                              # the lifecycle's one-activation-at-a-time lock (see watcher.py)
                              lock=getattr(lifecycle, "_activation_lock", None))
        self.watcher = ChangeWatcher(registry.refresh, policy, interval_s=self.poll_interval_s)
        self.watcher.start()
        return self.watcher

    def stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def close(self) -> None:
        self.stop_watcher()
        self.engine.dispose()
        self.lease_engine.dispose()


def open_replicas(settings: Settings) -> Replicas | None:
    if not replicated(settings):
        return None
    return Replicas(settings.resolved_database_url,
                    poll_interval_s=settings.replica_poll_interval_s)
