"""Renewal runs: start, build the preview (set-based), recover a stopped build, build
again, delete."""

import logging
from datetime import date as Date
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from core.dates import SQL_DAY_FORMAT
from core.task_queue import send_task_on_commit
from finance.errors import FinanceError
from finance.jobs import Job
from finance.membership.models import (
    MemberType,
    RenewalItem,
    RenewalLine,
    RenewalRun,
    Subscription,
    Term,
)
from finance.models import Batch, FinancialEntity, Invoice, InvoiceLine, JournalEntry, JournalLine
from finance.money import ZERO, quantize
from finance.services.batches import batch_create, batch_transition

logger = logging.getLogger(__name__)

OPEN_RUN_STATUSES = [RenewalRun.Status.CREATING, RenewalRun.Status.READY, RenewalRun.Status.POSTING]


@transaction.atomic
def renewal_run_start(
    *,
    effective_date: Date,
    paid_through_from: Date,
    paid_through_to: Date,
    member_type: MemberType | None = None,
    invoice_date: Date | None = None,
    user=None,
) -> RenewalRun:
    """Record a run (status "creating"); ``renewal_run_build`` writes its preview."""
    if paid_through_to < paid_through_from:
        raise FinanceError(f"Paid-through to ({paid_through_to}) is before paid-through from ({paid_through_from}).")
    return RenewalRun.objects.create(
        effective_date=effective_date,
        invoice_date=invoice_date or effective_date,
        paid_through_from=paid_through_from,
        paid_through_to=paid_through_to,
        member_type=member_type,
        created_by=user,
        build_queued_at=timezone.now(),
    )


# Advisory lock namespace of renewal run builds (the second key is the run id).
LOCK_RENEWAL_BUILD = 0x4D42
# How long a build waits for the build lock of its run before leaving the run to the
# session holding it (a build still running, or a recovery deciding; a killed worker's
# lock goes a moment after its connection closes).
BUILD_LOCK_WAIT_SECONDS = 10.0
# A run "creating" whose build was queued longer ago than this and never began is taken
# as lost (its task will not come).
BUILD_STALE_AFTER = timedelta(hours=1)

INTERRUPTED_BUILD = (
    "The preview's build stopped before it finished (its worker stopped) and wrote nothing; it is being built again."
)
BUILT_AGAIN = (
    "The preview's first build stopped before it finished (its worker stopped) and wrote nothing; it was built again."
)
BUILD_FAILED_TWICE = (
    "The preview's build stopped twice before it finished (its worker stopped) and wrote nothing; nothing is "
    "invoiced. Build it again, or delete the run."
)


# A run's build (see ``finance.jobs``): its lock is held for as long as it runs.
BUILD = Job("Renewal run", LOCK_RENEWAL_BUILD, RenewalRun, RenewalRun.Status.CREATING, progress_field=None)
_build_lock = BUILD.lock


def renewal_run_build(*, run: RenewalRun, wait: float = BUILD_LOCK_WAIT_SECONDS) -> RenewalRun:
    """Write the preview of a run in "creating" status: its Open batch, the items
    (billed or skipped) and the lines, then "ready". Safe to call twice. A failure
    leaves nothing but the run marked failed with the message.

    The build holds the run's build lock for as long as it runs. When
    another session holds it (a build still running) this waits up to ``wait`` seconds
    for it, then returns the run as it is: never two builds of one run."""
    return BUILD.run(
        run.pk, lambda: _build_holding_lock(run), wait=wait, busy=lambda: RenewalRun.objects.get(pk=run.pk)
    )


