"""Renewal runs: preview a batch of next-term invoices, review, delete or post.

Rules kept here:
- A run covers subscriptions whose paid-through date falls in [from, to] (optionally of
  one member type). A member is billed when the subscription is active, its member type
  is active, the contact is active, the contact holds exactly one active subscription,
  the subscription's paid-through and renewed-through are before the run's effective
  date, it is not already in another open run, and the term has something to bill.
  Everyone else in the range is listed as skipped with the reason.
- The billed term starts the day after the later of paid-through and renewed-through
  and lasts the subscription's term length; its lines are the member type's fee (the
  primary line) and billing products at their prices (see ``finance.membership.services``).
- Creating the run opens a batch and writes the preview (items and lines); nothing is
  invoiced yet. Deleting a run deletes its (empty) batch. Posting writes every invoice,
  line and term in the run's batch in one transaction, applies each member's open
  credit, sets the batch controls to what was written and posts the batch.
- The build runs in a worker. It holds the run's build lock (a session advisory lock,
  PostgreSQL) for as long as it runs and records when it began. A run left "creating"
  by a build that stopped (worker killed, connection lost; its transaction rolled back,
  nothing written) is found by ``renewal_run_recover_build`` (Celery beat, and the run's
  page): the lock is free (elsewhere: the build began, or was queued, longer ago than a
  stale-after age). It is built again, queued once; if that build stops too the run is
  marked failed with the reason, and staff delete it or build it again. A run is never
  built twice: the build and the recovery both hold the lock, and a build claims only a
  run still "creating".
- On PostgreSQL both steps are set-based SQL (INSERT … SELECT); elsewhere the preview is
  computed in Python and posting calls ``term_bill`` per member. Both give the same
  invoices. Invoices created in bulk are announced with one ``invoices_created`` signal
  inside the posting transaction.
"""

import logging
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from core.dates import SQL_DAY_FORMAT
from core.task_queue import send_task_on_commit
from finance.errors import FinanceError
from finance.jobs import Job
from finance.membership.models import (
    MembershipSettings,
    MemberType,
    RenewalItem,
    RenewalLine,
    RenewalRun,
    Subscription,
    Term,
)
from finance.membership.services import apply_available_credit
from finance.membership.sql import refresh_subscriptions
from finance.models import Batch, FinancialEntity, Invoice, InvoiceLine, JournalEntry, JournalLine
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition, lock_batch
from finance.services.invoices import reserve_invoice_numbers
from finance.signals import invoices_created

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


def _progress_writer(run_id: int):
    """Record posting progress from another connection (visible while the posting
    transaction is open)."""
    return POSTING.progress(run_id)


# Advisory lock namespace of renewal postings (the second key is the run id).
LOCK_RENEWAL_POST = 0x4D52

INTERRUPTED_POSTING = "The last posting was interrupted (its worker stopped) and wrote nothing; it was posted again."


# A run's posting (see ``finance.jobs``): its lock is held for as long as it runs.
POSTING = Job("Renewal run", LOCK_RENEWAL_POST, RenewalRun, RenewalRun.Status.POSTING)
_posting_lock = POSTING.lock


def renewal_run_post(*, run: RenewalRun, user=None) -> RenewalRun:
    """Post a run that is ready: invoices, lines and terms, credit applied, the batch
    posted, all in one transaction. Safe to call twice (a posted run is returned as it
    is). A failure writes nothing, puts the run back to "ready" and re-raises.

    The posting holds the run's advisory lock for as long as it runs. A run
    left "posting" by a worker that was killed (its transaction rolled back, nothing
    written) is found "posting" with the lock free: it is posted again, once."""
    with _posting_lock(run.pk) as held:
        if not held:
            run = RenewalRun.objects.get(pk=run.pk)
            if run.status == RenewalRun.Status.POSTED:
                return run
            raise FinanceError(f"Renewal run {run.pk} is posting; it cannot be posted.")
        return _post_holding_lock(run, user)


