"""One run of an invoice sync job (the Celery tasks and ``sync_invoices`` call it)."""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.utils import timezone

from integrations.models import SyncRun
from integrations.selectors import (
    attempts_to_poll,
    attempts_to_reconcile,
    payment_requests_to_poll,
    records_due_for_retry,
    records_for_autopay,
    records_needing_request,
)
from integrations.services.sync.attempts import charge_invoice, reconcile_attempt
from integrations.services.sync.base import AUTOPAY, REQUEST_POLL_LIMIT, RETRY
from integrations.services.sync.outcomes import poll_attempt, poll_payment_request
from integrations.services.sync.payment_requests import payment_requests_send


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
