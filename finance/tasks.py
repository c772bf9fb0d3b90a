"""Celery tasks of the ledger core. Thin: each calls one function and records its result."""

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from finance.ledger_check import DEFAULT_LIMIT, verify_ledger

logger = logging.getLogger(__name__)

# Cache key of the last ledger check's result: a dict with "time" (ISO 8601, UTC),
# "ok" (bool), "summary" (the one-line summary), "mismatches" (int) and "checks"
# (per check: name, title, count, the first mismatches listed, skipped). Kept with no
# expiry; each run replaces it. The dashboard and health pages read it.
LAST_LEDGER_CHECK_KEY = "finance:last_ledger_check"


def last_ledger_check() -> dict | None:
    """The result of the most recent ``check_ledger`` run, or None."""
    return cache.get(LAST_LEDGER_CHECK_KEY)


@shared_task(name="finance.tasks.check_ledger")
def check_ledger(limit: int = DEFAULT_LIMIT) -> dict:
    """Run ``verify_ledger`` (read-only, safe to run twice), log the outcome, store it
    under ``LAST_LEDGER_CHECK_KEY`` and return it (JSON-serialisable)."""
    started = timezone.now()
    report = verify_ledger(limit=limit)
    result = report.as_dict()
    result["time"] = started.isoformat()
    result["seconds"] = round((timezone.now() - started).total_seconds(), 3)
    cache.set(LAST_LEDGER_CHECK_KEY, result, timeout=None)
    if report.ok:
        logger.info("Ledger check: %s", report.summary())
    else:
        logger.error("Ledger check failed:\n%s", report.format())
    return result
