"""Staging and validation: the file read into ``ARImportRow`` and every row checked."""

import datetime
import logging

from django.core.files import File
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from core.task_queue import send_task_on_commit
from finance.ar_import.parser import MAX_AMOUNT, MAX_ERRORS_KEPT, MAX_FILE_BYTES, ARFileParser, ParsedRow, _size_of
from finance.ar_import.services.allocation import T, _plan
from finance.ar_import.services.common import CHUNK, LOCK_VALIDATE, ROW_FIELDS, WARNINGS_KEPT, _progress_writer
from finance.models import (
    Batch,
    Contact,
    FinanceSettings,
    FinancialEntity,
    GLAccount,
    Invoice,
    Payment,
    PaymentMethod,
)
from finance.models_ar_import import ARImport
from finance.money import ZERO, quantize
from finance.services.batches import next_batch_number

logger = logging.getLogger(__name__)


# --- validation ---------------------------------------------------------------------------


def _lookup(model, column: str, values: list[str]) -> list[tuple[str, int]]:
    """(value, pk) of the rows of ``model`` whose ``column`` is one of ``values``. The
    values go as one array parameter (``= ANY``), not as thousands of placeholders to
    build and send."""
    if not values:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}, id FROM {model._meta.db_table} WHERE {column} = ANY(%s)", [values])
        return cursor.fetchall()


# The file's rows are read into this temporary table first (no keys, no indexes, no
# WAL), checked and planned there, and written to ``ARImportRow`` once, by one INSERT …
# SELECT with their errors, warnings and plan: the staged rows are never updated.
STAGE = "ar_stage"
STAGE_COLUMNS = [*ROW_FIELDS, "contact_id", "invoice_id"]


def _create_stage(cursor) -> None:
    """The temporary table of the rows being checked (dropped at commit), with the column
    types of ``ARImportRow``."""
    cursor.execute(
        f"DROP TABLE IF EXISTS {STAGE}; CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS"
        f" SELECT {', '.join(STAGE_COLUMNS)} FROM {T['row']} WITH NO DATA"
    )


class _RowWriter:
    """Write parsed rows to the stage table in chunks, with COPY, their customers (and,
    with auto apply off, invoices) matched per chunk."""

    def __init__(self, ar_import: ARImport, parser: ARFileParser | None = None, progress=None):
        self.ar_import = ar_import
        self.buffer: list[ParsedRow] = []
        self.parser = parser
        self.progress = progress
        self.file_size = _size_of(parser.fileobj) if parser is not None and progress is not None else None

    def _match(self) -> tuple[dict, dict]:
        """Contact ids by customer_ref (party id, or * + Major Key) and, with auto apply
        off, invoice ids by number, for the rows in the buffer (one query each)."""
        refs = {r.customer_ref for r in self.buffer if r.customer_ref}
        parties = [ref for ref in refs if ref.isdigit()]
        keys = [ref[1:] for ref in refs if ref.startswith("*") and len(ref) > 1]
        contacts = dict(_lookup(Contact, "party_id", parties))
        contacts |= {"*" + k: pk for k, pk in _lookup(Contact, "major_key", keys)}
        invoices = {}
        if not self.ar_import.auto_apply:
            numbers = [r.invoice_number for r in self.buffer if r.invoice_number]
            invoices = dict(_lookup(Invoice, "number", list(set(numbers))))
        return contacts, invoices

    def add(self, row: ParsedRow):
        self.buffer.append(row)
        if len(self.buffer) >= CHUNK:
            self.flush()

    def flush(self):
        if not self.buffer:
            return
        contacts, invoices = self._match()
        copy_sql = f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for r in self.buffer:
                copy.write_row(
                    (
                        r.line,
                        r.batch_number,
                        r.customer_ref,
                        r.date,
                        r.invoice_number,
                        r.amount,
                        r.check_number,
                        r.payer_name,
                        r.description,
                        "".join(e + "\n" for e in r.errors),
                        "".join(w + "\n" for w in r.warnings),
                        contacts.get(r.customer_ref),
                        invoices.get(r.invoice_number),
                    )
                )
        self.buffer = []
        if self.progress is not None and self.parser is not None and self.file_size:
            # Reading and staging the rows is most of the work: up to 90 %.
            self.progress(min(90, int(90 * self.parser.size / self.file_size)))