def _post_holding_lock(run: RenewalRun, user) -> RenewalRun:
    with transaction.atomic():
        # We hold the lock, so a run still "posting" lost its worker: take it over.
        interrupted = bool(
            RenewalRun.objects.filter(pk=run.pk, status=RenewalRun.Status.POSTING).update(
                status=RenewalRun.Status.READY
            )
        )
        claimed = RenewalRun.objects.filter(pk=run.pk, status=RenewalRun.Status.READY).update(
            status=RenewalRun.Status.POSTING, progress=0, message=INTERRUPTED_POSTING if interrupted else ""
        )
    if interrupted:
        logger.warning("Renewal run %s: an interrupted posting is posted again", run.pk)
    run = RenewalRun.objects.get(pk=run.pk)
    if not claimed:
        if run.status == RenewalRun.Status.POSTED:
            return run
        raise FinanceError(f"Renewal run {run.pk} is {run.get_status_display().lower()}; it cannot be posted.")
    progress, pool = _progress_writer(run.pk)
    try:
        with transaction.atomic():
            # The claim above guards the run; no row lock, so progress can be written.
            run = RenewalRun.objects.get(pk=run.pk)
            batch = lock_batch(run.batch_id)
            if batch.status != Batch.Status.OPEN:
                raise FinanceError(f"Batch {batch.number} of renewal run {run.pk} is {batch.get_status_display()}.")
            credit = _post_sql(run, batch, user, progress)
            progress(90)
            totals = batch_totals(batch)
            batch_set_controls(batch=batch, control_count=totals.count, control_amount=totals.amount, user=user)
            batch_transition(batch=batch, to_status=Batch.Status.READY, user=user, note=f"renewal run {run.pk}")
            batch_transition(batch=batch, to_status=Batch.Status.POSTED, user=user, note=f"renewal run {run.pk}")
            run.status = RenewalRun.Status.POSTED
            run.credit_applied = credit
            run.progress = 100
            run.posted_by, run.posted_at = user, timezone.now()
            run.save()
    except Exception as exc:
        message = str(exc) if isinstance(exc, FinanceError) else f"{type(exc).__name__}: {exc}"
        RenewalRun.objects.filter(pk=run.pk, status=RenewalRun.Status.POSTING).update(
            status=RenewalRun.Status.READY, progress=0, message=f"Not posted: {message}"[:2000]
        )
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return run


def _seq(table: str) -> str:
    return f"pg_get_serial_sequence('{table}', 'id')"


