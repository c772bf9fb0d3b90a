"""Saving cards on Stripe as Stripe documents it, against the local stand-in for its API:
a PaymentMethod used without a customer can never be used again, so a card to be saved
is charged for the contact's Stripe customer with ``setup_future_usage``, which attaches
it; later charges with the saved card name that customer. Staff payments and the cart."""

from decimal import Decimal

import httpx
import pytest

from checkout.models import Cart
from checkout.services.checkout import cart_pay_by_card
from finance.errors import FinanceError
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
from finance.services.card_payments import payment_receive_by_card
from processors import ChargeRequest, ChargeStatus, ProcessorInvalidRequest
from processors.stripe import StripeProcessor
from tests.checkout.helpers import cart_with
from tests.factories import BatchFactory, ContactFactory
from tests.integrations.fake_stripe import API_KEY, FakeStripe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def stripe_card(ledger, fake):
    gateway = GatewayAccount.objects.create(
        name="Stripe cards",
        processor=GatewayAccount.Processor.STRIPE,
        entity=ledger.entity,
        secret_key=API_KEY,
        api_base=fake.url,
    )
    method = PaymentMethod.objects.create(
        code="STRIPE",
        name="Card",
        type=PaymentMethod.Type.CREDIT_CARD,
        cash_account=ledger.cash,
        gateway_account=gateway,
    )
    PaymentMethodSetEntry.objects.create(
        method_set=PaymentMethodSet.objects.get(name="Staff"), method=method, position=6
    )
    return method


def _intents(fake) -> list[dict]:
    return [params for verb, path, params, _key in fake.requests if (verb, path) == ("POST", "/v1/payment_intents")]


def test_stand_in__a_payment_method_used_without_a_customer_cannot_be_used_again(fake):
    with StripeProcessor(api_key=API_KEY, api_base=fake.url, timeout=5) as stripe:
        pm = fake.new_payment_method()
        once = ChargeRequest(amount=Decimal("5.00"), currency="USD", payment_method_token=pm, idempotency_key="a")
        assert stripe.charge(once).status == ChargeStatus.SUCCEEDED
        twice = ChargeRequest(amount=Decimal("6.00"), currency="USD", payment_method_token=pm, idempotency_key="b")
        with pytest.raises(ProcessorInvalidRequest, match="previously used without being attached to a Customer"):
            stripe.charge(twice)
        with pytest.raises(ProcessorInvalidRequest, match="previously used"):
            stripe.attach_payment_method(payment_method=pm, customer="cus_late")

        # Kept for a customer on its first use: charged again for that customer only.
        customer = stripe.create_customer(name="Kim", reference="40001", idempotency_key="customer-1")
        kept = fake.new_payment_method()
        first = ChargeRequest(
            amount=Decimal("5.00"),
            currency="USD",
            payment_method_token=kept,
            idempotency_key="c",
            customer_ref=customer,
            save_payment_method=True,
        )
        assert stripe.charge(first).status == ChargeStatus.SUCCEEDED
        assert stripe.get_payment_method(kept).customer_ref == customer
        again = ChargeRequest(
            amount=Decimal("7.00"),
            currency="USD",
            payment_method_token=kept,
            idempotency_key="d",
            customer_ref=customer,
        )
        assert stripe.charge(again).status == ChargeStatus.SUCCEEDED
        with pytest.raises(ProcessorInvalidRequest, match="attached to a Customer"):
            stripe.charge(
                ChargeRequest(amount=Decimal("1.00"), currency="USD", payment_method_token=kept, idempotency_key="e")
            )
        # The same customer request with the same key makes no second customer.
        assert stripe.create_customer(name="Kim", reference="40001", idempotency_key="customer-1") == customer
        assert list(fake.customers) == [customer]


def test_stand_in__refuses_setup_future_usage_with_off_session(fake):
    answer = httpx.post(
        fake.url + "/v1/payment_intents",
        headers={"Authorization": f"Bearer {API_KEY}"},
        data={
            "amount": "500",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "customer": "cus_x",
            "confirm": "true",
            "off_session": "true",
            "setup_future_usage": "off_session",
        },
    )
    assert answer.status_code == 400 and "off_session" in answer.json()["error"]["message"]