def _build_holding_lock(run: RenewalRun) -> RenewalRun:
    # Record the start (committed at once): with the build lock free, the recovery's
    # proof that a build began and stopped.
    began = RenewalRun.objects.filter(pk=run.pk, status=RenewalRun.Status.CREATING).update(
        build_started_at=timezone.now()
    )
    if not began:
        return RenewalRun.objects.get(pk=run.pk)
    try:
        with transaction.atomic():
            run = RenewalRun.objects.select_for_update().get(pk=run.pk)
            if run.status != RenewalRun.Status.CREATING:
                return run
            batch = batch_create(
                date=run.invoice_date,
                description=f"Membership renewal run {run.pk}",
                user=run.created_by,
            )
            _build_sql(run)
            agg = RenewalItem.objects.filter(run=run).aggregate(
                n_billed=Count("pk", filter=Q(skipped=False)),
                n_skipped=Count("pk", filter=Q(skipped=True)),
                billed_total=Sum("amount", filter=Q(skipped=False)),
            )
            run.batch = batch
            run.member_count = agg["n_billed"]
            run.skipped_count = agg["n_skipped"]
            run.total = quantize(agg["billed_total"] or ZERO)
            run.line_count = RenewalLine.objects.filter(item__run=run).count()
            run.status = RenewalRun.Status.READY
            run.message = BUILT_AGAIN if run.message == INTERRUPTED_BUILD else ""
            run.save()
            return run
    except Exception as exc:
        message = str(exc) if isinstance(exc, FinanceError) else f"{type(exc).__name__}: {exc}"
        RenewalRun.objects.filter(pk=run.pk, status=RenewalRun.Status.CREATING).update(
            status=RenewalRun.Status.FAILED, message=message[:2000]
        )
        raise


def _build_stopped(run: RenewalRun, stale_after: timedelta) -> bool:
    """Whether a run read "creating" has no build running and none on its way. The
    caller holds the build lock: a build that began and let the lock go stopped,
    whatever the time; one never begun was lost when it was queued ``stale_after`` ago."""
    if run.build_started_at is not None:
        return True
    since = run.build_queued_at or run.created_at
    return timezone.now() - since >= stale_after


def renewal_run_recover_build(*, run: RenewalRun, stale_after: timedelta = BUILD_STALE_AFTER) -> RenewalRun | None:
    """Bring back a run left "creating" by a build that stopped (worker killed, lost
    connection) and that the broker will not hand out again.

    A build is one transaction that also sets "ready", so a run still "creating" whose
    build has ended wrote nothing. A build holds the run's build lock for as long as it
    runs: this takes the lock (and leaves the run alone when it cannot), so no build
    runs while it decides. A run whose build began and let the lock go stopped; one
    whose build was queued and never began is left ``stale_after`` to its task
    (workers may be busy).

    The first time, the run is built again: the build task is queued once (after
    commit), with a message saying so. If that build stops too, the run becomes
    "failed" with the reason, for staff to delete or build again. Returns the run when
    it was recovered (its status and message say how), None when it is not "creating"
    or its build is still running or on its way. Safe to call twice and concurrently:
    each step is a conditional update of the state read, so one caller acts."""
    return BUILD.recover(
        run.pk,
        lambda rows, run: _recover_stopped_build(run),
        stopped=lambda run: _build_stopped(run, stale_after),
    )


def _recover_stopped_build(run: RenewalRun) -> RenewalRun | None:
    as_read = RenewalRun.objects.filter(
        pk=run.pk,
        status=RenewalRun.Status.CREATING,
        message=run.message,
        build_queued_at=run.build_queued_at,
        build_started_at=run.build_started_at,
    )
    if run.message != INTERRUPTED_BUILD:
        with transaction.atomic():
            if not as_read.update(message=INTERRUPTED_BUILD, build_queued_at=timezone.now(), build_started_at=None):
                return None
            send_task_on_commit("membership.build_renewal_run", run.pk)
        logger.warning("Renewal run %s: a build that stopped is queued again", run.pk)
    else:
        if not as_read.update(status=RenewalRun.Status.FAILED, message=BUILD_FAILED_TWICE):
            return None
        logger.error("Renewal run %s: its build stopped twice; marked failed", run.pk)
    return RenewalRun.objects.get(pk=run.pk)