def _append(cursor, column: str, message: str, where: str, params=(), *, source: str = "") -> None:
    """Append ``message`` (an SQL expression of the stage row ``s`` and ``source``'s
    columns) and a newline to ``column`` of the stage rows matching ``where``."""
    cursor.execute(
        f"UPDATE {STAGE} s SET {column} = s.{column} || {message} || E'\\n'"
        f"{f' FROM {source}' if source else ''} WHERE {where}",
        list(params),
    )


def _import_method(cash_account: GLAccount):
    """The payment method of imported rows: an active CHECK-type method, the one whose
    cash account is the header's first, then code CHECK."""
    return (
        PaymentMethod.objects.filter(is_active=True, type=PaymentMethod.Type.CHECK)
        .annotate(
            rank=Case(
                When(cash_account=cash_account, then=Value(0)),
                When(code="CHECK", then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "code")
        .first()
    )


def _resolve_cash_account(code: str, entity: FinancialEntity | None = None) -> tuple[GLAccount | None, str]:
    """The header's cash account (or None and why not). ``code`` is a GL account code or
    ``ENTITY:CODE``; it is looked up in ``entity`` (the import's, when chosen) or in the
    entity it names; otherwise it must name one active cash account in all entities. A
    code that no GL account has is taken as iMIS writes it, a cash account code of its
    own setup: the code of a payment method, whose cash account is the one."""
    if ":" in code:
        entity_code, _, code = (part.strip() for part in code.partition(":"))
        named = FinancialEntity.objects.filter(code__iexact=entity_code).first()
        if named is None:
            return None, f"no financial entity has the code '{entity_code}' (the cash account is written ENTITY:CODE)"
        if entity is not None and named.pk != entity.pk:
            return None, f"the cash account names entity {named.code}; the import is for entity {entity.code}"
        entity = named
    accounts = list(
        GLAccount.objects.filter(code=code, is_active=True).select_related("entity").order_by("entity__code")
    )
    if not accounts:
        return _cash_account_of_method(code, entity)
    if entity is not None:
        mine = [a for a in accounts if a.entity_id == entity.pk]
        if not mine:
            elsewhere = ", ".join(a.entity.code for a in accounts if a.role == GLAccount.Role.CASH)
            hint = f" (entity {elsewhere} has one)" if elsewhere else ""
            return None, f"entity {entity.code} has no active cash account with the code '{code}'{hint}"
        accounts = mine
    cash = [a for a in accounts if a.role == GLAccount.Role.CASH]
    if len(cash) == 1:
        return cash[0], ""
    if len(cash) > 1:
        entities = ", ".join(a.entity.code for a in cash)
        return None, (
            f"cash account {code} exists in several entities ({entities}): choose the financial entity of the "
            f"import (on the upload page, or import_ar --entity {cash[0].entity.code}), or write the code as "
            f"{cash[0].entity.code}:{code}"
        )
    return None, f"GL account {code} is not a cash account (its role is {accounts[0].get_role_display()})"


def _cash_account_of_method(code: str, entity: FinancialEntity | None) -> tuple[GLAccount | None, str]:
    """iMIS names the deposit's cash account by a cash account code of its own setup
    (``CASH``, ``CHECK``, ``LOCKBOX``...), not by a GL account number: such a code is the
    code of a payment method here, whose cash account the payments debit."""
    method = (
        PaymentMethod.objects.filter(code__iexact=code, is_active=True).select_related("cash_account__entity").first()
    )
    if method is None:
        return None, f"no active cash account (GL account code or payment method code) has the code '{code}'"
    account = method.cash_account
    if account is None or account.role != GLAccount.Role.CASH or not account.is_active:
        return None, f"payment method {method.code} has no active cash account to deposit to"
    if entity is not None and account.entity_id != entity.pk:
        return None, (
            f"payment method {method.code} deposits to cash account {account.code} of entity "
            f"{account.entity.code}; the import is for entity {entity.code}"
        )
    return account, ""


def _default_cash_account_code() -> str:
    method = (
        PaymentMethod.objects.filter(is_active=True, type=PaymentMethod.Type.CHECK, cash_account__isnull=False)
        .select_related("cash_account")
        .order_by("code")
        .first()
    )
    return method.cash_account.code if method and method.cash_account else ""


def ar_import_validate(
    *,
    fileobj,
    file_name: str,
    user=None,
    auto_apply: bool | None = None,
    batch_number: str = "",
    cash_account_code: str = "",
    date: datetime.date | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    entity: FinancialEntity | None = None,
) -> ARImport:
    """Read ``fileobj`` (binary), check every row and store the preview.

    Returns the ARImport, status ``validated`` (postable) or ``invalid`` (``errors`` says
    why, naming line and field). Writes no financial record. ``auto_apply`` None means
    the finance setting; ``batch_number``, ``cash_account_code`` and ``date`` stand in for
    the BH header with plain CSV files (defaults: yymmdd-n, the CHECK method's cash
    account code, today). ``entity``: the financial entity the import is for, in which
    the cash account code is looked up (None: the code must name one cash account).
    """
    auto = FinanceSettings.load().auto_apply_cash if auto_apply is None else auto_apply
    with transaction.atomic():
        imp = ARImport.objects.create(file_name=file_name[:255], auto_apply=auto, created_by=user, entity=entity)
        return _validate(
            imp,
            fileobj,
            batch_number=batch_number,
            cash_account_code=cash_account_code,
            today=date or timezone.localdate(),
            max_bytes=max_bytes,
        )


def ar_import_upload(
    *,
    fileobj,
    file_name: str,
    user=None,
    auto_apply: bool | None = None,
    batch_number: str = "",
    cash_account_code: str = "",
    entity: FinancialEntity | None = None,
) -> ARImport:
    """Store an uploaded file (status ``uploaded``) and queue its validation in the
    worker once this transaction commits: the way for files too big to check within a
    web request. ``batch_number``, ``cash_account_code`` and ``entity`` are kept for the
    check, as with ``ar_import_validate``. The import's ``progress`` tells how much was read."""
    auto = FinanceSettings.load().auto_apply_cash if auto_apply is None else auto_apply
    with transaction.atomic():
        imp = ARImport(
            file_name=file_name[:255],
            auto_apply=auto,
            created_by=user,
            batch_number=batch_number.strip().upper()[:20],
            cash_account_code=cash_account_code.strip()[:40],
            entity=entity,
            size=getattr(fileobj, "size", 0) or 0,
        )
        imp.upload.save("lockbox.txt", File(fileobj), save=False)
        imp.save()
        send_task_on_commit("finance.tasks.validate_ar_import", imp.pk)
    return imp


def ar_import_validate_stored(*, ar_import: ARImport) -> ARImport:
    """Validate an import stored by ``ar_import_upload`` (the worker's side). Safe to run
    twice: an import no longer ``uploaded`` is returned as it is, and two runs at once
    take turns (the second finds it done). An unexpected failure leaves no rows and
    marks the import invalid with the reason."""
    imp = ARImport.objects.get(pk=ar_import.pk)
    if imp.status != ARImport.Status.UPLOADED or not imp.upload:
        return imp
    progress, pool = _progress_writer(imp.pk, status=ARImport.Status.UPLOADED)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_VALIDATE, imp.pk])
            imp = ARImport.objects.get(pk=imp.pk)
            if imp.status != ARImport.Status.UPLOADED:
                return imp
            with imp.upload.open("rb") as fh:
                return _validate(
                    imp,
                    fh,
                    batch_number=imp.batch_number,
                    cash_account_code=imp.cash_account_code,
                    today=timezone.localdate(),
                    max_bytes=MAX_FILE_BYTES,
                    progress=progress,
                )
    except Exception as exc:
        logger.exception("AR import %s: validation failed", imp.pk)
        message = f"the file could not be checked ({type(exc).__name__}: {exc})"[:500]
        ARImport.objects.filter(pk=imp.pk, status=ARImport.Status.UPLOADED).update(
            status=ARImport.Status.INVALID,
            error_count=1,
            errors=[{"line": 0, "field": "", "message": message, "level": "error"}],
            validated_at=timezone.now(),
        )
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _validate(
    imp: ARImport,
    fileobj,
    *,
    batch_number: str,
    cash_account_code: str,
    today: datetime.date,
    max_bytes: int,
    progress=None,
) -> ARImport:
    """Read the file into ``imp``'s rows, check them and store the preview (in the
    caller's transaction). ``progress(percent)`` is called as the file is read. The
    import's ``entity``, when set, is the one chosen for it."""
    auto = imp.auto_apply
    chosen_entity = imp.entity
    parser = ARFileParser(
        fileobj,
        default_date=today,
        batch_number=batch_number or next_batch_number(today),
        cash_account_code=cash_account_code,
        require_invoice_number=not auto,
        max_bytes=max_bytes,
    )
    with connection.cursor() as cursor:
        _create_stage(cursor)
    writer = _RowWriter(imp, parser, progress)
    count, total, amounts_read = 0, ZERO, 0
    for row in parser.rows():
        count += 1
        if row.amount is not None:
            total += row.amount
            amounts_read += 1
        writer.add(row)
    writer.flush()
    imp.sha256, imp.size, imp.format = parser.sha256, parser.size, parser.format
    imp.row_count, imp.total_amount = count, total
    errors = [p.as_dict() | {"level": "error"} for p in parser.errors]
    warnings = [p.as_dict() | {"level": "warning"} for p in parser.warnings]
    if total > MAX_AMOUNT:  # each row fits; their total does not (the import's, the batch's)
        imp.total_amount = None
        errors.append(
            {
                "line": 0,
                "field": "",
                "message": f"the rows add up to {total}, more than {MAX_AMOUNT}, the largest amount the ledger "
                "holds: split the file",
                "level": "error",
            }
        )
    if parser.too_big:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {STAGE}")
        imp.row_count, imp.total_amount = 0, ZERO
        return _finish(imp, errors, warnings, file_error_total=parser.error_total - len(parser.errors))

    header = parser.header
    header_line = header.line if header else 0
    _read_header(imp, parser, count=count, total=total, today=today, cash_account_code=cash_account_code)

    def header_error(field_name, message):
        errors.append({"line": header_line, "field": field_name, "message": message, "level": "error"})

    def header_warning(field_name, message):
        warnings.append({"line": header_line, "field": field_name, "message": message, "level": "warning"})

    _check_header(imp, parser, chosen_entity, header_error, header_warning)
    if imp.sha256 and (
        done := ARImport.objects.filter(
            sha256=imp.sha256, status__in=[ARImport.Status.POSTED, ARImport.Status.POSTING]
        ).first()
    ):
        errors.append(
            {
                "line": 0,
                "field": "",
                "message": f"this file was already posted (import {done.pk}, {done.file_name})",
                "level": "error",
            }
        )
    if header is not None:
        _check_controls(
            imp, parser, count=count, total=total, amounts_read=amounts_read, error=header_error, warning=header_warning
        )

    _check_rows(imp)
    return _finish(imp, errors, warnings, file_error_total=parser.error_total - len(parser.errors))


