"""Charge attempts: start, send, finish, and the reconciliation of attempts whose
answer was lost.

Invariants kept here:

- Every charge is two-phase: the idempotency key is committed first (an attempt row
  STARTED), then the processor is called outside any transaction, then the answer is
  written under the record's row lock (``outcomes.apply_result``). A retry of the same
  request reuses the same key; a lost answer (timeout) leaves the attempt UNKNOWN for
  the reconciler (``reconcile_attempt``), which settles it from the processor's own
  record: the customer's charges listed since the attempt, the same request sent again
  with the same key while the processor keeps it, search last.
- An attempt whose outcome is unknown stays open however long it stays unknown: no
  attempt with a new key is made for the invoice meanwhile. Past the processor's
  idempotency window it moves the record to Manual review
  (``outcomes.attempt_unknown_to_review``); it never leads to a charge by itself. Only
  staff close it without the processor's answer (``attempt_resolve_unknown``): with the
  charge they found at the processor (read back and matched to the attempt, then
  recorded as a found charge is), or as not charged after checking there, which lets
  the invoice be charged again once they release it.
- At most one attempt in flight per invoice and at most one succeeded attempt (partial
  unique indexes), so two workers never charge one invoice at once; and under the
  record's lock ``attempt_start`` checks again everything that made the invoice due (the
  lists of due invoices are read before the lock), so two runs of a job at once make one
  attempt, not two.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.dates import format_moment
from finance.models import Payment
from integrations.models import InvoiceSyncRecord, SyncAttempt, SyncRecordChange
from integrations.selectors import attempts_counted, autopay_method
from integrations.services import policy
from integrations.services.sync.base import (
    AUTOPAY,
    GIVE_UP_AFTER,
    RETRY,
    STAFF_NOT_CHARGED,
    UNKNOWN_PAST_WINDOW,
    Outcome,
    SyncError,
    autopay_horizon,
    lock_record,
    processor_for,
)
from integrations.services.sync.outcomes import apply_result, attempt_unknown_to_review
from processors import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    ProcessorDeclined,
    ProcessorError,
    ProcessorIdempotencyConflict,
    ProcessorInvalidRequest,
    ProcessorNotFound,
    ProcessorTimeout,
    ProcessorUnavailable,
)

log = logging.getLogger(__name__)

# The customer's charges are listed from this long before the attempt started (the
# processor's clock may differ from ours).
CLOCK_SLACK = datetime.timedelta(minutes=15)
# Staff may resolve an attempt whose outcome is unknown once it is this old: by then a
# worker still sending it has long given up (the processor timeouts are seconds).
RESOLVE_AFTER = datetime.timedelta(minutes=15)
# What staff found at the processor for an unknown attempt.
CHARGED = "charged"
NOT_CHARGED = "not_charged"
RESOLUTIONS = {
    CHARGED: "Charged at the processor",
    NOT_CHARGED: "Not charged — I checked at the processor",
}


def _still_due(record: InvoiceSyncRecord, trigger: str) -> str:
    """Why the job's reason to charge the invoice no longer holds ("" when it does),
    checked under the record's lock: the job read its list of due invoices before the
    lock, and another run may have charged them since. Autopay charges an invoice that
    was never charged, when it falls due within the autopay lead; a retry is made only
    while the record's ``next_attempt_at`` is due (a failure reschedules it)."""
    if trigger == AUTOPAY:
        if record.attempts.exists():
            return "already charged (autopay charges an invoice once; retries follow their schedule)"
        if record.invoice.due_date > autopay_horizon():
            return f"not due until {record.invoice.due_date}"
        return ""
    if trigger == RETRY:
        if record.next_attempt_at is None:
            return "no retry scheduled"
        if record.next_attempt_at > timezone.now():
            return f"next attempt not due until {format_moment(record.next_attempt_at)}"
        return ""
    raise ValueError(f"unknown charge trigger {trigger!r}")


