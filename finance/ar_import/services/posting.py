"""Posting: all rows or none in one transaction, recovery of a stopped posting, queueing
and discarding."""

import logging

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from core.task_queue import send_task_on_commit
from finance.ar_import.services.allocation import T, _drop_temp, _sql_allocate
from finance.ar_import.services.common import (
    PLAN_TEXT_MAX,
    POSTING,
    ARImportError,
    DuplicateImport,
    RepeatsNotConfirmed,
    _progress_writer,
    pluralize,
)
from finance.ar_import.services.validation import _import_method, _repeats_now
from finance.errors import FinanceError, LedgerMisconfigured
from finance.models import (
    Batch,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
)
from finance.models_ar_import import INTERRUPTED_MESSAGE, ARImport, ARImportRow
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.batches import batch_create, lock_batch_for_writing
from finance.services.invoices import reserve_invoice_numbers
from finance.services.rows import id_sequence

logger = logging.getLogger(__name__)


# --- posting ------------------------------------------------------------------------------


def ar_import_post(*, ar_import: ARImport, user=None, allow_repeats: bool = False) -> ARImport:
    """Post a validated import: all rows or none. Safe to call twice (a posted import is
    returned unchanged), set-based (``_post_sql``). ``allow_repeats`` confirms rows that repeat payments posted before
    (same payer, check number and amount): without it such an import is refused, also
    when the payments were posted after the preview. Raises ARImportError when the
    import cannot be posted; a failure while posting leaves nothing written, marks the
    import failed and re-raises."""
    imp = ARImport.objects.get(pk=ar_import.pk)
    if imp.status == ARImport.Status.POSTED:
        return imp
    if not imp.is_postable:
        raise ARImportError(f"AR import {imp.pk} is {imp.get_status_display().lower()}; it cannot be posted.")
    with _posting_lock(imp.pk) as held:
        if not held:
            raise ARImportError(f"AR import {imp.pk} is being posted already.")
        return _post_holding_lock(imp, user, allow_repeats)


_posting_lock = POSTING.lock


INTERRUPTED = INTERRUPTED_MESSAGE


def ar_import_recover(*, ar_import: ARImport) -> bool:
    """Release an import left "posting" by a worker that stopped (killed, lost its
    connection) so it can be posted again: it becomes "failed" with a message saying so.

    A posting is one transaction that also sets "posted", so an import still "posting"
    whose posting has ended posted nothing. The posting's session holds the import's
    advisory lock for as long as it runs: when the lock can be taken, no posting is
    running. Returns True when the import was released,
    False when it is not "posting" or its posting is still running. Safe to call twice.
    """
    released = POSTING.recover(
        ar_import.pk,
        lambda rows, imp: rows.update(status=ARImport.Status.FAILED, progress=0, message=INTERRUPTED),
    )
    if released:
        logger.warning("AR import %s: released an interrupted posting; it can be posted again", ar_import.pk)
    return bool(released)


def _rows_posted_before(imp: ARImport) -> bool:
    """Whether a row of ``imp`` was posted by another import under the same batch (what
    the partial unique constraint on posted rows refuses)."""
    posted = ARImportRow.objects.filter(
        posted=True,
        batch_number=OuterRef("batch_number"),
        contact_id=OuterRef("contact_id"),
        check_number=OuterRef("check_number"),
        amount=OuterRef("amount"),
    )
    return ARImportRow.objects.filter(ar_import=imp).filter(Exists(posted)).exists()


def _repeats_message(imp: ARImport, count: int, line: int | None, batch: str | None) -> str:
    return (
        f"AR import {imp.pk}: {count} row{'s' if count != 1 else ''} repeat{'' if count != 1 else 's'} payments "
        f"posted before (same payer, check number and amount; line {line}: batch {batch}). "
        "Nothing was posted; confirm the repeats to post them anyway."
    )


