"""A charge whose answer was lost is settled from the processor's own record, never by a
second charge: the reconciler lists the customer's charges since the attempt (matched
on the attempt's metadata) and sends the same request again with the same key while the
processor keeps it. The processor's search, which lags behind new charges, is not
needed. Against the sandbox over HTTP, with its search set to lag an hour."""

import datetime
import time

import pytest
from django.utils import timezone

from finance.ledger_check import verify_ledger
from finance.models import PaymentHandlingMode as Mode
from integrations.models import SyncAttempt, SyncRecordChange, WebhookEvent
from integrations.services.sync.attempts import attempt_start
from integrations.services.sync.base import GIVE_UP_AFTER, STALE_AFTER
from integrations.services.sync.jobs import run_jobs
from integrations.services.sync.records import sync_record_update
from tests.integrations.sync.helpers import D, charges_of, hand_to_staff, invoice_with_method, payments_of

pytestmark = pytest.mark.django_db(transaction=True)
Outcome = SyncAttempt.Outcome
# Nothing listens there: every request is refused before it is sent.
UNREACHABLE = "http://127.0.0.1:9/sandbox/processor/v1"


@pytest.fixture
def lagging_search(sync, settings):
    settings.SANDBOX_PROCESSOR_TIMEOUT = 0.5  # the sandbox holds tok_timeout's answer 2 s
    settings.SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS = 3600
    return sync


def _answer_lost(sync, amount: str):
    """Autopay charges a tok_timeout card: the sandbox commits the charge, the answer
    never arrives in time."""
    record = invoice_with_method(sync, "tok_timeout", amount)
    assert run_jobs("autopay") == {"autopay_unknown": 1}
    (attempt,) = record.attempts.all()
    assert attempt.outcome == Outcome.UNKNOWN and attempt.processor_charge_id == ""
    # The client gave up waiting; on a busy machine the sandbox may commit the charge a
    # moment after that. The scenario is "the charge was made, its answer lost": wait
    # until the processor has it.
    deadline = time.monotonic() + 30
    while not charges_of(record):
        assert time.monotonic() < deadline, "the sandbox never made the charge"
        time.sleep(0.1)
    (charge,) = charges_of(record)  # the processor made it, once
    return record, attempt, charge


def _age(attempt: SyncAttempt, by: datetime.timedelta) -> None:
    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - by)


def test_answer_lost_and_search_finds_nothing__next_reconcile_pays_the_invoice_with_the_one_charge(
    lagging_search, processor
):
    record, attempt, charge = _answer_lost(lagging_search, "80.00")
    assert processor.find_charge_by_idempotency_key(attempt.idempotency_key) is None  # search lags

    assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}

    record.refresh_from_db()
    attempt.refresh_from_db()
    record.invoice.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.processor_charge_id == charge.public_id
    assert record.paid_in_ledger and record.processor_transaction_id == charge.public_id and not record.has_error
    assert record.invoice.balance == D("0.00")
    (payment,) = payments_of(record)
    assert payment.amount == D("80.00") and payment.processor_charge_id == charge.public_id
    assert not WebhookEvent.objects.exists()  # settled without a webhook

    for job in ("reconcile", "autopay", "requests", "poll", "reconcile"):
        run_jobs(job)
    assert record.attempts.count() == 1
    assert [c.public_id for c in charges_of(record)] == [charge.public_id]  # one charge at the processor
    assert len(payments_of(record)) == 1  # one payment in the ledger
    report = verify_ledger()
    assert report.ok, report.format()