def _read_header(imp: ARImport, parser: ARFileParser, *, count, total, today, cash_account_code) -> None:
    """The import's batch, date, description, controls and cash account code, from the
    file's header (iMIS) or, for a CSV file, from the upload's choices and the rows."""
    header = parser.header
    if header is not None:
        imp.batch_number, imp.date, imp.description = header.batch_number, header.date, header.description
        imp.control_count, imp.control_amount = header.control_count, header.control_amount
        imp.cash_account_code = header.cash_account_code
    elif parser.format == "csv":
        imp.batch_number, imp.date = parser.csv_batch_number, today
        imp.description = f"AR import {imp.file_name}"[:60]
        imp.cash_account_code = cash_account_code or _default_cash_account_code()
        imp.control_count, imp.control_amount = count, total


def _check_header(imp: ARImport, parser: ARFileParser, chosen_entity, error, warning) -> None:
    """The cash account (and so the entity and the payment method) and the batch."""
    if imp.cash_account_code:
        imp.cash_account, why = _resolve_cash_account(imp.cash_account_code, chosen_entity)
        if why:
            error("cash account", why)
        elif imp.cash_account is not None:
            imp.entity = imp.cash_account.entity
            if _import_method(imp.cash_account) is None:
                error("cash account", "no active payment method of type Check to record the payments")
    elif parser.format == "csv":
        error("cash account", "no cash account given and no Check payment method names one")
    if imp.batch_number:
        existing = Batch.objects.filter(number=imp.batch_number).first()
        if existing is not None and existing.status != Batch.Status.OPEN:
            error("batch", f"batch {existing.number} exists and is {existing.get_status_display().lower()}")
        elif existing is not None:
            warning("batch", f"batch {existing.number} is open already; the payments are added to it")


