"""Receiving a payment by card (two phases) and saving cards on contacts, against the
sandbox processor over HTTP."""

import json
from decimal import Decimal

import httpx
import pytest

from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.models import CardPayment, GatewayAccount, Payment, PaymentMethod, SavedCard
from finance.services.card_payments import card_payment_finish, card_payment_start, payment_receive_by_card
from finance.services.cards import saved_card_save
from sandboxes.processor.models import SandboxCharge
from tests.factories import BatchFactory, ContactFactory
from tests.integrations.conftest import API_KEY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def visa(ledger, sandbox_url, settings):
    settings.SANDBOX_PROCESSOR_URL = sandbox_url
    settings.SANDBOX_PROCESSOR_API_KEY = API_KEY
    gateway = GatewayAccount.objects.create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    return PaymentMethod.objects.create(
        code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash, gateway_account=gateway
    )


def card(sandbox_url, number):
    body = {"key": "pk_" + API_KEY.removeprefix("sk_"), "card": {"number": number, "exp_month": 12, "exp_year": 34}}
    body["card"]["cvc"] = "123"
    return httpx.post(sandbox_url + "/payment_methods", content=json.dumps(body)).json()["id"]


def test_receive_by_card__declined_records_nothing_then_paid_once(ledger, visa, sandbox_url):
    payer, batch = ContactFactory(), BatchFactory()
    kwargs = {"payer": payer, "method": visa, "amount": "60", "date": batch.date, "batch": batch}
    with pytest.raises(FinanceError, match="declined"):
        payment_receive_by_card(card_token=card(sandbox_url, "4000000000000002"), **kwargs)
    assert CardPayment.objects.get().status == CardPayment.Status.FAILED and not Payment.objects.exists()
    attempt = payment_receive_by_card(card_token=card(sandbox_url, "4242424242424242"), save_card=True, **kwargs)
    assert attempt.status == CardPayment.Status.SUCCEEDED
    payment = attempt.payment
    assert payment.amount == Decimal("60.00") and payment.processor_charge_id == attempt.charge_id
    assert SandboxCharge.objects.get(public_id=attempt.charge_id).amount == 6000
    # Recording the same charge again changes nothing.
    assert card_payment_finish(attempt=attempt, charge_id=attempt.charge_id).payment_id == payment.pk
    assert Payment.objects.count() == 1
    saved = SavedCard.objects.get(contact=payer)
    assert (saved.brand, saved.last4, saved.processor_id) == ("visa", "4242", attempt.card_token)
    report = verify_ledger()
    assert report.ok, report.format()


def test_receive_by_card__refused_for_a_method_without_a_processor(ledger):
    batch = BatchFactory()
    with pytest.raises(FinanceError, match="not a card method with a processor"):
        card_payment_start(
            payer=ContactFactory(),
            method=ledger.check_method,
            amount="5",
            date=batch.date,
            batch=batch,
            card_token="pm_1",
        )


def test_saved_card__one_contact_per_card(ledger, visa):
    first, second = ContactFactory(), ContactFactory()
    details = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    saved = saved_card_save(contact=first, gateway_account=visa.gateway_account, processor_id="pm_x", **details)
    again = saved_card_save(contact=first, gateway_account=visa.gateway_account, processor_id="pm_x", **details)
    assert saved.pk == again.pk and str(saved) == "Visa •••• 4242 (exp 12/34)"
    with pytest.raises(FinanceError, match="another contact"):
        saved_card_save(contact=second, gateway_account=visa.gateway_account, processor_id="pm_x", **details)


def test_a_charge_names_the_processor_customer_of_a_saved_card_and_never_our_party_id(ledger, visa, sandbox_url):
    payer, batch = ContactFactory(), BatchFactory()
    kwargs = {"payer": payer, "method": visa, "date": batch.date, "batch": batch}
    # A card entered now: no processor customer, so the charge names none.
    first = payment_receive_by_card(card_token=card(sandbox_url, "4242424242424242"), amount="10", **kwargs)
    assert SandboxCharge.objects.get(public_id=first.charge_id).customer == ""
    # A saved card attached to a processor customer: the charge names that customer.
    token = card(sandbox_url, "4242424242424242")
    details = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    saved_card_save(
        contact=payer, gateway_account=visa.gateway_account, processor_id=token, customer_ref="cus_saved", **details
    )
    second = payment_receive_by_card(card_token=token, amount="20", **kwargs)
    assert SandboxCharge.objects.get(public_id=second.charge_id).customer == "cus_saved"
    assert payer.party_id not in SandboxCharge.objects.values_list("customer", flat=True)