def test_staff_payment_saves_the_card_on_the_payers_stripe_customer_and_charges_it_again(ledger, fake, stripe_card):
    payer, batch = ContactFactory(name="Lee Saver", email="lee@example.org"), BatchFactory()
    kwargs = {"payer": payer, "method": stripe_card, "date": batch.date, "batch": batch}
    pm = fake.new_payment_method()
    first = payment_receive_by_card(card_token=pm, amount="40", save_card=True, **kwargs)

    customer = ProcessorCustomer.objects.get(contact=payer).customer_id
    assert list(fake.customers) == [customer]
    made = [(p, key) for verb, path, p, key in fake.requests if (verb, path) == ("POST", "/v1/customers")]
    assert made[0][0]["name"] == "Lee Saver" and made[0][0]["metadata"] == {"party_id": payer.party_id}
    assert made[0][0]["email"] == "lee@example.org" and made[0][1].startswith("customer-")
    sent = _intents(fake)[0]
    assert (sent["customer"], sent["setup_future_usage"], sent["payment_method"]) == (customer, "off_session", pm)
    assert "off_session" not in sent  # Stripe refuses it with setup_future_usage
    assert fake.methods[pm]["customer"] == customer
    assert first.customer_ref == customer
    saved = SavedCard.objects.get(contact=payer)
    assert (saved.processor_id, saved.customer_ref, saved.last4) == (pm, customer, "4242")

    # The saved card, charged again off session for its customer.
    second = payment_receive_by_card(card_token=saved.processor_id, amount="25", **kwargs)
    assert second.status == second.Status.SUCCEEDED
    sent = _intents(fake)[-1]
    assert (sent["customer"], sent["off_session"]) == (customer, "true") and "setup_future_usage" not in sent
    assert Payment.objects.filter(method=stripe_card).count() == 2
    report = verify_ledger()
    assert report.ok, report.format()


def test_a_card_not_saved_cannot_be_charged_again_on_stripe(ledger, fake, stripe_card):
    payer, batch = ContactFactory(), BatchFactory()
    kwargs = {"payer": payer, "method": stripe_card, "date": batch.date, "batch": batch}
    pm = fake.new_payment_method()
    payment_receive_by_card(card_token=pm, amount="10", **kwargs)
    assert "customer" not in _intents(fake)[0] and not ProcessorCustomer.objects.exists()
    with pytest.raises(FinanceError, match="previously used"):
        payment_receive_by_card(card_token=pm, amount="10", **kwargs)
    assert Payment.objects.filter(method=stripe_card).count() == 1


def test_cart_paid_by_card_saves_it_for_the_bill_to_and_the_next_cart_uses_it(ledger, staff_user, fake, stripe_card):
    contact = ContactFactory()
    pm = fake.new_payment_method("pm_card_mastercard")
    cart = cart_with(staff_user, contact, ledger, "60.00")
    paid = cart_pay_by_card(user=staff_user, cart=cart, method=stripe_card, card_token=pm, save_card=True)
    assert paid.status == Cart.Status.SUBMITTED

    customer = ProcessorCustomer.objects.get(contact=contact).customer_id
    assert (paid.charge_customer, paid.charge_save_card) == (customer, True)
    sent = _intents(fake)[0]
    assert (sent["customer"], sent["setup_future_usage"]) == (customer, "off_session")
    saved = SavedCard.objects.get(contact=contact)
    assert (saved.customer_ref, saved.brand) == (customer, "mastercard")

    cart = cart_with(staff_user, contact, ledger, "35.00")
    again = cart_pay_by_card(user=staff_user, cart=cart, method=stripe_card, card_token=saved.processor_id)
    assert again.status == Cart.Status.SUBMITTED
    assert (again.charge_customer, again.charge_save_card) == (customer, False)
    assert _intents(fake)[-1]["customer"] == customer
    assert Payment.objects.filter(method=stripe_card).count() == 2
    report = verify_ledger()
    assert report.ok, report.format()
