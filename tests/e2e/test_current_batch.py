"""A finance clerk works in a current batch, as in iMIS.

Chosen once in the header, the current batch takes the invoice and the payment she
enters and the refund and reversal she makes (no batch is opened on the side); the
batch's page lists all of them with figures that agree with the batch list; from
another batch's page she adds a payment into that batch.
"""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finance.models import Batch, CurrentBatch, Invoice, Payment, Refund
from finance.selectors import batch_contents
from finance.services.batches import batch_create, batch_totals, current_batch_set
from finance.services.payments import payment_receive
from tests.factories import ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, url):
    page.goto(url)
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("pw-manager-123")
    page.get_by_role("button", name="Sign in").click()


def test_current_batch__entries_and_adjustments_land_in_it_and_its_page_lists_them(
    browser_page, screenshot, live_server, ledger, manager_user
):
    page = browser_page
    today = timezone.localdate()
    alice = ContactFactory(name="Alice Archer", party_id="20001")
    carol = ContactFactory(name="Carol Chen", party_id="20003")
    last_week = batch_create(date=today - datetime.timedelta(days=7), description="Last week", user=manager_user)
    current_batch_set(user=manager_user, batch=last_week)
    Batch.objects.filter(pk=last_week.pk).update(status=Batch.Status.POSTED, posted_at=timezone.now())
    front_desk = batch_create(date=today, description="Front desk", user=manager_user)
    mail = batch_create(date=today, description="Mail receipts", user=manager_user)
    earlier = batch_create(date=today, description="Earlier receipts", user=manager_user)
    make_invoice(ledger, carol, earlier, "75.00", date=today)
    bounced = payment_receive(
        payer=carol, method=ledger.check_method, amount="75.00", date=today, batch=earlier, reference="CHK-77"
    )
    batches_before = Batch.objects.count()

    # The header says the current batch is posted and asks for another.
    sign_in(page, f"{live_server.url}/")
    header = page.get_by_test_id("current-batch")
    expect(header).to_have_text(re.compile(rf"Batch {last_week.number} is posted: choose another"))
    header.click()
    picker = page.get_by_test_id("current-batch-choice")
    expect(picker).to_be_visible()
    screenshot("current-batch-header-posted")
    picker.select_option(label=f"{front_desk.number} – {today:%Y-%m-%d} – Front desk")
    page.get_by_role("button", name="Use this batch").click()
    expect(page.get_by_text(f"Batch {front_desk.number} is your current batch")).to_be_visible()
    expect(header).to_have_text(re.compile(rf"Batch\s+{front_desk.number}"))
    assert CurrentBatch.objects.get(user=manager_user).batch == front_desk

    # An invoice: the batch field stands for the current batch.
    page.locator("#main-nav").get_by_role("link", name="Invoices", exact=True).click()
    page.get_by_role("link", name="New invoice").click()
    expect(page.get_by_label("Batch")).to_contain_text(f"My current batch: {front_desk.number}")
    page.get_by_role("combobox", name="Bill to").press_sequentially("20001")  # the contact finder
    page.get_by_role("option", name=re.compile("20001")).click()
    page.locator('select[name="lines-0-product"]').select_option(str(ledger.dues.pk))
    page.get_by_role("button", name="Create invoice").click()
    invoice = Invoice.objects.get(bill_to=alice)
    created = f"Invoice {invoice.number} for 250.00 created in batch {front_desk.number}."
    expect(page.get_by_text(created)).to_be_visible()
    assert invoice.batch == front_desk and invoice.total == D("250.00")

    # A payment of 300.00: 250.00 pays the invoice, 50.00 is open credit.
    page.locator("#main-nav").get_by_role("link", name="Payments", exact=True).click()
    page.get_by_role("link", name="Receive payment").click()
    page.get_by_role("combobox", name="Payer").press_sequentially("20001")
    page.get_by_role("option", name=re.compile("20001")).click()
    expect(page.get_by_test_id("open-lines")).to_contain_text("Open invoice lines of")
    page.get_by_label("Payment method").select_option(str(ledger.check_method.pk))
    page.get_by_role("spinbutton", name="Amount").fill("300.00")
    page.get_by_label("Reference").fill("CHK-5001")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_text(f"recorded in batch {front_desk.number}")).to_be_visible()
    payment = Payment.objects.get(payer=alice)
    assert payment.batch == front_desk and payment.amount == D("300.00")
    invoice.refresh_from_db()
    assert invoice.balance == D("0.00")
    expect(page.get_by_role("heading", name=f"Payment #{payment.pk}")).to_contain_text("Open")

    # Refund the 50.00 of open credit (record only): into the current batch.
    refund_form = page.get_by_test_id("refund-form")
    expect(refund_form.get_by_label("Batch")).to_contain_text(f"My current batch: {front_desk.number}")
    refund_form.get_by_label("Reason").fill("Overpaid")
    page.once("dialog", lambda dialog: dialog.accept())
    refund_form.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_text(f"Refund of 50.00 recorded in batch {front_desk.number}")).to_be_visible()
    refund = Refund.objects.get(payment=payment)
    assert refund.batch == front_desk and refund.amount == D("50.00")

    # Reverse a bounced check received in another batch: the reversal is in the current batch.
    page.goto(f"{live_server.url}/payments/{bounced.pk}/")
    reverse_form = page.get_by_test_id("reverse-form")
    reverse_form.get_by_label("Reason").fill("Check returned NSF")
    page.once("dialog", lambda dialog: dialog.accept())
    reverse_form.get_by_role("button", name="Reverse payment").click()
    expect(page.get_by_text(f"Payment {bounced.pk} is reversed in batch {front_desk.number}.")).to_be_visible()
    bounced.refresh_from_db()
    assert bounced.status == Payment.Status.REVERSED and bounced.reversal_batch == front_desk
    assert Batch.objects.count() == batches_before  # nothing opened on the side

    # The batch's page lists all of it; its figures agree with the controls.
    page.get_by_test_id("current-batch").click()
    page.get_by_test_id("current-batch-info").get_by_role("link", name=front_desk.number).click()
    expect(page.get_by_role("heading", name=f"Batch {front_desk.number}")).to_contain_text("Your current batch")
    expect(page.get_by_test_id("batch-invoices")).to_contain_text(invoice.number)
    expect(page.get_by_test_id("batch-payments")).to_contain_text(f"#{payment.pk}")
    expect(page.get_by_test_id("batch-refunds")).to_contain_text("-50.00")
    expect(page.get_by_test_id("batch-reversals")).to_contain_text(f"#{bounced.pk}")
    expect(page.get_by_test_id("batch-reversals")).to_contain_text("-75.00")
    totals = batch_totals(front_desk)
    contents = batch_contents(front_desk)
    assert (totals.count, totals.amount, totals.charges) == (2, D("300.00"), D("250.00"))
    assert (contents.listed, contents.counted) == (5, 2)  # + the credit invoice, the refund, the reversal
    expect(page.get_by_test_id("batch-actual-count")).to_have_text("2")
    expect(page.get_by_test_id("batch-actual-amount")).to_have_text("300.00")
    expect(page.get_by_test_id("batch-charges")).to_have_text("250.00")
    expect(page.get_by_test_id("batch-rows-listed")).to_have_text("5")
    expect(page.get_by_test_id("batch-rows-counted")).to_have_text("2")
    expect(page.get_by_test_id("contents-refunds")).to_contain_text("-50.00")
    expect(page.get_by_test_id("contents-reversals")).to_contain_text("-75.00")
    expect(page.get_by_test_id("batch-delete-refused")).to_be_disabled()
    screenshot("current-batch-page")

    # The batch list shows the same figures.
    page.locator("#main-nav").get_by_role("link", name="Batches", exact=True).click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=front_desk.number, exact=True))
    expect(row.locator("td")).to_have_text(
        [front_desk.number, f"{today:%Y-%m-%d}", "Front desk", "Open", "", "2", "", "300.00", "250.00", "3"]
    )
    screenshot("current-batch-list")

    # From another batch's page, add a payment into that batch.
    page.get_by_role("link", name=mail.number, exact=True).click()
    page.get_by_test_id("batch-add").click()
    page.get_by_role("link", name="Receive payment").click()
    expect(page.get_by_label("Batch")).to_have_value(str(mail.pk))
    page.get_by_role("combobox", name="Payer").press_sequentially("20003")
    page.get_by_role("option", name=re.compile("20003")).click()
    expect(page.get_by_test_id("open-lines")).to_contain_text("Open invoice lines of")
    expect(page.get_by_label("Batch")).to_have_value(str(mail.pk))  # picking the payer keeps the batch
    page.get_by_label("Payment method").select_option(str(ledger.check_method.pk))
    page.get_by_role("spinbutton", name="Amount").fill("20.00")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_text(f"recorded in batch {mail.number}")).to_be_visible()
    assert Payment.objects.get(payer=carol, amount=D("20.00")).batch == mail
    assert CurrentBatch.objects.get(user=manager_user).batch == front_desk  # still the current batch
    assert Batch.objects.count() == batches_before
