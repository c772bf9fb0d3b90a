"""Payment requests: invoices offered at the processor for the customer to pay.

Invariants kept here:

- Every processor call is two-phase: the record's ``request_key`` is committed first
  (a key, once set, is never replaced), then the processor is called outside any
  transaction, then the answer is written with a conditional update. A second run, or
  a retry after a lost answer, sends the same key and the processor answers with the
  same request.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from integrations.models import InvoiceSyncRecord, ProcessorStatus
from integrations.selectors import records_needing_request
from integrations.services.sync.base import processor_for
from processors import PaymentRequestSpec, ProcessorError


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
            result = processor_for(record.gateway_account, processors).create_payment_request(spec)
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
