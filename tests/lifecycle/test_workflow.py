"""Validation gates, maker-checker, and the audit trail of every step."""

from __future__ import annotations

import pytest

from broker.errors import Forbidden
from broker.lifecycle.errors import ImpactRequired, InvalidTransition, SelfApproval, ValidationBlocked
from broker.lifecycle.files import PolicySet
from broker.lifecycle.states import State
from tests.lifecycle.conftest import ALICE, BOB, CAROL, Env, approve_flow, changed, shipped_pack

MAIN = "tollgate/routing/main.rego"


def test_bad_module_is_rejected_with_file_line_column(sqlite_env: Env) -> None:
    bad = changed(shipped_pack(), MAIN, "allow if count(deny) == 0", "allow if count(deny) == 0 )")
    record, _ = sqlite_env.service.push(bad, ALICE, message="broken")
    report = record.validation
    assert report is not None and not report["ok"]
    diag = report["compile"]["diagnostics"][0]
    line = bad.files[MAIN].splitlines().index("allow if count(deny) == 0 )") + 1
    assert diag["file"] == MAIN and diag["line"] == line and diag["column"] > 0
    with pytest.raises(ValidationBlocked) as info:
        sqlite_env.service.propose(record.id, ALICE)
    assert info.value.status == 422 and info.value.code == "POLICY_VALIDATION_FAILED"
    assert f"{MAIN}:{diag['line']}:{diag['column']}" in info.value.message
    assert sqlite_env.service.get(record.id).state == State.DRAFT


def test_failing_policy_test_blocks_proposal(sqlite_env: Env) -> None:
    pset = shipped_pack()
    test_file = "tollgate/routing/zz_extra_test.rego"
    files = dict(pset.files)
    files[test_file] = "package tollgate.routing_test\n\nimport rego.v1\n\ntest_always_fails if {\n\tfalse\n}\n"
    record, _ = sqlite_env.service.push(PolicySet.of(files), ALICE, message="failing test")
    with pytest.raises(ValidationBlocked) as info:
        sqlite_env.service.propose(record.id, ALICE)
    tests = info.value.details["tests"]
    failing = [r for r in tests["results"] if r["outcome"] != "pass"]
    assert [(r["name"], r["file"]) for r in failing] == [("test_always_fails", test_file)]
    assert tests["passed"] > 50 and tests["coverage"][MAIN]["percent"] > 0


def test_strict_findings_block_proposal(sqlite_env: Env) -> None:
    pset = changed(
        shipped_pack(), MAIN, "allow if count(deny) == 0", "allow if {\n\tunused := 1\n\tcount(deny) == 0\n}"
    )
    record, _ = sqlite_env.service.push(pset, ALICE, message="strict")
    with pytest.raises(ValidationBlocked) as info:
        sqlite_env.service.propose(record.id, ALICE)
    finding = info.value.details["strict"]["findings"][0]
    assert finding["check"] == "unused-local-assignment" and finding["file"] == MAIN and finding["line"] > 1


def test_contract_break_blocks_proposal(sqlite_env: Env) -> None:
    pset = changed(shipped_pack(), MAIN, '"allow": allow,', '"allowed": allow,')
    record, _ = sqlite_env.service.push(pset, ALICE, message="contract")
    with pytest.raises(ValidationBlocked) as info:
        sqlite_env.service.propose(record.id, ALICE)
    contract = info.value.details["contract"]
    assert not contract["ok"] and "allow is missing" in contract["cases"][0]["problems"][0]


def test_self_approval_refused_and_other_approver_accepted(env: Env) -> None:
    record, _ = env.service.push(shipped_pack(), CAROL, message="by carol")
    env.service.propose(record.id, CAROL)
    report = env.service.impact(record.id, CAROL, replay_days=0)
    with pytest.raises(SelfApproval) as info:
        env.service.approve(record.id, CAROL, impact_report_id=report["id"])
    assert info.value.status == 403 and info.value.code == "SELF_APPROVAL"
    with pytest.raises(Forbidden):
        env.service.approve(record.id, ALICE, impact_report_id=report["id"])  # officer, not approver
    with pytest.raises(ImpactRequired):
        env.service.approve(record.id, BOB, impact_report_id="")
    approved = env.service.approve(record.id, BOB, impact_report_id=report["id"], comment="ok")
    assert approved.state == State.APPROVED and approved.decided_by == "bob"
    assert approved.approval is not None and approved.approval["report_id"] == report["id"]
    assert approved.approval["changed"] == report["summary"]["changed"]


def test_proposer_who_is_not_author_also_cannot_approve(sqlite_env: Env) -> None:
    record, _ = sqlite_env.service.push(shipped_pack(), ALICE, message="x")
    sqlite_env.service.propose(record.id, CAROL)
    report = sqlite_env.service.impact(record.id, CAROL, replay_days=0)
    with pytest.raises(SelfApproval):
        sqlite_env.service.approve(record.id, CAROL, impact_report_id=report["id"])


def test_invalid_transitions_are_409(sqlite_env: Env) -> None:
    record, _ = sqlite_env.service.push(shipped_pack(), ALICE, message="x")
    with pytest.raises(InvalidTransition):
        sqlite_env.service.activate(record.id, ALICE)  # a draft
    sqlite_env.service.propose(record.id, ALICE)
    with pytest.raises(InvalidTransition):
        sqlite_env.service.propose(record.id, ALICE)
    sqlite_env.service.reject(record.id, BOB, reason="no")
    with pytest.raises(InvalidTransition) as info:
        sqlite_env.service.withdraw(record.id, ALICE)
    assert info.value.details["state"] == "rejected"


def test_every_step_is_audited(env: Env) -> None:
    vid = approve_flow(env, shipped_pack())
    env.service.activate(vid, ALICE)
    second = changed(shipped_pack(), MAIN, "# Fail closed", "# Fail closed (v2)")
    vid2 = approve_flow(env, second)
    env.service.activate(vid2, ALICE)
    env.service.rollback(ALICE, reason="test")
    third = changed(shipped_pack(), MAIN, "# Fail closed", "# Fail closed (v3)")
    r3, _ = env.service.push(third, ALICE, message="v3")
    env.service.withdraw(r3.id, ALICE)
    assert env.actions() == [
        "push", "propose", "impact", "approve", "activate",
        "push", "propose", "impact", "approve", "activate",
        "rollback", "push", "withdraw",
    ]  # fmt: skip
    for rec in env.audit:
        assert rec["kind"] == "policy" and rec["actor"]["sub"] and rec["time"].endswith("Z")
    events = env.service.events()
    assert [e["action"] for e in reversed(events)] == env.actions()
    assert [e["audit_index"] for e in reversed(events)] == list(range(len(env.audit)))


def test_failed_audit_means_the_step_did_not_happen(sqlite_env: Env) -> None:
    record, _ = sqlite_env.service.push(shipped_pack(), ALICE, message="x")

    def broken(_: dict[str, object]) -> int:
        raise RuntimeError("audit log down")

    sqlite_env.service.audit = broken
    with pytest.raises(RuntimeError):
        sqlite_env.service.propose(record.id, ALICE)
    assert sqlite_env.service.get(record.id).state == State.DRAFT