def _post_holding_lock(imp: ARImport, user, allow_repeats: bool = False) -> ARImport:
    # Claim it: only one posting at a time, and never a file already posted.
    try:
        with transaction.atomic():
            claimed = ARImport.objects.filter(
                pk=imp.pk, status__in=[ARImport.Status.VALIDATED, ARImport.Status.FAILED]
            ).update(status=ARImport.Status.POSTING, progress=0, posting_started_at=timezone.now(), message="")
    except IntegrityError:
        other = ARImport.objects.filter(sha256=imp.sha256, status__in=["posting", "posted"]).exclude(pk=imp.pk).first()
        raise DuplicateImport(
            f"This file is already {other.get_status_display().lower() if other else 'posted'}"
            f"{f' as AR import {other.pk}' if other else ''}."
        ) from None
    if not claimed:
        imp.refresh_from_db()
        if imp.status == ARImport.Status.POSTED:
            return imp
        raise ARImportError(f"AR import {imp.pk} is {imp.get_status_display().lower()} already.")
    progress, pool = _progress_writer(imp.pk)
    try:
        with transaction.atomic():
            imp = ARImport.objects.select_related("cash_account", "entity").get(pk=imp.pk)
            if not allow_repeats:
                with connection.cursor() as cursor:
                    count, line, batch_number = _repeats_now(cursor, imp)
                if count and _rows_posted_before(imp):
                    raise ARImportError(_already_posted_message(imp))  # no confirmation posts those
                if count:
                    raise RepeatsNotConfirmed(_repeats_message(imp, count, line, batch_number), count)
            batch = _import_batch(imp, user)
            _post_sql(imp, batch, user, progress)
            agg = ARImportRow.objects.filter(ar_import=imp).aggregate(
                a=Sum("plan_applied"), c=Sum("plan_credit"), n=Count("pk", filter=Q(plan_credit__gt=0))
            )
            imp.applied_amount, imp.credit_amount, imp.credit_count = (
                quantize(agg["a"] or ZERO),
                quantize(agg["c"] or ZERO),
                agg["n"],
            )
            imp.status, imp.batch, imp.progress = ARImport.Status.POSTED, batch, 100
            imp.posted_by, imp.posted_at = user, timezone.now()
            imp.save()
    except Exception as exc:
        message = str(exc) if isinstance(exc, FinanceError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, IntegrityError) and "ar_import_row_posted_once" in str(exc):
            message = _already_posted_message(imp)
            exc = ARImportError(message)
        # Repeats found only now (posted since the preview): the page offers the confirmation.
        repeats = {"repeat_count": exc.count} if isinstance(exc, RepeatsNotConfirmed) else {}
        ARImport.objects.filter(pk=imp.pk).update(
            status=ARImport.Status.FAILED, message=message[:2000], progress=0, **repeats
        )
        if isinstance(exc, ARImportError):
            raise exc from None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return imp


def _already_posted_message(imp: ARImport) -> str:
    return (
        f"AR import {imp.pk}: a row of this file (same batch, customer, check number and amount) "
        "was posted by another import; nothing was posted."
    )


def _import_batch(imp: ARImport, user) -> Batch:
    batch = Batch.objects.filter(number=imp.batch_number).first()
    if batch is None:
        try:
            with transaction.atomic():
                batch = _create_import_batch(imp, user)
        except IntegrityError:  # another import opened it meanwhile: add to it
            batch = Batch.objects.get(number=imp.batch_number)
    return lock_batch_for_writing(batch)


def _create_import_batch(imp: ARImport, user) -> Batch:
    assert imp.date is not None  # a validated import has its date
    return batch_create(
        date=imp.date,
        number=imp.batch_number,
        description=(imp.description or f"AR import {imp.pk}")[:200],
        control_count=imp.control_count,
        control_amount=imp.control_amount,
        user=user,
    )