def _check_controls(imp: ARImport, parser: ARFileParser, *, count, total, amounts_read, error, warning) -> None:
    """The header's control count and amount against the rows. Lines not read may be
    payments, and rows without an amount add nothing: the figures would then say nothing
    about the file (the errors of those lines and rows do)."""
    header = parser.header
    assert header is not None  # the caller checks
    if parser.unreadable:
        warning("control count", "the control count and amount are compared once every line can be read")
        return
    if header.control_count is not None and header.control_count != count:
        error("control count", f"the header says {header.control_count}; the file has {count} rows")
    if header.control_amount is None or imp.total_amount is None:
        return
    if amounts_read < count:
        warning("control amount", "compared once every row's amount can be read")
    elif header.control_amount != total:
        error("control amount", f"the header says {header.control_amount}; the rows add up to {total}")


def _check_rows(imp: ARImport):
    """Row checks that need the database, on the stage table (contacts and invoices were
    matched when the rows were read): unknown customers, repeats, rows posted before,
    invoices. Each check is one statement over the rows and writes only the rows it
    finds."""
    keyed = "s.contact_id IS NOT NULL AND s.amount IS NOT NULL"
    unmatched = "s.contact_id IS NULL AND strpos(s.errors, 'customer:') = 0"
    with connection.cursor() as cursor:
        _append(
            cursor,
            "errors",
            "'customer: no contact has party id ' || s.customer_ref",
            f"{unmatched} AND left(s.customer_ref, 1) <> '*'",
        )
        _append(
            cursor,
            "errors",
            "'customer: no contact has Major Key ' || substr(s.customer_ref, 2)",
            f"{unmatched} AND left(s.customer_ref, 1) = '*'",
        )
        # The same row twice in the file: each but the first of a (batch, customer, check
        # number, amount) names the first.
        _append(
            cursor,
            "errors",
            "'row: repeats line ' || d.first || ' (same batch, customer, check number and amount)'",
            "s.line_number > d.first AND s.batch_number = d.batch_number AND s.contact_id = d.contact_id"
            " AND s.check_number = d.check_number AND s.amount = d.amount",
            source=f"""(SELECT s.batch_number, s.contact_id, s.check_number, s.amount, MIN(s.line_number) AS first
                          FROM {STAGE} s WHERE {keyed}
                         GROUP BY s.batch_number, s.contact_id, s.check_number, s.amount
                        HAVING COUNT(*) > 1) d""",
        )
        # Already posted by another import (the unique index of posted rows finds them).
        _append(
            cursor,
            "errors",
            "'row: already posted by AR import ' || p.ar_import_id"
            " || ' (same batch, customer, check number and amount)'",
            f"{keyed} AND p.posted AND p.batch_number = s.batch_number AND p.contact_id = s.contact_id"
            " AND p.check_number = s.check_number AND p.amount = s.amount",
            source=f"{T['row']} p",
        )
        imp.repeat_count = _flag_repeats(cursor, imp)
        named = "s.invoice_number <> ''"
        if imp.auto_apply:
            _append(cursor, "warnings", "'invoice number: ignored; auto apply pays the oldest open lines first'", named)
            return
        _append(
            cursor,
            "warnings",
            "'invoice number: invoice ' || s.invoice_number || ' does not exist; the amount becomes an open credit'",
            f"{named} AND s.invoice_id IS NULL",
        )
        if imp.entity_id:
            _append(
                cursor,
                "errors",
                "'invoice number: invoice ' || s.invoice_number"
                " || ' belongs to another financial entity than the cash account'",
                f"{named} AND i.id = s.invoice_id AND i.entity_id <> %s",
                [imp.entity_id],
                source=f"{T['inv']} i",
            )
        _append(
            cursor,
            "warnings",
            "'invoice number: invoice ' || s.invoice_number || ' is billed to another contact'",
            f"{named} AND s.contact_id IS NOT NULL AND i.id = s.invoice_id AND i.bill_to_id <> s.contact_id",
            source=f"{T['inv']} i",
        )