def attempt_start(record_id: int, *, trigger: str = AUTOPAY) -> SyncAttempt | None:
    """Phase 1 of a charge: commit a STARTED attempt with its idempotency key.

    ``trigger`` is the job asking: ``autopay`` (an invoice never charged, due within the
    autopay lead) or ``retry`` (a failed invoice whose ``next_attempt_at`` has come).
    Under the record's lock everything that made the invoice due is checked again, since
    the job's list was read before the lock and another run of a job may have charged
    it meanwhile. Returns None (and says why in the log) when the mode, the limit, the
    balance, the job's own condition or an attempt still open (its outcome in flight or
    unknown, however long) forbids a charge now.
    """
    try:
        with transaction.atomic():
            record = lock_record(record_id)
            invoice = record.invoice
            if not record.sync_enabled or record.gateway_account_id is None or record.paid_in_ledger:
                return None
            if invoice.balance <= 0:
                return None
            if record.attempts.filter(outcome__in=SyncAttempt.OPEN).exists():
                return None
            not_due = _still_due(record, trigger)
            if not_due:
                log.info("invoice %s not charged by %s: %s", invoice.number, trigger, not_due)
                return None
            method = autopay_method(record)
            if method is None:
                return None
            made = record.attempts.count()
            allowed, why = policy.may_charge(
                mode=record.handling_mode,
                trigger=trigger,
                method=method.method,
                attempts_made=attempts_counted(record),
                card_limit=record.gateway_account.card_attempt_limit,
            )
            if not allowed:
                log.info("invoice %s not charged: %s", invoice.number, why)
                return None
            number = made + 1
            attempt = SyncAttempt.objects.create(
                record=record,
                number=number,
                trigger=trigger,
                method=method.method,
                amount=invoice.balance,
                currency=record.currency,
                payment_method_token=method.token,
                idempotency_key=f"inv-{record.pk}-{number}-{uuid.uuid4().hex[:12]}",
                sends=1,
            )
            record.next_attempt_at = None
            if not record.provider_customer_id and method.provider_customer_id:
                record.provider_customer_id = method.provider_customer_id
            record.save(update_fields=["next_attempt_at", "provider_customer_id", "updated_at"])
            return attempt
    except IntegrityError:
        return None  # another worker started an attempt for this invoice first


def _charge_request(record: InvoiceSyncRecord, attempt: SyncAttempt) -> ChargeRequest:
    """The attempt's request, the same on every send: a processor answers a key sent
    again with other parameters with an error, not with its first answer. Its metadata
    (the key, the sync record, the attempt) is what finds the charge in the customer's
    list."""
    return ChargeRequest(
        amount=attempt.amount,
        currency=attempt.currency,
        payment_method_token=attempt.payment_method_token,
        idempotency_key=attempt.idempotency_key,
        customer_ref=record.provider_customer_id,  # the processor's customer, if the contact has one
        description=f"Invoice {record.invoice.number}",
        metadata={
            "invoice": record.invoice.number,
            "sync_record": str(record.pk),
            "attempt": str(attempt.number),
            "idempotency_key": attempt.idempotency_key,
        },
    )


def attempt_send(attempt: SyncAttempt, *, processors: dict | None = None, resend: bool = False) -> SyncAttempt:
    """Phase 2 and 3: call the processor with the stored key, then record the answer.

    ``resend``: the attempt's outcome is unknown and this sends the same request again
    (the reconciler, within the idempotency window). The processor then answers what it
    did with the key, or does it now, once. Errors that say nothing about the first send
    (no connection, 5xx, 429, a request with the key still in flight, credentials, the
    key's parameters differing) leave it unknown; a refusal of the request itself (400,
    404) means the processor kept no answer for the key, so nothing was charged.
    """
    record = InvoiceSyncRecord.objects.select_related("invoice__bill_to", "gateway_account").get(pk=attempt.record_id)
    request = _charge_request(record, attempt)
    if resend:
        SyncAttempt.objects.filter(pk=attempt.pk).update(sends=F("sends") + 1)
    try:
        result = processor_for(record.gateway_account, processors).charge(request)
    except ProcessorDeclined as exc:
        return attempt_record(
            attempt.pk,
            result=exc.result,
            failed=True,
            failure_code=exc.code or "declined",
            failure_message=exc.message,
        )
    except ProcessorTimeout as exc:
        return attempt_mark_unknown(attempt.pk, exc.message)
    except (ProcessorUnavailable, ProcessorIdempotencyConflict) as exc:
        return attempt_mark_unknown(attempt.pk, exc.message, code="processor_unavailable")
    except ProcessorError as exc:
        if resend and not isinstance(exc, ProcessorInvalidRequest | ProcessorNotFound):
            return attempt_mark_unknown(attempt.pk, exc.message, code=exc.code or "error")
        return attempt_record(
            attempt.pk,
            result=None,
            failed=True,
            failure_code=exc.code or "error",
            failure_message=exc.message,
            fatal=True,
        )
    return attempt_record(attempt.pk, result=result)


