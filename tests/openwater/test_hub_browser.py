"""Browser walk-through of the Integrations Hub (chromium): add an integration, initialize
it, map a program from the ⋮ menu, start it, and see the counts after a run."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from core.models import Module
from integrations.openwater.models import Integration
from integrations.openwater.pushback import run_pushback
from tests.e2e.conftest import browser_page, screenshot  # noqa: F401 - fixtures
from tests.openwater.conftest import AWARDS, GRANTS

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def finance_admin(transactional_db, django_user_model, grant):
    user = django_user_model.objects.create_user("owadmin", password="pw-owadmin-123", is_staff=True)
    for module in (Module.INTEGRATIONS, Module.AR_CASH, Module.FINANCE):
        grant(user, module, 4)
    return user


def test_hub_walk_through(browser_page, screenshot, live_server, sandbox, ledger, finance_admin):  # noqa: F811
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["75.00"])
    sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=["120.00", "25.00"])
    sandbox.add_invoice(program_id=GRANTS, user_id=2, lines=["50.00"])
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("owadmin")
    page.get_by_label("Password").fill("pw-owadmin-123")
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()

    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="Integrations Hub")).to_be_visible()
    page.get_by_test_id("add-integration").click()
    page.get_by_label("Name").fill("OpenWater awards")
    page.get_by_label("OpenWater API base URL").fill(f"{live_server.url}/sandbox/openwater")
    page.get_by_label("Organization code").fill("DEMOORG")
    page.get_by_label("Client key").fill("ow_client_demo")
    page.get_by_label("API key").fill("ow_api_demo")
    screenshot("openwater_add")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_test_id("integration-state")).to_have_text("Not initialized")
    expect(page.get_by_test_id("credentials")).to_contain_text("••••••••demo")
    expect(page.get_by_test_id("credentials")).not_to_contain_text("ow_api_demo")
    # The skip date has no default: Initialize asks for it.
    initialize = page.get_by_test_id("initialize-form")
    expect(initialize.get_by_label("Do not send invoices dated before")).to_have_value("")
    initialize.get_by_role("button", name="Initialize").click()
    expect(page.get_by_test_id("integration-state")).to_have_text("Not initialized")
    initialize.get_by_label("Do not send invoices dated before").fill(str(date.today() - timedelta(days=30)))
    initialize.get_by_role("button", name="Initialize").click()
    expect(page.get_by_test_id("integration-state")).to_have_text("Stopped")
    programs = page.get_by_test_id("programs")
    expect(programs).to_contain_text("AWD26")
    expect(programs.locator("tr[data-program='GRANT26']")).to_contain_text("Not mapped: waits")

    row = programs.locator("tr[data-program='AWD26']")
    row.get_by_role("button", name="Program actions for AWD26").click()
    expect(row.get_by_role("button", name="Disable")).to_be_visible()
    expect(row.get_by_role("button", name="Set to Default")).to_be_visible()
    screenshot("openwater_program_menu")
    row.get_by_role("button", name="Initialize (product OW_AWD26)").click()
    expect(page.locator("tr[data-program='AWD26'] [data-testid=program-status]")).to_contain_text("OW_AWD26")

    page.get_by_role("button", name="Start").click()
    expect(page.get_by_test_id("integration-state")).to_have_text("Started")

    # What beat does when the interval has passed.
    run = run_pushback(Integration.objects.get().pk)
    assert run.status == "succeeded"
    page.reload()
    expect(page.get_by_test_id("count-pushed")).to_have_text("2")
    expect(page.get_by_test_id("count-skipped")).to_have_text("1")
    expect(page.get_by_test_id("count-review")).to_have_text("2")
    expect(page.get_by_test_id("last-run-status")).to_have_text("Succeeded")
    screenshot("openwater_detail")

    page.get_by_role("link", name="All OpenWater invoices →").click()
    expect(page.get_by_test_id("syncs")).to_contain_text("is not mapped yet")
    screenshot("openwater_syncs")
    page.get_by_role("link", name="Integrations").first.click()
    expect(page.get_by_test_id("integrations")).to_contain_text("Started")
    screenshot("openwater_hub")


def test_hub_errors__from_the_figure_to_skip_and_try_again(
    browser_page,  # noqa: F811
    screenshot,  # noqa: F811
    live_server,
    integration,
    sandbox,
    make_client,
    finance_admin,
):
    wrong = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["40.00", "10.00"], total_billed_override="55.00")
    flaky = sandbox.add_invoice(
        program_id=AWARDS, user_id=2, lines=["100.00", {"amount": "-25.00", "targetType": "Coupon"}]
    )
    sandbox.add_fault(f"/v2/Invoices/{flaky.id}", "malformed")
    with make_client(integration) as client:
        assert run_pushback(integration.pk, client=client).errors == 2
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("owadmin")
    page.get_by_label("Password").fill("pw-owadmin-123")
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()

    page.get_by_role("link", name="Integrations").click()
    page.get_by_test_id("hub-errors").click()
    expect(page.get_by_role("heading", name="OpenWater invoices in error")).to_be_visible()
    errors = page.get_by_test_id("errors")
    expect(errors.locator(f"[data-sync='{wrong.id}']")).to_contain_text("is not the sum of its lines (50.00)")
    expect(errors.locator(f"[data-sync='{flaky.id}']")).to_contain_text("could not be read")
    screenshot("openwater_errors")

    row = errors.locator(f"[data-sync='{wrong.id}']")
    row.get_by_placeholder("Reason for skipping").fill("Billed twice by mistake; refunded in OpenWater")
    row.get_by_role("button", name="Skip").click()
    expect(page.locator(".alert")).to_contain_text(f"OpenWater invoice {wrong.id} is skipped")
    expect(page.get_by_test_id("errors").locator(f"[data-sync='{wrong.id}']")).to_have_count(0)

    page.get_by_test_id("errors").locator(f"[data-sync='{flaky.id}']").get_by_role(
        "button", name="Try again now"
    ).click()
    expect(page.locator(".alert")).to_contain_text(f"OpenWater invoice {flaky.id} is recorded: invoice")
    expect(page.get_by_test_id("errors")).to_contain_text("No OpenWater invoice is in error.")
    screenshot("openwater_errors_handled")
