"""Receiving a payment by card (two phases) and saving cards on contacts, against the
sandbox processor over HTTP."""

import dataclasses
import json
import threading
from decimal import Decimal

import httpx
import pytest

from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.models import CardPayment, GatewayAccount, Payment, PaymentMethod, ProcessorCustomer, SavedCard
from finance.services.card_payments import (
    CardPaymentPending,
    card_payment_finish,
    card_payment_resume,
    card_payment_start,
    payment_receive_by_card,
)
from finance.services.cards import processor_customer_for, saved_card_save
from processors import ProcessorUnavailable, SandboxProcessor
from sandboxes.processor.models import SandboxCharge, SandboxCustomer, SandboxPaymentMethod
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


def test_saving_a_card_charges_it_for_the_payers_processor_customer_which_keeps_it(ledger, visa, sandbox_url):
    payer, batch = ContactFactory(), BatchFactory()
    kwargs = {"payer": payer, "method": visa, "date": batch.date, "batch": batch}
    token = card(sandbox_url, "4242424242424242")
    first = payment_receive_by_card(card_token=token, amount="30", save_card=True, **kwargs)

    customer = ProcessorCustomer.objects.get(contact=payer, gateway_account=visa.gateway_account)
    at_processor = SandboxCustomer.objects.get()
    assert customer.customer_id == at_processor.public_id and customer.customer_id.startswith("cus_")
    assert at_processor.metadata == {"party_id": payer.party_id} and at_processor.name == payer.name
    assert (first.customer_ref, first.save_card) == (customer.customer_id, True)
    charge = SandboxCharge.objects.get(public_id=first.charge_id)
    assert charge.customer == customer.customer_id
    # The processor keeps the card for that customer, and the saved card names it.
    assert SandboxPaymentMethod.objects.get(public_id=token).customer == customer.customer_id
    saved = SavedCard.objects.get(contact=payer)
    assert (saved.processor_id, saved.customer_ref) == (token, customer.customer_id)

    # The saved card is charged again for its customer, and not kept a second time.
    again = payment_receive_by_card(card_token=token, amount="15", save_card=True, **kwargs)
    assert SandboxCharge.objects.get(public_id=again.charge_id).customer == customer.customer_id
    assert (again.customer_ref, again.save_card) == (customer.customer_id, False)
    # Another card saved for the same payer uses the same customer: one per contact and gateway.
    other = card(sandbox_url, "5555555555554444")
    third = payment_receive_by_card(card_token=other, amount="5", save_card=True, **kwargs)
    assert third.customer_ref == customer.customer_id
    assert SandboxCustomer.objects.count() == 1 and ProcessorCustomer.objects.count() == 1
    assert SavedCard.objects.filter(contact=payer, customer_ref=customer.customer_id).count() == 2
    # A card not to be saved names no customer and is not kept.
    plain = card(sandbox_url, "4242424242424242")
    fourth = payment_receive_by_card(card_token=plain, amount="5", **kwargs)
    assert SandboxCharge.objects.get(public_id=fourth.charge_id).customer == ""
    assert SandboxPaymentMethod.objects.get(public_id=plain).customer == ""
    report = verify_ledger()
    assert report.ok, report.format()


def test_processor_customer__one_customer_on_a_retry_and_in_a_race(ledger, visa):
    payer = ContactFactory()
    gateway = visa.gateway_account
    first = processor_customer_for(contact=payer, gateway_account=gateway)
    assert processor_customer_for(contact=payer, gateway_account=gateway).pk == first.pk
    # The row is lost after the processor made the customer: a retry sends the same key
    # and gets the same customer back.
    ProcessorCustomer.objects.all().delete()
    retried = processor_customer_for(contact=payer, gateway_account=gateway)
    assert retried.customer_id == first.customer_id and SandboxCustomer.objects.count() == 1

    # Two requests at once for another contact: one customer, one row, both get it.
    racer = ContactFactory()
    barrier, found, errors = threading.Barrier(2), [], []

    def run():
        from django.db import connection

        try:
            barrier.wait(timeout=10)
            found.append(processor_customer_for(contact=racer, gateway_account=gateway).customer_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(found) == 2 and found[0] == found[1]
    assert ProcessorCustomer.objects.filter(contact=racer).get().customer_id == found[0]
    assert SandboxCustomer.objects.count() == 2


def test_a_resent_charge_is_the_identical_request(ledger, visa, sandbox_url, monkeypatch):
    """The customer and the keeping of the card are stored with the attempt: a resend
    after no answer sends exactly the first request (the processor refuses a key sent
    again with other parameters), even once the card is saved meanwhile."""
    payer, batch = ContactFactory(), BatchFactory()
    token = card(sandbox_url, "4242424242424242")
    sent = []
    real_charge = SandboxProcessor.charge

    def charge(self, request):
        sent.append(request)
        if len(sent) == 1:
            raise ProcessorUnavailable("no answer")
        return real_charge(self, request)

    monkeypatch.setattr(SandboxProcessor, "charge", charge)
    with pytest.raises(CardPaymentPending):
        payment_receive_by_card(
            payer=payer, method=visa, card_token=token, amount="12", date=batch.date, batch=batch, save_card=True
        )
    attempt = CardPayment.objects.get()
    # Meanwhile the card shows up as saved with another customer: the resend is unchanged.
    details = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    saved_card_save(
        contact=payer, gateway_account=visa.gateway_account, processor_id=token, customer_ref="cus_other", **details
    )
    attempt = card_payment_resume(attempt)
    assert attempt.status == CardPayment.Status.SUCCEEDED
    assert len(sent) == 2 and sent[0] == sent[1]
    assert dataclasses.asdict(sent[1])["customer_ref"] == attempt.customer_ref != ""
    assert sent[1].save_payment_method is True


def test_a_card_is_kept_only_for_a_customer(ledger, visa):
    batch = BatchFactory()
    with pytest.raises(FinanceError, match="customer"):
        card_payment_start(
            payer=ContactFactory(),
            method=visa,
            amount="5",
            date=batch.date,
            batch=batch,
            card_token="pm_1",
            save_card=True,
        )
