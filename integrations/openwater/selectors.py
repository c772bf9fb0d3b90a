"""Read queries of the OpenWater pushback."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from integrations.openwater.models import Integration, InvoiceSync, PushbackRun, RefundSync


def pushback_health() -> dict:
    """A small summary for the dashboard tile: integrations, started, the last run's
    time and status, invoices pushed in the last 24 hours, sync records in error."""
    counts = Integration.objects.aggregate(total=Count("pk"), started=Count("pk", filter=Q(is_started=True)))
    last = PushbackRun.objects.order_by("-started_at", "-pk").values("started_at", "finished_at", "status").first()
    since = timezone.now() - timedelta(hours=24)
    return {
        "integrations": counts["total"],
        "started": counts["started"],
        "last_run_at": last["started_at"] if last else None,
        "last_run_status": last["status"] if last else None,
        "pushed_24h": InvoiceSync.objects.filter(status=InvoiceSync.Status.PUSHED, pushed_at__gte=since).count(),
        "errors": InvoiceSync.objects.filter(status=InvoiceSync.Status.ERROR).count(),
    }


def integration_counts(integration: Integration) -> dict:
    rows = dict(
        InvoiceSync.objects.filter(integration=integration)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {
        "pushed": rows.get(InvoiceSync.Status.PUSHED, 0),
        "skipped": rows.get(InvoiceSync.Status.SKIPPED, 0),
        "errors": rows.get(InvoiceSync.Status.ERROR, 0),
        "by_hand": rows.get(InvoiceSync.Status.BY_HAND, 0),
        "review": InvoiceSync.objects.filter(integration=integration, contact_created=True).count(),
        "refunds": InvoiceSync.objects.filter(integration=integration, total_refunded__gt=0).count(),
    }


def last_run(integration: Integration) -> PushbackRun | None:
    return integration.runs.order_by("-started_at", "-pk").first()


def refund_ids_recorded(sync: InvoiceSync) -> set[int]:
    """The OpenWater refund ids already recorded for ``sync``."""
    return set(RefundSync.objects.filter(sync=sync).values_list("ow_refund_id", flat=True))
