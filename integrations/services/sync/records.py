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

from functools import cache

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from finance.models import GatewayAccount, Invoice
from finance.models import PaymentHandlingMode as Mode
from integrations import tasks
from integrations.models import InvoiceSyncRecord, SyncRecordChange
from integrations.services.sync.base import Outcome, SyncError, lock_record

# Record ids per payment-request task sent after an invoice transaction commits.
REQUEST_CHUNK = 200


# The name a receiver of ``invoices_writing`` puts in the statement's ``done``.
WRITTEN = "integrations.invoice_sync_records"


def invoices_writing_receiver(sender, statement, invoices, **kwargs):
    """The ``invoices_writing`` receiver (connected by the app): the sync records are
    written by the statement that writes their invoices (``sync_records_create``'s rule,
    as a part of it), their payment requests queued after commit."""
    eligible = [(inv, ref) for inv, ref in invoices if _eligible(inv)]
    if eligible:
        values = ", ".join(f"({ref.sql}, %s::bigint, %s::bigint, %s::text)" for _, ref in eligible)
        sql, params = _records_insert(
            f"(VALUES {values}) AS v(invoice_id, entity_id, contact_id, currency)",
            [p for inv, ref in eligible for p in (*ref.params, inv.entity_id, inv.bill_to_id, inv.currency)],
            returning="id, gateway_account_id",
        )
        statement.add("invoice_sync_records", sql, params)
        statement.read(
            "(SELECT array_agg(id ORDER BY id) FROM invoice_sync_records WHERE gateway_account_id IS NOT NULL)",
            lambda ids: _queue_requests_on_commit(ids) if ids else None,
        )
    statement.done.add(WRITTEN)


def invoices_created_receiver(sender, invoices, written=(), **kwargs):
    """The ``invoices_created`` receiver (connected by the app): sync records are made
    in the invoices' own transaction (see the signal), unless the statement that wrote
    the invoices wrote them (``invoices_writing_receiver``)."""
    if WRITTEN not in written:
        sync_records_create(list(invoices))


def _eligible(invoice: Invoice) -> bool:
    return invoice.type != Invoice.Type.CREDIT and invoice.total > 0


def _records_insert(source: str, source_params: list, *, returning: str) -> tuple[str, list]:
    """The INSERT of the sync records of the invoices in ``source`` (an SQL row source
    ``v(invoice_id, entity_id, contact_id, currency)``): the rule of
    ``sync_records_create``."""
    template, constant, fixed = _constant_fields()
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in constant)
    values = [
        f.get_db_prep_save(f.pre_save(template, add=True), connection) if value is _EACH_TIME else value
        for f, value in zip(constant, fixed, strict=True)
    ]
    sql = f"""
        INSERT INTO {qn(InvoiceSyncRecord._meta.db_table)}
               (invoice_id, entity_id, gateway_account_id, currency, base_currency, handling_mode,
                provider_customer_id, {columns})
        SELECT v.invoice_id, v.entity_id, g.id, v.currency, e.currency, COALESCE(g.default_handling_mode, %s),
               COALESCE(c.provider_customer_id, ''), {", ".join(["%s"] * len(constant))}
          FROM {source}
          JOIN finance_financialentity e ON e.id = v.entity_id
          LEFT JOIN paycentral_gatewayaccount g ON g.entity_id = v.entity_id AND g.invoice_sync AND g.is_active
          LEFT JOIN LATERAL (
                SELECT s.provider_customer_id FROM integrations_savedpaymentmethod s
                 WHERE s.contact_id = v.contact_id AND s.is_active AND s.autopay AND s.provider_customer_id <> ''
                 ORDER BY s.id DESC LIMIT 1) c ON true
         ORDER BY v.invoice_id
        RETURNING {returning}"""
    return sql, [Mode.DEFAULT, *values, *source_params]


_GIVEN = {"invoice_id", "entity_id", "gateway_account_id", "currency", "base_currency", "handling_mode"}
_GIVEN.add("provider_customer_id")


_EACH_TIME = object()


@cache
def _constant_fields() -> tuple[InvoiceSyncRecord, list, list]:
    """The record's columns that take the model's defaults (all but the given ones): a
    new record (the template), the fields, and the value each writes, prepared once;
    ``_EACH_TIME`` for those whose value is taken at each save (``auto_now``, callable
    defaults: ``pre_save`` of the template)."""
    template = InvoiceSyncRecord(handling_mode=Mode.DEFAULT)
    fields = [f for f in InvoiceSyncRecord._meta.concrete_fields if not f.primary_key and f.attname not in _GIVEN]
    fixed = [
        _EACH_TIME
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) or callable(f.default)
        else f.get_db_prep_save(f.pre_save(template, add=True), connection)
        for f in fields
    ]
    return template, fields, fixed


def sync_records_create(invoices: list[Invoice]) -> list[InvoiceSyncRecord]:
    """Create the sync records of new invoices (in the caller's transaction), in one
    statement whatever their number.

    Skips credit invoices, zero totals and invoices that already have one. The record
    takes the entity's invoice sync account (None when the entity has none; an entity
    has at most one), that account's default handling mode, the entity's currency as
    its base currency and the provider customer id of the bill-to contact's active
    autopay saved method (the newest one that has an id). When any record has an
    account, the payment requests are queued after commit.
    """
    eligible = [inv for inv in invoices if _eligible(inv)]
    if not eligible:
        return []
    qn = connection.ops.quote_name
    sql, params = _records_insert(
        "unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[])"
        " AS v(invoice_id, entity_id, contact_id, currency)",
        [
            [inv.pk for inv in eligible],
            [inv.entity_id for inv in eligible],
            [inv.bill_to_id for inv in eligible],
            [inv.currency for inv in eligible],
        ],
        returning=", ".join(qn(f.column) for f in InvoiceSyncRecord._meta.concrete_fields),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [f.attname for f in InvoiceSyncRecord._meta.concrete_fields]
        records = [InvoiceSyncRecord.from_db(connection.alias, names, row) for row in cursor.fetchall()]
    written = {record.invoice_id: record for record in records}
    created = []
    for inv in eligible:
        record = written[inv.pk]
        record.invoice = inv
        created.append(record)
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
