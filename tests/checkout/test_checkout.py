"""Paying a cart by card through the sandbox processor (real HTTP), and prepayments."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from checkout.models import Cart
from checkout.services.cart import CartError, cart_apply_own_credit, cart_set_prepayment, cart_start, cart_submit
from checkout.services.checkout import (
    CardDeclined,
    ChargePending,
    cart_charge_resume,
    cart_charge_start,
    cart_pay_by_card,
)
from finance.models import (
    Batch,
    FinanceSettings,
    GatewayAccount,
    Invoice,
    Payment,
    PaymentApplication,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
)
from finance.services.batches import current_batch_set
from finance.services.credits import credit_apply
from finance.services.payments import ApplicationSpec
from sandboxes.processor.models import SandboxCharge, SandboxRefund
from tests.checkout.helpers import add_opencredit, assert_ledger_ok, cart_with, make_credit
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
API_KEY = "sk_sandbox_checkout"


@pytest.fixture
def visa(ledger, live_server, settings):
    """A card method of the Staff set on a sandbox gateway account served over HTTP."""
    settings.SANDBOX_PROCESSOR_ENABLED = True
    settings.SANDBOX_PROCESSOR_API_KEYS = [API_KEY]
    settings.SANDBOX_PROCESSOR_API_KEY = API_KEY
    settings.SANDBOX_PROCESSOR_URL = live_server.url + "/sandbox/processor/v1"
    settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 3600
    settings.SANDBOX_PROCESSOR_TIMEOUT_DELAY = 1.5
    settings.SANDBOX_PROCESSOR_TIMEOUT = 5.0
    gateway = GatewayAccount.objects.create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    method = PaymentMethod.objects.create(
        code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash, gateway_account=gateway
    )
    staff_set = PaymentMethodSet.objects.get(name="Staff")
    PaymentMethodSetEntry.objects.create(method_set=staff_set, method=method, position=5)
    return method


def _ledger_rows() -> tuple[int, int, int]:
    return Invoice.objects.count(), Payment.objects.count(), PaymentApplication.objects.count()


def test_card_pays_the_remainder_after_credit_once_with_the_saved_key(ledger, staff_user, visa):
    add_opencredit("Staff")
    contact = ContactFactory()
    credit = make_credit(ledger, contact, "30.00")
    cart = cart_with(staff_user, contact, ledger, "100.00")
    cart_apply_own_credit(user=staff_user, cart=cart)

    cart = cart_pay_by_card(user=staff_user, cart=cart, method=visa, card_token="tok_visa")

    assert cart.status == Cart.Status.SUBMITTED
    charge = SandboxCharge.objects.get(status=SandboxCharge.Status.SUCCEEDED)
    assert charge.amount == 7000 and charge.idempotency_key == cart.charge_key
    assert cart.charge_id == charge.public_id
    card_payment = Payment.objects.get(method=visa)
    assert card_payment.amount == D("70.00") and card_payment.processor_charge_id == cart.charge_id
    cart.invoice.refresh_from_db()
    assert cart.invoice.balance == D("0.00") and cart.invoice.total == D("100.00")
    credit.refresh_from_db()
    assert credit.balance == D("0.00")
    # One batch holds the invoice, the OPENCREDIT payment and the card payment.
    assert {p.batch_id for p in Payment.objects.filter(pk__in=[card_payment.pk, cart.credits.get().payment_id])} == {
        cart.invoice.batch_id
    }
    assert cart.charge_token == ""  # the token is not kept once the outcome is known
    assert_ledger_ok()


def test_card_order_goes_into_the_batch_chosen_when_the_charge_started(ledger, staff_user, visa):
    current = BatchFactory(number="CUR-CARD")
    current_batch_set(user=staff_user, batch=current)
    cart = cart_with(staff_user, ContactFactory(), ledger, "100.00")
    cart = cart_pay_by_card(user=staff_user, cart=cart, method=visa, card_token="tok_visa")
    assert cart.status == Cart.Status.SUBMITTED and cart.batch == current
    assert Payment.objects.get(method=visa).batch == current and cart.invoice.batch == current
    # A declined card leaves no batch on the cart.
    other = cart_with(staff_user, ContactFactory(), ledger, "50.00")
    with pytest.raises(CardDeclined):
        cart_pay_by_card(user=staff_user, cart=other, method=visa, card_token="tok_visa_declined")
    other.refresh_from_db()
    assert other.status == Cart.Status.OPEN and other.batch_id is None
    assert_ledger_ok()


def test_declined_card_writes_nothing_and_opens_the_cart_again(ledger, staff_user, visa):
    cart = cart_with(staff_user, ContactFactory(), ledger, "45.00")
    before = _ledger_rows()

    with pytest.raises(CardDeclined, match="declined"):
        cart_pay_by_card(user=staff_user, cart=cart, method=visa, card_token="tok_visa_declined")

    cart.refresh_from_db()
    assert cart.status == Cart.Status.OPEN and cart.charge_key == "" and cart.charge_token == ""
    assert "Declined" in cart.charge_error
    assert _ledger_rows() == before
    assert not Batch.objects.filter(description="Cart orders").exists()
    # The same cart can then be paid with another card.
    cart = cart_pay_by_card(user=staff_user, cart=cart, method=visa, card_token="tok_mastercard")
    assert cart.status == Cart.Status.SUBMITTED
    assert_ledger_ok()


def test_lost_answer_holds_the_cart_and_asking_again_charges_once(ledger, staff_user, visa, settings):
    settings.SANDBOX_PROCESSOR_TIMEOUT = 0.5  # the sandbox answers tok_timeout after 1.5 s
    cart = cart_with(staff_user, ContactFactory(), ledger, "60.00")

    with pytest.raises(ChargePending, match="did not answer"):
        cart_pay_by_card(user=staff_user, cart=cart, method=visa, card_token="tok_timeout")
    cart.refresh_from_db()
    assert cart.status == Cart.Status.CHARGING and cart.charge_key
    assert Invoice.objects.count() == 0
    with pytest.raises(CartError, match="in progress"):
        cart_submit(user=staff_user, cart=cart, method=ledger.cash_method)

    cart = cart_charge_resume(user=staff_user, cart=cart)

    assert cart.status == Cart.Status.SUBMITTED
    assert SandboxCharge.objects.count() == 1
    assert SandboxCharge.objects.get().idempotency_key == cart.charge_key
    assert Payment.objects.get(method=visa).processor_charge_id == cart.charge_id
    # Asking again after the order is written changes nothing.
    assert cart_charge_resume(user=staff_user, cart=cart).pk == cart.pk
    assert Payment.objects.filter(method=visa).count() == 1
    assert_ledger_ok()


def test_credit_used_elsewhere_during_the_charge_refunds_the_card(ledger, staff_user, visa):
    add_opencredit("Staff")
    contact = ContactFactory()
    credit = make_credit(ledger, contact, "20.00")
    cart = cart_with(staff_user, contact, ledger, "50.00")
    cart_apply_own_credit(user=staff_user, cart=cart)
    cart = cart_charge_start(user=staff_user, cart=cart, method=visa, card_token="tok_visa")
    # Meanwhile the credit pays another invoice.
    other = make_invoice(ledger, contact, BatchFactory(), "20.00")
    credit_apply(
        credit_invoice=credit,
        applications=[ApplicationSpec(other.lines.get(), D("20.00"))],
        batch=BatchFactory(),
        date=datetime.date(2026, 2, 1),
    )
    invoices_before = Invoice.objects.count()

    with pytest.raises(CartError, match="refunded in full"):
        cart_charge_resume(user=staff_user, cart=cart)

    cart.refresh_from_db()
    assert cart.status == Cart.Status.OPEN and "Refunded" in cart.charge_error
    assert SandboxCharge.objects.count() == 1 and SandboxRefund.objects.get().amount == 3000
    assert Invoice.objects.count() == invoices_before
    assert not Payment.objects.filter(method=visa).exists()
    assert_ledger_ok()


def test_prepayment_in_an_empty_cart_becomes_open_credit(ledger, staff_user):
    contact = ContactFactory()
    cart = cart_start(user=staff_user, contact=contact)
    cart_set_prepayment(cart=cart, amount="75.00", entity=ledger.entity)

    cart = cart_submit(user=staff_user, cart=cart, method=ledger.check_method, reference="1042")

    assert cart.status == Cart.Status.SUBMITTED
    assert cart.invoice.type == Invoice.Type.CREDIT and cart.invoice.bill_to == contact
    cart.invoice.refresh_from_db()
    assert cart.invoice.balance == D("-75.00")
    assert cart.payment.amount == D("75.00") and cart.payment.reference == "1042"
    assert_ledger_ok()


def test_prepayment_by_card(ledger, staff_user, visa):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    cart_set_prepayment(cart=cart, amount="40.00", entity=ledger.entity)
    cart = cart_pay_by_card(user=staff_user, cart=cart, method=visa, card_token="tok_visa")
    assert cart.invoice.type == Invoice.Type.CREDIT
    assert Invoice.objects.get(pk=cart.invoice_id).balance == D("-40.00")
    assert SandboxCharge.objects.get().amount == 4000
    assert_ledger_ok()


def test_prepayment_refused_when_not_allowed_or_with_products(ledger, staff_user):
    settings_row = FinanceSettings.load()
    settings_row.allow_prepayments = False
    settings_row.save()
    cart = cart_start(user=staff_user, contact=ContactFactory())
    with pytest.raises(CartError, match="not allowed"):
        cart_set_prepayment(cart=cart, amount="10.00", entity=ledger.entity)
    settings_row.allow_prepayments = True
    settings_row.save()
    cart = cart_with(staff_user, ContactFactory(), ledger, "10.00")
    with pytest.raises(CartError, match="empty cart"):
        cart_set_prepayment(cart=cart, amount="10.00", entity=ledger.entity)
    with pytest.raises(CartError, match="greater than zero"):
        cart_set_prepayment(cart=cart_start(user=staff_user, contact=ContactFactory()), amount="0", entity=None)
    assert Payment.objects.count() == 0


def test_submit_page_charges_the_card_and_shows_a_decline(client, ledger, staff_user, visa):
    cart = cart_with(staff_user, ContactFactory(), ledger, "80.00")
    client.force_login(staff_user)
    url = reverse("cart:submit", args=[cart.pk])

    declined = client.post(url, {"method": visa.pk, "card_token": "tok_visa_declined"}, headers={"HX-Request": "true"})
    assert declined.status_code == 200
    assert "declined" in declined.content.decode() and "Last card attempt" in declined.content.decode()
    missing = client.post(url, {"method": visa.pk, "card_token": ""}, headers={"HX-Request": "true"})
    assert "Enter the card in the card form" in missing.content.decode()

    response = client.post(url, {"method": visa.pk, "card_token": "tok_visa"})
    cart.refresh_from_db()
    assert cart.status == Cart.Status.SUBMITTED
    assert response.status_code == 302 and response.url == reverse("finance:invoice_detail", args=[cart.invoice_id])
    assert Payment.objects.get(method=visa).amount == D("80.00")
