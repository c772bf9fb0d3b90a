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


@shared_task(name="finance.tasks.post_ar_import")
def post_ar_import(import_id: int, user_id: int | None = None, allow_repeats: bool = False) -> dict:
    """Post a validated AR import (all rows or none); progress is recorded on the import.
    Safe to run twice: an import already posted, or being posted by a live worker, is
    left as it is; one left "posting" by a worker that stopped is released and posted.
    ``allow_repeats``: the staff confirmed rows that repeat payments posted before."""
    from django.contrib.auth import get_user_model

    from finance.errors import FinanceError
    from finance.models_ar_import import ARImport
    from finance.services.ar_import import ar_import_post, ar_import_recover

    imp = ARImport.objects.get(pk=import_id)
    if imp.status == ARImport.Status.POSTING and ar_import_recover(ar_import=imp):
        # Redelivered after the worker posting it stopped: nothing was posted; post it now.
        imp.refresh_from_db()
    if imp.status not in (ARImport.Status.POSTED, ARImport.Status.POSTING):
        user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
        try:
            ar_import_post(ar_import=imp, user=user, allow_repeats=allow_repeats)
        except FinanceError as exc:
            logger.warning("AR import %s not posted: %s", import_id, exc)
        imp.refresh_from_db()
    return {"id": imp.pk, "status": imp.status, "message": imp.message, "batch": imp.batch_id}


@shared_task(name="finance.tasks.validate_ar_import")
def validate_ar_import(import_id: int) -> dict:
    """Check an uploaded AR import file in the worker (big files); progress is recorded
    on the import. Safe to run twice: an import already checked is left as it is."""
    from finance.models_ar_import import ARImport
    from finance.services.ar_import import ar_import_validate_stored

    imp = ar_import_validate_stored(ar_import=ARImport(pk=import_id))
    return {"id": imp.pk, "status": imp.status, "errors": imp.error_count, "rows": imp.row_count}
