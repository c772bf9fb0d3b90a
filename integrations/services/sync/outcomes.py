"""What the processor says, applied: an attempt's answer, a webhook, the poller's
findings. Paying the invoice once, scheduling the retry, Hold for dispute and Manual
review.

Invariants kept here:

- A success posts the payment once: under the record's lock, only while
  ``paid_in_ledger`` is false, through ``finance.services.payments.payment_receive`` in
  an open batch of the processor account; the record keeps the payment (OneToOne).
- A payment request the customer paid is seen by the poller
  (``selectors.payment_requests_to_poll``: offered, unpaid invoices, least recently
  asked first, a bounded number per run) or by a webhook for its charge; both go through
  ``apply_processor_state`` and ``record_success``, so it is posted once, with the
  method of the charge's type, and a second charge for an invoice already paid is
  flagged, never posted.
- A failure schedules the next attempt by the record's handling mode
  (``integrations.services.policy``).
- A dispute moves the record to Hold for dispute (a state, not a task delay); an
  attempt unknown past the idempotency window moves it to Manual review
  (``attempt_unknown_to_review``).
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from finance.models import Batch, GatewayAccount, Invoice, InvoiceLine, Payment, PaymentMethod
from finance.models import PaymentHandlingMode as Mode
from finance.services.batches import batch_create
from finance.services.payments import ApplicationSpec, payment_receive
from integrations.models import InvoiceSyncRecord, ProcessorStatus, SyncAttempt, SyncRecordChange
from integrations.selectors import attempt_for_charge, attempts_counted, record_id_for_charge
from integrations.services import policy
from integrations.services.sync.base import (
    GIVE_UP_AFTER,
    UNKNOWN_PAST_WINDOW,
    Outcome,
    SyncError,
    lock_record,
    processor_for,
)
from processors import ChargeResult, ChargeStatus, PaymentMethodType, ProcessorError

DISPUTE_NOTE = "Dispute opened at the processor"
UNKNOWN_NOTE = "Charge outcome still unknown after the processor's idempotency window"


def apply_result(
    record: InvoiceSyncRecord,
    attempt: SyncAttempt,
    result: ChargeResult | None,
    failed: bool = False,
    failure_code: str = "",
    failure_message: str = "",
    fatal: bool = False,
    counts_as_failure: bool = True,
) -> None:
    if result is not None and result.processor_id and not attempt.processor_charge_id:
        attempt.processor_charge_id = result.processor_id
        attempt.save(update_fields=["processor_charge_id"])
    if result is not None and result.disputed:
        _hold_for_dispute(record)
    if attempt.outcome == Outcome.FAILED and result is not None and result.status == ChargeStatus.SUCCEEDED:
        _late_success(record, attempt, result)
        return
    if attempt.outcome in (Outcome.SUCCEEDED, Outcome.FAILED):
        return
    now = timezone.now()
    status = result.status if result is not None else (ChargeStatus.FAILED if failed else None)
    handed_to_staff = attempt.failure_code == UNKNOWN_PAST_WINDOW
    if status == ChargeStatus.SUCCEEDED:
        attempt.outcome = Outcome.SUCCEEDED
        attempt.finished_at = now
        attempt.failure_code = attempt.failure_message = ""
        attempt.save(update_fields=["outcome", "finished_at", "failure_code", "failure_message"])
        record_success(record, charge_id=attempt.processor_charge_id, amount=result.amount, method=attempt.method)
        if handed_to_staff:
            _note_found_in_review(record, attempt)
    elif status == ChargeStatus.FAILED:
        attempt.outcome = Outcome.FAILED
        attempt.finished_at = now
        attempt.failure_code = (failure_code or (result.failure_code if result else "") or "failed")[:50]
        attempt.failure_message = (failure_message or (result.failure_message if result else ""))[:300]
        attempt.save(update_fields=["outcome", "finished_at", "failure_code", "failure_message"])
        if counts_as_failure:
            record.retries += 1
        if record.processor_status not in (ProcessorStatus.SUCCEEDED, ProcessorStatus.DISPUTED):
            record.processor_status = ProcessorStatus.FAILED
        record.has_error = True
        record.error_message = f"Attempt {attempt.number}: {attempt.failure_message or attempt.failure_code}"[:500]
        record.next_attempt_at = None
        if not fatal and not record.is_stopped:
            record.next_attempt_at = policy.next_attempt_after_failure(
                mode=record.handling_mode,
                method=attempt.method,
                attempts_made=attempts_counted(record),
                failures=record.retries,
                now=now,
                card_limit=record.gateway_account.card_attempt_limit,
            )
            if not counts_as_failure and record.next_attempt_at is not None:
                record.next_attempt_at = now
        record.save(
            update_fields=["retries", "processor_status", "has_error", "error_message", "next_attempt_at", "updated_at"]
        )
    elif status in (ChargeStatus.PROCESSING, ChargeStatus.REQUIRES_ACTION):
        attempt.outcome = Outcome.PROCESSING if status == ChargeStatus.PROCESSING else Outcome.REQUIRES_ACTION
        attempt.save(update_fields=["outcome"])
        if record.processor_status not in (ProcessorStatus.SUCCEEDED, ProcessorStatus.DISPUTED):
            record.processor_status = (
                ProcessorStatus.PROCESSING if status == ChargeStatus.PROCESSING else ProcessorStatus.REQUIRES_ACTION
            )
        record.has_error = False
        record.error_message = ""
        record.save(update_fields=["processor_status", "has_error", "error_message", "updated_at"])
        if handed_to_staff:
            _note_found_in_review(record, attempt)


def _note_found_in_review(record: InvoiceSyncRecord, attempt: SyncAttempt) -> None:
    """The charge of an attempt that had moved its record to Manual review (unknown past
    the idempotency window) was found after all. The record stays in Manual review (only
    staff leave it), but its message no longer asks them to look for the charge: it says
    which charge settled the attempt and when, without the error flag. A record flagged
    for something else meanwhile (a second charge to refund) keeps that flag."""
    if record.handling_mode != Mode.MANUAL_REVIEW or record.has_error:
        return
    day = f"{timezone.localdate():%Y-%m-%d}"
    if attempt.outcome == Outcome.SUCCEEDED:
        message = (
            f"Attempt {attempt.number} was settled by charge {attempt.processor_charge_id} found at the processor "
            f"on {day}: the invoice is paid in the ledger (payment {record.payment_id}). Nothing is left to "
            "check; the record stays in Manual review until its handling mode is changed."
        )
    else:
        message = (
            f"Attempt {attempt.number}: its charge {attempt.processor_charge_id} was found at the processor on "
            f"{day} and is {attempt.get_outcome_display().lower()}; it is followed until it settles. The record "
            "stays in Manual review until its handling mode is changed."
        )
    record.error_message = message[:500]
    record.save(update_fields=["error_message", "updated_at"])


def _late_success(record: InvoiceSyncRecord, attempt: SyncAttempt, result: ChargeResult) -> None:
    """A charge we had written off as failed (never received, or refused) succeeded
    after all. The money is in: post it once. When the invoice was paid meanwhile by
    another charge, the record is flagged for finance (refund or apply the extra money);
    nothing is posted twice for one invoice."""
    if not record.paid_in_ledger:
        attempt.outcome = Outcome.SUCCEEDED
        attempt.finished_at = timezone.now()
        attempt.save(update_fields=["outcome", "finished_at"])
        record_success(record, charge_id=result.processor_id, amount=result.amount, method=attempt.method)
        return
    if attempt.failure_code != "late_success":
        attempt.failure_code = "late_success"
        attempt.failure_message = f"Charge {result.processor_id} succeeded after the invoice was paid."[:300]
        attempt.save(update_fields=["failure_code", "failure_message"])
        record.has_error = True
        record.error_message = (
            f"Attempt {attempt.number}: charge {result.processor_id} for {result.amount} {result.currency} "
            "succeeded after the invoice was paid by another charge; refund or apply it."
        )[:500]
        record.save(update_fields=["has_error", "error_message", "updated_at"])


def record_success(record: InvoiceSyncRecord, *, charge_id: str, amount: Decimal, method: str) -> None:
    """The processor has the money: post it once, in a batch of the processor account.

    The same charge reported again (a duplicate webhook, the poller after the webhook)
    changes nothing. Another charge for an invoice already paid in the ledger (the
    customer paid the payment request after autopay took the balance) is not posted: the
    record keeps the charge it was paid by and is flagged for finance to refund or apply
    the extra money."""
    if record.paid_in_ledger and record.processor_transaction_id and charge_id == record.processor_transaction_id:
        return
    if record.paid_in_ledger and record.processor_transaction_id and charge_id != record.processor_transaction_id:
        message = (
            f"Charge {charge_id} for {amount} {record.currency} succeeded after the invoice was paid by "
            f"charge {record.processor_transaction_id}; refund or apply it."
        )[:500]
        if record.error_message != message:
            record.has_error = True
            record.error_message = message
            record.save(update_fields=["has_error", "error_message", "updated_at"])
        return
    if record.processor_status != ProcessorStatus.DISPUTED:
        record.processor_status = ProcessorStatus.SUCCEEDED
    record.processor_transaction_id = charge_id[:100]
    record.has_error = False
    record.error_message = ""
    record.next_attempt_at = None
    fields = ["processor_status", "processor_transaction_id", "has_error", "error_message", "next_attempt_at"]
    if not record.paid_in_ledger:
        payment = _post_payment(record, charge_id=charge_id, amount=amount, method=method)
        record.payment = payment
        record.paid_in_ledger = True
        fields += ["payment", "paid_in_ledger"]
    record.save(update_fields=[*fields, "updated_at"])


def _hold_for_dispute(record: InvoiceSyncRecord) -> None:
    changed = record.processor_status != ProcessorStatus.DISPUTED
    record.processor_status = ProcessorStatus.DISPUTED
    fields = ["processor_status", "updated_at"]
    if record.handling_mode != Mode.HOLD_FOR_DISPUTE:
        SyncRecordChange.objects.create(
            record=record,
            field="handling_mode",
            old_value=record.handling_mode,
            new_value=Mode.HOLD_FOR_DISPUTE,
            note=DISPUTE_NOTE,
        )
        record.handling_mode = Mode.HOLD_FOR_DISPUTE
        record.next_attempt_at = None
        fields += ["handling_mode", "next_attempt_at"]
        changed = True
    if changed:
        record.save(update_fields=fields)


def processor_payment_method(account: GatewayAccount, method: str) -> PaymentMethod:
    wanted = PaymentMethod.Type.ACH if method == policy.ACH else PaymentMethod.Type.CREDIT_CARD
    methods = PaymentMethod.objects.filter(gateway_account=account, is_active=True).select_related("cash_account")
    found = (
        methods.filter(type=wanted).order_by("pk").first()
        or methods.exclude(type=PaymentMethod.Type.OPEN_CREDIT).order_by("pk").first()
    )
    if found is None:
        raise SyncError(f"Gateway account {account.name}: no active payment method uses it, so nothing can be posted.")
    return found


def processor_batch(account: GatewayAccount, day: datetime.date) -> Batch:
    """The open batch of the processor account for ``day`` (``PS<account>-yymmdd[-n]``).

    Made on first use; when that batch is no longer open (ready or posted), the next
    suffix is used. Concurrent callers meet on the batch number's unique index.
    """
    base = f"PS{account.pk}-{day:%y%m%d}"
    for n in range(1, 100):
        number = base if n == 1 else f"{base}-{n}"
        batch = Batch.objects.filter(number=number).first()
        if batch is None:
            try:
                with transaction.atomic():
                    return batch_create(date=day, number=number, description=f"Invoice sync – {account.name}")
            except IntegrityError:
                batch = Batch.objects.get(number=number)
        if batch.status == Batch.Status.OPEN:
            return batch
    raise SyncError(f"Gateway account {account.name}: no open batch left for {day}.")


def _post_payment(record: InvoiceSyncRecord, *, charge_id: str, amount: Decimal, method: str) -> Payment:
    account = record.gateway_account
    if account is None:
        raise SyncError(f"Invoice {record.invoice.number}: no processor account to post the payment with.")
    invoice = Invoice.objects.select_related("bill_to", "entity").get(pk=record.invoice_id)
    pay_method = processor_payment_method(account, method)
    batch = processor_batch(account, timezone.localdate())
    applications, left = [], amount
    for line in InvoiceLine.objects.filter(invoice=invoice, balance__gt=0).order_by("line_number"):
        if left <= 0:
            break
        part = min(line.balance, left)
        applications.append(ApplicationSpec(line=line, amount=part))
        left -= part
    return payment_receive(
        payer=invoice.bill_to,
        method=pay_method,
        amount=amount,
        date=timezone.localdate(),
        batch=batch,
        applications=applications or None,
        auto_apply=False,
        reference=charge_id,
        entity=invoice.entity,
        source=Payment.Source.PROCESSOR,
        processor_charge_id=charge_id,
        credit_description=f"Processor payment {charge_id} beyond invoice {invoice.number}",
    )


def _charge_method(charge: ChargeResult) -> str:
    """Card or ACH, from the charge's payment method type (card when it does not say),
    as ``processor_payment_method`` picks the ledger's method."""
    return policy.ACH if charge.payment_method_type == PaymentMethodType.ACH else policy.CARD