REPEAT_WARNING = "row: the same payer, check number and amount were posted before, in batch "


def _repeats_query(imp: ARImport, *, staged: bool = False) -> tuple[str, list]:
    """SQL of the import's rows that repeat a posted payment: (row_id, line_number,
    batch_number, payment_id), the earliest such payment per row. One join of the rows
    with the payments on (payer, reference, amount): set-based, not a lookup per row.
    Rows without a check number are left out (nothing identifies the check), and so are
    reversed payments (their money left the books). ``staged``: the rows being checked
    (the stage table, whose rows are known by line number), else the import's rows."""
    rows, key, params = (f"{STAGE} r", "r.line_number", []) if staged else (f"{T['row']} r", "r.id", [imp.pk])
    sql = f"""
        SELECT m.row_id, m.line_number, b.number AS batch_number, m.payment_id
          FROM (SELECT {key} AS row_id, r.line_number, MIN(p.id) AS payment_id
                  FROM {rows}
                  JOIN {T["pay"]} p
                    ON p.payer_id = r.contact_id AND p.reference = r.check_number AND p.amount = r.amount
                 WHERE {"true" if staged else "r.ar_import_id = %s"} AND r.check_number <> '' AND p.status = %s
                 GROUP BY {key}, r.line_number) m
          JOIN {T["pay"]} fp ON fp.id = m.payment_id
          JOIN {T["batch"]} b ON b.id = fp.batch_id
    """
    return sql, [*params, Payment.Status.POSTED]