def _insert(cursor, model, cols: dict[str, str], source: str, params: dict | None = None):
    """INSERT INTO the model's table (cols…) SELECT exprs FROM ``source``. NOT NULL columns
    not named get the field's default as a parameter, so fields added later with a
    default need no change here. ``params`` are named (%(name)s)."""
    params = dict(params or {})
    names, exprs = [], []
    for i, f in enumerate(model._meta.concrete_fields):
        if f.column in cols:
            names.append(f.column)
            exprs.append(cols[f.column])
        elif not f.null and not f.primary_key:
            default = f.get_default()  # "" for text fields without a default
            if default is None:
                raise FinanceError(f"{model.__name__}.{f.name} needs a value in the AR import")
            params[f"_d{i}"] = default
            names.append(f.column)
            exprs.append(f"%(_d{i})s")
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) SELECT {', '.join(exprs)} FROM {source}", params
    )


def _post_sql(imp: ARImport, batch: Batch, user, progress):
    """Set-based posting on PostgreSQL (see the module docstring)."""
    assert imp.cash_account is not None and imp.entity is not None  # a validated import has both
    method = _import_method(imp.cash_account)
    entity = imp.entity
    user_id = user.pk if user is not None else None
    with connection.cursor() as cursor:
        _foreign_keys_immediate(cursor)
        progress(5)
        _sql_allocate(cursor, imp, lock=True)
        progress(30)
        cursor.execute(
            f"""
            CREATE TEMP TABLE ar_pay ON COMMIT DROP AS
            SELECT s.*, nextval({id_sequence(cursor, T["pay"])}) AS payment_id
              FROM (SELECT ar.row_id, ar.line_number, ar.contact_id, ar.amount, ar.date, ar.check_number,
                           ar.amount - COALESCE(a.applied, 0) AS residual, COALESCE(a.text, '') AS plan_text
                      FROM ar_rows ar
                      LEFT JOIN (SELECT row_id, SUM(amount) AS applied,
                                        LEFT(STRING_AGG(inv_number || '/' || line_no || ' ' || amount, ', '
                                                        ORDER BY ord), {PLAN_TEXT_MAX}) AS text
                                   FROM ar_app GROUP BY row_id) a
                             ON a.row_id = ar.row_id
                     ORDER BY ar.line_number) s
            """
        )
        cursor.execute("ANALYZE ar_pay")  # joined with hashes: no index
        cursor.execute("SELECT COUNT(*) FROM ar_pay WHERE residual > 0")
        n_credits = cursor.fetchone()[0]
        numbers = reserve_invoice_numbers(n_credits)
        unapplied_id = account_for_role(entity, GLAccount.Role.UNAPPLIED_CASH).pk if n_credits else None
        cursor.execute("CREATE TEMP TABLE ar_numbers (pos bigint PRIMARY KEY, number varchar(20)) ON COMMIT DROP")
        if numbers:
            with cursor.copy("COPY ar_numbers (pos, number) FROM STDIN") as copy:
                for pos, number in enumerate(numbers, start=1):
                    copy.write_row((pos, number))
        invoice_seq, line_seq = id_sequence(cursor, T["inv"]), id_sequence(cursor, T["line"])
        cursor.execute(
            f"""
            CREATE TEMP TABLE ar_credit ON COMMIT DROP AS
            SELECT c.*, n.number, nextval({invoice_seq}) AS invoice_id, nextval({line_seq}) AS line_id
              FROM (SELECT p.*, ROW_NUMBER() OVER (ORDER BY p.line_number) AS pos FROM ar_pay p WHERE p.residual > 0) c
              JOIN ar_numbers n ON n.pos = c.pos
            """
        )
        cursor.execute("ANALYZE ar_credit")
        progress(40)
        _insert(
            cursor,
            Payment,
            {
                "id": "payment_id",
                "payer_id": "contact_id",
                "method_id": "%(method)s",
                "entity_id": "%(entity)s",
                "cash_account_id": "%(cash)s",
                "amount": "amount",
                "currency": "%(currency)s",
                "date": "date",
                "reference": "LEFT(check_number, 100)",
                "batch_id": "%(batch)s",
                "status": "%(status)s",
                "source": "%(source)s",
                "amount_applied": "amount",
                "created_at": "now()",
                "created_by_id": "%(user)s",
            },
            "ar_pay",
            {
                "method": method.pk,
                "entity": entity.pk,
                "cash": imp.cash_account_id,
                "currency": entity.currency,
                "batch": batch.pk,
                "status": Payment.Status.POSTED,
                "source": Payment.Source.IMPORT,
                "user": user_id,
            },
        )
        # Mark the rows posted with their payments: the partial unique constraint on posted
        # rows refuses (or waits for) a concurrent import of the same rows.
        try:
            with transaction.atomic():
                cursor.execute(
                    f"""
                    UPDATE {T["row"]} r
                       SET posted = true, payment_id = p.payment_id, plan_applied = p.amount - p.residual,
                           plan_credit = p.residual, plan_text = p.plan_text
                      FROM ar_pay p
                     WHERE r.id = p.row_id
                    """
                )
        except IntegrityError as exc:
            if "ar_import_row_posted_once" in str(exc):
                raise ARImportError(_already_posted_message(imp)) from None
            raise
        progress(50)
        if n_credits:
            desc = "LEFT('Unapplied rest of payment ' || payment_id, 200)"
            _insert(
                cursor,
                Invoice,
                {
                    "id": "invoice_id",
                    "number": "number",
                    "entity_id": "%(entity)s",
                    "bill_to_id": "contact_id",
                    "sold_to_id": "contact_id",
                    "date": "date",
                    "due_date": "date",
                    "accounting_method": "%(method)s",
                    "type": "%(type)s",
                    "source": "%(source)s",
                    "currency": "%(currency)s",
                    "batch_id": "%(batch)s",
                    "description": desc,
                    "total": "0",
                    "balance": "-residual",
                    "created_at": "now()",
                    "created_by_id": "%(user)s",
                },
                "ar_credit",
                {
                    "entity": entity.pk,
                    "method": Invoice.AccountingMethod.ACCRUAL,
                    "type": Invoice.Type.CREDIT,
                    "source": Invoice.Source.PAYMENT,
                    "currency": entity.currency,
                    "batch": batch.pk,
                    "user": user_id,
                },
            )
            _insert(
                cursor,
                InvoiceLine,
                {
                    "id": "line_id",
                    "invoice_id": "invoice_id",
                    "line_number": "1",
                    "description": desc,
                    "quantity": "1",
                    "unit_price": "0",
                    "amount": "0",
                    "account_id": "%(account)s",
                    "balance": "-residual",
                },
                "ar_credit",
                {"account": unapplied_id},
            )
        progress(60)
        app_cols = {
            "payment_id": "payment_id",
            "line_id": "line_id",
            "invoice_id": "invoice_id",
            "amount": "amount",
            "kind": "%(kind)s",
            "is_reversal": "false",
            "created_at": "now()",
        }
        kind = {"kind": PaymentApplication.Kind.APPLY}
        _insert(
            cursor,
            PaymentApplication,
            app_cols,
            "(SELECT p.payment_id, a.line_id, a.invoice_id, a.amount, a.ord FROM ar_app a "
            "JOIN ar_pay p ON p.row_id = a.row_id ORDER BY a.ord) s",
            kind,
        )
        if n_credits:
            _insert(cursor, PaymentApplication, app_cols | {"amount": "residual"}, "ar_credit", kind)
        cursor.execute(
            f"""
            UPDATE {T["line"]} l SET balance = l.balance - s.amount
              FROM (SELECT line_id, SUM(amount) AS amount FROM ar_app GROUP BY line_id) s
             WHERE l.id = s.line_id
            """
        )
        cursor.execute(
            f"""
            UPDATE {T["inv"]} i SET balance = i.balance - s.amount
              FROM (SELECT invoice_id, SUM(amount) AS amount FROM ar_app GROUP BY invoice_id) s
             WHERE i.id = s.invoice_id
            """
        )
        progress(70)
        _post_journal_sql(cursor, imp, batch, method, entity, unapplied_id)
        progress(90)
        _drop_temp(cursor)
        cursor.execute("DROP TABLE IF EXISTS ar_pay, ar_numbers")


