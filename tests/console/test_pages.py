"""Page-by-page checks in headless Chromium against a running broker, with screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.console.conftest import Broker, assert_accessible_names, sign_in


def test_sign_in_shows_subject_roles_and_only_allowed_pages(page: Any, broker: Broker) -> None:
    sign_in(page, broker.base, broker.token("auditor", "carol"))
    assert page.locator("#who .subject").inner_text() == "carol"
    nav = page.locator("#nav").inner_text()
    assert "Audit" in nav and "Registry" in nav
    assert "Try a decision" not in nav and "Routing matrix" not in nav  # auditors may not create decisions
    sign_in(page, broker.base, broker.token("gateway", "gw"))
    nav = page.locator("#nav").inner_text()
    assert "Try a decision" in nav and "Audit" not in nav and "Registry" not in nav
    # Without registry access the matrix takes typed columns and still works.
    page.goto(f"{broker.base}/console/#/matrix?tenant=demo-us-commercial&columns=aws-bedrock:us")
    page.get_by_role("grid").wait_for()
    assert page.locator("thead th").nth(1).inner_text() == "aws-bedrock:us"


def test_garbage_token_is_refused_before_it_is_stored(page: Any, broker: Broker, artifacts: Path) -> None:
    page.goto(f"{broker.base}/console/")
    page.screenshot(path=str(artifacts / "signin.png"))
    page.get_by_label("Bearer token (JWT)").fill("not a token")
    assert_accessible_names(page)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert "not a JWT" in page.get_by_role("alert").inner_text()
    assert page.evaluate("sessionStorage.length") == 0


def test_registry_shows_sources_and_confidence(page: Any, broker: Broker, artifacts: Path) -> None:
    sign_in(page, broker.base, broker.token("officer", "alice"))
    page.goto(f"{broker.base}/console/#/registry?kind=models")
    page.get_by_role("list", name="models list").wait_for()
    page.get_by_role("button", name="Claude Opus 4.7").first.click()
    page.locator(".card h3 code", has_text="anthropic.claude-opus-4-7").wait_for()
    assert page.locator(".card .conf").count() > 0  # every sourced fact shows its confidence
    assert_accessible_names(page)
    page.screenshot(path=str(artifacts / "registry.png"))
    page.get_by_role("button", name="Regions").click()
    page.get_by_label("Search", exact=True).fill("eu-central-1")
    page.get_by_role("button", name="Search").click()
    page.locator("#view .list li").first.wait_for()
    assert "eu-central-1" in page.locator("#view .list").inner_text()
    page.get_by_role("button", name="Show differences").click()
    page.locator("#diff-title + p + form + div > *").first.wait_for()
    assert "failed" not in page.locator("#diff-title").locator("..").inner_text()


def test_matrix_keyboard_navigation_and_reasons(page: Any, broker: Broker, artifacts: Path) -> None:
    sign_in(page, broker.base, broker.token("officer", "alice"))
    page.goto(f"{broker.base}/console/#/matrix?tenant=demo-us-commercial&columns=scopes&compare=2027-12-31T00:00")
    grid = page.get_by_role("grid")
    grid.wait_for()
    first = page.locator("td[role=gridcell][tabindex='0']")
    assert first.count() == 1  # one tab stop for the whole grid
    first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.dataset.column")
    assert focused == page.locator("thead th").nth(2).inner_text()
    red = page.locator("td[data-state=deny]").first
    red.focus()
    page.keyboard.press("Enter")
    detail = page.get_by_role("region", name="Cell details")
    detail.locator("code.code").first.wait_for()
    assert red.get_attribute("aria-selected") == "true"
    assert_accessible_names(page)
    page.screenshot(path=str(artifacts / "matrix.png"))
    assert page.get_by_text("Scheduled changes until").count() == 1


def test_try_a_decision_shows_answer_and_engine_input(page: Any, broker: Broker, artifacts: Path) -> None:
    sign_in(page, broker.base, broker.token("officer", "alice"))
    page.goto(f"{broker.base}/console/#/decide")
    page.get_by_label("Tenant").fill("demo-us-commercial")
    page.get_by_label("Region or routing scope").fill("aws-bedrock:us")
    page.get_by_label("Model").fill("anthropic.claude-opus-4-7")
    page.get_by_label("Nationalities").fill("de")
    page.get_by_role("button", name="Decide").click()
    verdict = page.get_by_test_id("verdict")
    verdict.wait_for()
    assert verdict.inner_text() in {"ALLOW", "DENY"}
    engine_input = page.locator("pre.json").nth(1).inner_text()
    assert '"target": "aws-bedrock:us"' in engine_input and '"nationalities": [\n      "DE"' in engine_input
    assert '"now_ns": 1' in engine_input  # an exact integer, not a rounded float or a string
    assert_accessible_names(page)
    page.screenshot(path=str(artifacts / "decide.png"), full_page=True)


def _decide(page: Any, broker: Broker, tenant: str, region: str, model: str) -> str:
    page.goto(f"{broker.base}/console/#/decide?tenant={tenant}&region={region}&model={model}")
    page.get_by_role("button", name="Decide").click()
    page.get_by_test_id("verdict").wait_for()
    decision_id: str = page.locator("dl.kv dd").first.inner_text()
    return decision_id


def test_auditor_verifies_checkpoint_and_receipt_in_the_browser(page: Any, broker: Broker, artifacts: Path) -> None:
    sign_in(page, broker.base, broker.token("officer", "alice"))
    decision_id = _decide(page, broker, "demo-us-commercial", "aws-bedrock:us", "anthropic.claude-opus-4-7")
    sign_in(page, broker.base, broker.token("auditor", "carol"))
    page.goto(f"{broker.base}/console/#/audit?decision_id={decision_id}")
    status = page.get_by_test_id("checkpoint-status")
    status.wait_for()
    assert status.inner_text().startswith("✔ Signature verified in this browser")
    button = page.get_by_role("button", name=f"Verify decision {decision_id}")
    for _ in range(50):  # the checkpoint covering the new record is published asynchronously
        if button.count():
            break
        page.wait_for_timeout(200)
        page.get_by_role("button", name="Search").click()
    button.click()
    receipt = page.get_by_test_id("receipt-status")
    receipt.wait_for()
    assert receipt.inner_text().startswith("✔ Receipt verified in this browser"), page.locator(".steps").inner_text()
    # The browser remembered the first checkpoint; after more decisions it proves the log only grew.
    consistency = page.get_by_test_id("consistency-status")
    assert consistency.inner_text().startswith(("First checkpoint", "✔ Consistent"))
    record = page.get_by_test_id("record").inner_text()
    assert decision_id in record and '"caller"' in record and '"sub": "alice"' in record
    assert_accessible_names(page)
    page.screenshot(path=str(artifacts / "audit.png"), full_page=True)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download receipt").click()
    assert dl.value.suggested_filename == f"receipt-{decision_id}.tlog-proof"
    sign_in(page, broker.base, broker.token("officer", "alice"))
    _decide(page, broker, "demo-uk", "aws-bedrock:eu", "anthropic.claude-opus-4-7")
    sign_in(page, broker.base, broker.token("auditor", "carol"))
    page.goto(f"{broker.base}/console/#/audit?decision={decision_id}")
    page.get_by_test_id("receipt-status").wait_for()
    assert page.get_by_test_id("consistency-status").inner_text().startswith("✔ Consistent"), (
        page.get_by_test_id("consistency-status").inner_text())
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download export").click()
    assert dl.value.suggested_filename.endswith(".tar.gz")
    page.get_by_test_id("export-done").wait_for()


def test_a_key_the_log_never_used_fails_verification(page: Any, broker: Broker) -> None:
    sign_in(page, broker.base, broker.token("auditor", "carol"))
    for other in ("tollgate.dev/log+00000000+AQ" + "A" * 42, "garbage"):
        page.evaluate("(k) => localStorage.setItem('tollgate.console.trusted-log-key', k)", other)
        page.goto(f"{broker.base}/console/#/audit?x={len(other)}")
        status = page.get_by_test_id("checkpoint-status")
        status.wait_for()
        assert status.inner_text().startswith("✘ Not verified")
    page.evaluate("localStorage.clear()")


def test_registry_past_revision_and_diff(page: Any, broker: Broker, artifacts: Path) -> None:
    import httpx

    token = broker.token("officer", "alice")
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{broker.base}/v1/registry/tenants/demo-uk"
    before = httpx.get(url, headers=auth, timeout=30).json()
    after = {**before, "name": before["name"] + " (renamed)"}
    r = httpx.put(url, json=after, headers={**auth, "X-Tollgate-Reason": "console test rename"}, timeout=30)
    assert r.status_code == 200, r.text
    new_rev = r.json()["revision"]["number"]
    sign_in(page, broker.base, token)
    page.goto(f"{broker.base}/console/#/registry?kind=tenants&id=demo-uk&rev={new_rev - 1}")
    page.locator(".card h3 code", has_text="demo-uk").wait_for()
    assert "(renamed)" not in page.locator(".split .card").inner_text()  # as it was then
    page.get_by_label("Revision", exact=True).select_option("")
    page.locator(".card h3", has_text="(renamed)").wait_for()  # as it is now
    page.get_by_label("From revision").select_option(str(new_rev - 1))
    page.get_by_label("To revision").select_option(str(new_rev))
    page.get_by_role("button", name="Show differences").click()
    diff = page.locator("table.data", has_text="demo-uk")
    diff.wait_for()
    assert "name" in diff.inner_text() and "(renamed)" in diff.inner_text()
    page.screenshot(path=str(artifacts / "registry-diff.png"), full_page=True)
