"""The customer paying a payment request at the sandbox (as on its hosted page), and the
adapter reading the request back, over real HTTP against the live server."""

import threading
import time
import uuid
from decimal import Decimal

import pytest

from processors import (
    ChargeStatus,
    PaymentMethodType,
    PaymentRequestSpec,
    ProcessorDeclined,
    ProcessorError,
    ProcessorInvalidRequest,
    ProcessorNotFound,
)
from sandboxes.processor.models import SandboxCharge, SandboxPaymentRequest
from tests.integrations.conftest import OTHER_API_KEY

pytestmark = pytest.mark.django_db(transaction=True)
OPEN = "requires_payment_method"


def _offer(processor, amount="120.00", currency="USD"):
    return processor.create_payment_request(
        PaymentRequestSpec(
            amount=Decimal(amount),
            currency=currency,
            idempotency_key=f"test-{uuid.uuid4()}",
            customer_ref="23456",
            description="Invoice 1001",
            metadata={"invoice": "1001", "sync_record": "7"},
        )
    )


def test_pay__card_charges_the_request_amount_once_and_marks_it_paid(processor):
    offered = _offer(processor, "120.45")
    assert (offered.status, offered.charge_id) == (OPEN, "")

    paid = processor.pay_payment_request(offered.processor_id, "tok_visa")

    assert paid.status == "paid" and paid.charge_id.startswith("ch_")
    charge = processor.get_charge(paid.charge_id)
    assert (charge.status, charge.amount, charge.currency) == (ChargeStatus.SUCCEEDED, Decimal("120.45"), "USD")
    assert charge.payment_method_type == PaymentMethodType.CARD
    assert charge.payment_request_id == offered.processor_id
    assert charge.raw["amount"] == 12045  # integer minor units on the wire
    assert charge.raw["metadata"] == {"invoice": "1001", "sync_record": "7", "payment_request": offered.processor_id}
    stored = SandboxCharge.objects.get()
    assert (stored.amount, stored.customer, stored.description) == (12045, "23456", "Invoice 1001")
    read = processor.get_payment_request(offered.processor_id)
    assert (read.status, read.charge_id, read.amount, read.currency) == (
        "paid",
        paid.charge_id,
        Decimal("120.45"),
        "USD",
    )


def test_pay__exact_minor_units_in_a_zero_decimal_currency(processor):
    offered = _offer(processor, "5000", currency="JPY")
    paid = processor.pay_payment_request(offered.processor_id, "tok_visa")
    charge = processor.get_charge(paid.charge_id)
    assert (charge.amount, charge.raw["amount"]) == (Decimal("5000"), 5000)


def test_pay__a_paid_request_is_refused_and_makes_no_second_charge(processor):
    offered = _offer(processor)
    first = processor.pay_payment_request(offered.processor_id, "tok_visa")

    for token in ("tok_visa", "tok_mastercard", "btok_ach_success"):
        with pytest.raises(ProcessorError) as caught:
            processor.pay_payment_request(offered.processor_id, token)
        assert (caught.value.http_status, caught.value.code) == (409, "payment_request_paid")
        assert first.charge_id in caught.value.message

    assert SandboxCharge.objects.count() == 1
    assert processor.get_payment_request(offered.processor_id).charge_id == first.charge_id


def test_pay__bank_token_is_processing_then_paid_when_it_settles(processor):
    offered = _offer(processor)
    paying = processor.pay_payment_request(offered.processor_id, "btok_ach_success")

    assert paying.status == "processing"
    charge = processor.get_charge(paying.charge_id)
    assert (charge.status, charge.payment_method_type) == (ChargeStatus.PROCESSING, PaymentMethodType.ACH)
    with pytest.raises(ProcessorError) as caught:
        processor.pay_payment_request(offered.processor_id, "tok_visa")
    assert (caught.value.http_status, caught.value.code) == (409, "payment_request_in_progress")

    processor.advance(paying.charge_id)
    assert processor.get_payment_request(offered.processor_id).status == "paid"
    assert SandboxPaymentRequest.objects.get().status == "paid"
    assert SandboxCharge.objects.count() == 1


def test_pay__settles_on_a_read_of_the_request_after_the_settle_delay(processor, sandbox_settings):
    sandbox_settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 0.3
    offered = _offer(processor)
    processor.pay_payment_request(offered.processor_id, "btok_ach_success")
    assert processor.get_payment_request(offered.processor_id).status == "processing"

    time.sleep(0.5)
    assert processor.get_payment_request(offered.processor_id).status == "paid"


def test_pay__declined_leaves_the_request_open_to_pay_again(processor):
    offered = _offer(processor)
    with pytest.raises(ProcessorDeclined) as caught:
        processor.pay_payment_request(offered.processor_id, "tok_visa_declined")
    failed = caught.value.result
    assert failed.status == ChargeStatus.FAILED and failed.payment_request_id == offered.processor_id

    reopened = processor.get_payment_request(offered.processor_id)
    assert (reopened.status, reopened.charge_id) == (OPEN, failed.processor_id)
    paid = processor.pay_payment_request(offered.processor_id, "tok_visa")
    assert paid.status == "paid" and paid.charge_id != failed.processor_id
    assert SandboxCharge.objects.count() == 2


def test_pay__an_ach_return_reopens_the_request(processor):
    offered = _offer(processor)
    paying = processor.pay_payment_request(offered.processor_id, "btok_ach_fail")
    processor.advance(paying.charge_id)

    assert processor.get_charge(paying.charge_id).status == ChargeStatus.FAILED
    assert processor.get_payment_request(offered.processor_id).status == OPEN
    assert processor.pay_payment_request(offered.processor_id, "tok_visa").status == "paid"


def test_pay__unknown_request_token_or_account_refused_and_nothing_charged(processor, make_processor):
    with pytest.raises(ProcessorNotFound):
        processor.pay_payment_request("pr_missing", "tok_visa")
    offered = _offer(processor)
    with pytest.raises(ProcessorInvalidRequest):
        processor.pay_payment_request(offered.processor_id, "tok_unknown")
    other = make_processor(api_key=OTHER_API_KEY)
    with pytest.raises(ProcessorNotFound):
        other.pay_payment_request(offered.processor_id, "tok_visa")
    with pytest.raises(ProcessorNotFound):
        other.get_payment_request(offered.processor_id)
    assert not SandboxCharge.objects.exists()
    assert processor.get_payment_request(offered.processor_id).status == OPEN


def test_pay__server_error_records_nothing(processor):
    offered = _offer(processor)
    with pytest.raises(ProcessorError) as caught:
        processor.pay_payment_request(offered.processor_id, "tok_server_error")
    assert caught.value.http_status == 500
    assert not SandboxCharge.objects.exists()
    assert processor.get_payment_request(offered.processor_id).status == OPEN


def test_pay__concurrent_payments_of_one_request_make_one_charge(processor, make_processor):
    offered = _offer(processor)
    paid, refused, other = [], [], []

    def pay():
        try:
            with make_processor() as client:
                paid.append(client.pay_payment_request(offered.processor_id, "tok_visa").charge_id)
        except ProcessorError as exc:
            (refused if exc.http_status == 409 else other).append(exc)

    threads = [threading.Thread(target=pay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert other == [] and len(paid) == 1 and len(refused) == 5
    assert SandboxCharge.objects.count() == 1
    assert processor.get_payment_request(offered.processor_id).charge_id == paid[0]
