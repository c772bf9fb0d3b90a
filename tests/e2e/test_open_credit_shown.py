"""Open credit shows from the start: an empty staff cart shows what the contact holds, and
a member of the demo's Public payment method set (which includes OPENCREDIT) pays at the
checkout with their own credit."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from checkout.models import Cart, CartCredit, MemberAccount
from demo.management.commands.seed_demo import DemoBuilder
from finance.ledger_check import verify_ledger
from finance.models import Invoice, Payment, PaymentMethod
from finance.services.payments import payment_receive
from tests.checkout.helpers import add_opencredit, make_credit
from tests.e2e.test_cart_credit import sign_in
from tests.factories import BatchFactory, CompanyFactory, ContactFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DAY = datetime.date(2026, 3, 10)


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def test_empty_cart_shows_the_contacts_available_credit(browser_page, screenshot, live_server, ledger, staff_user):
    page = browser_page
    add_opencredit("Staff")
    kenneth = ContactFactory(name="Kenneth Fischer", sort_name="Fischer, Kenneth", party_id="27158")
    credit = make_credit(ledger, kenneth, "195.00")

    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/contacts/{kenneth.pk}/")
    page.get_by_role("link", name="New order").click()
    page.get_by_role("button", name="Start order for Kenneth Fischer").click()
    expect(page.get_by_test_id("cart-lines")).to_contain_text("No products yet.")
    expect(page.get_by_test_id("available-credit")).to_have_text("195.00")
    credits = page.get_by_test_id("available-credits")
    expect(credits).to_contain_text(f"Invoice {credit.number}")
    expect(credits).to_contain_text(ledger.entity.code)
    expect(page.get_by_test_id("credit-hint")).to_be_visible()
    expect(page.get_by_role("button", name="Apply", exact=True)).to_have_count(0)
    screenshot("credit-1-empty-cart")

    page.get_by_label("Product").select_option(str(ledger.dues.pk))
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("250.00")
    expect(page.get_by_test_id("available-credit")).to_have_text("195.00")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_test_id("cart-credit")).to_have_text("−195.00")
    expect(page.get_by_test_id("cart-balance")).to_have_text("55.00")
    submit = page.get_by_test_id("cart-submit")
    submit.get_by_label("Pay the balance of 55.00 by").select_option(str(ledger.cash_method.pk))
    submit.get_by_role("button", name="Submit order").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+/$"))

    cart = Cart.objects.get()
    assert cart.invoice.bill_to == kenneth and cart.invoice.balance == Decimal("0.00")
    assert sorted((p.method.code, p.amount) for p in Payment.objects.filter(batch=cart.batch)) == [
        ("CASH", Decimal("55.00")),
        ("OPENCREDIT", Decimal("195.00")),
    ]
    credit.refresh_from_db()
    assert credit.balance == Decimal("0.00")
    assert_ledger_ok()


def test_member_pays_at_checkout_with_own_credit_in_the_demo_public_set(browser_page, screenshot, live_server):
    page = browser_page
    demo = DemoBuilder(seed=7, today=DAY)
    demo.build_ledger_setup()  # the demo's entities, products, methods and Staff / Public sets
    assert demo.method_sets["Public"].entries.filter(method__type=PaymentMethod.Type.OPEN_CREDIT).exists()
    company = CompanyFactory(name="Riverbend Housing Authority", party_id="23880")
    priya = ContactFactory(name="Priya Lopez", sort_name="Lopez, Priya", party_id="24077", company=company)
    payment = payment_receive(
        payer=priya,
        method=demo.methods["CHECK"],
        amount="1165.00",
        date=DAY,
        batch=BatchFactory(date=DAY),
        auto_apply=False,
        entity=demo.assn,
    )
    credit = Invoice.objects.get(applications__payment=payment)
    user = get_user_model().objects.create_user("priya", password="pw-priya-123", first_name="Priya")
    MemberAccount.objects.create(user=user, contact=priya)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("priya")
    page.get_by_label("Password").fill("pw-priya-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/member/")
    member_credit = page.get_by_test_id("member-credit")
    expect(member_credit.get_by_test_id("available-credit")).to_have_text("1,165.00")
    expect(member_credit).to_contain_text(f"Credit {credit.number}")
    expect(page.get_by_test_id("credit-hint")).to_be_visible()
    screenshot("credit-2-member-empty-checkout")

    conference = demo.products["CONF-MEM"]
    page.get_by_label("Item").select_option(str(conference.pk))
    page.get_by_role("button", name="Add to order").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("595.00")
    page.get_by_role("button", name="Apply my credit").click()
    expect(page.get_by_test_id("cart-notice")).to_contain_text("Applied 595.00 of your open credit.")
    expect(page.get_by_test_id("cart-balance")).to_have_text("0.00")
    pay = page.get_by_test_id("member-pay")
    expect(pay).to_contain_text("Your credit covers the whole order.")
    screenshot("credit-3-member-credit-applied")
    pay.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/member/orders/\d+/receipt/$"))
    expect(page.get_by_test_id("receipt-balance")).to_have_text("0.00")
    screenshot("credit-4-member-receipt")

    cart = Cart.objects.get(user=user)
    assert cart.status == Cart.Status.SUBMITTED and cart.method_set.name == "Public"
    assert cart.invoice.bill_to == priya and cart.invoice.balance == Decimal("0.00")
    applied = CartCredit.objects.get(cart=cart)
    assert (applied.credit_invoice, applied.amount) == (credit, Decimal("595.00"))
    assert (applied.payment.method.code, applied.payment.amount) == ("OPENCREDIT", Decimal("595.00"))
    assert not Payment.objects.filter(batch=cart.batch).exclude(method__code="OPENCREDIT").exists()  # no card
    credit.refresh_from_db()
    assert credit.balance == Decimal("-570.00")
    assert_ledger_ok()
