"""What staff do about an OpenWater invoice in error, and what a run does with an
invoice they took in hand.

Rules kept here:
- Staff act on an invoice in error from the Hub (``sync_retry_requested``,
  ``sync_skip``, ``sync_record_by_hand``): each records who and when (audited). An
  invoice staff skipped or recorded by hand is never recorded by a run; a later
  OpenWater transaction on it is only noted for staff (``staff_handled_seen_again``).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.dates import format_moment
from integrations.openwater.errors import PushbackError
from integrations.openwater.models import Integration, InvoiceSync
from integrations.openwater.services.recording import SKIP_BY_STAFF, STAFF_HANDLED


def _lock_sync_for_staff(sync: InvoiceSync) -> InvoiceSync:
    sync = InvoiceSync.objects.select_for_update().get(pk=sync.pk)
    if sync.status != InvoiceSync.Status.ERROR:
        raise PushbackError(
            f"OpenWater invoice {sync.ow_invoice_id} is no longer in error ({sync.get_status_display().lower()}); "
            "nothing was changed."
        )
    return sync


def _staff_did(sync: InvoiceSync, action: str, note: str, user) -> list[str]:
    sync.staff_action = action
    sync.staff_note = note.strip()[:200]
    sync.staff_by = user
    sync.staff_at = timezone.now()
    return ["staff_action", "staff_note", "staff_by", "staff_at", "updated_at"]


@transaction.atomic
def sync_retry_requested(*, sync: InvoiceSync, user) -> InvoiceSync:
    """Staff ask for an invoice in error to be tried again now: recorded (audited); the
    caller then fetches and records it (``pushback.record_invoice``)."""
    sync = _lock_sync_for_staff(sync)
    sync.save(update_fields=_staff_did(sync, InvoiceSync.StaffAction.RETRIED, "", user))
    return sync


@transaction.atomic
def sync_skip(*, sync: InvoiceSync, reason: str, user) -> InvoiceSync:
    """Skip an invoice in error for good, with the reason staff give (required); the
    runs never record it."""
    reason = (reason or "").strip()
    if not reason:
        raise PushbackError("Give the reason for skipping the invoice.")
    sync = _lock_sync_for_staff(sync)
    fields = _staff_did(sync, InvoiceSync.StaffAction.SKIPPED, reason, user)
    sync.status = InvoiceSync.Status.SKIPPED
    sync.skip_code = SKIP_BY_STAFF
    sync.skip_reason = f"Skipped by {user.get_username()}: {reason}"[:200]
    sync.save(update_fields=fields + ["status", "skip_code", "skip_reason"])
    return sync


@transaction.atomic
def sync_record_by_hand(*, sync: InvoiceSync, note: str = "", user) -> InvoiceSync:
    """Mark an invoice in error as recorded by hand in Pay Central (``note``: where,
    e.g. the invoice number); the runs never record it."""
    sync = _lock_sync_for_staff(sync)
    fields = _staff_did(sync, InvoiceSync.StaffAction.BY_HAND, note, user)
    sync.status = InvoiceSync.Status.BY_HAND
    sync.save(update_fields=fields + ["status"])
    return sync


@transaction.atomic
def staff_handled_seen_again(*, integration: Integration, ow_invoice_id: int, recent: datetime) -> bool:
    """A run meets an invoice staff took in hand. Returns False when it is not one.
    Nothing is recorded; an OpenWater transaction newer than what staff saw (a refund,
    say) is noted for staff on the record, once."""
    sync = (
        InvoiceSync.objects.select_for_update()
        .filter(STAFF_HANDLED, integration=integration, ow_invoice_id=ow_invoice_id)
        .first()
    )
    if sync is None:
        return False
    seen = max(d for d in (sync.staff_at, sync.ow_most_recent_transaction_at) if d is not None)
    if recent is not None and recent > seen:
        sync.ow_most_recent_transaction_at = recent
        sync.last_error = (
            f"OpenWater shows a newer transaction on this invoice ({format_moment(recent)}) "
            f"than when it was {'skipped' if sync.status == InvoiceSync.Status.SKIPPED else 'recorded by hand'}; "
            "check it in OpenWater and record any change by hand."
        )
        sync.save(update_fields=["ow_most_recent_transaction_at", "last_error", "updated_at"])
    return True
