"""The registrant transfer: a cancelled, paid registration leaves open credit that a
manager applies to a coworker's order; a clerk (Orders 2) cannot apply another's credit."""

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from checkout.models import Cart
from finance.ledger_check import verify_ledger
from finance.models import Invoice, Payment
from finance.services.adjustments import invoice_reverse
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import payment_receive
from tests.checkout.helpers import add_opencredit
from tests.factories import BatchFactory, CompanyFactory, ContactFactory, ProductFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(username)


def registration_cancelled_into_credit(ledger):
    """Rita paid her conference registration, then cancelled it: 400.00 of open credit."""
    company = CompanyFactory(name="Harbor Point Credit Union", party_id="50010")
    rita = ContactFactory(name="Rita Registrant", sort_name="Registrant, Rita", party_id="30101", company=company)
    batch = BatchFactory(number="260310-1", description="Conference registrations", date=datetime.date(2026, 3, 10))
    registration = invoice_create(
        bill_to=rita,
        entity=ledger.entity,
        batch=batch,
        lines=[LineSpec(product=ledger.event)],
        date=batch.date,
        description="Annual Conference registration",
    )
    payment_receive(payer=rita, method=ledger.check_method, amount="400.00", date=batch.date, batch=batch)
    cancel_batch = BatchFactory(number="260401-1", description="Cancellations", date=datetime.date(2026, 4, 1))
    invoice_reverse(
        invoice=registration, batch=cancel_batch, date=cancel_batch.date, reason="Registration cancelled: transfer"
    )
    credit = Invoice.objects.get(bill_to=rita, balance__lt=0)
    assert credit.balance == Decimal("-400.00")
    return rita, credit


def test_registrant_transfer__manager_applies_other_credit_and_submits(
    browser_page, screenshot, live_server, ledger, manager_user, staff_user
):
    page = browser_page
    add_opencredit("Staff")
    polo = ProductFactory(
        code="MER-POLO", name="Association polo shirt", entity=ledger.entity, income_account=ledger.income, price="32"
    )
    rita, credit = registration_cancelled_into_credit(ledger)
    colin = ContactFactory(name="Colin Coworker", sort_name="Coworker, Colin", party_id="30102", company=rita.company)

    sign_in(page, live_server, "manager", "pw-manager-123")
    page.goto(f"{live_server.url}/contacts/{colin.pk}/")
    page.get_by_role("link", name="New order").click()
    page.get_by_role("button", name="Start order for Colin Coworker").click()
    expect(page.get_by_test_id("acting-banner")).to_contain_text("Acting on behalf of Colin Coworker (30102)")

    # The registration moves to Colin, plus a polo shirt (htmx swaps the cart panel).
    page.get_by_label("Product").select_option(str(ledger.event.pk))
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_test_id("cart-notice")).to_have_text("Added Conference.")
    page.get_by_label("Product").select_option(str(polo.pk))
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("432.00")
    expect(page.get_by_test_id("available-credit")).to_have_text("0.00")  # Colin and his company hold none
    screenshot("cart-1-products")

    page.get_by_role("button", name="Apply other credit").click()
    other = page.get_by_test_id("other-credit")
    other.get_by_label("Contact name, party id or invoice number").fill("Rita")
    other.get_by_role("button", name="Search credits").click()
    results = page.get_by_test_id("credit-results")
    expect(results).to_contain_text("Rita Registrant")
    expect(results).to_contain_text("400.00")
    page.get_by_label(f"Credit invoice {credit.number}").check()
    screenshot("cart-2-other-credit-search")
    page.get_by_role("button", name="Apply ticked credit").click()
    expect(page.get_by_test_id("cart-notice")).to_contain_text(
        f"Applied 400.00 of open credit from invoice {credit.number} (Rita Registrant)."
    )
    expect(page.get_by_test_id("cart-credit")).to_have_text("−400.00")
    expect(page.get_by_test_id("cart-balance")).to_have_text("32.00")
    page.get_by_test_id("credit-details").locator("summary").click()
    details = page.get_by_test_id("credit-details")
    expect(details).to_contain_text("Rita Registrant")
    expect(details).to_contain_text("other contact")
    screenshot("cart-3-credit-applied")

    submit = page.get_by_test_id("cart-submit")
    submit.get_by_label("Pay the balance of 32.00 by").select_option(str(ledger.check_method.pk))
    submit.get_by_label("Reference").fill("2044")
    submit.get_by_role("button", name="Submit order").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+/$"))
    cart = Cart.objects.get(contact=colin)
    expect(page).to_have_url(f"{live_server.url}/invoices/{cart.invoice_id}/")
    expect(page.locator(".alert-success")).to_contain_text(f"Order submitted: invoice {cart.invoice.number}")
    screenshot("cart-4-submitted-invoice")

    cart.refresh_from_db()
    assert cart.status == Cart.Status.SUBMITTED and cart.invoice.balance == Decimal("0.00")
    payments = Payment.objects.filter(batch=cart.batch).order_by("pk")
    assert [(p.method.code, p.payer, p.amount) for p in payments] == [
        ("OPENCREDIT", rita, Decimal("400.00")),
        ("CHECK", colin, Decimal("32.00")),
    ]
    credit.refresh_from_db()
    assert credit.balance == Decimal("0.00")
    report = verify_ledger()
    assert report.ok, report.format()


def test_registrant_transfer__clerk_with_orders_2_cannot_apply_other_credit(
    browser_page, screenshot, live_server, ledger, staff_user
):
    page = browser_page
    add_opencredit("Staff")
    rita, credit = registration_cancelled_into_credit(ledger)
    colin = ContactFactory(name="Colin Coworker", sort_name="Coworker, Colin", party_id="30102")

    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/contacts/{colin.pk}/")
    page.get_by_role("link", name="New order").click()
    page.get_by_role("button", name="Start order for Colin Coworker").click()
    page.get_by_label("Product").select_option(str(ledger.event.pk))
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("400.00")
    expect(page.get_by_role("button", name="Apply other credit")).to_have_count(0)
    expect(page.get_by_role("button", name="Apply", exact=True)).to_have_count(0)  # Colin has no credit
    screenshot("cart-5-clerk-no-other-credit")

    cart = Cart.objects.get(contact=colin)
    response = page.goto(f"{live_server.url}/cart/{cart.pk}/credit/other/?q=Rita")
    assert response.status == 403
    screenshot("cart-6-clerk-403")
    assert not cart.credits.exists()
    credit.refresh_from_db()
    assert credit.balance == Decimal("-400.00")
