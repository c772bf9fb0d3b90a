"""The customer pays an invoice's payment request at the sandbox (over HTTP); the poller
or the webhook posts it once, with the charge's method, in the processor account's batch."""

import pytest

from finance.ledger_check import verify_ledger
from finance.models import PaymentHandlingMode as Mode
from integrations.models import NEVER_CHECKED, InvoiceSyncRecord, ProcessorStatus, WebhookEvent
from integrations.selectors import payment_requests_to_poll
from integrations.services.sync.jobs import run_jobs
from integrations.services.sync.outcomes import poll_payment_request
from integrations.services.sync.records import sync_record_update
from processors import ProcessorError
from tests.integrations.sync.helpers import (
    D,
    charge_event,
    charges_of,
    deliver_event,
    invoice_with_method,
    payments_of,
)

pytestmark = pytest.mark.django_db(transaction=True)
S = ProcessorStatus


def offered(sync, *amounts, token=None, mode=None):
    """An invoice offered at the processor (its payment request sent)."""
    record = invoice_with_method(sync, token, *amounts, mode=mode)
    run_jobs("requests")
    record.refresh_from_db()
    assert record.synced_to_processor and record.payment_request_id.startswith("pr_")
    return record


def charge_wire(processor, charge_id: str) -> dict:
    return processor._request("GET", f"/charges/{charge_id}")


def assert_paid_once(sync, record, *, charge_id, amount, method):
    record.refresh_from_db()
    record.invoice.refresh_from_db()
    (payment,) = payments_of(record)
    assert (payment.amount, payment.method, payment.processor_charge_id) == (amount, method, charge_id)
    assert payment.batch.number.startswith(f"PS{sync.account.pk}-")
    assert record.paid_in_ledger and record.payment_id == payment.pk
    assert (record.processor_status, record.processor_transaction_id) == (S.SUCCEEDED, charge_id)
    assert not record.has_error
    assert record.invoice.balance == D("0.00")
    assert verify_ledger().ok


@pytest.mark.parametrize(("token", "method"), [("tok_visa", "card"), ("btok_ach_success", "ach")])
def test_customer_pays_the_request__poll_posts_one_payment_with_the_charges_method(sync, processor, token, method):
    record = offered(sync, "70.00", "50.25")
    assert run_jobs("poll") == {"poll_request_open": 1}

    paying = processor.pay_payment_request(record.payment_request_id, token)
    if token.startswith("btok_"):  # a bank debit settles later
        assert run_jobs("poll") == {"poll_request_processing": 1}
        record.refresh_from_db()
        assert (record.processor_status, record.paid_in_ledger, payments_of(record)) == (S.PROCESSING, False, [])
        processor.advance(paying.charge_id)
    assert run_jobs("poll") == {"poll_request_succeeded": 1}

    assert_paid_once(sync, record, charge_id=paying.charge_id, amount=D("120.25"), method=getattr(sync, method))
    assert record.attempts.count() == 0  # paid by the customer, not charged by us
    # Paid in the ledger: not asked again, nothing changes.
    assert run_jobs("poll") == {}
    assert len(payments_of(record)) == 1 and len(charges_of(record)) == 1


@pytest.mark.parametrize("order", ["webhook_then_poll", "poll_then_webhook"])
def test_paid_request__webhook_and_poller_in_either_order_post_once(sync, processor, client, order):
    record = offered(sync, "45.50")
    paid = processor.pay_payment_request(record.payment_request_id, "tok_visa")
    body = charge_event(f"evt_request_{order}", charge_wire(processor, paid.charge_id))

    def webhook():
        response = deliver_event(client, sync.account, body)
        assert response.status_code == 200 and not response.json()["duplicate"]

    steps = [webhook, lambda: run_jobs("poll")]
    for step in steps if order == "webhook_then_poll" else reversed(steps):
        step()
    assert_paid_once(sync, record, charge_id=paid.charge_id, amount=D("45.50"), method=sync.card)
    record.refresh_from_db()
    after = (record.updated_at, record.processor_status, record.payment_id, record.has_error)

    # Everything again (the poller, a new delivery of the same state): nothing more.
    run_jobs("poll")
    later = charge_event(f"evt_request_{order}_2", charge_wire(processor, paid.charge_id))
    again = deliver_event(client, sync.account, later)
    assert again.status_code == 200
    record.refresh_from_db()
    assert (record.updated_at, record.processor_status, record.payment_id, record.has_error) == after
    assert len(payments_of(record)) == 1
    assert WebhookEvent.objects.get(event_id=f"evt_request_{order}").result.startswith(f"record {record.pk}")
    assert verify_ledger().ok


def test_paying_the_request_twice__refused_one_charge_one_payment(sync, processor):
    record = offered(sync, "30.00")
    paid = processor.pay_payment_request(record.payment_request_id, "tok_visa")
    with pytest.raises(ProcessorError) as caught:
        processor.pay_payment_request(record.payment_request_id, "tok_mastercard")
    assert caught.value.http_status == 409

    run_jobs("poll")
    assert_paid_once(sync, record, charge_id=paid.charge_id, amount=D("30.00"), method=sync.card)
    assert len(charges_of(record)) == 1