def apply_processor_state(*, charge_id: str, charge: ChargeResult | None, disputed: bool) -> str:
    """Apply what the processor says about a charge (or a paid payment request).

    Called inside the caller's transaction (webhook) or on its own. Matches the attempt
    by charge id or by the idempotency key in the charge's metadata; a charge of a
    payment request (the customer paid it) matches the record by its request id. Such a
    charge that succeeded is posted once (``record_success``) with the method of its
    type; one that failed leaves the request open again.
    """
    with transaction.atomic():
        key = charge.idempotency_key if charge else ""
        attempt = attempt_for_charge(charge_id, key)
        if attempt is not None:
            record = lock_record(attempt.record_id)
            attempt = SyncAttempt.objects.select_for_update().get(pk=attempt.pk)
            apply_result(record, attempt, charge)
            if disputed:
                _hold_for_dispute(record)
            return f"attempt {attempt.pk}: {attempt.outcome}"
        record_id = record_id_for_charge(charge_id, charge)
        if record_id is None:
            return "no matching invoice"
        record = lock_record(record_id)
        if disputed or (charge is not None and charge.disputed):
            _hold_for_dispute(record)
        if charge is not None and charge.status == ChargeStatus.SUCCEEDED:
            record_success(record, charge_id=charge.processor_id, amount=charge.amount, method=_charge_method(charge))
        elif charge is not None and charge.status == ChargeStatus.PROCESSING and not record.paid_in_ledger:
            if record.processor_status != ProcessorStatus.PROCESSING:
                record.processor_status = ProcessorStatus.PROCESSING
                record.save(update_fields=["processor_status", "updated_at"])
        elif (
            charge is not None
            and charge.status == ChargeStatus.FAILED
            and not record.paid_in_ledger
            and record.processor_status in (ProcessorStatus.PROCESSING, ProcessorStatus.REQUIRES_ACTION)
            and not record.attempts.filter(outcome__in=SyncAttempt.OPEN).exists()
        ):
            # The customer's payment of the request failed (an ACH return): it is open again.
            record.processor_status = ProcessorStatus.REQUIRES_PAYMENT_METHOD
            record.save(update_fields=["processor_status", "updated_at"])
        return f"record {record.pk}: {record.processor_status}"


