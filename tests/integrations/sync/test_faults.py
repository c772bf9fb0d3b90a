"""Fault injection against the sandbox over HTTP: lost answers, duplicate and
out-of-order webhooks, a worker that stops between the key and the answer."""

import json

import pytest

from finance.ledger_check import verify_ledger
from integrations.models import SyncAttempt, WebhookEvent
from integrations.services.sync.attempts import attempt_record, attempt_send, attempt_start
from integrations.services.sync.base import NOT_AT_PROCESSOR, STALE_AFTER
from integrations.services.sync.jobs import run_jobs
from integrations.services.sync.outcomes import apply_processor_state
from processors import signatures
from sandboxes.processor.models import SandboxCharge
from tests.integrations.conftest import WEBHOOK_SECRET
from tests.integrations.sync.helpers import D, charges_of, invoice_with_method, payments_of

pytestmark = pytest.mark.django_db(transaction=True)
Outcome = SyncAttempt.Outcome


def _event(event_id: str, charge: dict) -> bytes:
    return json.dumps({"id": event_id, "type": "charge.updated", "data": {"object": charge}}).encode()


def _deliver(client, account, body: bytes, secret: str = WEBHOOK_SECRET):
    return client.post(
        f"/webhooks/sandbox/{account.pk}/",
        data=body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=signatures.sign(body, secret),
    )


def _charge_body(processor, charge_id: str) -> dict:
    return processor._request("GET", f"/charges/{charge_id}")


def test_timeout__one_charge_one_payment_same_key_on_every_send(sync, processor, settings):
    settings.SANDBOX_PROCESSOR_TIMEOUT = 0.5  # the sandbox holds tok_timeout's answer 2 s
    record = invoice_with_method(sync, "tok_timeout", "80.00")

    run_jobs("autopay")
    (attempt,) = record.attempts.all()
    assert attempt.outcome == Outcome.UNKNOWN
    record.refresh_from_db()
    assert record.has_error and "reconciling" in record.error_message
    assert payments_of(record) == []

    # Jobs running again (autopay, retries) never charge while the outcome is unknown.
    run_jobs("autopay")
    run_jobs("requests")
    assert record.attempts.count() == 1

    # The same attempt sent again (a redelivered task) reuses its key: still one charge.
    attempt_send(SyncAttempt.objects.get(pk=attempt.pk))
    run_jobs("reconcile")
    run_jobs("reconcile")

    record.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED
    (charge,) = charges_of(record)
    assert charge.idempotency_key == attempt.idempotency_key
    assert attempt.processor_charge_id == charge.public_id
    (payment,) = payments_of(record)
    assert payment.amount == D("80.00") and record.paid_in_ledger and not record.has_error
    assert verify_ledger().ok


def test_duplicate_webhooks__one_payment(sync, processor, client):
    record = invoice_with_method(sync, "tok_processing", "60.00")
    run_jobs("autopay")
    (attempt,) = record.attempts.all()
    assert attempt.outcome == Outcome.PROCESSING
    settled = processor.advance(attempt.processor_charge_id)
    body = _event("evt_dup_1", _charge_body(processor, settled.processor_id))

    first = _deliver(client, sync.account, body)
    second = _deliver(client, sync.account, body)
    third = _deliver(client, sync.account, body)

    assert first.status_code == second.status_code == third.status_code == 200
    assert [first.json()["duplicate"], second.json()["duplicate"], third.json()["duplicate"]] == [False, True, True]
    assert WebhookEvent.objects.filter(event_id="evt_dup_1").count() == 1
    record.refresh_from_db()
    assert len(payments_of(record)) == 1 and record.paid_in_ledger
    assert verify_ledger().ok


def test_webhook_signature__wrong_secret_or_body_refused(sync, processor, client):
    record = invoice_with_method(sync, "tok_processing", "60.00")
    run_jobs("autopay")
    (attempt,) = record.attempts.all()
    processor.advance(attempt.processor_charge_id)
    body = _event("evt_forged", _charge_body(processor, attempt.processor_charge_id))

    assert _deliver(client, sync.account, body, secret="whsec_wrong").status_code == 400
    tampered = client.post(
        f"/webhooks/sandbox/{sync.account.pk}/",
        data=body.replace(b"60", b"61"),
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=signatures.sign(body, WEBHOOK_SECRET),
    )
    assert tampered.status_code == 400
    unsigned = client.post(f"/webhooks/sandbox/{sync.account.pk}/", data=body, content_type="application/json")
    assert unsigned.status_code == 400
    assert not WebhookEvent.objects.exists()
    record.refresh_from_db()
    assert not record.paid_in_ledger