def test_answer_lost_and_processor_unreachable_past_the_give_up_time__one_charge_record_in_manual_review(
    lagging_search, settings
):
    record, attempt, charge = _answer_lost(lagging_search, "64.50")
    reachable = settings.SANDBOX_PROCESSOR_URL
    settings.SANDBOX_PROCESSOR_URL = UNREACHABLE

    assert list(run_jobs("reconcile")) == ["reconcile_error"]  # within the window: tried, nothing known
    _age(attempt, GIVE_UP_AFTER + datetime.timedelta(minutes=1))
    assert run_jobs("reconcile") == {"reconcile_manual review": 1}

    record.refresh_from_db()
    attempt.refresh_from_db()
    assert record.handling_mode == Mode.MANUAL_REVIEW and not record.paid_in_ledger
    assert record.has_error
    assert record.invoice.number in record.error_message and attempt.idempotency_key in record.error_message
    assert "not charged again automatically" in record.error_message
    assert attempt.outcome == Outcome.UNKNOWN  # still open: it may have charged
    change = SyncRecordChange.objects.get(record=record)
    assert (change.field, change.old_value, change.new_value, change.user) == (
        "handling_mode",
        Mode.DEFAULT,
        Mode.MANUAL_REVIEW,
        None,
    )
    sends = attempt.sends

    # However long it stays unknown, no job starts an attempt with a new key, not even
    # once staff release the record; the processor is back but its search still lags.
    settings.SANDBOX_PROCESSOR_URL = reachable
    _age(attempt, datetime.timedelta(days=30))
    for job in ("autopay", "requests"):
        run_jobs(job)
    sync_record_update(record=record, sync_enabled=True, handling_mode=Mode.DEFAULT, note="checked")
    for job in ("autopay", "requests"):
        run_jobs(job)
    assert record.attempts.count() == 1 and len(charges_of(record)) == 1 and payments_of(record) == []

    # The processor's list shows the charge: recorded once, and never sent again.
    assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}
    assert run_jobs("reconcile") == {}
    record.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.sends == sends
    assert [c.public_id for c in charges_of(record)] == [charge.public_id]
    (payment,) = payments_of(record)
    assert payment.amount == D("64.50") and record.paid_in_ledger and not record.has_error
    report = verify_ledger()
    assert report.ok, report.format()


def test_attempt_never_sent_and_invoice_paid_meanwhile__not_sent_again_then_manual_review(lagging_search, processor):
    """The worker stopped before sending; meanwhile the customer paid the invoice's
    payment request. A resend would charge now, so none is made; past the window the
    record is handed to staff, with no second charge."""
    record = invoice_with_method(lagging_search, "tok_visa", "45.00")
    run_jobs("requests")
    record.refresh_from_db()
    attempt = attempt_start(record.pk)  # committed; the worker dies before sending it
    processor.pay_payment_request(record.payment_request_id, "tok_mastercard")
    assert run_jobs("poll") == {"poll_request_succeeded": 1}
    _age(attempt, STALE_AFTER * 2)

    assert run_jobs("reconcile") == {"reconcile_not yet": 1}
    _age(attempt, GIVE_UP_AFTER)
    assert run_jobs("reconcile") == {"reconcile_manual review": 1}
    assert run_jobs("reconcile") == {"reconcile_waiting for staff": 1}

    record.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.UNKNOWN and attempt.sends == 1
    assert record.handling_mode == Mode.MANUAL_REVIEW and record.paid_in_ledger and record.has_error
    assert len(charges_of(record)) == 1  # the customer's payment only
    assert not [c for c in charges_of(record) if c.idempotency_key == attempt.idempotency_key]
    assert len(payments_of(record)) == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_answer_lost_past_the_window_then_found__record_stays_in_manual_review_and_says_it_is_settled(
    lagging_search, client, manager_user
):
    record, attempt, charge = _answer_lost(lagging_search, "52.00")
    hand_to_staff(attempt)  # nothing found it within the window
    record.refresh_from_db()
    assert record.handling_mode == Mode.MANUAL_REVIEW and "not charged again automatically" in record.error_message

    assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}

    record.refresh_from_db()
    assert record.handling_mode == Mode.MANUAL_REVIEW  # staff leave it themselves
    assert record.paid_in_ledger and len(payments_of(record)) == 1 and not record.has_error
    assert record.error_message.startswith(
        f"Attempt 1 was settled by charge {charge.public_id} found at the processor on "
        f"{timezone.localdate():%Y-%m-%d}: the invoice is paid in the ledger (payment {record.payment_id})."
    )
    client.force_login(manager_user)
    page = client.get(f"/invoice-sync/{record.pk}/").content.decode()
    assert 'data-testid="sync-note"' in page and f"settled by charge {charge.public_id}" in page
    listed = client.get("/invoice-sync/?handling_mode=manual_review").content.decode()
    assert "Attempt 1 was settled by charge" in listed
    report = verify_ledger()
    assert report.ok, report.format()