def _foreign_keys_immediate(cursor):
    """Check the foreign keys left on the tables the posting writes (Django declares
    them DEFERRABLE INITIALLY DEFERRED; most of these tables' references are checked
    per statement by triggers instead, see finance.references) as each statement ends,
    for this transaction only: they do not pile up a queue of events in the server's
    memory for the commit, and a bad reference fails the statement that wrote it. The
    journal balance check stays deferred (to the commit), as for every writer."""
    tables = [T[k] for k in ("pay", "app", "inv", "line", "je", "jl", "row")]
    cursor.execute(
        """
        SELECT quote_ident(c.conname) FROM pg_constraint c
         WHERE c.contype = 'f' AND c.condeferrable AND c.conrelid = ANY (%s::regclass[])
         ORDER BY c.conname
        """,
        [tables],
    )
    names = [r[0] for r in cursor.fetchall()]
    if names:
        cursor.execute(f"SET CONSTRAINTS {', '.join(names)} IMMEDIATE")


def _post_journal_sql(cursor, imp, batch, method, entity, unapplied_id):
    """The import's journal as a summary: one payment entry per payment date (two when
    it pays cash-basis membership lines, which stay out of the GL export), one line per
    account: DR cash by what the entry credits; CR AR for accrual lines, the line's
    account for cash-basis lines, unapplied cash for the credits (the posting rule of
    ``finance.services.journal.line_posting_account``, per application). Each entry
    names the import (``ar_import``); a payment's share of it is recomputed from its
    applications, which ``payment_reverse`` reverses and ``verify_ledger`` checks."""
    try:
        ar_id = account_for_role(entity, GLAccount.Role.AR).pk
    except LedgerMisconfigured:
        ar_id = None
        cursor.execute(
            f"""SELECT EXISTS (SELECT 1 FROM ar_app a JOIN {T["inv"]} i ON i.id = a.invoice_id
                 WHERE i.type <> %s AND i.accounting_method = %s)""",
            [Invoice.Type.CREDIT, Invoice.AccountingMethod.ACCRUAL],
        )
        if cursor.fetchone()[0]:
            raise
    cursor.execute(
        """
        CREATE TEMP TABLE ar_legs ON COMMIT DROP AS
        SELECT p.date, x.account_id, x.excluded, SUM(x.amount) AS amount
          FROM (SELECT a.row_id,
                       CASE WHEN a.inv_type = %(credit)s OR a.inv_method = %(cash)s THEN a.account_id
                            ELSE %(ar)s END AS account_id,
                       (a.inv_method = %(cash)s AND a.inv_type = %(membership)s) AS excluded,
                       a.amount
                  FROM ar_app a
                UNION ALL
                SELECT row_id, %(unapplied)s, false, residual FROM ar_credit) x
          JOIN ar_pay p ON p.row_id = x.row_id
         GROUP BY p.date, x.account_id, x.excluded
        HAVING SUM(x.amount) > 0
        """,
        {
            "credit": Invoice.Type.CREDIT,
            "cash": Invoice.AccountingMethod.CASH,
            "membership": Invoice.Type.MEMBERSHIP,
            "ar": ar_id,
            "unapplied": unapplied_id,
        },
    )
    cursor.execute(
        f"""
        CREATE TEMP TABLE ar_entries ON COMMIT DROP AS
        SELECT s.*, nextval({id_sequence(cursor, T["je"])}) AS entry_id
          FROM (SELECT g.date, g.excluded, SUM(g.amount) AS amount,
                       (SELECT COUNT(*) FROM ar_pay p WHERE p.date = g.date) AS payments
                  FROM ar_legs g
                 GROUP BY g.date, g.excluded
                 ORDER BY g.date, g.excluded) s
        """
    )
    je_cols = {
        "id": "entry_id",
        "batch_id": "%(batch)s",
        "date": "date",
        "kind": "%(kind)s",
        "description": "LEFT(%(label)s::text || payments || ' payment' || CASE WHEN payments = 1 THEN '' ELSE 's' END"
        " || CASE WHEN excluded THEN ' (cash-basis membership)' ELSE '' END, 200)",
        "invoice_id": "NULL",
        "payment_id": "NULL",
        "reversal_of_id": "NULL",
        "ar_import_id": "%(imp)s",
        "is_posted": "true",
        "exclude_from_gl_export": "excluded",
        "created_at": "now()",
    }
    _insert(
        cursor,
        JournalEntry,
        je_cols,
        "ar_entries",
        {"batch": batch.pk, "kind": JournalEntry.Kind.PAYMENT, "imp": imp.pk, "label": f"AR import {imp.pk}: "},
    )
    jl_cols = {
        "entry_id": "entry_id",
        "account_id": "account_id",
        "debit": "debit",
        "credit": "credit",
        "currency": "%(currency)s",
        "contact_id": "NULL",
        "description": "description",
    }
    params = {"cash": imp.cash_account_id, "currency": entity.currency, "label": f"{method.code} AR import {imp.pk}"}
    _insert(
        cursor,
        JournalLine,
        jl_cols,
        "(SELECT e.entry_id, %(cash)s AS account_id, e.amount AS debit, 0 AS credit,"
        " LEFT(%(label)s::text, 200) AS description, 0 AS leg FROM ar_entries e"
        " UNION ALL"
        " SELECT e.entry_id, g.account_id, 0, g.amount, '', 1"
        " FROM ar_legs g JOIN ar_entries e ON e.date = g.date AND e.excluded = g.excluded"
        " ORDER BY entry_id, leg, account_id) s",
        params,
    )