def _flag_repeats(cursor, imp: ARImport) -> int:
    """Warn on each staged row that repeats a posted payment, naming its batch (one
    statement); the number of such rows."""
    sql, params = _repeats_query(imp, staged=True)
    cursor.execute(
        f"""
        UPDATE {STAGE} s
           SET warnings = s.warnings || %s || m.batch_number || ' (payment ' || m.payment_id || ')' || %s
          FROM ({sql}) m
         WHERE s.line_number = m.row_id
        """,
        [REPEAT_WARNING, "\n", *params],
    )
    return cursor.rowcount


def _repeats_now(cursor, imp: ARImport) -> tuple[int, int | None, str | None]:
    """(rows repeating a posted payment, the first one's line, its batch) as of now."""
    sql, params = _repeats_query(imp)
    cursor.execute(
        f"SELECT COUNT(*) OVER (), line_number, batch_number FROM ({sql}) m ORDER BY line_number LIMIT 1", params
    )
    found = cursor.fetchone()
    return found if found is not None else (0, None, None)


def _problems_of_rows(cursor, column: str, level: str, room: int, out: list[dict]) -> int:
    """Add the first ``room`` staged rows' problems of ``column`` (in line order) to
    ``out``; the number of rows that have any."""
    cursor.execute(f"SELECT COUNT(*) FROM {STAGE} WHERE {column} <> ''")
    count = cursor.fetchone()[0]
    if count and room > 0:
        cursor.execute(
            f"SELECT line_number, {column} FROM {STAGE} WHERE {column} <> '' ORDER BY line_number LIMIT %s", [room]
        )
        for line, text in cursor.fetchall():
            for part in text.split("\n"):
                if part:
                    field_name, _, message = part.partition(": ")
                    out.append({"line": line, "field": field_name, "message": message, "level": level, "row": True})
    return count


