"""Read queries of invoice sync (the services write)."""

from django.db.models import Count, Q

from integrations.models import InvoiceSyncRecord, SyncAttempt, SyncRecordChange, SyncRun
from paycentral.models import PaymentHandlingMode as Mode


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
