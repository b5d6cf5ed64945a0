"""Composition root: builds every service from :class:`Settings` and wires them together.

This is the only module that knows every feature; features know only their own dependencies.
Start-up order matters and is fail-closed: the audit log must be writable before any decision
can be made, and the policy snapshot must load and pass its probe before ``/readyz`` says ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from fastapi import APIRouter

from broker.audit import api as audit_api
from broker.audit.keys import load_or_create_log_key
from broker.audit.log import AuditLog
from broker.audit.process import AuditProcess
from broker.audit.records import admin_record
from broker.audit.rotation import finish_pending_rotation
from broker.audit.witness import WitnessClient
from broker.config import Settings
from broker.console import router as console_router
from broker.decisions import api as decisions_api
from broker.decisions.service import DecisionService
from broker.decisions.snapshot import SnapshotInputs, SnapshotManager, inputs_from_registry
from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.fleet import api as fleet_api
from broker.fleet.config import FleetConfig
from broker.fleet.notify import ActivationNotifier
from broker.fleet.service import FleetService
from broker.gateways import envoy_http, litellm_api, opa_compat
from broker.gateways.envoy_grpc import GrpcServer, TollgateAuthorization
from broker.http.health import ReadinessCheck
from broker.http.ratelimit import RateLimiter
from broker.lifecycle import api as lifecycle_api
from broker.lifecycle.files import PolicySet, merged_data
from broker.lifecycle.sources import AuditDecisionHistory, ServiceRegistrySource
from broker.lifecycle.wiring import Lifecycle, build_lifecycle
from broker.policy.pack import read_pack
from broker.registry import api as registry_api
from broker.registry.service import RegistryService
from broker.replicas.wiring import Replicas, open_replicas
from broker.security.jwks import KeySet
from broker.security.keys import ensure_dev_token_key
from broker.security.principal import Principal
from broker.security.tokens import TokenVerifier
from broker.storage.factory import create_store
from broker.storage.interface import RegistryStore
from broker.storage.sql import SqlRegistryStore

log = structlog.get_logger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.readiness: dict[str, ReadinessCheck] = {}
        self.store: RegistryStore | None = None
        self.registry: RegistryService | None = None
        self.audit: AuditLog | AuditProcess | None = None
        self.snapshots: SnapshotManager | None = None
        self.decisions: DecisionService | None = None
        self.fleet: FleetService | None = None
        self.notifier = ActivationNotifier()
        self.grpc: GrpcServer | None = None
        self.lifecycle: Lifecycle | None = None
        self.replicas: Replicas | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.policy_modules: dict[str, str] = {}
        self.policy_revision = ""
        self.policy_data: dict[str, Any] = {}

    @staticmethod
    def routers() -> list[APIRouter]:
        return [
            decisions_api.router,
            registry_api.router,
            audit_api.router,
            fleet_api.router,
            envoy_http.router,
            opa_compat.router,
            litellm_api.router,
            lifecycle_api.router,
            console_router,
        ]

    # --- pieces -------------------------------------------------------------------------------

    def build_verifier(self) -> TokenVerifier:
        s = self.settings
        if s.jwks_url:
            keys = KeySet(url=s.jwks_url, refresh_s=s.jwks_refresh_s)
        else:
            jwks_file = s.jwks_file or ensure_dev_token_key(s.keys_dir).jwks_path
            keys = KeySet(file=jwks_file, refresh_s=s.jwks_refresh_s)
        return TokenVerifier(
            keys,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
            leeway_s=s.jwt_leeway_s,
            hs256_secret=s.hs256_secret,
        )

    def engine_factory(self) -> PolicyEngine:
        s = self.settings
        if s.engine == "opa":
            return create_engine("opa", url=s.opa_url)
        return create_engine(s.engine)

    def snapshot_inputs(self) -> SnapshotInputs:
        """The live registry head compiled for the active policy version."""
        assert self.registry is not None
        info, reg = self.registry.current()
        inputs = inputs_from_registry(reg, info.number if info else 0, self.policy_modules, self.policy_revision)
        if not self.policy_data:
            return inputs
        data = merged_data(inputs.data, self.policy_data)
        return SnapshotInputs(inputs.modules, data, inputs.policy_revision, inputs.registry_revision)

    def activate(self, version_id: str, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        self.activate_policy(version_id, modules, data)

    def activate_policy(self, version_id: str, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        """The lifecycle's PolicyActivator: build the version's snapshot here, swap it on the
        serving loop, and return only once every later pre-flight uses it (atomic activation)."""
        assert self.snapshots is not None
        previous = (self.policy_modules, self.policy_revision, self.policy_data)
        self.policy_modules, self.policy_revision, self.policy_data = dict(modules), version_id, dict(data)
        try:
            snap = self.snapshots.build(self.snapshot_inputs())
        except BaseException:
            self.policy_modules, self.policy_revision, self.policy_data = previous
            raise
        loop = self.loop
        on_loop = False
        with contextlib.suppress(RuntimeError):  # no running loop: called from a plain thread
            on_loop = asyncio.get_running_loop() is loop
        if loop is None or on_loop or not loop.is_running():
            self.snapshots.activate(snap)
            return

        async def swap() -> None:
            assert self.snapshots is not None
            self.snapshots.activate(snap)

        asyncio.run_coroutine_threadsafe(swap(), loop).result(timeout=30)

    def audit_policy(self, record: dict[str, Any]) -> int:
        """Lifecycle steps become admin records ``policy.<step>``."""
        rec = dict(record)
        rec.pop("kind", None)
        rec.pop("time", None)
        actor = rec.pop("actor", {})
        subject = rec.pop("version_id", None) or ""
        return self.audit_admin({
            "action": f"policy.{rec.pop('action')}",
            "actor": actor.get("sub", "system") if isinstance(actor, dict) else str(actor),
            "subject": subject,
            "actor_identity": actor,
            **rec,
        })

    def active_bundle(self) -> PolicyBundle:
        assert self.snapshots is not None
        bundle = self.snapshots.current.engine.bundle
        if bundle is None:
            raise RuntimeError("the live engine has no bundle")
        return bundle

    def audit_registry(self, record: dict[str, Any]) -> None:
        self.audit_admin(record)

    def audit_admin(self, record: Mapping[str, Any]) -> int:
        """Adapter for features that report administrative changes as plain dicts."""
        assert self.audit is not None
        rec = dict(record)
        action = str(rec.pop("action"))
        actor = str(rec.pop("actor", "system"))
        subject = str(rec.pop("subject", rec.get("revision", rec.get("version", ""))))
        return self.audit.append(admin_record(action=action, actor=actor, subject=subject, details=rec))

    # --- life cycle ---------------------------------------------------------------------------

    def _start_audit(self, make_log: Callable[..., AuditLog | AuditProcess]) -> AuditLog | AuditProcess:
        s = self.settings
        log = make_log(
            s.audit_dir,
            load_or_create_log_key(s.keys_dir),
            s.log_origin,
            checkpoint_interval_s=s.audit_checkpoint_interval_s,
            checkpoint_every=s.audit_checkpoint_every,
            idle_resign_s=s.audit_idle_resign_s,
            witnesses=[WitnessClient.configured(w.url, w.vkey) for w in s.audit_witnesses],
        )
        log.start()
        return log

    async def start(self, state: Any) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        state.settings = s
        state.token_verifier = self.build_verifier()
        state.readiness_checks = self.readiness
        self.loop = asyncio.get_running_loop()

        # With PostgreSQL, replicas share one audit log there (None: the local log, as always).
        self.replicas = open_replicas(s)
        make_log: Callable[..., AuditLog | AuditProcess] = AuditLog
        if self.replicas is not None:
            make_log = self.replicas.audit_log
        elif s.audit_worker == "process":
            make_log = AuditProcess
        self.audit = self._start_audit(make_log)
        if finish_pending_rotation(s.keys_dir, self.audit.vkeys):
            # A rotation was cut off after the log recorded the new key: sign with it from now.
            self.audit.close()
            self.audit = self._start_audit(make_log)
        state.audit_log = self.audit
        self.readiness["audit_log"] = self._audit_ready

        self.store = create_store(s.resolved_database_url)
        self.registry = RegistryService(self.store, audit=self.audit_registry)
        result = self.registry.bootstrap_shipped(s.include_demo)
        log.info("registry.bootstrapped", revision=result.revision.number if result.revision else None)
        state.registry_service = self.registry
        self.readiness["store"] = self.registry.readiness

        self.snapshots = SnapshotManager(self.engine_factory, source=self.snapshot_inputs,
                                         cache_size=s.decision_cache_size)
        self.snapshots.serve_on(asyncio.get_running_loop())
        self.snapshots.subscribe(lambda _snap: self.notifier.notify())
        self.readiness["policy"] = self._policy_ready
        self.decisions = DecisionService(self.snapshots, self.audit)
        state.decision_service = self.decisions
        state.snapshot_manager = self.snapshots

        assert isinstance(self.store, SqlRegistryStore)
        self.lifecycle = build_lifecycle(
            self.store.engine,
            registry=ServiceRegistrySource.from_service(self.registry),
            audit=self.audit_policy,
            activator=self,
            history=AuditDecisionHistory(self.audit),
            engine_name=s.engine if s.engine != "opa" else "regorus",
        )
        state.lifecycle = self.lifecycle
        # Blocking start-up work (validating and activating the policy) runs off the event loop
        # so that the activator's hand-off to the loop cannot deadlock.
        await asyncio.to_thread(self._start_policy)
        self.registry.on_commit(self.snapshots.request_refresh)
        self.decisions.observer = self.lifecycle.shadow
        if self.replicas is not None:
            self.replicas.watch(self.registry, self.lifecycle.service, lambda: self.policy_revision)

        self.fleet = FleetService.open(s.data_dir, FleetConfig())
        state.fleet = self.fleet
        state.bundle_source = self.active_bundle
        state.bundle_notifier = self.notifier

        if s.grpc_port is not None:
            self.grpc = GrpcServer(
                TollgateAuthorization(self.decisions, state.token_verifier, limiter=RateLimiter.for_state(state)),
                f"{s.host}:{s.grpc_port}",
            )
            await self.grpc.start()
        log.info("broker.started", data_dir=str(s.data_dir), engine=s.engine,
                 policy_revision=self.policy_revision)

    def _start_policy(self) -> None:
        """Install the shipped pack as the baseline version on first start, then go live."""
        assert self.lifecycle is not None
        pack = read_pack()
        files = {**pack.policies, **pack.tests}
        system = Principal(subject="system", roles=frozenset({"admin"}))
        installed = self.lifecycle.service.install_baseline(
            PolicySet.of(files), system, message=f"shipped policy pack {pack.revision}"
        )
        if installed is None:
            # A newer shipped pack never replaces the active version silently: it arrives as a
            # draft for officers to review, propose and get approved (push is idempotent).
            self.lifecycle.service.push(PolicySet.of(files), system, message=f"shipped policy pack {pack.revision}",
                                        source={"kind": "shipped"})
        self.lifecycle.start(restore_active=installed is None)

    async def stop(self) -> None:
        if self.replicas is not None:
            self.replicas.stop_watcher()
        if self.lifecycle is not None:
            await asyncio.to_thread(self.lifecycle.stop)
        if self.grpc is not None:
            await self.grpc.stop()
        if self.snapshots is not None:
            self.snapshots.close()
        if self.audit is not None:
            self.audit.close()
        if self.store is not None:
            self.store.close()
        if self.replicas is not None:
            self.replicas.close()
        log.info("broker.stopped")

    def _audit_ready(self) -> tuple[bool, str]:
        assert self.audit is not None
        health = self.audit.health()
        # "degraded" (stale checkpoint, witness down) still accepts durable appends.
        status, reason = str(health.get("status")), health.get("reason")
        # The reason (e.g. ENOSPC from the sequencer) is what an operator needs to act on.
        return status in {"ok", "degraded"}, f"{status}: {reason}" if reason else status

    def _policy_ready(self) -> tuple[bool, str]:
        assert self.snapshots is not None
        if not self.snapshots.ready:
            return False, f"no policy loaded: {self.snapshots.last_error}"
        snap = self.snapshots.current
        return True, f"policy {snap.policy_revision} on registry revision {snap.registry_revision}"
