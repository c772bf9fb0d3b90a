"""Every payment handling mode, end to end against the sandbox over HTTP: the charge
attempts made, the record's final state and the ledger effect."""

import pytest

from finance.ledger_check import verify_ledger
from finance.models import PaymentHandlingMode as Mode
from integrations.models import ProcessorStatus, SyncAttempt, SyncRecordChange
from tests.integrations.sync.helpers import D, charges_of, drive, invoice_with_method, payments_of

pytestmark = pytest.mark.django_db(transaction=True)

S = ProcessorStatus
# mode, saved token, attempts made, final processor status, paid in ledger, final mode
CASES = [
    (Mode.DEFAULT, "tok_visa", 1, S.SUCCEEDED, True, Mode.DEFAULT),
    (Mode.DEFAULT, "tok_visa_declined", 3, S.FAILED, False, Mode.DEFAULT),
    (Mode.DEFAULT, "tok_fail_later", 3, S.FAILED, False, Mode.DEFAULT),
    (Mode.DEFAULT, "btok_ach_success", 1, S.SUCCEEDED, True, Mode.DEFAULT),
    (Mode.DEFAULT, "btok_ach_fail", 1, S.FAILED, False, Mode.DEFAULT),
    (Mode.DEFAULT, "tok_dispute", 1, S.DISPUTED, True, Mode.HOLD_FOR_DISPUTE),
    (Mode.HOLD_FOR_DISPUTE, "tok_visa", 0, S.NOT_SYNCED, False, Mode.HOLD_FOR_DISPUTE),
    (Mode.MANUAL_REVIEW, "tok_visa", 0, S.NOT_SYNCED, False, Mode.MANUAL_REVIEW),
    (Mode.SKIP_AUTOPAY, "tok_visa", 0, S.REQUIRES_PAYMENT_METHOD, False, Mode.SKIP_AUTOPAY),
    (Mode.ONE_TIME_RETRY, "tok_visa_declined", 2, S.FAILED, False, Mode.ONE_TIME_RETRY),
    (Mode.ONE_TIME_RETRY, "btok_ach_fail", 2, S.FAILED, False, Mode.ONE_TIME_RETRY),
    (Mode.OVERRIDE_RETRY_LIMIT, "tok_visa_declined", 7, S.FAILED, False, Mode.OVERRIDE_RETRY_LIMIT),
    (Mode.OVERRIDE_RETRY_LIMIT, "btok_ach_fail", 1, S.FAILED, False, Mode.OVERRIDE_RETRY_LIMIT),
    (Mode.SKIP_AFTER_FIRST_FAILURE, "tok_visa_declined", 1, S.FAILED, False, Mode.SKIP_AFTER_FIRST_FAILURE),
    (Mode.SKIP_AFTER_FIRST_FAILURE, "tok_visa", 1, S.SUCCEEDED, True, Mode.SKIP_AFTER_FIRST_FAILURE),
]


@pytest.mark.parametrize(("mode", "token", "attempts", "status", "paid", "final_mode"), CASES)
def test_handling_mode__attempts_state_and_ledger(sync, processor, mode, token, attempts, status, paid, final_mode):
    record = invoice_with_method(sync, token, "120.00", mode=mode)

    drive(processor, record, rounds=6)

    record.refresh_from_db()
    record.invoice.refresh_from_db()
    made = list(record.attempts.order_by("number"))
    assert len(made) == attempts
    assert len(charges_of(record)) == attempts  # one processor charge per attempt, no more
    assert len({a.idempotency_key for a in made}) == attempts
    assert record.processor_status == status
    assert record.handling_mode == final_mode
    assert record.paid_in_ledger is paid
    payments = payments_of(record)
    if paid:
        (payment,) = payments
        assert payment.amount == D("120.00")
        assert payment.method.gateway_account_id == sync.account.pk
        assert payment.batch.number.startswith(f"PS{sync.account.pk}-")
        assert payment.processor_charge_id == record.processor_transaction_id
        assert record.payment_id == payment.pk
        assert record.invoice.balance == D("0.00")
        assert [a.outcome for a in made][-1] == SyncAttempt.Outcome.SUCCEEDED
    else:
        assert payments == []
        assert record.invoice.balance == D("120.00")
    if attempts and not paid:
        assert record.retries == attempts
        assert record.has_error and record.error_message
        assert {a.outcome for a in made} == {SyncAttempt.Outcome.FAILED}
    if mode == Mode.OVERRIDE_RETRY_LIMIT and token.startswith("tok_"):
        assert record.next_attempt_at is not None  # still retrying: no limit
    elif not paid:
        assert record.next_attempt_at is None  # nothing left to try
    if final_mode != mode:
        change = SyncRecordChange.objects.get(record=record)
        assert (change.old_value, change.new_value, change.user) == (mode, final_mode, None)
    assert verify_ledger().ok


def test_handling_mode__hold_stops_retries_and_release_resumes(sync, processor):
    from integrations.services.sync.jobs import run_jobs
    from integrations.services.sync.records import sync_record_update

    record = invoice_with_method(sync, "tok_visa_declined", "50.00")
    run_jobs("requests")
    run_jobs("autopay")
    record.refresh_from_db()
    assert record.attempts.count() == 1 and record.next_attempt_at is not None

    record = sync_record_update(record=record, sync_enabled=True, handling_mode=Mode.MANUAL_REVIEW, note="check card")
    run_jobs("requests")
    assert record.attempts.count() == 1  # stopped: the due retry is not made

    record = sync_record_update(record=record, sync_enabled=True, handling_mode=Mode.DEFAULT)
    run_jobs("requests")
    assert record.attempts.count() == 2
    changes = list(record.changes.order_by("pk").values_list("field", "old_value", "new_value", "note"))
    assert changes == [
        ("handling_mode", Mode.DEFAULT, Mode.MANUAL_REVIEW, "check card"),
        ("handling_mode", Mode.MANUAL_REVIEW, Mode.DEFAULT, ""),
    ]


def test_sync_disabled__no_request_and_no_charge(sync, processor):
    from integrations.services.sync.records import sync_record_update

    record = invoice_with_method(sync, "tok_visa", "75.00")
    sync_record_update(record=record, sync_enabled=False, handling_mode=record.handling_mode)
    drive(processor, record, rounds=1)
    record.refresh_from_db()
    assert (record.synced_to_processor, record.attempts.count(), payments_of(record)) == (False, 0, [])
