"""Refunds of open credit through the sandbox processor, over real HTTP."""

from decimal import Decimal

import pytest
from django.urls import reverse

from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.models import GatewayAccount, Invoice, PaymentMethod, Refund
from finance.services.payments import payment_receive
from finance.services.processor_refunds import refund_through_processor
from processors import ChargeRequest
from sandboxes.processor.models import SandboxRefund
from tests.factories import BatchFactory, ContactFactory
from tests.integrations.conftest import API_KEY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def card_prepayment(ledger, processor, sandbox_url, settings):
    """A $50 card prepayment charged through the sandbox: an open credit of 50.00."""
    settings.SANDBOX_PROCESSOR_URL = sandbox_url
    settings.SANDBOX_PROCESSOR_API_KEY = API_KEY
    gateway = GatewayAccount.objects.create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    visa = PaymentMethod.objects.create(
        code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash, gateway_account=gateway
    )
    charge = processor.charge(
        ChargeRequest(
            amount=Decimal("50.00"), currency="USD", payment_method_token="tok_visa", idempotency_key="charge-prepay-1"
        )
    )
    payer, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(
        payer=payer, method=visa, amount="50.00", date=batch.date, batch=batch, processor_charge_id=charge.processor_id
    )
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    return payment, credit, batch


def test_refund_through_processor__refunds_once_and_zeroes_the_credit(card_prepayment):
    payment, credit, batch = card_prepayment
    refund = refund_through_processor(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    assert refund.status == Refund.Status.SUCCEEDED and refund.processor_refund_id
    credit.refresh_from_db()
    assert credit.balance == Decimal("0.00")
    sandbox_refund = SandboxRefund.objects.get()
    assert sandbox_refund.amount == 5000 and sandbox_refund.idempotency_key == refund.idempotency_key
    with pytest.raises(FinanceError, match="holds no open credit"):
        refund_through_processor(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    assert SandboxRefund.objects.count() == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_refund_through_processor__from_the_payment_page(card_prepayment, client, manager_user):
    payment, credit, batch = card_prepayment
    client.force_login(manager_user)
    resp = client.post(
        reverse("finance:payment_refund", args=[payment.pk]),
        {"credit_invoice": credit.pk, "mode": "processor", "date": batch.date.isoformat(), "batch": str(batch.pk)},
        follow=True,
    )
    assert "Refund of 50.00 issued through the processor" in resp.content.decode()
    credit.refresh_from_db()
    assert credit.balance == Decimal("0.00") and SandboxRefund.objects.count() == 1


def test_refund_through_processor__in_parts_each_a_partial_refund_of_the_charge(card_prepayment):
    payment, credit, batch = card_prepayment
    first = refund_through_processor(
        payment=payment, credit_invoice=credit, batch=batch, date=batch.date, amount=Decimal("20.00")
    )
    rest = refund_through_processor(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    assert (first.status, rest.status) == (Refund.Status.SUCCEEDED, Refund.Status.SUCCEEDED)
    assert (first.amount, rest.amount) == (Decimal("20.00"), Decimal("30.00"))
    assert sorted(SandboxRefund.objects.values_list("amount", flat=True)) == [2000, 3000]
    credit.refresh_from_db()
    payment.refresh_from_db()
    assert credit.balance == Decimal("0.00") and payment.refunded_amount == Decimal("50.00")
    report = verify_ledger()
    assert report.ok, report.format()