def poll_attempt(attempt: SyncAttempt, *, processors: dict | None = None) -> str:
    try:
        charge = processor_for(attempt.record.gateway_account, processors).get_charge(attempt.processor_charge_id)
    except ProcessorError as exc:
        return f"error: {exc.message}"
    apply_processor_state(charge_id=charge.processor_id, charge=charge, disputed=charge.disputed)
    return charge.status


def poll_payment_request(record: InvoiceSyncRecord, *, processors: dict | None = None) -> str:
    """Ask the processor whether the customer paid the record's payment request.

    Reads only (the request, then its charge when it has one); the charge is applied as
    its webhook would be (``apply_processor_state``): a success is posted once in the
    processor account's batch with the method of the charge's type, and one for an
    invoice paid meanwhile is flagged, not posted. Whatever the answer, the record goes
    to the back of the queue (``request_checked_at``). Returns "open", the charge's
    status, or "error: …".
    """
    try:
        processor = processor_for(record.gateway_account, processors)
        request = processor.get_payment_request(record.payment_request_id)
        charge = processor.get_charge(request.charge_id) if request.charge_id else None
    except ProcessorError as exc:
        return f"error: {exc.message}"
    finally:
        InvoiceSyncRecord.objects.filter(pk=record.pk).update(request_checked_at=timezone.now())
    if charge is None:
        return "open"
    if not charge.payment_request_id and charge.processor_id != record.payment_request_id:
        # The processor reported this charge for the request: it pays this record.
        charge = dataclasses.replace(charge, payment_request_id=record.payment_request_id)
    apply_processor_state(charge_id=charge.processor_id, charge=charge, disputed=charge.disputed)
    return charge.status


