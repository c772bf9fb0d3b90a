"""Celery tasks of membership billing. Thin: load ids, call one service; safe to run twice."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from finance.errors import FinanceError
from finance.membership.models import RenewalRun
from finance.membership.packages import package_process, packages_recover
from finance.membership.renewals import renewal_run_build, renewal_run_post, renewal_runs_recover_builds

logger = logging.getLogger(__name__)


def _user(user_id):
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


@shared_task(name="membership.build_renewal_run")
def build_renewal_run(run_id: int) -> dict:
    """Write a run's preview (a run past "creating", or being built by another worker,
    is left as it is)."""
    run = RenewalRun.objects.get(pk=run_id)
    try:
        run = renewal_run_build(run=run)
    except FinanceError as exc:
        logger.warning("Renewal run %s not built: %s", run_id, exc)
        run.refresh_from_db()
    return {"id": run.pk, "status": run.status, "members": run.member_count, "skipped": run.skipped_count}


@shared_task(name="membership.recover_renewal_builds")
def recover_renewal_builds() -> dict:
    """Runs left "creating" by a build that stopped: built again (queued once) or, the
    second time, marked failed. Safe to run twice and concurrently."""
    recovered = renewal_runs_recover_builds()
    return {"recovered": [{"id": run.pk, "status": run.status} for run in recovered]}


@shared_task(name="membership.post_renewal_run")
def post_renewal_run(run_id: int, user_id: int | None = None) -> dict:
    """Post a ready run (a posted run is returned as it is)."""
    run = RenewalRun.objects.get(pk=run_id)
    try:
        run = renewal_run_post(run=run, user=_user(user_id))
    except FinanceError as exc:
        logger.warning("Renewal run %s not posted: %s", run_id, exc)
        run.refresh_from_db()
    return {"id": run.pk, "status": run.status, "message": run.message}


@shared_task(name="membership.recover_subscription_packages")
def recover_subscription_packages() -> dict:
    """Subscription API packages left not done by a run that stopped: queued again."""
    return {"queued": packages_recover()}


@shared_task(name="membership.process_subscription_package")
def process_subscription_package(package_id: int) -> dict:
    """Bill the pending items of a Subscription API package (items done are skipped)."""
    package = package_process(package_id=package_id)
    return {"id": package.pk, "status": package.status, "created": package.created_count, "errors": package.error_count}
