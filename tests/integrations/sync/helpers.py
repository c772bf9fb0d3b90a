"""Helpers for the invoice sync tests."""

import datetime
import json
from decimal import Decimal

from django.utils import timezone

from finance.models import Payment
from integrations.models import InvoiceSyncRecord, SavedPaymentMethod, SyncAttempt
from integrations.services.sync.jobs import run_jobs
from processors import signatures
from processors.sandbox import SandboxProcessor
from sandboxes.processor.models import SandboxCharge
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

D = Decimal


def invoice_with_method(sync, token: str | None, *amounts: str, mode: str | None = None):
    """An invoice of a new contact who saved ``token`` for autopay; returns its record."""
    contact = ContactFactory()
    if token:
        SavedPaymentMethod.objects.create(
            contact=contact,
            gateway_account=sync.account,
            token=token,
            method="ach" if token.startswith("btok_") else "card",
            label=token,
        )
    invoice = make_invoice(sync.ledger, contact, BatchFactory(), *(amounts or ("120.00",)), date=timezone.localdate())
    record = InvoiceSyncRecord.objects.get(invoice=invoice)
    if mode:
        InvoiceSyncRecord.objects.filter(pk=record.pk).update(handling_mode=mode)
        record.refresh_from_db()
    return record


def settle_open_charges(processor: SandboxProcessor, record) -> None:
    """The sandbox settles processing charges (and disputes tok_dispute ones) now, as
    time would."""
    from django.db.models import Q

    for attempt in SyncAttempt.objects.filter(
        Q(outcome__in=[SyncAttempt.Outcome.PROCESSING, SyncAttempt.Outcome.REQUIRES_ACTION])
        | Q(payment_method_token="tok_dispute"),
        record=record,
    ).exclude(processor_charge_id=""):
        processor.advance(attempt.processor_charge_id)


def drive(processor, record, rounds: int = 6) -> None:
    """Requests, autopay, then rounds of settle → poll → due retries."""
    run_jobs("requests")
    run_jobs("autopay")
    for _ in range(rounds):
        settle_open_charges(processor, record)
        run_jobs("poll")
        run_jobs("requests")


def payments_of(record) -> list[Payment]:
    return list(Payment.objects.filter(applications__line__invoice_id=record.invoice_id).distinct())


def charges_of(record) -> list[SandboxCharge]:
    return list(SandboxCharge.objects.filter(metadata__sync_record=str(record.pk)))


def past(minutes: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(minutes=minutes)


def charge_event(event_id: str, charge: dict) -> bytes:
    """A sandbox ``charge.updated`` event for ``charge`` (a charge object as on the wire)."""
    return json.dumps({"id": event_id, "type": "charge.updated", "data": {"object": charge}}).encode()


def deliver_event(client, account, body: bytes):
    """Post a webhook to the account's endpoint, signed with its secret."""
    return client.post(
        f"/webhooks/sandbox/{account.pk}/",
        data=body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=signatures.sign(body, account.webhook_secret),
    )


def hand_to_staff(attempt: SyncAttempt) -> None:
    """The attempt is still unknown past the processor's idempotency window: aged so, and
    handed to staff as the reconciler does (its record goes to Manual review)."""
    from django.db.models import F

    from integrations.services.sync.base import GIVE_UP_AFTER
    from integrations.services.sync.outcomes import attempt_unknown_to_review

    SyncAttempt.objects.filter(pk=attempt.pk).update(
        started_at=F("started_at") - GIVE_UP_AFTER - datetime.timedelta(minutes=1)
    )
    attempt_unknown_to_review(attempt.pk)