def _post_sql(run: RenewalRun, batch: Batch, user, progress) -> Decimal:
    settings = MembershipSettings.load()
    user_id = user.pk if user is not None else None
    params = {
        "run": run.pk,
        "batch": batch.pk,
        "date": run.invoice_date,
        "due": run.invoice_date + timedelta(days=settings.terms_days),
        "method": settings.accounting_method,
        "type": Invoice.Type.MEMBERSHIP,
        "source": Invoice.Source.MEMBERSHIP_BILLING,
        "user": user_id,
        "term_source": Term.Source.RENEWAL_RUN,
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '128MB'")
        cursor.execute("DROP TABLE IF EXISTS mr_inv, mr_line, mr_numbers")
        # Prices must be those of the preview: refuse when they changed since.
        cursor.execute(
            f"""SELECT c.party_id, rl.line_number, rl.amount, p.price FROM {T["rline"]} rl
                  JOIN {T["item"]} i ON i.id = rl.item_id JOIN {T["product"]} p ON p.id = rl.product_id
                  JOIN {T["contact"]} c ON c.id = i.contact_id
                 WHERE i.run_id = %(run)s AND rl.amount <> p.price LIMIT 1""",
            params,
        )
        changed = cursor.fetchone()
        if changed:
            raise FinanceError(
                f"Member {changed[0]} line {changed[1]}: the preview's {changed[2]} is no longer the price "
                f"({changed[3]}); delete the run and create it again."
            )
        # The run's subscriptions, locked in id order (term_bill locks the same rows), then
        # the checks term_bill makes per member: still active, and the term not billed since
        # the preview (by hand, the dues importer or the API).
        cursor.execute(
            f"""SELECT s.id FROM {T["sub"]} s
                 WHERE s.id IN (SELECT i.subscription_id FROM {T["item"]} i WHERE i.run_id = %(run)s AND NOT i.skipped)
                 ORDER BY s.id FOR UPDATE""",
            params,
        )
        cursor.execute(
            f"""SELECT c.party_id, s.status, i.term_begin, i.term_end, t.term_begin, t.term_end, inv.number
                  FROM {T["item"]} i
                  JOIN {T["sub"]} s ON s.id = i.subscription_id
                  JOIN {T["contact"]} c ON c.id = i.contact_id
                  LEFT JOIN {T["term"]} t ON t.subscription_id = s.id AND t.term_begin <= i.term_end
                        AND t.term_end >= i.term_begin
                        AND EXISTS (SELECT 1 FROM {T["inv"]} x WHERE x.id = t.invoice_id AND x.reversed_at IS NULL)
                  LEFT JOIN {T["inv"]} inv ON inv.id = t.invoice_id
                 WHERE i.run_id = %(run)s AND NOT i.skipped AND (s.status <> 'active' OR t.id IS NOT NULL)
                 ORDER BY i.id LIMIT 1""",
            params,
        )
        stale = cursor.fetchone()
        if stale:
            party_id, status, begin, end, billed_begin, billed_end, number = stale
            if billed_begin is None:
                raise FinanceError(
                    f"Member {party_id}: the subscription is {status} since the preview; "
                    "delete the run and create it again."
                )
            raise FinanceError(
                f"Member {party_id}: {begin}–{end} overlaps the term {billed_begin}–{billed_end} billed on "
                f"invoice {number} since the preview; delete the run and create it again."
            )
        cursor.execute(
            f"""
            CREATE TEMP TABLE mr_inv ON COMMIT DROP AS
            SELECT i.id AS item_id, i.contact_id, i.subscription_id, i.term_begin, i.term_end, i.amount,
                   mt.name AS type_name, p.entity_id, e.currency,
                   ROW_NUMBER() OVER (ORDER BY i.id) AS pos, nextval({_seq(T["inv"])}) AS invoice_id
              FROM {T["item"]} i
              JOIN {T["mt"]} mt ON mt.id = i.member_type_id
              JOIN {T["product"]} p ON p.id = mt.fee_product_id
              JOIN {T["entity"]} e ON e.id = p.entity_id
             WHERE i.run_id = %(run)s AND NOT i.skipped
            """,
            params,
        )
        cursor.execute("CREATE INDEX ON mr_inv (item_id); CREATE INDEX ON mr_inv (pos); ANALYZE mr_inv")
        cursor.execute("SELECT COUNT(*) FROM mr_inv")
        n = cursor.fetchone()[0]
        numbers = reserve_invoice_numbers(n)
        cursor.execute("CREATE TEMP TABLE mr_numbers (pos bigint PRIMARY KEY, number varchar(20)) ON COMMIT DROP")
        with cursor.copy("COPY mr_numbers (pos, number) FROM STDIN") as copy:
            for pos, number in enumerate(numbers, start=1):
                copy.write_row((pos, number))
        progress(10)
        cursor.execute(
            f"""
            INSERT INTO {T["inv"]} (id, number, entity_id, bill_to_id, sold_to_id, date, due_date,
                                    accounting_method, type, source, currency, batch_id, description,
                                    total, balance, created_at, created_by_id)
            SELECT m.invoice_id, n.number, m.entity_id, m.contact_id, m.contact_id, %(date)s,
                   GREATEST(%(due)s::date, %(date)s::date), %(method)s, %(type)s, %(source)s, m.currency,
                   %(batch)s,
                   LEFT(m.type_name || ' ' || to_char(m.term_begin, '{SQL_DAY_FORMAT}') || '–'
                        || to_char(m.term_end, '{SQL_DAY_FORMAT}'), 200),
                   m.amount, m.amount, now(), %(user)s
              FROM mr_inv m JOIN mr_numbers n ON n.pos = m.pos
            """,
            params,
        )
        progress(30)
        cursor.execute(
            f"""
            CREATE TEMP TABLE mr_line ON COMMIT DROP AS
            SELECT m.invoice_id, m.contact_id, m.currency, m.term_begin, m.term_end, rl.line_number,
                   rl.product_id, rl.description, rl.amount, rl.account_id,
                   nextval({_seq(T["line"])}) AS line_id
              FROM mr_inv m JOIN {T["rline"]} rl ON rl.item_id = m.item_id
            """
        )
        cursor.execute(
            f"""
            INSERT INTO {T["line"]} (id, invoice_id, line_number, product_id, description, quantity, unit_price,
                                     amount, account_id, billing_begin, billing_end, balance)
            SELECT line_id, invoice_id, line_number, product_id, description, 1, amount, amount, account_id,
                   term_begin, term_end, amount
              FROM mr_line
            """
        )
        progress(55)
        cursor.execute(
            f"""
            INSERT INTO {T["term"]} (subscription_id, invoice_id, primary_line_id, term_begin, term_end, source,
                                     created_at)
            SELECT m.subscription_id, m.invoice_id, l.line_id, m.term_begin, m.term_end, %(term_source)s, now()
              FROM mr_inv m JOIN mr_line l ON l.invoice_id = m.invoice_id AND l.line_number = 1
            """,
            params,
        )
        cursor.execute(f"UPDATE {T['item']} i SET invoice_id = m.invoice_id FROM mr_inv m WHERE i.id = m.item_id")
        if settings.accounting_method == Invoice.AccountingMethod.ACCRUAL and n:
            _post_accrual_journal(cursor, params, batch)
        progress(65)
        cursor.execute("SELECT DISTINCT subscription_id FROM mr_inv")
        refresh_subscriptions([r[0] for r in cursor.fetchall()])
        progress(70)
        cursor.execute(
            f"""SELECT m.invoice_id FROM mr_inv m
                 WHERE EXISTS (SELECT 1 FROM {T["inv"]} c WHERE c.bill_to_id = m.contact_id
                                  AND c.entity_id = m.entity_id AND c.balance < 0)
                 ORDER BY m.invoice_id"""
        )
        with_credit = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT invoice_id FROM mr_inv ORDER BY invoice_id")
        invoice_ids = [r[0] for r in cursor.fetchall()]
    invoices_created.send(sender=Invoice, invoices=list(Invoice.objects.filter(pk__in=invoice_ids).order_by("pk")))
    progress(80)
    credit = ZERO
    for invoice in Invoice.objects.filter(pk__in=with_credit).select_related("bill_to").order_by("pk"):
        credit += apply_available_credit(invoice=invoice, batch=batch, date=run.invoice_date, user=user)
    return credit


def _post_accrual_journal(cursor, params, batch):
    """Accrual membership invoices: one entry per invoice, DR AR / CR each line's account."""
    cursor.execute("SELECT DISTINCT entity_id FROM mr_inv")
    entities = [r[0] for r in cursor.fetchall()]
    for entity_id in entities:
        entity = FinancialEntity.objects.get(pk=entity_id)
        ar = account_for_role(entity, "ar")
        p = dict(params, ar=ar.pk, entity=entity_id, kind=JournalEntry.Kind.INVOICE)
        cursor.execute(
            f"""
            CREATE TEMP TABLE mr_je ON COMMIT DROP AS
            SELECT m.invoice_id, m.contact_id, m.amount, m.currency, n.number, nextval({_seq(T["je"])}) AS je_id
              FROM mr_inv m JOIN mr_numbers n ON n.pos = m.pos WHERE m.entity_id = %(entity)s
            """,
            p,
        )
        cursor.execute(
            f"""
            INSERT INTO {T["je"]} (id, batch_id, date, kind, description, invoice_id, is_posted,
                                   exclude_from_gl_export, created_at)
            SELECT j.je_id, %(batch)s, %(date)s, %(kind)s, LEFT('Invoice ' || j.number || ' – ' || c.name, 200),
                   j.invoice_id, true, false, now()
              FROM mr_je j JOIN {T["contact"]} c ON c.id = j.contact_id
            """,
            p,
        )
        cursor.execute(
            f"""
            INSERT INTO {T["jl"]} (entry_id, account_id, debit, credit, currency, contact_id, description)
            SELECT je_id, %(ar)s, amount, 0, currency, contact_id, 'Invoice ' || number FROM mr_je
            UNION ALL
            SELECT j.je_id, l.account_id, 0, l.amount, l.currency, l.contact_id, l.description
              FROM mr_je j JOIN mr_line l ON l.invoice_id = j.invoice_id WHERE l.amount > 0
            """,
            p,
        )
        cursor.execute("DROP TABLE mr_je")