def charge_invoice(record_id: int, *, trigger: str = AUTOPAY, processors: dict | None = None) -> str:
    """Charge the invoice's saved method once if its mode allows (both phases)."""
    attempt = attempt_start(record_id, trigger=trigger)
    if attempt is None:
        return "skipped"
    attempt = attempt_send(attempt, processors=processors)
    return attempt.outcome


@transaction.atomic
def attempt_mark_unknown(attempt_id: int, message: str, *, code: str = "timeout") -> SyncAttempt:
    """No answer: the charge may exist. The reconciler asks the processor (same key).
    An attempt already unknown keeps its state and takes the latest error."""
    attempt = SyncAttempt.objects.select_related("record").get(pk=attempt_id)
    record = lock_record(attempt.record_id)
    attempt = SyncAttempt.objects.select_for_update().get(pk=attempt_id)
    if attempt.outcome == Outcome.UNKNOWN and attempt.failure_code != UNKNOWN_PAST_WINDOW:
        attempt.failure_code = code[:50]
        attempt.failure_message = message[:300]
        attempt.save(update_fields=["failure_code", "failure_message"])
    if attempt.outcome != Outcome.STARTED:
        return attempt
    attempt.outcome = Outcome.UNKNOWN
    attempt.failure_code = code[:50]
    attempt.failure_message = message[:300]
    attempt.save(update_fields=["outcome", "failure_code", "failure_message"])
    record.has_error = True
    record.error_message = f"Attempt {attempt.number}: no answer from the processor; reconciling."[:500]
    record.save(update_fields=["has_error", "error_message", "updated_at"])
    return attempt


@transaction.atomic
def attempt_record(
    attempt_id: int,
    *,
    result: ChargeResult | None,
    failed: bool = False,
    failure_code: str = "",
    failure_message: str = "",
    fatal: bool = False,
    counts_as_failure: bool = True,
) -> SyncAttempt:
    """Phase 3: write the processor's answer (safe to call again with the same answer).

    A final attempt never changes again, except that a later dispute of a succeeded
    charge still holds the record.
    """
    record_id = SyncAttempt.objects.values_list("record_id", flat=True).get(pk=attempt_id)
    record = lock_record(record_id)
    attempt = SyncAttempt.objects.select_for_update().get(pk=attempt_id)
    apply_result(record, attempt, result, failed, failure_code, failure_message, fatal, counts_as_failure)
    return attempt


def _may_resend(record: InvoiceSyncRecord, attempt: SyncAttempt) -> bool:
    """A resend is done by the processor when it never got the first send, so it is
    made only while the invoice still wants exactly this charge: sync on, not stopped
    (Hold for dispute, Manual review), not paid, its balance at least the attempt's
    amount, and within ``GIVE_UP_AFTER`` of the attempt's start (the key surely kept)."""
    return (
        attempt.outcome in (Outcome.STARTED, Outcome.UNKNOWN)
        and timezone.now() - attempt.started_at < GIVE_UP_AFTER
        and record.sync_enabled
        and not record.is_stopped
        and not record.paid_in_ledger
        and record.invoice.balance >= attempt.amount
    )