def ar_import_queue_post(*, ar_import: ARImport, user=None, allow_repeats: bool = False) -> None:
    """Queue the posting in the Celery worker once the caller's transaction commits.
    An import whose preview flagged repeats needs ``allow_repeats`` (the confirmation)."""
    if not ar_import.is_postable:
        raise ARImportError(
            f"AR import {ar_import.pk} is {ar_import.get_status_display().lower()}; it cannot be posted."
        )
    if ar_import.repeat_count and not allow_repeats:
        raise ARImportError(
            f"{ar_import.repeat_count} row{pluralize(ar_import.repeat_count)} of this file repeat payments posted "
            "before (same payer, check number and amount): confirm that they are to be posted again."
        )
    user_id = user.pk if user is not None else None
    send_task_on_commit("finance.tasks.post_ar_import", ar_import.pk, user_id, allow_repeats)


def ar_import_discard(*, ar_import: ARImport, user=None) -> ARImport:
    """Set aside an import that was not posted (validated, invalid or failed; not one
    being checked, posting or posted): it can no longer be posted and the import list
    hides it. Nothing was posted, so nothing in the ledger changes. The record stays
    (status "discarded", who and when, file name, hash, counts and problems), and so does
    an uploaded file stored for the worker; the staged rows are deleted. Under the
    import's row lock, so a posting claimed at the same time waits and then finds it
    discarded (or the discard finds it posting and refuses). Safe to call twice."""
    with transaction.atomic():
        imp = ARImport.objects.select_for_update().get(pk=ar_import.pk)
        if imp.status == ARImport.Status.DISCARDED:
            return imp
        if not imp.is_discardable:
            raise ARImportError(
                f"AR import {imp.pk} is {imp.get_status_display().lower()}; only an import that was not posted "
                "(validated, invalid or failed) can be discarded."
            )
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {T['row']} WHERE ar_import_id = %s", [imp.pk])
        imp.status, imp.discarded_at, imp.discarded_by = ARImport.Status.DISCARDED, timezone.now(), user
        imp.save(update_fields=["status", "discarded_at", "discarded_by"])
    return imp
