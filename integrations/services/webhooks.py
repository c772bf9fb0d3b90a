"""Processor webhooks: verify, keep each event once, apply it."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from finance.models import GatewayAccount
from integrations.models import WebhookEvent
from integrations.services.sync.outcomes import apply_processor_state
from processors import WebhookSignatureError, get_processor


class WebhookRejected(Exception):
    """The delivery cannot be trusted (bad signature) or read: answer 400."""


def webhook_receive(*, account: GatewayAccount, payload: bytes, headers) -> tuple[WebhookEvent, bool]:
    """Verify the signature with the account's webhook secret, then store and apply the
    event in one transaction. Returns (event, applied_now); a duplicate delivery of an
    event id already stored is answered without applying it again.
    """
    with get_processor(account) as processor:
        try:
            event = processor.parse_webhook(payload, headers, account.webhook_secret)
        except WebhookSignatureError as exc:
            raise WebhookRejected(str(exc)) from exc
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                gateway_account=account, event_id=event.id[:100], type=event.type[:100], payload=event.raw
            )
            result = "ignored"
            if event.charge_id or event.charge is not None:
                result = apply_processor_state(charge_id=event.charge_id, charge=event.charge, disputed=event.disputed)
            row.processed_at = timezone.now()
            row.result = result[:300]
            row.save(update_fields=["processed_at", "result"])
            return row, True
    except IntegrityError:
        existing = WebhookEvent.objects.filter(gateway_account=account, event_id=event.id[:100]).first()
        if existing is None:
            raise
        return existing, False
