"""Card payments in a real browser, the card entered in the processor's card form (the
sandbox's elements.js), never typed as a token: a staff order paid by card after a
decline, and a member's own checkout with the Public set (own credit applied, the rest
by card)."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from checkout.models import Cart, MemberAccount
from finance.ledger_check import verify_ledger
from finance.models import (
    GatewayAccount,
    Payment,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
    ProcessorCustomer,
    SavedCard,
)
from finance.services.batches import current_batch_set
from sandboxes.processor.models import SandboxCharge, SandboxCustomer, SandboxPaymentMethod
from tests.checkout.helpers import add_opencredit, make_credit
from tests.e2e.test_cart_credit import sign_in
from tests.factories import BatchFactory, CompanyFactory, ContactFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
API_KEY = "sk_sandbox_browser"


def card_method(ledger, live_server, settings, set_name: str, label: str) -> PaymentMethod:
    settings.SANDBOX_PROCESSOR_ENABLED = True
    settings.SANDBOX_PROCESSOR_API_KEYS = [API_KEY]
    settings.SANDBOX_PROCESSOR_API_KEY = API_KEY
    settings.SANDBOX_PROCESSOR_URL = live_server.url + "/sandbox/processor/v1"
    settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 3600
    gateway = GatewayAccount.objects.create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    method = PaymentMethod.objects.create(
        code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash, gateway_account=gateway
    )
    method_set, _ = PaymentMethodSet.objects.get_or_create(name=set_name)
    PaymentMethodSetEntry.objects.create(method_set=method_set, method=method, position=3, display_name=label)
    return method


def enter_card(scope, number: str, exp: str = "12 / 34", cvc: str = "123") -> None:
    """Type a card into the processor's card form (the sandbox's elements.js)."""
    form = scope.get_by_test_id("sandbox-card-form")
    expect(form).to_be_visible()
    form.get_by_label("Card number").fill(number)
    form.get_by_label("MM / YY").fill(exp)
    form.get_by_label("CVC").fill(cvc)


def test_staff_order_paid_by_card_after_a_decline(browser_page, screenshot, live_server, ledger, staff_user, settings):
    page = browser_page
    visa = card_method(ledger, live_server, settings, "Staff", "Visa (card)")
    dana = ContactFactory(name="Dana Delgado", sort_name="Delgado, Dana", party_id="30201")

    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/contacts/{dana.pk}/")
    page.get_by_role("link", name="New order").click()
    page.get_by_role("button", name="Start order for Dana Delgado").click()
    page.get_by_label("Product").select_option(str(ledger.event.pk))
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_test_id("cart-balance")).to_have_text("400.00")

    submit = page.get_by_test_id("cart-submit")
    expect(submit.get_by_test_id("card-field")).to_be_hidden()
    submit.get_by_label("Pay the balance of 400.00 by").select_option(str(visa.pk))
    expect(submit.get_by_test_id("card-field")).to_be_visible()
    expect(submit.get_by_label("Reference")).to_be_hidden()
    enter_card(submit, "4000 0000 0000 0002")
    submit.get_by_role("button", name="Submit order").click()
    expect(page.get_by_test_id("cart-error")).to_contain_text("The card was declined")
    expect(page.get_by_test_id("cart-last-charge")).to_contain_text("Declined")
    screenshot("card-1-staff-declined")
    assert not Payment.objects.filter(method=visa).exists()

    submit = page.get_by_test_id("cart-submit")
    submit.get_by_label("Pay the balance of 400.00 by").select_option(str(visa.pk))
    enter_card(submit, "4242 4242 4242 4242")
    submit.get_by_role("button", name="Submit order").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+/$"))
    cart = Cart.objects.get(contact=dana)
    expect(page.locator(".alert-success")).to_contain_text(f"Card charge {cart.charge_id}")
    screenshot("card-2-staff-paid-invoice")

    assert cart.status == Cart.Status.SUBMITTED
    assert Payment.objects.get(method=visa).amount == Decimal("400.00")
    assert SandboxCharge.objects.filter(status="succeeded").count() == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_member_checkout_applies_own_credit_and_pays_by_card(browser_page, screenshot, live_server, ledger, settings):
    page = browser_page
    card = card_method(ledger, live_server, settings, "Public", "Credit or debit card")
    add_opencredit("Public")
    company = CompanyFactory(name="Harbor Point Credit Union", party_id="50010")
    maya = ContactFactory(name="Maya Member", sort_name="Member, Maya", party_id="30301", company=company)
    make_credit(ledger, maya, "150.00")
    user = get_user_model().objects.create_user("maya", password="pw-maya-123", first_name="Maya")
    MemberAccount.objects.create(user=user, contact=maya)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("maya")
    page.get_by_label("Password").fill("pw-maya-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/member/")
    expect(page.get_by_test_id("current-user")).to_contain_text("Maya")
    expect(page.get_by_role("heading", name="Your order")).to_be_visible()
    page.get_by_label("Item").select_option(str(ledger.event.pk))
    page.get_by_role("button", name="Add to order").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("400.00")
    expect(page.get_by_test_id("member-credit")).to_contain_text("150.00")
    page.get_by_role("button", name="Apply my credit").click()
    expect(page.get_by_test_id("cart-notice")).to_contain_text("Applied 150.00 of your open credit.")
    expect(page.get_by_test_id("cart-balance")).to_have_text("250.00")
    pay = page.get_by_test_id("member-pay")
    pay.get_by_label("Pay 250.00 by").select_option(str(card.pk))
    enter_card(pay, "4242 4242 4242 4242")
    screenshot("card-3-member-checkout")
    pay.get_by_role("button", name="Pay now").click()
    expect(page).to_have_url(re.compile(r"/member/orders/\d+/receipt/$"))
    expect(page.get_by_test_id("receipt-balance")).to_have_text("0.00")
    screenshot("card-4-member-receipt")

    cart = Cart.objects.get(contact=maya)
    assert cart.method_set.name == "Public" and cart.status == Cart.Status.SUBMITTED
    assert Payment.objects.get(method=card).amount == Decimal("250.00")
    # The card was saved (the box is ticked by default): charged for Maya's customer at
    # the processor, which keeps it for that customer.
    customer = ProcessorCustomer.objects.get(contact=maya).customer_id
    saved = SavedCard.objects.get(contact=maya)
    assert saved.customer_ref == customer and SandboxCharge.objects.get().customer == customer
    assert SandboxPaymentMethod.objects.get(public_id=saved.processor_id).customer == customer

    # The next order is paid with the saved card, picked from the list.
    page.goto(f"{live_server.url}/member/")
    page.get_by_label("Item").select_option(str(ledger.event.pk))
    page.get_by_role("button", name="Add to order").click()
    expect(page.get_by_test_id("cart-balance")).to_have_text("400.00")
    pay = page.get_by_test_id("member-pay")
    pay.get_by_label("Pay 400.00 by").select_option(str(card.pk))
    picked = pay.get_by_label("Card", exact=True)
    expect(picked.locator("option")).to_have_text(["A new card", "Visa •••• 4242 (exp 12/34)"])
    picked.select_option(label="Visa •••• 4242 (exp 12/34)")
    expect(pay.get_by_test_id("card-element")).to_be_hidden()
    pay.get_by_role("button", name="Pay now").click()
    expect(page).to_have_url(re.compile(r"/member/orders/\d+/receipt/$"))
    second = SandboxCharge.objects.latest("created_at")
    assert (second.status, second.amount, second.customer) == ("succeeded", 40000, customer)
    assert SandboxCharge.objects.count() == 2 and SandboxCustomer.objects.count() == 1
    # A member cannot open the staff pages.
    response = page.goto(f"{live_server.url}/invoices/")
    assert response.status == 403
    report = verify_ledger()
    assert report.ok, report.format()


def test_saved_card_picked_for_the_next_order(browser_page, screenshot, live_server, ledger, staff_user, settings):
    """The first order's card is saved on the contact (brand and last four only); the
    second order is paid by picking it from the list, with no card form."""
    page = browser_page
    visa = card_method(ledger, live_server, settings, "Staff", "Visa (card)")
    sam = ContactFactory(name="Sam Saved", sort_name="Saved, Sam", party_id="30401")

    sign_in(page, live_server, "clerk", "pw-clerk-123")
    for order in (1, 2):
        page.goto(f"{live_server.url}/cart/?contact=30401")
        page.get_by_role("button", name="Start order for Sam Saved").click()
        page.get_by_label("Product").select_option(str(ledger.event.pk))
        page.get_by_role("button", name="Add product").click()
        submit = page.get_by_test_id("cart-submit")
        submit.get_by_label("Pay the balance of 400.00 by").select_option(str(visa.pk))
        if order == 1:
            expect(submit.get_by_label("Card", exact=True)).to_have_count(0)  # nothing saved yet
            enter_card(submit, "5555 5555 5555 4444")
            expect(submit.get_by_label("Save this card for Sam Saved")).to_be_checked()
        else:
            saved = submit.get_by_label("Card", exact=True)
            expect(saved.locator("option")).to_have_text(["A new card", "Mastercard •••• 4444 (exp 12/34)"])
            saved.select_option(label="Mastercard •••• 4444 (exp 12/34)")
            expect(submit.get_by_test_id("card-element")).to_be_hidden()
            for width in (1400, 1024):
                page.set_viewport_size({"width": width, "height": 900})
                screenshot(f"card-5-saved-card-{width}")
        submit.get_by_role("button", name="Submit order").click()
        expect(page).to_have_url(re.compile(r"/invoices/\d+/$"))

    card = SavedCard.objects.get(contact=sam)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("mastercard", "4444", 12, 2034)
    assert card.processor_id.startswith("pm_")
    charges = list(SandboxCharge.objects.order_by("created_at"))
    assert [c.status for c in charges] == ["succeeded", "succeeded"]
    assert all(c.source == "tok_mastercard" for c in charges)
    # Saved as the processor keeps cards: charged for Sam's processor customer, which
    # keeps the card; the picked card is charged for that customer again.
    customer = ProcessorCustomer.objects.get(contact=sam, gateway_account=visa.gateway_account).customer_id
    assert SandboxCustomer.objects.get().public_id == customer
    assert card.customer_ref == customer and [c.customer for c in charges] == [customer, customer]
    assert SandboxPaymentMethod.objects.get(public_id=card.processor_id).customer == customer
    assert Payment.objects.filter(method=visa).count() == 2
    page.goto(f"{live_server.url}/contacts/{sam.pk}/")
    expect(page.get_by_test_id("saved-cards")).to_contain_text("Mastercard •••• 4444")


def test_staff_receive_payment_by_card_in_the_card_form(
    browser_page, screenshot, live_server, ledger, staff_user, settings
):
    """Receive payment with a card method: the card goes into the sandbox's card form,
    is charged through the processor, and the payment records the charge."""
    page = browser_page
    visa = card_method(ledger, live_server, settings, "Staff", "Visa (card)")
    ledger.staff_set.refresh_from_db()
    PaymentMethodSetEntry.objects.get_or_create(method_set=ledger.staff_set, method=visa, defaults={"position": 9})
    rita = ContactFactory(name="Rita Receipt", sort_name="Receipt, Rita", party_id="30501")
    current_batch_set(user=staff_user, batch=BatchFactory(number="CARDS-1"))

    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/payments/new/?contact=30501")
    expect(page.get_by_test_id("card-field")).to_be_hidden()
    page.get_by_label("Payment method").select_option(str(visa.pk))
    expect(page.get_by_test_id("card-field")).to_be_visible()
    expect(page.get_by_label("Reference")).to_be_hidden()
    page.get_by_role("spinbutton", name="Amount").fill("75.00")
    enter_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Record payment").click()
    expect(page.get_by_test_id("entry-error")).to_contain_text("The card was declined")
    assert not Payment.objects.filter(method=visa).exists()

    page.get_by_label("Payment method").select_option(str(visa.pk))
    enter_card(page, "4242 4242 4242 4242")
    for width in (1400, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"card-6-receive-payment-{width}")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator(".alert-success")).to_contain_text("Payment of 75.00 from Rita Receipt recorded")
    payment = Payment.objects.get(method=visa)
    expect(page.locator(".alert-success")).to_contain_text(f"Card charge {payment.processor_charge_id}")
    assert payment.amount == Decimal("75.00") and payment.processor_charge_id.startswith("ch_")
    assert SandboxCharge.objects.get(status="succeeded").amount == 7500
    saved = SavedCard.objects.get(contact=rita)
    customer = ProcessorCustomer.objects.get(contact=rita).customer_id
    assert saved.last4 == "4242" and saved.customer_ref == customer
    assert SandboxCharge.objects.get(status="succeeded").customer == customer
    report = verify_ledger()
    assert report.ok, report.format()
