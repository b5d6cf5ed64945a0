"""HTTP routes under ``/v1/policies``: a thin layer over :class:`LifecycleService`.

Roles: officer/admin author and operate (push, propose, withdraw, impact, activate, schedule,
rollback, shadow); approver approves or rejects (never their own work: 403 SELF_APPROVAL);
auditor (and everyone above) reads. The service is found at ``request.app.state.lifecycle``.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as FastPath
from pydantic import BaseModel, Field

from broker.errors import NotFound, Unavailable
from broker.lifecycle.export import to_csv
from broker.lifecycle.files import PolicySet
from broker.lifecycle.states import State
from broker.lifecycle.wiring import Lifecycle
from broker.security.deps import require_roles
from broker.security.principal import Principal

router = APIRouter(prefix="/v1/policies", tags=["policies"])

Author = Annotated[Principal, Depends(require_roles("officer", "admin"))]
Checker = Annotated[Principal, Depends(require_roles("approver"))]
# Approvers may run an impact analysis themselves: it is read-only and it is what they sign off.
Analyst = Annotated[Principal, Depends(require_roles("officer", "admin", "approver"))]
Reader = Annotated[Principal, Depends(require_roles("officer", "admin", "approver", "auditor"))]
# Ids reach SQL as 64-bit integers; a larger one made the driver raise (a 500) instead of a 422.
SqlId = Annotated[int, FastPath(ge=0, le=2**63 - 1)]


def _lifecycle(request: Request) -> Lifecycle:
    lifecycle: Lifecycle | None = getattr(request.app.state, "lifecycle", None)
    if lifecycle is None:
        raise Unavailable("the policy lifecycle is not running", code="LIFECYCLE_UNAVAILABLE")
    return lifecycle


LC = Annotated[Lifecycle, Depends(_lifecycle)]


class PushBody(BaseModel):
    files: dict[str, str] = Field(description="relative path -> content (*.rego, *_test.rego, data.json)")
    message: str = Field(min_length=1, max_length=10_000)
    parent: str | None = Field(default=None, description="parent version (default: the active one)")
    source: dict[str, Any] | None = Field(
        default=None, description='where it came from, e.g. {"kind": "git", "commit": "…", "repository": "…"}'
    )


class CommentBody(BaseModel):
    comment: str = Field(default="", max_length=10_000)


class ReasonBody(BaseModel):
    reason: str = Field(default="", max_length=10_000)


class ApproveBody(BaseModel):
    impact_report_id: str = Field(description="id of the impact report the approver reviewed")
    comment: str = Field(default="", max_length=10_000)


class ActivateBody(BaseModel):
    at: datetime | None = Field(default=None, description="activate at this future instant (with time zone)")


class ImpactBody(BaseModel):
    replay_days: int = Field(default=7, ge=0, le=90, description="replay logged decisions of the last N days")
    horizon_days: int = Field(default=365, ge=0, le=3650, description="follow window edges this far ahead")
    subjects: list[dict[str, Any] | None] | None = Field(
        default=None, description="subjects to evaluate the matrix for (default: [null])"
    )
    matrix: Literal["deployed", "full"] = Field(
        default="full",
        description="full: every tenant x target x model (regions and routing scopes); "
        "deployed: only the (target, model) pairs where the model is deployed",
    )


# --- versions ---------------------------------------------------------------------------------


@router.get("", summary="List policy versions, newest first")
def list_versions(
    lc: LC, _: Reader, state: State | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    active = lc.service.active()
    return {
        "active": active.id if active else None,
        "versions": [v.to_json() for v in lc.service.versions(state=state, limit=limit)],
    }


@router.post("", status_code=status.HTTP_201_CREATED, summary="Push a policy set as a new draft version")
def push(body: PushBody, lc: LC, who: Author, response: Response) -> dict[str, Any]:
    record, created = lc.service.push(
        PolicySet.of(body.files), who, message=body.message, parent=body.parent, source=body.source
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return {"created": created, "version": record.to_json(with_validation=True)}


@router.get("/active", summary="The active version")
def active(lc: LC, _: Reader) -> dict[str, Any]:
    record = lc.service.active()
    if record is None:
        raise NotFound("no policy version is active", code="NO_ACTIVE_POLICY")
    return record.to_json()


@router.get("/log", summary="Lifecycle events, newest first")
def events(
    lc: LC, _: Reader, version: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> dict[str, Any]:
    return {"events": lc.service.events(version, limit)}


@router.get("/schedules", summary="Scheduled activations")
def schedules(lc: LC, _: Reader, status_: Annotated[str | None, Query(alias="status")] = None) -> dict[str, Any]:
    return {"schedules": [s.to_json() for s in lc.service.store.schedules(status=status_)]}


@router.delete("/schedules/{schedule_id}", summary="Cancel a pending scheduled activation")
def cancel_schedule(schedule_id: SqlId, lc: LC, who: Author) -> dict[str, Any]:
    lc.service.cancel_schedule(schedule_id, who)
    return {"cancelled": schedule_id}


@router.post("/rollback", summary="Re-activate the previously active version (no re-approval)")
def rollback(body: ReasonBody, lc: LC, who: Author) -> dict[str, Any]:
    return lc.service.rollback(who, reason=body.reason).to_json()


@router.get("/shadow", summary="The shadow run: disagreements with the active version")
def shadow_summary(lc: LC, _: Reader, run: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None) -> dict[str, Any]:
    return lc.shadow.summary(run)


@router.delete("/shadow", summary="Stop the shadow run")
def shadow_stop(lc: LC, who: Author) -> dict[str, Any]:
    return lc.shadow.stop(who)


@router.get("/impact-reports/{report_id}", summary="A stored impact report (JSON or CSV)")
def impact_report(
    report_id: str, lc: LC, _: Reader, format: Literal["json", "csv"] = "json"
) -> Any:
    stored = lc.service.store.impact(report_id)
    if stored is None:
        raise NotFound(f"no impact report {report_id}", code="IMPACT_REPORT_NOT_FOUND")
    if format == "csv":
        return Response(to_csv(stored["report"]), media_type="text/csv")
    return stored


@router.get("/{ref}", summary="One version, with its validation report")
def get_version(ref: str, lc: LC, _: Reader) -> dict[str, Any]:
    return lc.service.get(ref).to_json(with_validation=True)


@router.get("/{ref}/files", summary="The version's files")
def get_files(ref: str, lc: LC, _: Reader) -> dict[str, Any]:
    vid = lc.service.resolve(ref)
    return {"version_id": vid, "files": dict(lc.service.files(vid).files)}


@router.get("/{ref}/diff/{other}", summary="Unified diff of two versions' files (ref -> other)")
def diff(ref: str, other: str, lc: LC, _: Reader) -> dict[str, Any]:
    a, b = lc.service.files(ref), lc.service.files(other)
    changes = []
    for path in sorted(set(a.files) | set(b.files)):
        old, new = a.files.get(path), b.files.get(path)
        if old == new:
            continue
        text = "".join(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/{path}" if old is not None else "/dev/null",
                tofile=f"b/{path}" if new is not None else "/dev/null",
            )
        )
        kind = "added" if old is None else "removed" if new is None else "modified"
        changes.append({"path": path, "change": kind, "diff": text})
    return {"from": a.version_id, "to": b.version_id, "files": changes}


@router.post("/{ref}/validate", summary="Re-run validation against the current registry")
def revalidate(ref: str, lc: LC, _: Author) -> dict[str, Any]:
    return lc.service.validate(ref)


@router.post("/{ref}/propose", summary="Propose a draft for approval (validation must pass)")
def propose(ref: str, body: CommentBody, lc: LC, who: Author) -> dict[str, Any]:
    return lc.service.propose(ref, who, comment=body.comment).to_json()


@router.post("/{ref}/approve", summary="Approve a proposed version (a different person than its maker)")
def approve(ref: str, body: ApproveBody, lc: LC, who: Checker) -> dict[str, Any]:
    return lc.service.approve(ref, who, impact_report_id=body.impact_report_id, comment=body.comment).to_json()


@router.post("/{ref}/reject", summary="Reject a proposed version")
def reject(ref: str, body: ReasonBody, lc: LC, who: Checker) -> dict[str, Any]:
    return lc.service.reject(ref, who, reason=body.reason).to_json()


@router.post("/{ref}/withdraw", summary="Withdraw a draft, proposed or approved version")
def withdraw(ref: str, body: ReasonBody, lc: LC, who: Author) -> dict[str, Any]:
    return lc.service.withdraw(ref, who, reason=body.reason).to_json()


@router.post("/{ref}/activate", summary="Activate now, or schedule with {at}")
def activate(ref: str, body: ActivateBody, lc: LC, who: Author, response: Response) -> dict[str, Any]:
    if body.at is not None:
        sched = lc.service.schedule(ref, who, at=body.at)
        lc.scheduler.poke()
        response.status_code = status.HTTP_202_ACCEPTED
        return {"scheduled": sched.to_json()}
    return {"activated": lc.service.activate(ref, who).to_json()}


@router.post("/{ref}/impact", status_code=status.HTTP_202_ACCEPTED, summary="Start an impact analysis job")
def start_impact(ref: str, body: ImpactBody, lc: LC, who: Analyst) -> dict[str, Any]:
    vid = lc.service.resolve(ref)
    job = lc.jobs.submit(
        vid,
        who.subject,
        lambda progress: lc.service.impact(
            vid,
            who,
            replay_days=body.replay_days,
            horizon_days=body.horizon_days,
            subjects=body.subjects,
            progress=progress,
            matrix=body.matrix,
        ),
    )
    return job.to_json()


@router.get("/{ref}/impact-reports", summary="Stored impact reports of a version, newest first")
def impact_reports(ref: str, lc: LC, _: Reader) -> dict[str, Any]:
    return {"items": lc.service.store.impacts_of(lc.service.resolve(ref))}


@router.get("/{ref}/impact/{job_id}", summary="Progress and result of an impact analysis job")
def impact_job(ref: str, job_id: str, lc: LC, _: Reader) -> dict[str, Any]:
    return lc.jobs.get(job_id).to_json()


@router.post("/{ref}/shadow", summary="Run an approved version in shadow mode beside the active one")
def shadow_start(ref: str, lc: LC, who: Author) -> dict[str, Any]:
    return lc.shadow.start(ref, who)
