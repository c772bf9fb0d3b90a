"""Read queries of invoice sync (the services write)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db.models import Case, Count, Exists, OuterRef, Q, Value, When
from django.utils import timezone

from finance.models import GatewayAccount
from finance.models import PaymentHandlingMode as Mode
from integrations.models import (
    InvoiceSyncRecord,
    ProcessorStatus,
    SavedPaymentMethod,
    SyncAttempt,
    SyncRecordChange,
    SyncRun,
)
from integrations.services import policy
from integrations.services.sync.base import (
    NOT_COUNTED,
    REQUEST_POLL_LIMIT,
    STALE_AFTER,
    UNKNOWN_PAST_WINDOW,
    Outcome,
    autopay_horizon,
)
from processors import ChargeResult


def sync_health() -> dict:
    """A small summary for the dashboard tile.

    ``by_status``: records per processor status; ``in_error``: records flagged with a
    processor error; ``on_hold``: Hold for dispute; ``manual_review``: Manual review
    required; ``unknown_attempts``: charges whose answer is still being reconciled;
    ``last_poll`` / ``last_autopay`` / ``last_requests`` / ``last_reconcile``: when each
    job last finished (None when never).
    """
    totals = InvoiceSyncRecord.objects.aggregate(
        total=Count("pk"),
        in_error=Count("pk", filter=Q(has_error=True)),
        on_hold=Count("pk", filter=Q(handling_mode=Mode.HOLD_FOR_DISPUTE)),
        manual_review=Count("pk", filter=Q(handling_mode=Mode.MANUAL_REVIEW)),
        paid_in_ledger=Count("pk", filter=Q(paid_in_ledger=True)),
    )
    by_status = dict(InvoiceSyncRecord.objects.order_by().values_list("processor_status").annotate(n=Count("pk")))
    last = {}
    for kind in ("poll", "autopay", "requests", "reconcile"):
        run = SyncRun.objects.filter(kind=kind, finished_at__isnull=False).order_by("-finished_at").first()
        last[f"last_{kind}"] = run.finished_at if run else None
    return {
        **totals,
        "by_status": by_status,
        "unknown_attempts": SyncAttempt.objects.filter(outcome=SyncAttempt.Outcome.UNKNOWN).count(),
        **last,
    }


def sync_record_list():
    return InvoiceSyncRecord.objects.select_related("invoice", "invoice__bill_to", "entity", "gateway_account")


def sync_record_for_invoice(invoice_id: int) -> InvoiceSyncRecord | None:
    return sync_record_list().filter(invoice_id=invoice_id).first()


def record_attempts(record: InvoiceSyncRecord):
    return record.attempts.order_by("number")


def record_changes(record: InvoiceSyncRecord):
    return SyncRecordChange.objects.filter(record=record).select_related("user").order_by("-changed_at", "-pk")


def open_unknown_attempt(record: InvoiceSyncRecord) -> SyncAttempt | None:
    """The record's attempt whose outcome is unknown (started, no answer written), if any
    (at most one attempt of a record is open)."""
    return (
        record.attempts.filter(outcome__in=[SyncAttempt.Outcome.STARTED, SyncAttempt.Outcome.UNKNOWN])
        .order_by("-number")
        .first()
    )


# --- what the sync services read -----------------------------------------------------


def invoice_sync_accounts(entity_ids: Iterable[int]) -> dict[int, GatewayAccount]:
    return {
        acc.entity_id: acc
        for acc in GatewayAccount.objects.filter(entity_id__in=set(entity_ids), invoice_sync=True, is_active=True)
    }


def records_needing_request():
    """Enabled records of unpaid invoices not yet offered at the processor."""
    return InvoiceSyncRecord.objects.filter(
        sync_enabled=True,
        synced_to_processor=False,
        gateway_account__isnull=False,
        paid_in_ledger=False,
        invoice__balance__gt=0,
    ).exclude(handling_mode__in=policy.STOPPED)


def autopay_method(record: InvoiceSyncRecord) -> SavedPaymentMethod | None:
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


def attempts_counted(record: InvoiceSyncRecord) -> int:
    """Attempts that count against the mode's limit: not those the processor never got,
    nor those staff found made no charge."""
    return record.attempts.exclude(failure_code__in=NOT_COUNTED).count()


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
            invoice__due_date__lte=autopay_horizon(),
            attempts__isnull=True,
        )
        .exclude(handling_mode__in=[*policy.STOPPED, Mode.SKIP_AUTOPAY])
        .filter(Exists(saved))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def attempt_for_charge(charge_id: str, idempotency_key: str) -> SyncAttempt | None:
    q = Q()
    if charge_id:
        q |= Q(processor_charge_id=charge_id)
    if idempotency_key:
        q |= Q(idempotency_key=idempotency_key)
    return SyncAttempt.objects.filter(q).first() if q else None


def record_id_for_charge(charge_id: str, charge: ChargeResult | None) -> int | None:
    """The record of a charge made outside an attempt: the one whose payment request it
    pays (the request the charge names, or at Stripe the intent itself), or whose
    payment it already is."""
    q = Q()
    if charge_id:
        q |= Q(payment_request_id=charge_id) | Q(processor_transaction_id=charge_id)
    if charge is not None and charge.payment_request_id:
        q |= Q(payment_request_id=charge.payment_request_id)
    return InvoiceSyncRecord.objects.filter(q).order_by("pk").values_list("pk", flat=True).first() if q else None


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
