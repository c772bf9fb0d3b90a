"""Invoice sync records: created with their invoices, repaired when missing, and
edited by staff.

Invariants kept here:

- One sync record per invoice (a OneToOne), created in the invoice's transaction by the
  ``invoices_created`` receiver; credit invoices and zero totals get none. The payment
  requests of new records are queued after the transaction commits.
- Staff edit only two fields (sync enabled, handling mode), each change with a row of
  who, when and why.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finance.models import FinancialEntity, GatewayAccount, Invoice
from finance.models import PaymentHandlingMode as Mode
from integrations import tasks
from integrations.models import InvoiceSyncRecord, SavedPaymentMethod, SyncRecordChange
from integrations.selectors import invoice_sync_accounts
from integrations.services.sync.base import Outcome, SyncError, lock_record

# Record ids per payment-request task sent after an invoice transaction commits.
REQUEST_CHUNK = 200


def invoices_created_receiver(sender, invoices, **kwargs):
    """The ``invoices_created`` receiver (connected by the app): sync records are made
    in the invoices' own transaction (see the signal)."""
    sync_records_create(list(invoices))


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
    accounts = invoice_sync_accounts(inv.entity_id for inv in eligible)
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