@transaction.atomic
def attempt_unknown_to_review(attempt_id: int) -> SyncAttempt:
    """An attempt still unknown past the idempotency window: it can no longer be safely
    sent again, and no charge with a new key may be made while it may have charged.
    The attempt stays open (UNKNOWN, marked ``UNKNOWN_PAST_WINDOW``), which keeps every
    job from charging the invoice; the record moves to Manual review (a change row, as
    a dispute's hold writes) unless it is already stopped, and its error message tells
    staff what to check. Done once per attempt."""
    record_id = SyncAttempt.objects.values_list("record_id", flat=True).get(pk=attempt_id)
    record = lock_record(record_id)
    attempt = SyncAttempt.objects.select_for_update().get(pk=attempt_id)
    if attempt.outcome not in (Outcome.STARTED, Outcome.UNKNOWN) or attempt.failure_code == UNKNOWN_PAST_WINDOW:
        return attempt
    hours = int(GIVE_UP_AFTER.total_seconds() // 3600)
    attempt.outcome = Outcome.UNKNOWN
    attempt.failure_code = UNKNOWN_PAST_WINDOW
    attempt.failure_message = (
        f"No answer from the processor and no charge found for this attempt after {hours} hours; "
        "it is no longer sent again."
    )[:300]
    attempt.save(update_fields=["outcome", "failure_code", "failure_message"])
    record.has_error = True
    record.error_message = (
        f"Attempt {attempt.number} ({attempt.amount} {attempt.currency}): the processor's answer was lost and "
        f"after {hours} hours it still shows no charge for it, so it is not charged again automatically. "
        f"Look for a charge for invoice {record.invoice.number} (idempotency key {attempt.idempotency_key}) "
        "at the processor, then resolve the attempt on this sync record's page (charged, with the charge's id, or "
        "not charged). A charge found later is still recorded here."
    )[:500]
    record.next_attempt_at = None
    fields = ["has_error", "error_message", "next_attempt_at", "updated_at"]
    if not record.is_stopped:
        SyncRecordChange.objects.create(
            record=record,
            field="handling_mode",
            old_value=record.handling_mode,
            new_value=Mode.MANUAL_REVIEW,
            note=UNKNOWN_NOTE,
        )
        record.handling_mode = Mode.MANUAL_REVIEW
        fields.append("handling_mode")
    record.save(update_fields=fields)
    return attempt