def renewal_runs_recover_builds(*, stale_after: timedelta = BUILD_STALE_AFTER) -> list[RenewalRun]:
    """``renewal_run_recover_build`` for every run "creating"; the runs recovered."""
    ids = list(RenewalRun.objects.filter(status=RenewalRun.Status.CREATING).order_by("pk").values_list("pk", flat=True))
    recovered = [renewal_run_recover_build(run=RenewalRun(pk=pk), stale_after=stale_after) for pk in ids]
    return [run for run in recovered if run is not None]


@transaction.atomic
def renewal_run_rebuild(*, run: RenewalRun, user=None) -> RenewalRun:
    """Build a failed run's preview again (its build wrote nothing: no batch, no
    items): the run is "creating" again and the build task is queued after commit."""
    run = RenewalRun.objects.select_for_update().get(pk=run.pk)
    if run.status != RenewalRun.Status.FAILED or run.batch_id is not None:
        raise FinanceError(f"Renewal run {run.pk} is {run.get_status_display().lower()}; it cannot be built again.")
    run.status = RenewalRun.Status.CREATING
    run.message = ""
    run.build_queued_at, run.build_started_at = timezone.now(), None
    run.save(update_fields=["status", "message", "build_queued_at", "build_started_at"])
    send_task_on_commit("membership.build_renewal_run", run.pk)
    logger.info("Renewal run %s: built again by %s", run.pk, user)
    return run


T = {
    "sub": Subscription._meta.db_table,
    "mt": MemberType._meta.db_table,
    "mtp": "membership_membertypeproduct",
    "item": RenewalItem._meta.db_table,
    "rline": RenewalLine._meta.db_table,
    "run": RenewalRun._meta.db_table,
    "term": Term._meta.db_table,
    "contact": "finance_contact",
    "product": "finance_product",
    "inv": Invoice._meta.db_table,
    "line": InvoiceLine._meta.db_table,
    "je": JournalEntry._meta.db_table,
    "jl": JournalLine._meta.db_table,
    "entity": FinancialEntity._meta.db_table,
}

SKIP_REASON_SQL = f"""
    CASE
      WHEN s.status <> 'active' THEN 'Subscription is ' || s.status
      WHEN NOT mt.is_active THEN 'Member type ' || mt.code || ' is inactive'
      WHEN c.status <> 'active' THEN 'Contact is inactive'
      WHEN COALESCE(n.n_active, 0) > 1 THEN n.n_active || ' active subscriptions; expected exactly one'
      WHEN GREATEST(s.paid_through, s.renewed_through) >= %(effective)s
        THEN 'Already renewed through ' || to_char(GREATEST(s.paid_through, s.renewed_through), '{SQL_DAY_FORMAT}')
      WHEN EXISTS (SELECT 1 FROM {T["item"]} oi JOIN {T["run"]} o ON o.id = oi.run_id
                    WHERE oi.subscription_id = s.id AND NOT oi.skipped AND o.id <> %(run)s
                      AND o.status IN ('creating', 'ready', 'posting'))
        THEN 'In another open renewal run'
      WHEN tt.total IS NULL OR tt.total <= 0 THEN 'Nothing to bill (fee and billing products total 0.00)'
    END
"""


