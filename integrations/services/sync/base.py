"""What the invoice sync modules share: the error, the attempt codes and time limits,
the record's row lock and the processor clients of a run. Rows are always locked
record first (``lock_record``), then attempt."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from finance.models import GatewayAccount
from integrations.models import InvoiceSyncRecord, SyncAttempt
from processors import IDEMPOTENCY_WINDOW, get_processor

Outcome = SyncAttempt.Outcome
# A STARTED attempt older than this had its worker stop before the answer was written.
STALE_AFTER = datetime.timedelta(minutes=2)
# An attempt whose outcome is unknown is sent again with its key only this long after it
# started: the processor's idempotency window less a margin for the two clocks. Past it,
# a resend could be taken for a new charge, so the record goes to Manual review.
GIVE_UP_AFTER = IDEMPOTENCY_WINDOW - datetime.timedelta(hours=1)
# The failure code of an unknown attempt that moved its record to Manual review.
UNKNOWN_PAST_WINDOW = "unknown_past_window"
AUTOPAY = "autopay"
RETRY = "retry"
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


class SyncError(Exception):
    """A sync rule refused the request (the message names the invoice and the reason)."""


def lock_record(record_id: int) -> InvoiceSyncRecord:
    return InvoiceSyncRecord.objects.select_for_update(of=("self",)).select_related("invoice").get(pk=record_id)


def processor_for(account: GatewayAccount, cache: dict | None):
    if cache is None:
        return get_processor(account)
    if account.pk not in cache:
        cache[account.pk] = get_processor(account)
    return cache[account.pk]


def autopay_horizon() -> datetime.date:
    """Autopay charges invoices due on or before this day (``INVOICE_SYNC_AUTOPAY_LEAD_DAYS``,
    30, from today)."""
    lead = datetime.timedelta(days=getattr(settings, "INVOICE_SYNC_AUTOPAY_LEAD_DAYS", 30))
    return timezone.localdate() + lead