def test_declined_then_paid__posted_once_when_paid(sync, processor):
    record = offered(sync, "30.00")
    with pytest.raises(ProcessorError):
        processor.pay_payment_request(record.payment_request_id, "tok_visa_declined")
    assert run_jobs("poll") == {"poll_request_failed": 1}
    record.refresh_from_db()
    assert (record.processor_status, record.paid_in_ledger) == (S.REQUIRES_PAYMENT_METHOD, False)

    paid = processor.pay_payment_request(record.payment_request_id, "tok_visa")
    run_jobs("poll")
    assert_paid_once(sync, record, charge_id=paid.charge_id, amount=D("30.00"), method=sync.card)


def test_ach_return_of_the_request_payment__open_again_nothing_posted(sync, processor):
    record = offered(sync, "30.00")
    paying = processor.pay_payment_request(record.payment_request_id, "btok_ach_fail")
    run_jobs("poll")
    record.refresh_from_db()
    assert record.processor_status == S.PROCESSING

    processor.advance(paying.charge_id)
    assert run_jobs("poll") == {"poll_request_failed": 1}
    record.refresh_from_db()
    assert (record.processor_status, record.paid_in_ledger, payments_of(record)) == (
        S.REQUIRES_PAYMENT_METHOD,
        False,
        [],
    )
    assert verify_ledger().ok


def test_autopay_paid_then_the_customer_pays_the_request__poller_flags_not_posted_twice(sync, processor):
    """The poller picked the invoice while it was unpaid; autopay paid it before the
    poller asked; the customer also paid the request. The poller's answer goes through
    the same success path: no second payment, the record flagged for finance."""
    record = offered(sync, "45.00", token="tok_visa")
    (picked,) = list(payment_requests_to_poll())

    run_jobs("autopay")
    record.refresh_from_db()
    assert record.paid_in_ledger
    paid_by = record.processor_transaction_id
    extra = processor.pay_payment_request(record.payment_request_id, "tok_visa")

    assert poll_payment_request(picked) == "succeeded"
    record.refresh_from_db()
    assert len(payments_of(record)) == 1 and len(charges_of(record)) == 2
    assert record.processor_transaction_id == paid_by
    assert record.has_error and extra.charge_id in record.error_message and paid_by in record.error_message
    flagged = record.error_message

    # Later runs (the autopay charge's dispute watch, this request asked again) keep the flag.
    run_jobs("poll")
    poll_payment_request(picked)
    record.refresh_from_db()
    assert (record.has_error, record.error_message, len(payments_of(record))) == (True, flagged, 1)
    assert verify_ledger().ok


def test_autopay_paid_then_the_customer_pays_the_request__webhook_flags_not_posted_twice(sync, processor, client):
    record = offered(sync, "45.00", token="tok_visa")
    run_jobs("autopay")
    record.refresh_from_db()
    paid_by = record.processor_transaction_id
    extra = processor.pay_payment_request(record.payment_request_id, "tok_visa")

    body = charge_event("evt_extra", charge_wire(processor, extra.charge_id))
    assert deliver_event(client, sync.account, body).status_code == 200
    run_jobs("poll")

    record.refresh_from_db()
    assert len(payments_of(record)) == 1 and record.processor_transaction_id == paid_by
    assert record.has_error and extra.charge_id in record.error_message
    assert verify_ledger().ok


def test_stopped_or_disabled_records__not_polled_until_released(sync, processor):
    held = offered(sync, "20.00")
    off = offered(sync, "21.00")
    sync_record_update(record=held, sync_enabled=True, handling_mode=Mode.MANUAL_REVIEW)
    sync_record_update(record=off, sync_enabled=False, handling_mode=off.handling_mode)
    for record in (held, off):
        processor.pay_payment_request(record.payment_request_id, "tok_visa")

    assert run_jobs("poll") == {}
    assert payments_of(held) == [] and payments_of(off) == []

    sync_record_update(record=held, sync_enabled=True, handling_mode=Mode.DEFAULT)
    sync_record_update(record=off, sync_enabled=True, handling_mode=off.handling_mode)
    assert run_jobs("poll") == {"poll_request_succeeded": 2}
    assert len(payments_of(held)) == 1 and len(payments_of(off)) == 1
    assert verify_ledger().ok


def test_poll__bounded_per_run_least_recently_asked_first(sync, processor, settings):
    settings.INVOICE_SYNC_REQUEST_POLL_LIMIT = 2
    records = [offered(sync, "10.00") for _ in range(3)]

    assert run_jobs("poll") == {"poll_request_open": 2}
    asked = set(InvoiceSyncRecord.objects.exclude(request_checked_at=NEVER_CHECKED).values_list("pk", flat=True))
    assert asked == {records[0].pk, records[1].pk}

    processor.pay_payment_request(records[2].payment_request_id, "tok_visa")
    assert run_jobs("poll") == {"poll_request_succeeded": 1, "poll_request_open": 1}
    records[2].refresh_from_db()
    assert records[2].paid_in_ledger
    assert not InvoiceSyncRecord.objects.filter(request_checked_at=NEVER_CHECKED).exists()