@pytest.mark.parametrize("order", ["webhook_then_poll", "poll_then_webhook"])
def test_webhook_and_poller_in_either_order__same_result(sync, processor, client, order):
    record = invoice_with_method(sync, "tok_processing", "45.50")
    run_jobs("autopay")
    (attempt,) = record.attempts.all()
    processor.advance(attempt.processor_charge_id)
    body = _event(f"evt_{order}", _charge_body(processor, attempt.processor_charge_id))

    steps = [lambda: _deliver(client, sync.account, body), lambda: run_jobs("poll")]
    for step in steps if order == "webhook_then_poll" else reversed(steps):
        step()

    record.refresh_from_db()
    attempt.refresh_from_db()
    assert (record.processor_status, record.paid_in_ledger, attempt.outcome) == ("succeeded", True, Outcome.SUCCEEDED)
    (payment,) = payments_of(record)
    assert payment.amount == D("45.50")
    record.invoice.refresh_from_db()
    assert record.invoice.balance == D("0.00")
    assert verify_ledger().ok


def test_webhook_for_a_lost_answer__resolves_it_by_key(sync, processor, client, settings):
    """The webhook arrives while the attempt is still unknown (no charge id yet)."""
    settings.SANDBOX_PROCESSOR_TIMEOUT = 0.5
    record = invoice_with_method(sync, "tok_timeout", "30.00")
    run_jobs("autopay")
    (attempt,) = record.attempts.all()
    assert attempt.outcome == Outcome.UNKNOWN and attempt.processor_charge_id == ""
    charge = SandboxCharge.objects.get(idempotency_key=attempt.idempotency_key)

    _deliver(client, sync.account, _event("evt_lost", _charge_body(processor, charge.public_id)))
    run_jobs("reconcile")

    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.processor_charge_id == charge.public_id
    assert len(payments_of(record)) == 1


def test_worker_stopped_after_the_charge__reconciled_not_charged_again(sync, processor, monkeypatch):
    """Phase 1 committed, the charge went out, the worker died before writing the answer."""
    record = invoice_with_method(sync, "tok_visa", "99.00")
    attempt = attempt_start(record.pk)
    from processors import ChargeRequest

    processor.charge(
        ChargeRequest(
            amount=attempt.amount,
            currency="USD",
            payment_method_token=attempt.payment_method_token,
            idempotency_key=attempt.idempotency_key,
            metadata={"sync_record": str(record.pk), "idempotency_key": attempt.idempotency_key},
        )
    )
    # Not stale yet: the reconciler leaves a fresh STARTED attempt to its worker.
    assert run_jobs("reconcile") == {}
    run_jobs("autopay")  # a fresh job does not charge while an attempt is open
    assert record.attempts.count() == 1

    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - STALE_AFTER * 2)
    assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}

    record.refresh_from_db()
    assert record.paid_in_ledger and len(charges_of(record)) == 1 and len(payments_of(record)) == 1
    run_jobs("autopay")
    run_jobs("requests")
    assert record.attempts.count() == 1 and len(charges_of(record)) == 1


def test_worker_stopped_before_the_charge__reconciler_sends_the_same_key_once(sync, processor):
    record = invoice_with_method(sync, "tok_visa", "99.00")
    attempt = attempt_start(record.pk)  # the worker dies here: nothing was sent
    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - STALE_AFTER * 2)

    # The customer's charges show none; the same request goes out with the attempt's key.
    assert run_jobs("reconcile") == {"reconcile_resent succeeded": 1}
    attempt.refresh_from_db()
    record.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED and attempt.sends == 2
    assert record.attempts.count() == 1 and record.paid_in_ledger and record.retries == 0
    (charge,) = charges_of(record)
    assert charge.idempotency_key == attempt.idempotency_key
    assert len(payments_of(record)) == 1

    for job in ("reconcile", "requests", "autopay"):
        run_jobs(job)
    assert record.attempts.count() == 1 and len(charges_of(record)) == 1 and len(payments_of(record)) == 1
    assert verify_ledger().ok


