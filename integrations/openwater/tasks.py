"""Celery tasks of the OpenWater pushback. Thin: they find ids and call the run."""

import logging

from celery import shared_task
from django.db import transaction

from integrations.openwater.pushback import RunBusy, integrations_due, run_pushback

logger = logging.getLogger(__name__)


@shared_task(name="integrations.openwater.tasks.pushback_due")
def pushback_due() -> list[int]:
    """Called by beat every tick: start a run for each started integration whose
    interval has passed. Safe to run twice: a run already under way keeps its lock
    and the second one leaves at once."""
    ids = list(integrations_due().order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        transaction.on_commit(lambda pk=pk: pushback_run.delay(pk))
    return ids


@shared_task(name="integrations.openwater.tasks.pushback_run", acks_late=True, reject_on_worker_lost=True)
def pushback_run(integration_id: int) -> dict:
    """One run of one integration (acknowledged after it ends: a worker killed mid-run
    leaves the message to be delivered again, and the run resumes from the cursor)."""
    result = run_pushback(integration_id)
    if isinstance(result, RunBusy):
        return {"integration": integration_id, "status": "busy", "message": result.message}
    return {
        "integration": integration_id,
        "run": result.pk,
        "status": result.status,
        "pushed": result.pushed,
        "skipped": result.skipped,
        "refunds": result.refunds,
        "errors": result.errors,
        "message": result.message,
    }
