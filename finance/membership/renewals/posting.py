"""Renewal runs: post the reviewed preview, every invoice or none, in one transaction."""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.dates import SQL_DAY_FORMAT
from finance.errors import FinanceError
from finance.jobs import Job
from finance.membership.models import (
    MembershipSettings,
    RenewalRun,
    Term,
)
from finance.membership.renewals.build import T
from finance.membership.services import apply_available_credit
from finance.membership.sql import refresh_subscriptions
from finance.models import Batch, FinancialEntity, Invoice, JournalEntry
from finance.money import ZERO
from finance.services.accounts import account_for_role
from finance.services.batches import batch_set_controls, batch_totals, batch_transition, lock_batch
from finance.services.invoices import reserve_invoice_numbers
from finance.services.rows import id_sequence
from finance.signals import invoices_created

logger = logging.getLogger(__name__)


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
                   ROW_NUMBER() OVER (ORDER BY i.id) AS pos, nextval({id_sequence(cursor, T["inv"])}) AS invoice_id
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
                   nextval({id_sequence(cursor, T["line"])}) AS line_id
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
            SELECT m.invoice_id, m.contact_id, m.amount, m.currency, n.number,
                   nextval({id_sequence(cursor, T["je"])}) AS je_id
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
