"""The console's end-to-end story in headless Chromium, against the real lifecycle API:

officer edits a policy -> sees its impact -> approver approves (citing the report) -> officer
activates -> the routing matrix changes; then an auditor verifies a decision's receipt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Broker, assert_accessible_names, sign_in

TENANT = "demo-suspended"
RULE_OLD, RULE_NEW = "if tenant.suspended == true", 'if tenant.suspended == "never"'
TEST_OLD, TEST_NEW = "test_suspended if", "retired_suspended_case if"


def _api(broker: Broker, token: str, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{broker.base}{path}", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json()


@pytest.fixture(scope="module")
def active_pack(broker: Broker) -> str:
    """Make the shipped pack the active lifecycle version (the maker-checker way, over the API)."""
    from broker.lifecycle.files import read_directory
    from broker.policy.pack import DEFAULT_PACK_DIR

    officer, approver = broker.token("officer", "setup-officer"), broker.token("approver", "setup-approver")
    listing = _api(broker, officer, "GET", "/v1/policies")
    if listing["active"]:
        return str(listing["active"])
    files = dict(read_directory(DEFAULT_PACK_DIR)[0].files)
    vid = _api(broker, officer, "POST", "/v1/policies", {"files": files, "message": "shipped pack"})["version"]["id"]
    _api(broker, officer, "POST", f"/v1/policies/{vid}/propose", {})
    job = _api(broker, officer, "POST", f"/v1/policies/{vid}/impact", {"replay_days": 0})
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = _api(broker, officer, "GET", f"/v1/policies/{vid}/impact/{job['id']}")
    assert job["status"] == "done", job
    _api(broker, approver, "POST", f"/v1/policies/{vid}/approve", {"impact_report_id": job["report_id"]})
    _api(broker, officer, "POST", f"/v1/policies/{vid}/activate", {})
    return str(vid)


def _matrix_states(page: Any, broker: Broker) -> dict[str, int]:
    page.goto(f"{broker.base}/console/#/matrix?tenant={TENANT}&columns=scopes&r={time.monotonic_ns()}")
    page.get_by_role("grid").wait_for()
    page.get_by_test_id("matrix-counts").scroll_into_view_if_needed()
    states: list[str] = page.eval_on_selector_all("td[role=gridcell]", "cells => cells.map(c => c.dataset.state)")
    return {s: states.count(s) for s in set(states)}


def _edit(page: Any, path: str, old: str, new: str) -> None:
    page.get_by_label("File", exact=True).select_option(path)
    editor = page.get_by_test_id("rego-editor")
    text = editor.input_value()
    assert old in text, f"{old!r} not in {path}"
    editor.fill(text.replace(old, new))


def test_officer_edits_approver_approves_officer_activates_matrix_changes(
    page: Any, broker: Broker, active_pack: str, artifacts: Path
) -> None:
    sign_in(page, broker.base, broker.token("officer", "alice"))
    before = _matrix_states(page, broker)
    assert before.get("allow", 0) == 0 and before.get("deny", 0) > 0  # a suspended tenant gets nothing
    page.screenshot(path=str(artifacts / "matrix-before.png"))

    # 1. Officer edits the active version's tenant rule (and retires its unit test) as a new draft.
    page.goto(f"{broker.base}/console/#/policies")
    assert page.get_by_test_id("version-state").inner_text() == "active"
    _edit(page, "tollgate/routing/tenant.rego", RULE_OLD, RULE_NEW)
    _edit(page, "tollgate/routing/tenant_test.rego", TEST_OLD, TEST_NEW)
    page.get_by_label("Change message").fill("suspended tenants keep access during the review")
    page.get_by_role("button", name="Save as new draft").click()
    page.get_by_test_id("version-state").filter(has_text="draft").wait_for(timeout=120_000)
    assert "Valid: compiles" in page.get_by_test_id("validation").inner_text()
    assert RULE_NEW in (page.locator(".parent-diff pre").first.text_content() or "")
    page.get_by_role("button", name="Propose").click()
    page.get_by_test_id("version-state").filter(has_text="proposed").wait_for(timeout=120_000)

    # 2. Its impact: the suspended tenant gains models; progress is shown while it runs.
    page.get_by_label("Replay logged decisions of the last N days").fill("0")
    page.get_by_role("button", name="Analyse impact").click()
    page.locator(".progress").wait_for()
    impact = page.get_by_test_id("impact")
    impact.wait_for(timeout=180_000)
    page.get_by_label("Tenant", exact=True).select_option(TENANT)
    page.get_by_label("Change", exact=True).select_option("gain")
    assert "gains access" in impact.inner_text() and TENANT in impact.inner_text()
    # The relevance stage says which rule changed and what it reads.
    relevance = page.get_by_test_id("relevance").inner_text()
    assert "Changed rules: tollgate.routing.is_suspended" in relevance and "suspended" in relevance, relevance
    assert page.get_by_role("button", name="Approve").count() == 0  # officers do not approve
    assert_accessible_names(page)
    page.screenshot(path=str(artifacts / "policies-impact.png"), full_page=True)
    version_url = page.url

    # 3. A different person approves, citing the report they opened.
    sign_in(page, broker.base, broker.token("approver", "bob"))
    page.goto(version_url)
    approve = page.get_by_role("button", name="Approve")
    approve.wait_for()
    assert approve.is_disabled()
    page.get_by_role("button", name="Open the latest report").click()
    page.get_by_test_id("impact").wait_for()
    approve.click()
    page.get_by_test_id("version-state").filter(has_text="approved").wait_for()
    assert "approved with impact" in page.locator("dl.kv").first.inner_text()

    # 4. The officer activates it; the matrix changes.
    sign_in(page, broker.base, broker.token("officer", "alice"))
    page.goto(version_url)
    page.get_by_role("button", name="Activate now").click()
    page.get_by_test_id("version-state").filter(has_text="active").wait_for()
    versions = page.get_by_role("list", name="Policy versions")
    versions.get_by_text("superseded").wait_for()  # the previous version, in the refreshed list
    page.screenshot(path=str(artifacts / "policies.png"), full_page=True)
    after = _matrix_states(page, broker)
    assert after.get("allow", 0) + after.get("obligation", 0) > 0, after
    page.screenshot(path=str(artifacts / "matrix-after.png"))

    # 5. An auditor verifies, in the browser, the receipt of a decision made under the new version.
    page.goto(f"{broker.base}/console/#/decide?tenant={TENANT}&region=aws-bedrock:us&model=anthropic.claude-opus-4-7")
    page.get_by_role("button", name="Decide").click()
    page.get_by_test_id("verdict").wait_for()
    decision_id = page.locator("dl.kv dd").first.inner_text()
    sign_in(page, broker.base, broker.token("auditor", "carol"))
    for _ in range(50):  # the checkpoint covering the record is published asynchronously
        page.goto(f"{broker.base}/console/#/audit?decision={decision_id}&t={time.monotonic_ns()}")
        page.get_by_test_id("receipt-status").or_(page.locator(".error")).first.wait_for()
        if page.get_by_test_id("receipt-status").count():
            break
        page.wait_for_timeout(300)
    assert page.get_by_test_id("receipt-status").inner_text().startswith("✔ Receipt verified in this browser")
    assert page.get_by_test_id("checkpoint-status").inner_text().startswith("✔ Signature verified")


def test_self_approval_is_not_offered(page: Any, broker: Broker, active_pack: str) -> None:
    """Someone holding both roles cannot approve their own proposal: the button says why."""
    token = broker.token("officer", "erin")
    both = _both_roles_token(broker, "erin")
    listing = _api(broker, token, "GET", "/v1/policies")
    files = _api(broker, token, "GET", f"/v1/policies/{listing['active']}/files")["files"]
    path = "tollgate/routing/tenant.rego"
    files[path] = files[path] + "\n# reviewed by erin\n"
    vid = _api(broker, both, "POST", "/v1/policies", {"files": files, "message": "comment only"})["version"]["id"]
    _api(broker, both, "POST", f"/v1/policies/{vid}/propose", {})
    sign_in(page, broker.base, both)
    page.goto(f"{broker.base}/console/#/policies/{vid}")
    assert page.get_by_role("button", name="Approve").is_disabled()
    assert "different approver" in page.get_by_test_id("approve-help").inner_text()
    _api(broker, both, "POST", f"/v1/policies/{vid}/withdraw", {"reason": "test done"})


def _both_roles_token(broker: Broker, subject: str) -> str:
    import subprocess
    import sys

    from tests.console.conftest import ROOT

    out = subprocess.run(
        [sys.executable, "-m", "broker.cli.main", "token", "issue", "--role", "officer", "--role", "approver",
         "--subject", subject, "--data-dir", str(broker.data_dir)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )
    return out.stdout.strip()


def test_officer_uploads_a_policy_folder_as_a_draft(
    page: Any, broker: Broker, active_pack: str, tmp_path: Path
) -> None:
    from broker.policy.pack import DEFAULT_PACK_DIR

    folder = tmp_path / "rego"
    for src in DEFAULT_PACK_DIR.rglob("*.rego"):
        dest = folder / src.relative_to(DEFAULT_PACK_DIR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text()
        dest.write_text(text + "\n# uploaded copy\n" if src.name == "main.rego" else text)
    sign_in(page, broker.base, broker.token("officer", "alice"))
    page.goto(f"{broker.base}/console/#/policies")
    page.get_by_label("Policy folder").set_input_files(folder)
    page.get_by_label("Message", exact=True).fill("uploaded from a folder")
    page.get_by_role("button", name="Upload as draft").click()
    page.get_by_test_id("version-state").filter(has_text="draft").wait_for(timeout=120_000)
    assert "Valid: compiles" in page.get_by_test_id("validation").inner_text()
    assert "# uploaded copy" in (page.locator(".parent-diff pre").first.text_content() or "")


def test_rollback_restores_the_previous_decisions(page: Any, broker: Broker, active_pack: str) -> None:
    """Runs after the edit scenario: one click (with a reason) re-activates the previous version."""
    officer = broker.token("officer", "alice")
    listing = _api(broker, officer, "GET", "/v1/policies")
    if listing["active"] == active_pack:
        pytest.skip("nothing to roll back: the edit scenario did not activate a new version")
    sign_in(page, broker.base, officer)
    page.goto(f"{broker.base}/console/#/policies")
    page.once("dialog", lambda d: d.accept("console test: undo"))
    page.get_by_role("button", name="Roll back to the previous active version").click()
    restored = page.get_by_test_id("version-id").filter(has_text=active_pack[:12])
    restored.or_(page.locator(".error")).first.wait_for()
    assert restored.count() == 1, page.locator(".error").first.inner_text()
    assert page.get_by_test_id("version-state").inner_text() == "active"
    after = _matrix_states(page, broker)
    assert after.get("allow", 0) == 0 and after.get("deny", 0) > 0  # the suspended tenant is denied again