def reconcile_attempt(attempt: SyncAttempt, *, processors: dict | None = None) -> str:
    """Settle an attempt whose answer was lost from the processor's own record; never
    by a charge with a new key.

    1. The customer's charges since the attempt started, listed (strongly consistent)
       and matched on the attempt's metadata (its idempotency key): found, its state is
       recorded (a success is posted once).
    2. Not listed: the same request is sent again with the same key while the processor
       surely keeps the key (``GIVE_UP_AFTER``) and the invoice still wants the charge
       (``_may_resend``). The processor answers with what it did the first time, or, if
       it never got it, does it now: one charge either way.
    3. Then the processor's search by key, a last resort (it lags behind writes).
    4. Still unknown past ``GIVE_UP_AFTER``: the attempt stays open (so no new attempt
       is made for the invoice) and the record moves to Manual review once, with a
       message saying what staff should check. Later runs keep looking (a charge that
       shows up is still recorded) but never resend.

    Returns what happened: "found <status>", "resent <outcome>", "not yet", "manual
    review", "waiting for staff" or "error: …".
    """
    record = InvoiceSyncRecord.objects.select_related("invoice__bill_to", "gateway_account").get(pk=attempt.record_id)
    processor = processor_for(record.gateway_account, processors)
    request = _charge_request(record, attempt)
    problems = []
    charge = None
    try:
        charge = processor.find_charge(request, created_since=attempt.started_at - CLOCK_SLACK)
    except ProcessorError as exc:
        problems.append(exc.message)
    if charge is not None:
        attempt_record(attempt.pk, result=charge)
        return f"found {charge.status}"
    if _may_resend(record, attempt):
        sent = attempt_send(attempt, processors=processors, resend=True)
        if sent.outcome not in (Outcome.STARTED, Outcome.UNKNOWN):
            return f"resent {sent.outcome}"
        problems.append(sent.failure_message)
    try:
        charge = processor.find_charge_by_idempotency_key(attempt.idempotency_key)
    except ProcessorError as exc:
        problems.append(exc.message)
    if charge is not None:
        attempt_record(attempt.pk, result=charge)
        return f"found {charge.status}"
    if timezone.now() - attempt.started_at < GIVE_UP_AFTER:
        return f"error: {problems[0]}" if problems else "not yet"
    if attempt.failure_code == UNKNOWN_PAST_WINDOW:
        return "waiting for staff"
    attempt_unknown_to_review(attempt.pk)
    return "manual review"


