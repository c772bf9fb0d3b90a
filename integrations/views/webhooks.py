"""Processor webhooks: outside the login wall; each delivery's signature is checked with
the gateway account's webhook secret before anything is read or stored."""

import logging

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from finance.models import GatewayAccount
from integrations.services.webhooks import WebhookRejected, webhook_receive

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024


@csrf_exempt
@require_POST
def processor_webhook(request, processor: str, account_id: int):
    account = get_object_or_404(GatewayAccount, pk=account_id, processor=processor)
    body = request.body
    if len(body) > MAX_BODY:
        return HttpResponse("payload too large", status=413)
    try:
        event, applied = webhook_receive(account=account, payload=body, headers=request.headers)
    except WebhookRejected as exc:
        log.warning("webhook for gateway account %s refused: %s", account.pk, exc)
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"received": event.event_id, "duplicate": not applied, "result": event.result})
