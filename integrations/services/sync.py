"""Invoice sync: sync records, payment requests, charge attempts and their outcomes.

Invariants kept here (and by the constraints in ``integrations.models``):

- One sync record per invoice (a OneToOne), created in the invoice's transaction by the
  ``invoices_created`` receiver; credit invoices and zero totals get none.
- Every processor call is two-phase: the idempotency key is committed first (the
  record's ``request_key``, an attempt row STARTED), then the processor is called
  outside any transaction, then the answer is written under the record's row lock.
  A retry of the same request reuses the same key; a lost answer (timeout) leaves the
  attempt UNKNOWN for the reconciler (``reconcile_attempt``), which settles it from the
  processor's own record: the customer's charges listed since the attempt, the same
  request sent again with the same key while the processor keeps it, search last.
- An attempt whose outcome is unknown stays open however long it stays unknown: no
  attempt with a new key is made for the invoice meanwhile. Past the processor's
  idempotency window it moves the record to Manual review; it never leads to a charge
  by itself. Only staff close it without the processor's answer
  (``attempt_resolve_unknown``): with the charge they found at the processor (read back
  and matched to the attempt, then recorded as a found charge is), or as not charged
  after checking there, which lets the invoice be charged again once they release it.
- At most one attempt in flight per invoice and at most one succeeded attempt (partial
  unique indexes), so two workers never charge one invoice at once; and under the
  record's lock ``attempt_start`` checks again everything that made the invoice due (the
  lists of due invoices are read before the lock), so two runs of a job at once make one
  attempt, not two.
- A success posts the payment once: under the record's lock, only while
  ``paid_in_ledger`` is false, through ``finance.services.payments.payment_receive`` in
  an open batch of the processor account; the record keeps the payment (OneToOne).
- A payment request the customer paid is seen by the poller (``payment_requests_to_poll``:
  offered, unpaid invoices, least recently asked first, a bounded number per run) or by
  a webhook for its charge; both go through ``apply_processor_state`` and
  ``_record_success``, so it is posted once, with the method of the charge's type, and a
  second charge for an invoice already paid is flagged, never posted.
- A dispute moves the record to Hold for dispute (a state, not a task delay).

Rows are always locked record first, then attempt.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from finance.models import Batch, FinancialEntity, Invoice, InvoiceLine, Payment
from integrations.models import (
    InvoiceSyncRecord,
    ProcessorStatus,
    SavedPaymentMethod,
    SyncAttempt,
    SyncRecordChange,
)
from integrations.processors import (
    IDEMPOTENCY_WINDOW,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    PaymentMethodType,
    PaymentRequestSpec,
    ProcessorDeclined,
    ProcessorError,
    ProcessorIdempotencyConflict,
    ProcessorInvalidRequest,
    ProcessorNotFound,
    ProcessorTimeout,
    ProcessorUnavailable,
    get_processor,
)
from integrations.services import policy
from paycentral.models import GatewayAccount, PaymentMethod
from paycentral.models import PaymentHandlingMode as Mode

log = logging.getLogger(__name__)

Outcome = SyncAttempt.Outcome
# A STARTED attempt older than this had its worker stop before the answer was written.
STALE_AFTER = datetime.timedelta(minutes=2)
# An attempt whose outcome is unknown is sent again with its key only this long after it
# started: the processor's idempotency window less a margin for the two clocks. Past it,
# a resend could be taken for a new charge, so the record goes to Manual review.
GIVE_UP_AFTER = IDEMPOTENCY_WINDOW - datetime.timedelta(hours=1)
# The customer's charges are listed from this long before the attempt started (the
# processor's clock may differ from ours).
CLOCK_SLACK = datetime.timedelta(minutes=15)
# The failure code of an unknown attempt that moved its record to Manual review.
UNKNOWN_PAST_WINDOW = "unknown_past_window"
DISPUTE_NOTE = "Dispute opened at the processor"
UNKNOWN_NOTE = "Charge outcome still unknown after the processor's idempotency window"
AUTOPAY = "autopay"
RETRY = "retry"
# Record ids per payment-request task sent after an invoice transaction commits.
REQUEST_CHUNK = 200
# Payment requests asked about per poll run (INVOICE_SYNC_REQUEST_POLL_LIMIT overrides it);
# each costs one or two processor requests.
REQUEST_POLL_LIMIT = 200
# The failure code of attempts recorded as never received by the processor (earlier
# versions wrote off unknown attempts so); they do not count against the attempt limit.
NOT_AT_PROCESSOR = "not_at_processor"
# The failure code of an unknown attempt that staff closed after checking at the
# processor that it made no charge (``attempt_resolve_unknown``). Nothing was charged or
# declined, so like NOT_AT_PROCESSOR it counts neither against the attempt limit nor as
# a failure for the backoff.
STAFF_NOT_CHARGED = "staff_confirmed_not_charged"
NOT_COUNTED = (NOT_AT_PROCESSOR, STAFF_NOT_CHARGED)
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


class SyncError(Exception):
    """A sync rule refused the request (the message names the invoice and the reason)."""


# --- records ---------------------------------------------------------------------


def _sync_accounts(entity_ids: Iterable[int]) -> dict[int, GatewayAccount]:
    return {
        acc.entity_id: acc
        for acc in GatewayAccount.objects.filter(entity_id__in=set(entity_ids), invoice_sync=True, is_active=True)
    }


def sync_records_create(invoices: list[Invoice]) -> list[InvoiceSyncRecord]:
    """Create the sync records of new invoices (bulk, in the caller's transaction).

    Skips credit invoices, zero totals and invoices that already have one. The record
    takes the entity's invoice sync account (None when the entity has none) and that
    account's default handling mode. When any record has an account, the payment
    requests are queued after commit.
    """
    eligible = [inv for inv in invoices if inv.type != Invoice.Type.CREDIT and inv.total > 0]
    if not eligible:
        return []
    accounts = _sync_accounts(inv.entity_id for inv in eligible)
    entities = FinancialEntity.objects.in_bulk({inv.entity_id for inv in eligible})
    customers = dict(
        SavedPaymentMethod.objects.filter(
            contact_id__in={inv.bill_to_id for inv in eligible}, is_active=True, autopay=True
        )
        .exclude(provider_customer_id="")
        .values_list("contact_id", "provider_customer_id")
    )
    records = []
    for inv in eligible:
        account = accounts.get(inv.entity_id)
        records.append(
            InvoiceSyncRecord(
                invoice=inv,
                entity_id=inv.entity_id,
                gateway_account=account,
                currency=inv.currency,
                base_currency=entities[inv.entity_id].currency,
                handling_mode=account.default_handling_mode if account else Mode.DEFAULT,
                provider_customer_id=customers.get(inv.bill_to_id, ""),
            )
        )
    created = InvoiceSyncRecord.objects.bulk_create(records, batch_size=2000)
    ids = [r.pk for r in created if r.gateway_account_id]
    if ids:
        _queue_requests_on_commit(ids)
    return created


class _RequestBatch:
    """The record ids of one transaction, sent as tasks of REQUEST_CHUNK ids on commit."""

    is_invoice_sync_batch = True

    def __init__(self):
        self.ids: list[int] = []

    def __call__(self):
        from integrations import tasks

        for start in range(0, len(self.ids), REQUEST_CHUNK):
            tasks.create_payment_requests.delay(self.ids[start : start + REQUEST_CHUNK])


def _queue_requests_on_commit(ids: list[int]) -> None:
    """One on-commit callback per transaction gathers the ids of every invoice it made
    (a batch of 500 invoices sends 3 tasks, not 500). A callback dropped with a rolled
    back savepoint is replaced by the next caller; ids of rolled-back records that stay
    in a batch are skipped by the task (no such record)."""
    connection = transaction.get_connection()
    batch = None
    if connection.in_atomic_block:
        batch = next(
            (cb for _sids, cb, _robust in connection.run_on_commit if getattr(cb, "is_invoice_sync_batch", False)),
            None,
        )
    if batch is None:
        batch = _RequestBatch()
        batch.ids.extend(ids)
        transaction.on_commit(batch)
    else:
        batch.ids.extend(ids)


def sync_records_repair(*, chunk: int = 2000) -> int:
    """Create the missing sync records (invoices made before the app, or by raw SQL)."""
    made = 0
    while True:
        with transaction.atomic():
            missing = list(
                Invoice.objects.filter(~Q(type=Invoice.Type.CREDIT), total__gt=0, sync_record__isnull=True)
                .order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))[:chunk]
            )
            if not missing:
                return made
            sync_records_create(missing)
            made += len(missing)


def lock_record(record_id: int) -> InvoiceSyncRecord:
    return InvoiceSyncRecord.objects.select_for_update(of=("self",)).select_related("invoice").get(pk=record_id)


@transaction.atomic
def sync_record_update(
    *, record: InvoiceSyncRecord, sync_enabled: bool, handling_mode: str, user=None, note: str = ""
) -> InvoiceSyncRecord:
    """Staff edit of the two editable fields, with a change row per changed field.

    Leaving Hold for dispute / Manual review (or turning sync back on) makes a failed
    invoice due for its next attempt at once, if its new mode allows one.
    """
    if handling_mode not in Mode.values:
        raise SyncError(f"Invoice {record.invoice.number}: unknown payment handling mode {handling_mode!r}.")
    record = lock_record(record.pk)
    changes = []
    if record.sync_enabled != sync_enabled:
        changes.append(("sync_enabled", str(record.sync_enabled), str(sync_enabled)))
    if record.handling_mode != handling_mode:
        changes.append(("handling_mode", record.handling_mode, handling_mode))
    if not changes:
        return record
    was_stopped = record.is_stopped or not record.sync_enabled
    record.sync_enabled = sync_enabled
    record.handling_mode = handling_mode
    fields = ["sync_enabled", "handling_mode", "updated_at"]
    if was_stopped and not record.is_stopped and sync_enabled and not record.paid_in_ledger:
        last = record.attempts.order_by("-number").first()
        if last is not None and last.outcome == Outcome.FAILED:
            record.next_attempt_at = timezone.now()
            fields.append("next_attempt_at")
    record.save(update_fields=fields)
    SyncRecordChange.objects.bulk_create(
        SyncRecordChange(record=record, user=user, field=f, old_value=old, new_value=new, note=note[:200])
        for f, old, new in changes
    )
    return record


# --- payment requests ----------------------------------------------------------------


def records_needing_request():
    """Enabled records of unpaid invoices not yet offered at the processor."""
    return InvoiceSyncRecord.objects.filter(
        sync_enabled=True,
        synced_to_processor=False,
        gateway_account__isnull=False,
        paid_in_ledger=False,
        invoice__balance__gt=0,
    ).exclude(handling_mode__in=policy.STOPPED)


@transaction.atomic
def sync_account_enable(account: GatewayAccount) -> int:
    """Make ``account`` its entity's invoice sync account. The entity's records that
    have no account yet take it (their payment requests follow on the next run)."""
    account = GatewayAccount.objects.select_for_update().get(pk=account.pk)
    if not account.invoice_sync:
        account.invoice_sync = True
        account.save(update_fields=["invoice_sync"])
    return InvoiceSyncRecord.objects.filter(entity_id=account.entity_id, gateway_account__isnull=True).update(
        gateway_account=account, updated_at=timezone.now()
    )


def payment_request_send(record_id: int, *, processors: dict | None = None) -> str:
    """Offer one invoice at the processor (see ``payment_requests_send``)."""
    return payment_requests_send([record_id], processors=processors).get(record_id, "skipped")


def payment_requests_send(record_ids: list[int], *, processors: dict | None = None) -> dict[int, str]:
    """Offer invoices at the processor once each; returns what happened per record.

    Phase 1 commits each record's request key in one transaction (a conditional update
    per row: a key, once set, is never replaced, so concurrent runs agree on it).
    Phase 2 calls the processor with that key, outside any transaction. Phase 3 records
    the request with a conditional update (only while not yet synced). A second run,
    or a retry after a lost answer, sends the same key and the processor answers with
    the same request.
    """
    outcome: dict[int, str] = {}
    with transaction.atomic():
        for pk in records_needing_request().filter(pk__in=record_ids, request_key="").values_list("pk", flat=True):
            InvoiceSyncRecord.objects.filter(pk=pk, request_key="").update(
                request_key=f"pr-{pk}-{uuid.uuid4().hex[:16]}", updated_at=timezone.now()
            )
    records = (
        records_needing_request()
        .filter(pk__in=record_ids)
        .exclude(request_key="")
        .select_related("invoice__bill_to", "gateway_account")
        .order_by("pk")
    )
    for record in records:
        invoice = record.invoice
        spec = PaymentRequestSpec(
            amount=invoice.balance,
            currency=record.currency,
            idempotency_key=record.request_key,
            customer_ref=record.provider_customer_id or invoice.bill_to.party_id,
            description=f"Invoice {invoice.number}",
            metadata={"invoice": invoice.number, "sync_record": str(record.pk)},
        )
        pending = InvoiceSyncRecord.objects.filter(pk=record.pk, synced_to_processor=False)
        try:
            result = _processor(record.gateway_account, processors).create_payment_request(spec)
        except ProcessorError as exc:
            pending.update(
                has_error=True, error_message=f"Payment request: {exc.message}"[:500], updated_at=timezone.now()
            )
            outcome[record.pk] = "error"
            continue
        status = Case(
            When(processor_status=ProcessorStatus.NOT_SYNCED, then=Value(ProcessorStatus.REQUIRES_PAYMENT_METHOD)),
            default=F("processor_status"),
        )
        updated = pending.update(
            synced_to_processor=True,
            payment_request_id=result.processor_id[:100],
            processor_status=status,
            has_error=False,
            error_message="",
            updated_at=timezone.now(),
        )
        outcome[record.pk] = "sent" if updated else "already"
    return outcome


def _processor(account: GatewayAccount, cache: dict | None):
    if cache is None:
        return get_processor(account)
    if account.pk not in cache:
        cache[account.pk] = get_processor(account)
    return cache[account.pk]


# --- charge attempts ------------------------------------------------------------------


def _saved_method(record: InvoiceSyncRecord) -> SavedPaymentMethod | None:
    return (
        SavedPaymentMethod.objects.filter(
            contact_id=record.invoice.bill_to_id,
            gateway_account_id=record.gateway_account_id,
            is_active=True,
            autopay=True,
        )
        .order_by("-pk")
        .first()
    )


def _attempts_counted(record: InvoiceSyncRecord) -> int:
    """Attempts that count against the mode's limit: not those the processor never got,
    nor those staff found made no charge."""
    return record.attempts.exclude(failure_code__in=NOT_COUNTED).count()


def _autopay_horizon() -> datetime.date:
    """Autopay charges invoices due on or before this day (``INVOICE_SYNC_AUTOPAY_LEAD_DAYS``,
    30, from today)."""
    lead = datetime.timedelta(days=getattr(settings, "INVOICE_SYNC_AUTOPAY_LEAD_DAYS", 30))
    return timezone.localdate() + lead


def _still_due(record: InvoiceSyncRecord, trigger: str) -> str:
    """Why the job's reason to charge the invoice no longer holds ("" when it does),
    checked under the record's lock: the job read its list of due invoices before the
    lock, and another run may have charged them since. Autopay charges an invoice that
    was never charged, when it falls due within the autopay lead; a retry is made only
    while the record's ``next_attempt_at`` is due (a failure reschedules it)."""
    if trigger == AUTOPAY:
        if record.attempts.exists():
            return "already charged (autopay charges an invoice once; retries follow their schedule)"
        if record.invoice.due_date > _autopay_horizon():
            return f"not due until {record.invoice.due_date}"
        return ""
    if trigger == RETRY:
        if record.next_attempt_at is None:
            return "no retry scheduled"
        if record.next_attempt_at > timezone.now():
            return f"next attempt not due until {record.next_attempt_at:%Y-%m-%d %H:%M}"
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
            method = _saved_method(record)
            if method is None:
                return None
            made = record.attempts.count()
            allowed, why = policy.may_charge(
                mode=record.handling_mode,
                trigger=trigger,
                method=method.method,
                attempts_made=_attempts_counted(record),
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
        customer_ref=record.provider_customer_id or record.invoice.bill_to.party_id,
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
        result = _processor(record.gateway_account, processors).charge(request)
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
    _apply_result(record, attempt, result, failed, failure_code, failure_message, fatal, counts_as_failure)
    return attempt


def _apply_result(
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
        _record_success(record, charge_id=attempt.processor_charge_id, amount=result.amount, method=attempt.method)
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
                attempts_made=_attempts_counted(record),
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
        _record_success(record, charge_id=result.processor_id, amount=result.amount, method=attempt.method)
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


def _record_success(record: InvoiceSyncRecord, *, charge_id: str, amount: Decimal, method: str) -> None:
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
    from finance.services.batches import batch_create

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
    from finance.services.payments import ApplicationSpec, payment_receive

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


# --- events from the processor (webhook, poller, reconciler) ------------------------


def _find_attempt(charge_id: str, idempotency_key: str) -> SyncAttempt | None:
    q = Q()
    if charge_id:
        q |= Q(processor_charge_id=charge_id)
    if idempotency_key:
        q |= Q(idempotency_key=idempotency_key)
    return SyncAttempt.objects.filter(q).first() if q else None


def _record_for_charge(charge_id: str, charge: ChargeResult | None) -> int | None:
    """The record of a charge made outside an attempt: the one whose payment request it
    pays (the request the charge names, or at Stripe the intent itself), or whose
    payment it already is."""
    q = Q()
    if charge_id:
        q |= Q(payment_request_id=charge_id) | Q(processor_transaction_id=charge_id)
    if charge is not None and charge.payment_request_id:
        q |= Q(payment_request_id=charge.payment_request_id)
    return InvoiceSyncRecord.objects.filter(q).order_by("pk").values_list("pk", flat=True).first() if q else None


def _charge_method(charge: ChargeResult) -> str:
    """Card or ACH, from the charge's payment method type (card when it does not say),
    as ``processor_payment_method`` picks the ledger's method."""
    return policy.ACH if charge.payment_method_type == PaymentMethodType.ACH else policy.CARD


def apply_processor_state(*, charge_id: str, charge: ChargeResult | None, disputed: bool) -> str:
    """Apply what the processor says about a charge (or a paid payment request).

    Called inside the caller's transaction (webhook) or on its own. Matches the attempt
    by charge id or by the idempotency key in the charge's metadata; a charge of a
    payment request (the customer paid it) matches the record by its request id. Such a
    charge that succeeded is posted once (``_record_success``) with the method of its
    type; one that failed leaves the request open again.
    """
    with transaction.atomic():
        key = charge.idempotency_key if charge else ""
        attempt = _find_attempt(charge_id, key)
        if attempt is not None:
            record = lock_record(attempt.record_id)
            attempt = SyncAttempt.objects.select_for_update().get(pk=attempt.pk)
            _apply_result(record, attempt, charge)
            if disputed:
                _hold_for_dispute(record)
            return f"attempt {attempt.pk}: {attempt.outcome}"
        record_id = _record_for_charge(charge_id, charge)
        if record_id is None:
            return "no matching invoice"
        record = lock_record(record_id)
        if disputed or (charge is not None and charge.disputed):
            _hold_for_dispute(record)
        if charge is not None and charge.status == ChargeStatus.SUCCEEDED:
            _record_success(record, charge_id=charge.processor_id, amount=charge.amount, method=_charge_method(charge))
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


def attempts_to_poll(limit: int = 500):
    """Open attempts with a charge id, and recent successes (a dispute can follow)."""
    recent = timezone.now() - datetime.timedelta(days=7)
    return (
        SyncAttempt.objects.filter(
            Q(outcome__in=[Outcome.PROCESSING, Outcome.REQUIRES_ACTION])
            | Q(outcome=Outcome.SUCCEEDED, finished_at__gte=recent, record__processor_status=ProcessorStatus.SUCCEEDED)
        )
        .exclude(processor_charge_id="")
        .select_related("record__gateway_account")
        .order_by("pk")[:limit]
    )


def poll_attempt(attempt: SyncAttempt, *, processors: dict | None = None) -> str:
    try:
        charge = _processor(attempt.record.gateway_account, processors).get_charge(attempt.processor_charge_id)
    except ProcessorError as exc:
        return f"error: {exc.message}"
    apply_processor_state(charge_id=charge.processor_id, charge=charge, disputed=charge.disputed)
    return charge.status


def payment_requests_to_poll(limit: int = REQUEST_POLL_LIMIT):
    """Invoices offered at the processor that the customer may have paid: synced (a
    payment request id), sync enabled, not paid in the ledger, not stopped by their
    handling mode. The least recently asked first (never asked before all), at most
    ``limit``, so every open request is asked in turn however many there are."""
    return (
        InvoiceSyncRecord.objects.filter(
            synced_to_processor=True, sync_enabled=True, paid_in_ledger=False, gateway_account__isnull=False
        )
        .exclude(payment_request_id="")
        .exclude(handling_mode__in=policy.STOPPED)
        .select_related("gateway_account")
        .order_by("request_checked_at", "pk")[:limit]
    )


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
        processor = _processor(record.gateway_account, processors)
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


def attempts_to_reconcile(limit: int = 500):
    """Attempts whose answer was lost: UNKNOWN ones, and STARTED ones whose worker
    stopped (older than ``STALE_AFTER``). Those already handed to staff (past the
    idempotency window, in Manual review) come after the others, so that they never
    crowd out an attempt that can still be settled by a resend."""
    stale = timezone.now() - STALE_AFTER
    handed_over = Case(When(failure_code=UNKNOWN_PAST_WINDOW, then=Value(1)), default=Value(0))
    return (
        SyncAttempt.objects.filter(Q(outcome=Outcome.UNKNOWN) | Q(outcome=Outcome.STARTED, started_at__lt=stale))
        .select_related("record__gateway_account")
        .order_by(handed_over, "pk")[:limit]
    )


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
    processor = _processor(record.gateway_account, processors)
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
            f"it can be resolved from {timezone.localtime(ready):%Y-%m-%d %H:%M}"
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
      finds (``_apply_result``): a success posts the payment once.
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
        if not charge_id:
            raise SyncError(f"Invoice {number}: enter the processor's id of the charge.")
        if record.gateway_account is None:
            raise SyncError(f"Invoice {number}: no processor account to read the charge from.")
        cache = {} if processors is None else processors
        try:
            charge = _processor(record.gateway_account, cache).get_charge(charge_id)
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
                _apply_result(record, attempt, charge)
                note = note or f"{RESOLUTIONS[CHARGED]}: charge {charge.processor_id}"
            else:
                _apply_result(
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
                        f"{closed} The invoice is charged again once its handling mode leaves "
                        f"{record.get_handling_mode_display()}."
                    )[:500]
                    record.save(update_fields=["error_message", "updated_at"])
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


def records_due_for_retry(limit: int = 500):
    """Records whose next attempt is due. Read before any lock: ``attempt_start`` checks
    it all again under the record's lock."""
    open_attempt = SyncAttempt.objects.filter(record=OuterRef("pk"), outcome__in=SyncAttempt.OPEN)
    return (
        InvoiceSyncRecord.objects.filter(
            next_attempt_at__lte=timezone.now(), sync_enabled=True, paid_in_ledger=False, gateway_account__isnull=False
        )
        .exclude(handling_mode__in=policy.STOPPED)
        .exclude(Exists(open_attempt))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def records_for_autopay(limit: int = 5000):
    """Unpaid, enabled invoices of contacts with an autopay method, never charged, due
    within ``INVOICE_SYNC_AUTOPAY_LEAD_DAYS`` (30) days. Read before any lock:
    ``attempt_start`` checks it all again under the record's lock."""
    saved = SavedPaymentMethod.objects.filter(
        contact_id=OuterRef("invoice__bill_to_id"),
        gateway_account_id=OuterRef("gateway_account_id"),
        autopay=True,
        is_active=True,
    )
    return (
        InvoiceSyncRecord.objects.filter(
            sync_enabled=True,
            paid_in_ledger=False,
            gateway_account__isnull=False,
            invoice__balance__gt=0,
            invoice__due_date__lte=_autopay_horizon(),
            attempts__isnull=True,
        )
        .exclude(handling_mode__in=[*policy.STOPPED, Mode.SKIP_AUTOPAY])
        .filter(Exists(saved))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- jobs ------------------------------------------------------------------------------


def run_jobs(kind: str, record_ids: list[int] | None = None, *, limit: int = 1000) -> dict:
    """One run of a sync job, recorded as a ``SyncRun`` with its counts.

    ``requests``: payment requests for new invoices (``record_ids`` or every record
    needing one), then the charge attempts whose retry is due. ``autopay``: charges the
    saved method of every invoice due that its mode allows. ``poll``: asks the
    processor about charges in progress and recent successes (disputes), then about the
    payment requests of unpaid invoices (at most ``INVOICE_SYNC_REQUEST_POLL_LIMIT``,
    default ``REQUEST_POLL_LIMIT``, per run). ``reconcile``:
    resolves attempts whose answer was lost. Every job is safe to run twice at once.
    """
    from collections import Counter

    from integrations.models import SyncRun

    run = SyncRun.objects.create(kind=kind)
    counts: Counter = Counter()
    processors: dict = {}
    try:
        if kind == "requests":
            ids = record_ids
            if ids is None:
                ids = list(records_needing_request().order_by("pk").values_list("pk", flat=True)[:limit])
            for result in payment_requests_send(ids, processors=processors).values():
                counts["request_" + result] += 1
            for pk in records_due_for_retry(limit):
                counts["retry_" + charge_invoice(pk, trigger=RETRY, processors=processors)] += 1
        elif kind == "autopay":
            for pk in records_for_autopay(limit * 5):
                counts["autopay_" + charge_invoice(pk, trigger=AUTOPAY, processors=processors)] += 1
        elif kind == "poll":
            for attempt in attempts_to_poll(limit):
                counts["poll_" + poll_attempt(attempt, processors=processors).split(":")[0]] += 1
            request_limit = min(limit, getattr(settings, "INVOICE_SYNC_REQUEST_POLL_LIMIT", REQUEST_POLL_LIMIT))
            for record in payment_requests_to_poll(request_limit):
                result = poll_payment_request(record, processors=processors)
                counts["poll_request_" + result.split(":")[0]] += 1
        elif kind == "reconcile":
            for attempt in attempts_to_reconcile(limit):
                counts["reconcile_" + reconcile_attempt(attempt, processors=processors).split(":")[0]] += 1
        else:
            raise ValueError(f"unknown sync job {kind!r}")
    finally:
        for processor in processors.values():
            processor.close()
        SyncRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), counts=dict(counts))
    return dict(counts)