def test_two_workers_start_the_same_invoice__one_attempt(sync, processor):
    record = invoice_with_method(sync, "tok_visa", "10.00")
    first = attempt_start(record.pk)
    second = attempt_start(record.pk)
    assert first is not None and second is None
    assert record.attempts.count() == 1


def test_late_success_of_a_written_off_attempt__posted_once_or_flagged(sync, processor, client):
    """The processor got an attempt after it was written off as never received (a
    delayed request). Before a retry paid the invoice, its success is posted; after, the record
    is flagged for finance and nothing is posted twice."""
    from processors import ChargeRequest

    def written_off(record):
        # Recorded as never received, as earlier versions of the reconciler wrote off an
        # attempt the processor's search did not show (such rows remain in the database).
        attempt = attempt_start(record.pk)
        attempt_record(
            attempt.pk,
            result=None,
            failed=True,
            failure_code=NOT_AT_PROCESSOR,
            failure_message="The processor has no charge with this attempt's key; nothing was charged.",
            counts_as_failure=False,
        )
        return attempt

    def arrives_late(record, attempt):
        charge = processor.charge(
            ChargeRequest(
                amount=attempt.amount,
                currency="USD",
                payment_method_token="tok_visa",
                idempotency_key=attempt.idempotency_key,
                metadata={"sync_record": str(record.pk), "idempotency_key": attempt.idempotency_key},
            )
        )
        body = _event(f"evt_late_{attempt.pk}", _charge_body(processor, charge.processor_id))
        assert _deliver(client, sync.account, body).status_code == 200

    first = invoice_with_method(sync, "tok_visa", "20.00")
    arrives_late(first, written_off(first))
    first.refresh_from_db()
    assert first.paid_in_ledger and len(payments_of(first)) == 1

    second = invoice_with_method(sync, "tok_visa", "20.00")
    late = written_off(second)
    run_jobs("requests")  # the retry (a new key) pays the invoice
    arrives_late(second, late)
    second.refresh_from_db()
    late.refresh_from_db()
    assert len(payments_of(second)) == 1 and len(charges_of(second)) == 2
    assert late.failure_code == "late_success"
    assert second.has_error and "succeeded after the invoice was paid" in second.error_message


def test_payment_request_paid_after_autopay__flagged_not_posted_twice(sync, processor):
    """Autopay took the balance; then the customer also paid the payment request. The
    second charge is not posted: the record keeps the charge that paid it and is flagged
    for finance. The same report again changes nothing more."""
    from processors import ChargeResult, ChargeStatus

    record = invoice_with_method(sync, "tok_visa", "45.00")
    run_jobs("requests")
    run_jobs("autopay")
    record.refresh_from_db()
    assert record.paid_in_ledger and record.payment_request_id
    paid_by = record.processor_transaction_id

    extra = ChargeResult(
        status=ChargeStatus.SUCCEEDED, processor_id="ch_paid_request_1", amount=D("45.00"), currency="USD"
    )
    for _ in range(2):  # the webhook, then the same report again
        apply_processor_state(charge_id=record.payment_request_id, charge=extra, disputed=False)
    record.refresh_from_db()
    assert len(payments_of(record)) == 1
    assert record.processor_transaction_id == paid_by
    assert record.has_error and "ch_paid_request_1" in record.error_message and paid_by in record.error_message
    # The charge that paid it, reported again, is no error.
    again = ChargeResult(status=ChargeStatus.SUCCEEDED, processor_id=paid_by, amount=D("45.00"), currency="USD")
    record.has_error, record.error_message = False, ""
    record.save(update_fields=["has_error", "error_message"])
    apply_processor_state(charge_id=paid_by, charge=again, disputed=False)
    record.refresh_from_db()
    assert not record.has_error and len(payments_of(record)) == 1
    assert verify_ledger().ok
