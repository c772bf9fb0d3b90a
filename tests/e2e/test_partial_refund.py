"""A partial refund in a real browser: finance refunds part of a check's credit, sees it
in the Refunds section and the History, refunds the rest, and then the payment no
longer offers Reverse or Unapply."""

import datetime

import pytest
from playwright.sync_api import expect

from finance.ledger_check import verify_ledger
from finance.models import Payment, Refund
from finance.services.batches import current_batch_set
from finance.services.payments import payment_receive
from tests.e2e.test_cart_credit import sign_in
from tests.factories import BatchFactory, ContactFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DAY = datetime.date(2026, 1, 10)


def test_partial_refund_then_the_rest(browser_page, screenshot, live_server, ledger, manager_user):
    page = browser_page
    payer = ContactFactory(name="Rosa Refund", sort_name="Refund, Rosa", party_id="30777")
    batch = BatchFactory(number="260110-1", date=DAY)
    current_batch_set(user=manager_user, batch=batch)
    payment = payment_receive(
        payer=payer, method=ledger.check_method, amount="125", date=DAY, batch=batch, reference="1042"
    )

    sign_in(page, live_server, "manager", "pw-manager-123")
    page.goto(f"{live_server.url}/payments/{payment.pk}/")
    expect(page.get_by_test_id("reverse-form")).to_be_visible()
    form = page.get_by_test_id("refund-form")
    expect(form.get_by_test_id("refundable")).to_have_text("125.00")
    # A check is refunded by recording it: the processor is not offered.
    expect(form.get_by_label("Refund", exact=True).locator("option")).to_have_text(
        ["Record only (check issued outside)"]
    )
    form.get_by_label("Amount").fill("100")
    form.get_by_label("Reason").fill("Part of the registration refunded")
    page.once("dialog", lambda dialog: dialog.accept())
    form.get_by_role("button", name="Refund").click()

    expect(page.locator(".alert-success")).to_contain_text("Refund of 100.00 recorded in batch 260110-1")
    expect(page.locator(".alert-success")).to_contain_text("25.00 of it can still be refunded")
    refunds = page.get_by_test_id("refunds")
    expect(refunds.get_by_test_id("refund-row")).to_have_count(1)
    expect(refunds).to_contain_text("100.00")
    expect(page.get_by_test_id("refund-form").get_by_test_id("refundable")).to_have_text("25.00")
    expect(page.get_by_test_id("reverse-form")).to_have_count(0)
    expect(page.get_by_test_id("audit-trail").get_by_test_id("audit-about")).to_contain_text(
        f"of payment {payment.pk}: 100.00"
    )
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"refund-1-partial-{width}")

    form = page.get_by_test_id("refund-form")
    page.once("dialog", lambda dialog: dialog.accept())
    form.get_by_role("button", name="Refund").click()  # blank amount: the rest
    expect(page.locator(".alert-success")).to_contain_text("Refund of 25.00 recorded")
    expect(page.get_by_test_id("refunds").get_by_test_id("refund-row")).to_have_count(2)
    expect(page.get_by_test_id("payment-refunded")).to_have_text("125.00")
    expect(page.get_by_test_id("reverse-form")).to_have_count(0)
    expect(page.get_by_test_id("unapply-form")).to_have_count(0)
    expect(page.get_by_test_id("refund-form")).to_have_count(0)
    expect(page.get_by_test_id("no-adjustments")).to_contain_text("refunded in full")
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"refund-2-full-{width}")

    page.goto(f"{live_server.url}/contacts/{payer.pk}/transactions/")
    expect(page.get_by_test_id("refunds").get_by_test_id("refund-row")).to_have_count(2)
    screenshot("refund-3-contact-1024")

    assert sorted(Refund.objects.values_list("amount", flat=True)) == [25, 100]
    assert Payment.objects.get(pk=payment.pk).refunded_amount == 125
    report = verify_ledger()
    assert report.ok, report.format()