def _finish(imp: ARImport, errors: list[dict], warnings: list[dict], *, file_error_total: int) -> ARImport:
    """Store the problems and counts (``file_error_total``: the parser's errors not kept
    in ``errors``), then, when nothing is wrong, the preview (each row's plan); write the
    staged rows to ``ARImportRow`` with their problems and plans (one INSERT … SELECT)."""
    with connection.cursor() as cursor:
        n_file_errors = len(errors)
        n_row_errors = _problems_of_rows(cursor, "errors", "error", MAX_ERRORS_KEPT - len(errors), errors)
        imp.error_count = n_file_errors + file_error_total + n_row_errors
        n_warnings = len(warnings)
        imp.warning_count = n_warnings + _problems_of_rows(
            cursor, "warnings", "warning", WARNINGS_KEPT - n_warnings, warnings
        )
        imp.errors = errors[:MAX_ERRORS_KEPT] + warnings[:WARNINGS_KEPT]
        imp.validated_at = timezone.now()
        planned = imp.error_count == 0
        if planned:
            imp.status = ARImport.Status.VALIDATED
            _plan(cursor, imp, rows=STAGE)
            cursor.execute(
                "SELECT COALESCE(SUM(applied), 0), COALESCE(SUM(amount - applied), 0),"
                " COUNT(*) FILTER (WHERE amount > applied) FROM ar_plan"
            )
            applied, credit, imp.credit_count = cursor.fetchone()
            imp.applied_amount, imp.credit_amount = quantize(applied), quantize(credit)
        else:
            imp.status = ARImport.Status.INVALID
        _write_rows(cursor, imp, planned=planned)
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}, ar_plan")
    imp.save()
    return imp


def _write_rows(cursor, imp: ARImport, *, planned: bool) -> None:
    """The staged rows into ``ARImportRow``, in line order, with their plans (none when
    the import is invalid)."""
    columns = ", ".join(STAGE_COLUMNS)
    staged = ", ".join(f"s.{c}" for c in STAGE_COLUMNS)
    plan = "COALESCE(p.applied, 0), COALESCE(p.amount - p.applied, 0), COALESCE(p.text, '')" if planned else "0, 0, ''"
    join = "LEFT JOIN ar_plan p ON p.row_id = s.line_number" if planned else ""
    cursor.execute(
        f"""
        INSERT INTO {T["row"]} (ar_import_id, {columns}, plan_applied, plan_credit, plan_text, posted)
        SELECT %s, {staged}, {plan}, false
          FROM {STAGE} s {join}
         ORDER BY s.line_number
        """,
        [imp.pk],
    )


def problems(imp: ARImport, level: str = "error") -> list[str]:
    """The stored problems of ``level`` as "Line n, field: message" strings."""
    out = []
    for p in imp.errors:
        if p.get("level", "error") != level:
            continue
        where = f"Line {p['line']}" if p["line"] else "File"
        out.append(f"{where}, {p['field']}: {p['message']}" if p["field"] else f"{where}: {p['message']}")
    return out
