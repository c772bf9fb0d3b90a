"""Celery tasks of the AR import. Thin: each calls one service and returns a summary;
both are safe to run twice. Their names are those they had when they lived in
``finance.tasks`` (messages already queued keep their task)."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from finance.ar_import.services import ar_import_post, ar_import_recover, ar_import_validate_stored
from finance.errors import FinanceError
from finance.models_ar_import import ARImport

logger = logging.getLogger(__name__)


@shared_task(name="finance.tasks.post_ar_import")
def post_ar_import(import_id: int, user_id: int | None = None, allow_repeats: bool = False) -> dict:
    """Post a validated AR import (all rows or none); progress is recorded on the import.
    Safe to run twice: an import already posted, or being posted by a live worker, is
    left as it is; one left "posting" by a worker that stopped is released and posted.
    ``allow_repeats``: the staff confirmed rows that repeat payments posted before."""
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
    imp = ar_import_validate_stored(ar_import=ARImport(pk=import_id))
    return {"id": imp.pk, "status": imp.status, "errors": imp.error_count, "rows": imp.row_count}
