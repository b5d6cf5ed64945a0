"""The policy lifecycle: push, validate, propose, approve/reject, activate, schedule, roll back.

Every step is one write transaction on the lifecycle store that also writes its audit record
before committing, so a step is either done *and* audited, or not done. Activation additionally
calls the :class:`PolicyActivator` inside that transaction: if the new policy cannot be made live,
nothing changes; if a later part fails, the previous version is put back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from broker.errors import Forbidden, TollgateError
from broker.lifecycle.errors import ImpactRequired, InvalidTransition, SelfApproval, ValidationBlocked
from broker.lifecycle.files import PolicySet
from broker.lifecycle.impact import ImpactRequest, MatrixScope, Progress, analyze, approval_summary
from broker.lifecycle.protocols import AuditSink, DecisionHistory, EngineFactory, PolicyActivator, RegistrySource
from broker.lifecycle.states import Action, State, next_state
from broker.lifecycle.store import LifecycleStore, Schedule, VersionRecord, utcnow
from broker.lifecycle.validation import failure_summary, validate
from broker.security.principal import Principal

log = structlog.get_logger(__name__)

SCHEDULER = Principal(subject="tollgate-scheduler", roles=frozenset({"admin"}))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class LifecycleService:
    def __init__(
        self,
        store: LifecycleStore,
        *,
        engine_factory: EngineFactory,
        registry: RegistrySource,
        audit: AuditSink,
        activator: PolicyActivator | None = None,
        history: DecisionHistory | None = None,
        engine_name: str = "regorus",
        impact_workers: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.engine_factory = engine_factory
        self.registry = registry
        self.audit = audit
        self.activator = activator
        self.history = history
        self.engine_name = engine_name
        self.impact_workers = impact_workers
        self.clock = clock
        self._activation_lock = threading.Lock()  # one activation at a time within this process
        self.shadow: Any = None  # a ShadowEvaluator, attached by broker.lifecycle.shadow

    # --- helpers ---------------------------------------------------------------------------------

    def _audit(self, action: str, actor: Principal, version_id: str | None, **details: Any) -> int:
        record = {
            "kind": "policy",
            "action": action,
            "version_id": version_id,
            "actor": actor.identity(),
            "time": _iso(self.clock()),
            **details,
        }
        return self.audit(record)

    def _step(self, conn: Any, action: str, actor: Principal, version_id: str | None, **details: Any) -> int:
        """Audit record + local event, inside the caller's transaction."""
        index = self._audit(action, actor, version_id, **details)
        self.store.add_event(
            version_id=version_id, action=action, actor=actor.subject, details=details, audit_index=index, conn=conn
        )
        return index

    def resolve(self, ref: str) -> str:
        return self.store.resolve(ref)

    def get(self, ref: str) -> VersionRecord:
        return self.store.get(self.resolve(ref))

    def files(self, ref: str) -> PolicySet:
        return self.store.files(self.resolve(ref))

    def active(self) -> VersionRecord | None:
        current = self.store.current_activation()
        return None if current is None else self.store.get(current.version_id)

    # --- push and validation ---------------------------------------------------------------------

    def push(
        self,
        pset: PolicySet,
        actor: Principal,
        *,
        message: str,
        parent: str | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> tuple[VersionRecord, bool]:
        """Store ``pset`` as a draft and validate it (the report is kept; drafts may fail)."""
        if parent is not None:
            parent = self.resolve(parent)
        else:
            active = self.active()
            parent = active.id if active else None
        src = dict(source or {"kind": "api"})
        record, created = self.store.put_version(pset, author=actor.subject, message=message, parent=parent, source=src)
        if not created:
            return record, False
        report = self._validate(pset)
        self.store.set_validation(record.id, report)
        with self.store.write() as conn:
            self._step(
                conn,
                "push",
                actor,
                record.id,
                parent=parent,
                message=message,
                source=src,
                files=sorted(pset.files),
                validation_ok=report["ok"],
            )
        return self.store.get(record.id), True

    def _validate(self, pset: PolicySet) -> dict[str, Any]:
        revision, doc = self.registry.data_document(None)
        return validate(pset, self.engine_factory, doc, revision)

    def validate(self, ref: str) -> dict[str, Any]:
        """Re-run validation against the current registry head and store the report."""
        vid = self.resolve(ref)
        report = self._validate(self.store.files(vid))
        self.store.set_validation(vid, report)
        return report

    # --- maker-checker ---------------------------------------------------------------------------

    def propose(self, ref: str, actor: Principal, *, comment: str = "") -> VersionRecord:
        """Draft -> proposed, only if validation passes now (against the current registry head)."""
        vid = self.resolve(ref)
        next_state(Action.PROPOSE, self.store.get(vid).state, vid)  # a 409 before a costly validation
        report = self.validate(vid)
        if not report["ok"]:
            raise ValidationBlocked(f"cannot propose {vid[:12]}: {failure_summary(report)}", report)
        with self.store.write() as conn:
            before, after = self.store.transition(
                conn, vid, Action.PROPOSE, proposed_by=actor.subject, proposed_at=self.clock()
            )
            self._step(conn, "propose", actor, vid, from_state=before, to_state=after, comment=comment)
        return self.store.get(vid)

    def _check_checker(self, record: VersionRecord, actor: Principal, verb: str) -> None:
        if "approver" not in actor.roles:
            raise Forbidden(f"{verb} needs the approver role", code="ROLE_FORBIDDEN")
        makers = {record.author, record.proposed_by}
        if actor.subject in makers:
            raise SelfApproval(
                f"{actor.subject} wrote or proposed policy version {record.id[:12]} and may not {verb} it; "
                "another approver must",
                details={"version_id": record.id, "author": record.author, "proposed_by": record.proposed_by},
            )

    def approve(self, ref: str, actor: Principal, *, impact_report_id: str, comment: str = "") -> VersionRecord:
        vid = self.resolve(ref)
        record = self.store.get(vid)
        self._check_checker(record, actor, "approve")
        impact = self.store.impact(impact_report_id) if impact_report_id else None
        if impact is None or impact["version_id"] != vid:
            raise ImpactRequired(
                f"approval must name an impact report of version {vid[:12]} (POST .../impact first)",
                details={"impact_report_id": impact_report_id or None},
            )
        active = self.active()
        if impact["base_version_id"] != (active.id if active else None):
            raise ImpactRequired(
                "the impact report compares against a version that is no longer active; run it again",
                details={"report_base": impact["base_version_id"], "active": active.id if active else None},
            )
        seen = approval_summary(impact["report"]) | {"comment": comment}
        with self.store.write() as conn:
            before, after = self.store.transition(
                conn, vid, Action.APPROVE, decided_by=actor.subject, decided_at=self.clock(), approval=seen
            )
            self._step(conn, "approve", actor, vid, from_state=before, to_state=after, impact=seen)
        return self.store.get(vid)

    def reject(self, ref: str, actor: Principal, *, reason: str) -> VersionRecord:
        vid = self.resolve(ref)
        self._check_checker(self.store.get(vid), actor, "reject")
        with self.store.write() as conn:
            before, after = self.store.transition(
                conn, vid, Action.REJECT, decided_by=actor.subject, decided_at=self.clock()
            )
            self._step(conn, "reject", actor, vid, from_state=before, to_state=after, reason=reason)
        return self.store.get(vid)

    def withdraw(self, ref: str, actor: Principal, *, reason: str = "") -> VersionRecord:
        vid = self.resolve(ref)
        with self.store.write() as conn:
            before, after = self.store.transition(conn, vid, Action.WITHDRAW)
            for sched in self.store.schedules(status="pending", version_id=vid):
                self.store.finish_schedule(conn, sched.id, "cancelled", "version withdrawn")
            self._step(conn, "withdraw", actor, vid, from_state=before, to_state=after, reason=reason)
        return self.store.get(vid)

    # --- activation ------------------------------------------------------------------------------

    def _make_live(self, vid: str) -> None:
        if self.activator is None:
            raise TollgateError("no policy activator is configured", code="ACTIVATOR_MISSING", status=503)
        pset = self.store.files(vid)
        self.activator.activate(vid, pset.modules, pset.data)

    def activate(
        self,
        ref: str,
        actor: Principal,
        *,
        kind: str = "activate",
        schedule_id: int | None = None,
        reason: str = "",
    ) -> VersionRecord:
        """Make an approved (or previously active) version live, atomically; the old one is superseded."""
        vid = self.resolve(ref)
        with self._activation_lock, self.store.write() as conn:
            current = self.store.current_activation(conn)
            previous = current.version_id if current else None
            if previous == vid:
                raise InvalidTransition(f"policy version {vid[:12]} is already active", details={"version_id": vid})
            record = self.store.get(vid)
            if record.state == State.SUPERSEDED and record.approval is None:
                raise InvalidTransition(f"policy version {vid[:12]} was never approved")
            before, after = self.store.transition(conn, vid, Action.ACTIVATE)
            if previous is not None:
                self.store.transition(conn, previous, Action.SUPERSEDE)
            self.store.add_activation(conn, vid, previous, kind, actor.subject)
            if schedule_id is None:
                # A manual activation makes pending schedules of this version moot.
                for sched in self.store.schedules(status="pending", version_id=vid):
                    self.store.finish_schedule(conn, sched.id, "cancelled", f"activated by {kind}")
            self._make_live(vid)  # raises -> the transaction rolls back, the old version stays live
            try:
                details = {"from_state": before, "to_state": after, "previous": previous, "reason": reason}
                self._step(conn, kind, actor, vid, schedule_id=schedule_id, **details)
            except BaseException:
                self._restore(previous)
                raise
        log.info("policy.activated", version_id=vid, previous=previous, kind=kind, actor=actor.subject)
        return self.store.get(vid)

    def install_baseline(self, pset: PolicySet, actor: Principal, *, message: str) -> VersionRecord | None:
        """First start only: record the shipped pack as the active version.

        The shipped pack is the product's default, reviewed with the product itself, so it goes
        straight to active (kind ``baseline``, audited) instead of waiting for an approval that
        nobody could give before the first officer exists. Later changes take the normal path.
        Returns None when a version is already active.
        """
        if self.store.current_activation() is not None:
            return None
        record, _ = self.store.put_version(pset, author=actor.subject, message=message, parent=None,
                                           source={"kind": "shipped"})
        report = self._validate(pset)
        self.store.set_validation(record.id, report)
        if not report["ok"]:
            raise TollgateError("the shipped policy pack fails validation", code="POLICY_VALIDATION_FAILED",
                                status=503, details=report)
        with self._activation_lock, self.store.write() as conn:
            if self.store.current_activation(conn) is not None:
                return None
            self.store.transition(conn, record.id, Action.PROPOSE)
            # Recorded as an approval so that a later rollback to the baseline needs none.
            baseline = {"kind": "shipped baseline", "comment": "shipped with the product; no impact report"}
            self.store.transition(conn, record.id, Action.APPROVE, decided_by=actor.subject,
                                  decided_at=self.clock(), approval=baseline)
            self.store.transition(conn, record.id, Action.ACTIVATE)
            self.store.add_activation(conn, record.id, None, "baseline", actor.subject)
            self._make_live(record.id)
            self._step(conn, "activate", actor, record.id, previous=None, reason="shipped baseline")
        return self.store.get(record.id)

    def _restore(self, vid: str | None) -> None:
        if vid is None:
            return
        try:
            self._make_live(vid)
        except Exception as exc:  # already failing: log, keep the original error
            log.error("policy.restore_failed", version_id=vid, error=str(exc))

    def rollback(self, actor: Principal, *, reason: str = "") -> VersionRecord:
        """Re-activate the version that was live before the current one (no new approval)."""
        current = self.store.current_activation()
        if current is None or current.previous is None:
            raise InvalidTransition("there is no previous active version to roll back to")
        return self.activate(current.previous, actor, kind="rollback", reason=reason)

    def restore_active(self) -> VersionRecord | None:
        """At startup: make the stored active version live again (the activator starts empty)."""
        record = self.active()
        if record is not None:
            self._make_live(record.id)
        return record

    # --- scheduled activation --------------------------------------------------------------------

    def schedule(self, ref: str, actor: Principal, *, at: datetime) -> Schedule:
        vid = self.resolve(ref)
        if at.tzinfo is None:
            raise TollgateError("the activation time needs a time zone", code="VALIDATION_FAILED", status=422)
        if at <= self.clock():
            raise TollgateError("the activation time must be in the future", code="VALIDATION_FAILED", status=422)
        record = self.store.get(vid)
        if record.state not in (State.APPROVED, State.SUPERSEDED):
            raise InvalidTransition(
                f"only an approved version can be scheduled; {vid[:12]} is {record.state.value}",
                details={"version_id": vid, "state": record.state.value},
            )
        with self.store.write() as conn:
            sched = self.store.add_schedule(conn, vid, at, actor.subject)
            self._step(conn, "schedule", actor, vid, schedule_id=sched.id, effective_at=_iso(at))
        return sched

    def cancel_schedule(self, schedule_id: int, actor: Principal) -> None:
        with self.store.write() as conn:
            if not self.store.finish_schedule(conn, schedule_id, "cancelled", f"cancelled by {actor.subject}"):
                raise InvalidTransition(f"schedule {schedule_id} is not pending")
            self._step(conn, "schedule.cancel", actor, None, schedule_id=schedule_id)

    def run_due(self) -> list[int]:
        """Activate every pending schedule that is due; returns the schedule ids handled."""
        handled: list[int] = []
        now = self.clock()
        for sched in self.store.schedules(status="pending"):
            if sched.effective_at > now:
                break  # ordered by time
            handled.append(sched.id)
            on_behalf = Principal(subject=f"{SCHEDULER.subject} for {sched.created_by}", roles=SCHEDULER.roles)
            try:
                self.activate(sched.version_id, on_behalf, kind="scheduled", schedule_id=sched.id)
                status, error = "done", None
            except TollgateError as exc:
                status, error = "failed", exc.message
            except Exception as exc:
                status, error = "failed", f"{type(exc).__name__}: {exc}"
            with self.store.write() as conn:
                if self.store.finish_schedule(conn, sched.id, status, error) and status == "failed":
                    self._step(conn, "schedule.failed", on_behalf, sched.version_id, schedule_id=sched.id, error=error)
        return handled

    # --- impact ----------------------------------------------------------------------------------

    def impact(
        self,
        ref: str,
        actor: Principal,
        *,
        replay_days: int = 7,
        horizon_days: int = 365,
        subjects: list[Any] | None = None,
        progress: Progress | None = None,
        now: datetime | None = None,
        matrix: MatrixScope = "full",
    ) -> dict[str, Any]:
        """Compute, store and return the impact report of ``ref`` against the active version."""
        vid = self.resolve(ref)
        cand = self.store.files(vid)
        active = self.active()
        base = self.store.files(active.id) if active else None
        req = ImpactRequest(
            version_id=vid,
            candidate=cand.modules,
            candidate_data=cand.data,
            base_version_id=active.id if active else None,
            base=base.modules if base else None,
            base_data=base.data if base else {},
            now=now or self.clock(),
            horizon_days=horizon_days,
            replay_days=replay_days if self.history is not None else 0,
            subjects=subjects or [None],
            matrix=matrix,
        )
        report = analyze(
            req,
            self.registry,
            history=self.history,
            engine_name=self.engine_name,
            workers=self.impact_workers,
            progress=progress,
        )
        summary = approval_summary(report)
        self.store.put_impact(
            report_id=report["id"],
            version_id=vid,
            base=req.base_version_id,
            actor=actor.subject,
            summary=summary,
            report=json.dumps(report, sort_keys=True, separators=(",", ":")),
        )
        with self.store.write() as conn:
            self._step(conn, "impact", actor, vid, summary=summary)
        return report

    # --- reading ---------------------------------------------------------------------------------

    def versions(self, *, state: State | None = None, limit: int = 100) -> list[VersionRecord]:
        return self.store.versions(state=state, limit=limit)

    def events(self, ref: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.events(None if ref is None else self.resolve(ref), limit)