def _build_sql(run: RenewalRun):
    params = {
        "run": run.pk,
        "from": run.paid_through_from,
        "to": run.paid_through_to,
        "effective": run.effective_date,
        "invoice_date": run.invoice_date,
        "mt": run.member_type_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {T["item"]} (run_id, subscription_id, contact_id, member_type_id, skipped, reason,
                                     term_begin, term_end, amount, invoice_id)
            SELECT %(run)s, x.id, x.contact_id, x.member_type_id, x.reason IS NOT NULL, COALESCE(x.reason, ''),
                   CASE WHEN x.reason IS NULL THEN x.begin END,
                   CASE WHEN x.reason IS NULL THEN (x.begin + make_interval(months => x.term_months)
                                                   - interval '1 day')::date END,
                   CASE WHEN x.reason IS NULL THEN x.total ELSE 0 END, NULL
              FROM (SELECT s.id, s.contact_id, s.member_type_id, s.term_months, tt.total,
                           (GREATEST(s.paid_through, s.renewed_through) + 1) AS begin,
                           {SKIP_REASON_SQL} AS reason
                      FROM {T["sub"]} s
                      JOIN {T["mt"]} mt ON mt.id = s.member_type_id
                      JOIN {T["contact"]} c ON c.id = s.contact_id
                      LEFT JOIN (SELECT contact_id, COUNT(*) AS n_active FROM {T["sub"]}
                                  WHERE status = 'active' GROUP BY contact_id) n ON n.contact_id = s.contact_id
                      LEFT JOIN (SELECT m.id, fp.price + COALESCE(
                                        (SELECT SUM(p.price) FROM {T["mtp"]} bp
                                           JOIN {T["product"]} p ON p.id = bp.product_id
                                          WHERE bp.member_type_id = m.id), 0) AS total
                                   FROM {T["mt"]} m JOIN {T["product"]} fp ON fp.id = m.fee_product_id) tt
                             ON tt.id = s.member_type_id
                     WHERE s.paid_through BETWEEN %(from)s AND %(to)s
                       AND (%(mt)s::bigint IS NULL OR s.member_type_id = %(mt)s::bigint)
                     ORDER BY c.sort_name, c.name, s.id) x
            """,
            params,
        )
        account = """CASE WHEN p.deferred_income_account_id IS NOT NULL AND i.term_begin > %(invoice_date)s
                          THEN p.deferred_income_account_id ELSE p.income_account_id END"""
        cursor.execute(
            f"""
            INSERT INTO {T["rline"]} (item_id, line_number, product_id, description, amount, account_id)
            SELECT i.id, 1, p.id,
                   LEFT(p.name || ' ' || to_char(i.term_begin, '{SQL_DAY_FORMAT}') || '–'
                        || to_char(i.term_end, '{SQL_DAY_FORMAT}'), 200),
                   p.price, {account}
              FROM {T["item"]} i
              JOIN {T["mt"]} mt ON mt.id = i.member_type_id
              JOIN {T["product"]} p ON p.id = mt.fee_product_id
             WHERE i.run_id = %(run)s AND NOT i.skipped
            UNION ALL
            SELECT i.id, 1 + ROW_NUMBER() OVER (PARTITION BY i.id ORDER BY bp.position, bp.id), p.id,
                   LEFT(p.name, 200), p.price, {account}
              FROM {T["item"]} i
              JOIN {T["mtp"]} bp ON bp.member_type_id = i.member_type_id
              JOIN {T["product"]} p ON p.id = bp.product_id
             WHERE i.run_id = %(run)s AND NOT i.skipped
            """,
            params,
        )


def renewal_run_delete(*, run: RenewalRun, user=None) -> RenewalRun:
    """Delete a run that is not posted: its preview stays for the record, its (empty)
    batch is deleted. A run "creating" is deleted only when its build is not running
    (the build lock is free, and held here so that no build starts); a build task that
    comes later finds it deleted and builds nothing."""
    with _build_lock(run.pk) as held:
        if not held:
            raise FinanceError(f"Renewal run {run.pk} is being built; wait for its preview, then delete it.")
        return _delete_holding_lock(run, user)


@transaction.atomic
def _delete_holding_lock(run: RenewalRun, user) -> RenewalRun:
    run = RenewalRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in (RenewalRun.Status.CREATING, RenewalRun.Status.READY, RenewalRun.Status.FAILED):
        raise FinanceError(f"Renewal run {run.pk} is {run.get_status_display().lower()}; it cannot be deleted.")
    if run.batch_id:
        batch_transition(
            batch=run.batch, to_status=Batch.Status.DELETED, user=user, note=f"renewal run {run.pk} deleted"
        )
    run.status = RenewalRun.Status.DELETED
    run.save(update_fields=["status"])
    return run