def _resolvable(record: InvoiceSyncRecord, attempt: SyncAttempt) -> str:
    """Why staff may not resolve ``attempt`` now ("" when they may)."""
    if attempt.outcome not in (Outcome.STARTED, Outcome.UNKNOWN):
        settled = f" (charge {attempt.processor_charge_id})" if attempt.processor_charge_id else ""
        return (
            f"attempt {attempt.number} is no longer unknown: it is {attempt.get_outcome_display().lower()}"
            f"{settled}, so there is nothing to resolve"
        )
    ready = attempt.started_at + RESOLVE_AFTER
    if timezone.now() < ready:
        minutes = int(RESOLVE_AFTER.total_seconds() // 60)
        return (
            f"attempt {attempt.number} started less than {minutes} minutes ago and its answer may still come; "
            f"it can be resolved from {format_moment(ready)}"
        )
    return ""


def _charge_mismatch(record: InvoiceSyncRecord, attempt: SyncAttempt, charge: ChargeResult) -> str:
    """Why ``charge`` (read from the processor) is not the charge of ``attempt`` ("" when
    it is): its amount and currency must be the attempt's; the idempotency key, sync
    record, invoice and customer it carries must be the attempt's where it carries them;
    it must not pay a payment request (the poller records those). A charge without the
    attempt's key (one made at the processor's dashboard) shows that the invoice was paid
    only once it succeeded."""
    if charge.currency.upper() != attempt.currency.upper():
        return f"is in {charge.currency}, the attempt in {attempt.currency}"
    if charge.amount != attempt.amount:
        return f"is for {charge.amount} {charge.currency}, the attempt for {attempt.amount} {attempt.currency}"
    key = charge.metadata.get("idempotency_key") or charge.idempotency_key
    if key and key != attempt.idempotency_key:
        return f"was made by another request (idempotency key {key}, not the attempt's {attempt.idempotency_key})"
    other_record = charge.metadata.get("sync_record", "")
    if other_record and other_record != str(record.pk):
        return f"belongs to another sync record (#{other_record})"
    invoice = charge.metadata.get("invoice", "")
    if invoice and invoice != record.invoice.number:
        return f"is for invoice {invoice}"
    if charge.payment_request_id:
        return f"pays the payment request {charge.payment_request_id}, not this attempt (the poller records it)"
    customer = _charge_request(record, attempt).customer_ref
    if charge.customer_ref and customer and charge.customer_ref != customer:
        return f"is a charge of customer {charge.customer_ref}, not of this invoice's customer {customer}"
    if key != attempt.idempotency_key and charge.status != ChargeStatus.SUCCEEDED:
        return (
            f"is {charge.status} and does not carry the attempt's idempotency key, so it does not show that "
            "the invoice was paid"
        )
    return ""


def _charge_recorded_elsewhere(charge_id: str, attempt: SyncAttempt) -> str:
    """Where ``charge_id`` is already recorded, other than on ``attempt`` ("" when
    nowhere): a charge pays one invoice once."""
    other = (
        SyncAttempt.objects.filter(processor_charge_id=charge_id)
        .exclude(pk=attempt.pk)
        .select_related("record__invoice")
        .first()
    )
    if other is not None:
        return f"is already recorded for attempt {other.number} of invoice {other.record.invoice.number}"
    paid = (
        InvoiceSyncRecord.objects.filter(Q(processor_transaction_id=charge_id) | Q(payment_request_id=charge_id))
        .select_related("invoice")
        .first()
    )
    if paid is not None:
        return f"is already recorded on the sync of invoice {paid.invoice.number}"
    payment = Payment.objects.filter(processor_charge_id=charge_id).first()
    if payment is not None:
        return f"is already posted as payment {payment.pk}"
    return ""


def _charge_found_by_staff(
    record: InvoiceSyncRecord, attempt: SyncAttempt, charge_id: str, *, processors: dict | None
) -> ChargeResult:
    """The charge staff found for ``attempt``, read from the processor (outside any
    transaction) and matched to the attempt (``_charge_mismatch``); ``SyncError`` when
    there is no id, no account to read it with, no such charge, or it is not the
    attempt's."""
    number = record.invoice.number
    if not charge_id:
        raise SyncError(f"Invoice {number}: enter the processor's id of the charge.")
    if record.gateway_account is None:
        raise SyncError(f"Invoice {number}: no processor account to read the charge from.")
    cache = {} if processors is None else processors
    try:
        charge = processor_for(record.gateway_account, cache).get_charge(charge_id)
    except ProcessorNotFound:
        raise SyncError(f"Invoice {number}: the processor has no charge {charge_id}; nothing recorded.") from None
    except ProcessorError as exc:
        raise SyncError(
            f"Invoice {number}: charge {charge_id} could not be read from the processor ({exc.message}); "
            "nothing recorded."
        ) from exc
    finally:
        if processors is None:
            for processor in cache.values():
                processor.close()
    mismatch = _charge_mismatch(record, attempt, charge)
    if mismatch:
        raise SyncError(
            f"Invoice {number}: charge {charge.processor_id} {mismatch}, so it is not attempt "
            f"{attempt.number}'s charge; nothing recorded."
        )
    return charge


def _close_not_charged(record: InvoiceSyncRecord, attempt: SyncAttempt, *, who: str, note: str) -> None:
    """Close ``attempt`` as failed with ``STAFF_NOT_CHARGED`` (neither counted against the
    attempt limit nor as a failure for the backoff), and say on the record what follows.
    The caller holds the record's and the attempt's row locks."""
    apply_result(
        record,
        attempt,
        None,
        failed=True,
        failure_code=STAFF_NOT_CHARGED,
        failure_message=f"Not charged at the processor (checked by {who}): {note}",
        counts_as_failure=False,
    )
    closed = f"Attempt {attempt.number} was closed by {who}: not charged at the processor."
    if record.paid_in_ledger:
        record.has_error = False
        record.error_message = f"{closed} The invoice is paid (payment {record.payment_id})."
        record.save(update_fields=["has_error", "error_message", "updated_at"])
    elif record.is_stopped:
        record.error_message = (
            f"{closed} The invoice is charged again once its handling mode leaves {record.get_handling_mode_display()}."
        )[:500]
        record.save(update_fields=["error_message", "updated_at"])


def attempt_resolve_unknown(
    *,
    record_id: int,
    attempt_id: int,
    resolution: str,
    charge_id: str = "",
    note: str = "",
    user=None,
    processors: dict | None = None,
) -> SyncAttempt:
    """Staff settle an attempt whose outcome is unknown (STARTED or UNKNOWN, at least
    ``RESOLVE_AFTER`` old), after looking at the processor's dashboard: the way out of
    Manual review for an attempt unknown past the idempotency window, and open to any
    unknown attempt before then.

    - ``CHARGED`` with the processor's ``charge_id``: the charge is read from the
      processor (outside any transaction) and must be the attempt's (``_charge_mismatch``:
      amount, currency, and the key, sync record, invoice and customer it carries) and
      recorded nowhere else (``_charge_recorded_elsewhere``; the unique charge id of
      attempts guarantees it). It is then recorded as the reconciler records a charge it
      finds (``apply_result``): a success posts the payment once.
    - ``NOT_CHARGED`` with a note (required: what was checked): the attempt is closed as
      failed with ``STAFF_NOT_CHARGED``, which counts neither against the mode's attempt
      limit nor as a failure for the backoff. A record in Manual review stays there (modes
      are never switched for staff); once staff change its mode, its next attempt is due at
      once (``sync_record_update``). A record not stopped is due at once.

    Both write under the record's row lock, after checking again that the attempt is
    still unknown: resolved by someone else meanwhile, or found by the reconciler, it is
    refused (``SyncError``) and nothing is written. A change row keeps who resolved it,
    how and why. Raises ``SyncError`` with the invoice named for every refusal.
    """
    attempt = (
        SyncAttempt.objects.select_related("record__invoice__bill_to", "record__gateway_account")
        .filter(pk=attempt_id, record_id=record_id)
        .first()
    )
    if attempt is None:
        raise SyncError(f"Sync record {record_id}: it has no charge attempt {attempt_id}.")
    record = attempt.record
    number = record.invoice.number
    charge_id, note = charge_id.strip(), note.strip()
    why_not = _resolvable(record, attempt)
    if why_not:
        raise SyncError(f"Invoice {number}: {why_not}.")
    charge = None
    if resolution == CHARGED:
        charge = _charge_found_by_staff(record, attempt, charge_id, processors=processors)
    elif resolution == NOT_CHARGED:
        if not note:
            raise SyncError(f"Invoice {number}: say what was checked at the processor (a note is required).")
    else:
        raise SyncError(f"Invoice {number}: unknown resolution {resolution!r}.")
    who = user.get_username() if user is not None and getattr(user, "is_authenticated", False) else "staff"
    try:
        with transaction.atomic():
            record = lock_record(record.pk)
            attempt = SyncAttempt.objects.select_for_update().get(pk=attempt_id)
            why_not = _resolvable(record, attempt)
            if why_not:
                raise SyncError(f"Invoice {number}: {why_not}.")
            before = attempt.outcome
            if charge is not None:
                elsewhere = _charge_recorded_elsewhere(charge.processor_id, attempt)
                if elsewhere:
                    raise SyncError(f"Invoice {number}: charge {charge.processor_id} {elsewhere}; nothing recorded.")
                apply_result(record, attempt, charge)
                note = note or f"{RESOLUTIONS[CHARGED]}: charge {charge.processor_id}"
            else:
                _close_not_charged(record, attempt, who=who, note=note)
            SyncRecordChange.objects.create(
                record=record,
                user=user if user is not None and getattr(user, "is_authenticated", False) else None,
                field=f"attempt {attempt.number}"[:30],
                old_value=before,
                new_value=attempt.outcome,
                note=note[:200],
            )
    except IntegrityError as exc:
        taken = charge is not None and (
            SyncAttempt.objects.filter(processor_charge_id=charge.processor_id).exclude(pk=attempt_id).exists()
        )
        if not taken:
            raise
        # Another attempt was given the charge meanwhile (its unique index said so).
        raise SyncError(
            f"Invoice {number}: charge {charge.processor_id} is already recorded for another attempt; nothing recorded."
        ) from exc
    return attempt
