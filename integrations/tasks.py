"""Invoice sync jobs (Celery beat runs them; see CELERY_BEAT_SCHEDULE). Thin: each runs
one job of ``integrations.services.sync.jobs``; all are safe to run twice, take ids only and
use no countdowns (retries are due times in the database)."""

from celery import shared_task

from integrations.services.sync.jobs import run_jobs


@shared_task(name="integrations.tasks.create_payment_requests")
def create_payment_requests(record_ids: list[int] | None = None) -> dict:
    """Payment requests for new invoices (the ids given, else all waiting), then the
    retries that are due."""
    return run_jobs("requests", record_ids)


@shared_task(name="integrations.tasks.poll_processor")
def poll_processor() -> dict:
    return run_jobs("poll")


@shared_task(name="integrations.tasks.reconcile_attempts")
def reconcile_attempts() -> dict:
    return run_jobs("reconcile")


@shared_task(name="integrations.tasks.autopay_run")
def autopay_run() -> dict:
    return run_jobs("autopay")
