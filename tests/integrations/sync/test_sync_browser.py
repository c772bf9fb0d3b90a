"""Browser walk-through of the invoice sync pages (Playwright + chromium)."""

import pytest
from playwright.sync_api import expect

from finance.models import PaymentHandlingMode as Mode
from integrations.services.sync.jobs import run_jobs
from tests.e2e.conftest import browser_page, screenshot  # noqa: F401 - fixtures
from tests.integrations.sync.helpers import charges_of, hand_to_staff, invoice_with_method, payments_of

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sync_pages__list_filter_record_edit_and_invoice_panel(
    browser_page,  # noqa: F811
    screenshot,  # noqa: F811
    live_server,
    sync,
    manager_user,
):
    page = browser_page
    paid = invoice_with_method(sync, "tok_visa", "120.00")
    failing = invoice_with_method(sync, "tok_visa_declined", "80.00")
    run_jobs("requests")
    run_jobs("autopay")

    page.goto(f"{live_server.url}/invoice-sync/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("pw-manager-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Invoice sync")).to_be_visible()
    expect(page.get_by_role("link", name="Invoice sync", exact=True)).to_have_class("nav-link active")
    expect(page.get_by_role("link", name=paid.invoice.number, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=failing.invoice.number, exact=True)).to_be_visible()
    expect(page.get_by_test_id("sync-health")).to_contain_text("1 in error")
    screenshot("invoice-sync-list")

    page.get_by_label("Processor status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=failing.invoice.number, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=paid.invoice.number, exact=True)).to_have_count(0)
    screenshot("invoice-sync-list-failed")

    page.get_by_role("link", name=failing.invoice.number, exact=True).click()
    expect(page.get_by_role("heading", name=f"Sync of invoice {failing.invoice.number}")).to_be_visible()
    expect(page.get_by_test_id("sync-status")).to_have_text("Failed")
    expect(page.get_by_test_id("sync-attempts")).to_contain_text("Your card was declined.")
    expect(page.get_by_test_id("sync-error")).to_contain_text("Attempt 1")

    page.get_by_label("Payment handling mode").select_option(Mode.MANUAL_REVIEW)
    page.get_by_label("Reason (kept in the change history)").fill("Member asked to check the card")
    page.get_by_role("button", name="Save sync settings").click()
    expect(page.get_by_text(f"Invoice {failing.invoice.number}: sync settings saved.")).to_be_visible()
    expect(page.get_by_test_id("sync-mode")).to_have_text("Manual review required")
    expect(page.get_by_test_id("sync-changes")).to_contain_text("manager · handling_mode: default → manual_review")
    expect(page.get_by_test_id("sync-changes")).to_contain_text("Member asked to check the card")
    screenshot("invoice-sync-record-edited")

    page.goto(f"{live_server.url}/invoices/{paid.invoice.pk}/")
    panel = page.get_by_test_id("invoice-sync-panel")
    expect(panel.get_by_test_id("sync-status")).to_have_text("Succeeded")
    expect(panel).to_contain_text("Paid in ledger")
    expect(panel.get_by_test_id("sync-attempts")).to_contain_text("Succeeded")
    panel.scroll_into_view_if_needed()
    screenshot("invoice-page-sync-panel")

    failing.refresh_from_db()
    assert failing.handling_mode == Mode.MANUAL_REVIEW


def test_resolve_unknown_attempt__staff_record_the_charge_they_found_at_the_processor(
    browser_page,  # noqa: F811
    screenshot,  # noqa: F811
    live_server,
    sync,
    manager_user,
    settings,
):
    page = browser_page
    settings.SANDBOX_PROCESSOR_TIMEOUT = 0.5  # the sandbox holds tok_timeout's answer 2 s
    settings.SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS = 3600
    record = invoice_with_method(sync, "tok_timeout", "80.00")
    assert run_jobs("autopay") == {"autopay_unknown": 1}
    attempt = record.attempts.get()
    hand_to_staff(attempt)
    (charge,) = charges_of(record)

    page.goto(f"{live_server.url}/invoice-sync/{record.pk}/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("pw-manager-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("sync-mode")).to_have_text("Manual review required")
    resolve = page.get_by_test_id("sync-resolve")
    expect(resolve).to_contain_text("Resolve unknown attempt 1")
    expect(resolve).to_contain_text(attempt.idempotency_key)
    screenshot("invoice-sync-resolve-form")

    resolve.get_by_label("Charged at the processor", exact=True).check()
    resolve.get_by_label("Processor charge id").fill(charge.public_id)
    resolve.get_by_role("button", name="Resolve attempt 1").click()
    expect(page.get_by_text(f"attempt 1 recorded with charge {charge.public_id} (succeeded)")).to_be_visible()
    expect(page.get_by_test_id("sync-note")).to_contain_text(f"settled by charge {charge.public_id}")
    expect(page.get_by_test_id("sync-changes")).to_contain_text("manager · attempt 1: unknown → succeeded")
    expect(page.get_by_test_id("sync-resolve")).to_have_count(0)
    screenshot("invoice-sync-resolved")

    record.refresh_from_db()
    assert record.paid_in_ledger and len(payments_of(record)) == 1
    assert record.handling_mode == Mode.MANUAL_REVIEW
