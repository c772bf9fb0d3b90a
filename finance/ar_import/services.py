"""AR payment import ("lockbox"): validate a file into a preview, then post it whole.

Rules kept here:
- ``ar_import_validate`` reads the file streaming (``finance.ar_import.parser``), writes
  every row to ``ARImportRow`` (COPY on PostgreSQL) and checks every row before anything
  is posted: the customer matches a contact by party id or ``*`` + Major Key; a row
  repeating an earlier row of the file, or a row already posted by another import (same
  batch, customer, check number and amount) is refused; the header's cash account is an
  active cash account; the header's control count and amount equal the rows'; the file
  (by content hash) was not posted before. With auto apply off the invoice number is
  required; an invoice in another entity is refused. No field holds a control character
  and no amount, nor the rows' total, is more than the ledger's columns hold
  (``MAX_AMOUNT``); a file without a payment is refused. When nothing is wrong, each
  row's plan (what it pays, the credit it leaves) is stored: that is the preview.
- The import's financial entity: the header's cash account code is looked up in the
  entity the import is for (chosen on upload or with ``import_ar --entity``); a code
  written ``ENTITY:CODE`` names its entity itself. Without a choice the code must name
  one active cash account in all the entities (as with a single entity). A code that
  is no GL account's is read as iMIS writes it (its own cash account codes: ``CASH``,
  ``CHECK``...): the payment method of that code, whose cash account is debited.
- Repeats: a row whose payer, check number and amount equal those of a payment posted
  before (any batch, any source; reversed payments and rows without a check number
  aside) is flagged with a warning naming that payment's batch (one set-based query
  joining the staged rows to the payments). Posting an import with such rows needs
  ``allow_repeats=True`` (the confirmation); the posting checks again, in its
  transaction, for payments posted since the preview.
- Applying follows ``finance.services.payments``: auto apply pays the payer's open
  positive lines in the import's entity, oldest invoice date first (then invoice id, then
  line number), each closed before the next; rows of the same payer apply in file order
  (the second sees what the first paid); the rest becomes an open credit invoice. With
  auto apply off a row pays the named invoice's positive lines in line order and an
  overpayment goes on its last positive line (its balance goes negative); an invoice
  that does not exist, or has no positive line left, leaves the whole amount as open
  credit. Lines with a zero or negative balance are never paid.
- ``ar_import_post`` posts all rows or none, in one transaction, into the batch named by
  the header (created with the header's controls, or an existing Open batch of that
  number). Each row is a payment (source "import") debiting the header's cash account
  and crediting AR for accrual lines, the line's account for cash-basis lines, and
  unapplied cash for the credit. It is set-based SQL: window functions allocate, bulk
  INSERT…SELECT writes payments, applications and credit invoices, and the journal is a
  summary of the import (an entry per payment date, a line per account, naming the
  import) rather than an entry per payment: each payment's share is its applications,
  from which ``payment_reverse`` reverses it and ``verify_ledger`` checks the summary.
- Never twice: rows are marked posted in the posting transaction under a partial unique
  constraint (batch, customer, check number, amount); the import's content hash is
  unique among imports that are posting or posted. An import already posted is a no-op.
- A worker that stops while posting (killed, lost connection) leaves the import
  "posting" with nothing posted (the posting is one transaction, which also sets
  "posted"). The posting's session holds the import's advisory lock throughout, so
  ``ar_import_recover`` can tell a live posting from a dead one and release the latter
  ("failed", postable again); the post task does so when the broker redelivers it.
- Big uploads: ``ar_import_upload`` stores the file and the worker validates it
  (``ar_import_validate_stored``), recording progress as it reads; the parser streams,
  so memory does not grow with the file.
- ``ar_import_discard`` sets aside an import that was not posted (validated, invalid or
  failed): nothing was posted, so the ledger does not change. Its record stays (file
  name, hash, counts, problems, who discarded it and when; an uploaded file stored for
  the worker is kept too) and the import list hides it; its staged rows are deleted.
"""

import datetime
import logging

from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, Exists, F, IntegerField, Min, OuterRef, Q, Subquery, Sum, Value, When, Window
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from core.task_queue import send_task_on_commit
from finance.ar_import.parser import MAX_AMOUNT, MAX_ERRORS_KEPT, MAX_FILE_BYTES, ARFileParser, ParsedRow, _size_of
from finance.errors import FinanceError, LedgerMisconfigured
from finance.jobs import Job
from finance.models import (
    Batch,
    Contact,
    FinanceSettings,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    PaymentMethod,
)
from finance.models_ar_import import INTERRUPTED_MESSAGE, ARImport, ARImportRow
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.batches import batch_create, lock_batch_for_writing, next_batch_number
from finance.services.invoices import reserve_invoice_numbers

logger = logging.getLogger(__name__)

CHUNK = 5000
# Advisory lock namespaces (first key; the second is the import's id): a posting holds
# LOCK_POST on its session from before it claims the import until it has finished, so
# "posting" without the lock held means the worker stopped; validation in the worker
# holds LOCK_VALIDATE for its transaction.
LOCK_POST = 0x4152
LOCK_VALIDATE = 0x4153
# An import's posting (see ``finance.jobs``): its lock is held for as long as it runs.
POSTING = Job("AR import", LOCK_POST, ARImport, ARImport.Status.POSTING)
PLAN_TEXT_MAX = 500
WARNINGS_KEPT = 100  # on the import, for the command's output (the page shows each row's)
ROW_FIELDS = [
    "line_number",
    "batch_number",
    "customer_ref",
    "date",
    "invoice_number",
    "amount",
    "check_number",
    "payer_name",
    "description",
    "errors",
    "warnings",
]


class ARImportError(FinanceError):
    """The import cannot be posted (invalid, already posted, a row posted elsewhere)."""


class DuplicateImport(ARImportError):
    pass


class RepeatsNotConfirmed(ARImportError):
    """Rows repeat payments posted before; posting them needs the confirmation."""

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count


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


class _RowWriter:
    """Write parsed rows to ARImportRow in chunks, with COPY."""

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
        table = ARImportRow._meta.db_table
        extra = ["plan_applied", "plan_credit", "plan_text", "posted", "contact_id", "invoice_id"]
        cols = ", ".join(["ar_import_id", *ROW_FIELDS, *extra])
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for r in self.buffer:
                copy.write_row(
                    (
                        self.ar_import.pk,
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
                        ZERO,
                        ZERO,
                        "",
                        False,
                        contacts.get(r.customer_ref),
                        invoices.get(r.invoice_number),
                    )
                )
        self.buffer = []
        if self.progress is not None and self.parser is not None and self.file_size:
            # Reading and staging the rows is most of the work: up to 90 %.
            self.progress(min(90, int(90 * self.parser.size / self.file_size)))


def _append(qs, column: str, *parts):
    """Append a message (parts: str or expressions) and a newline to ``column`` of ``qs``."""
    pieces = [Value(p) if isinstance(p, str) else p for p in parts]
    return qs.update(**{column: Concat(F(column), *pieces, Value("\n"))})


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
        ARImportRow.objects.filter(ar_import=imp).delete()
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
    """Row checks that need the database (contacts and invoices were matched when the
    rows were written): unknown customers, repeats, rows posted before, invoices."""
    rows = ARImportRow.objects.filter(ar_import=imp)
    unmatched = rows.filter(contact__isnull=True).exclude(errors__contains="customer:")
    _append(
        unmatched.exclude(customer_ref__startswith="*"),
        "errors",
        "customer: no contact has party id ",
        F("customer_ref"),
    )
    _append(
        unmatched.filter(customer_ref__startswith="*"),
        "errors",
        "customer: no contact has Major Key ",
        Substr(F("customer_ref"), 2),
    )
    keyed = rows.filter(contact__isnull=False, amount__isnull=False)
    # The same row twice in the file.
    dupes = (
        keyed.annotate(
            first=Window(
                Min("line_number"), partition_by=[F("batch_number"), F("contact_id"), F("check_number"), F("amount")]
            )
        )
        .filter(line_number__gt=F("first"))
        .values_list("pk", "first")
    )
    by_first: dict[int, list[int]] = {}
    for pk, first in dupes:
        by_first.setdefault(first, []).append(pk)
    for first, pks in by_first.items():
        _append(
            ARImportRow.objects.filter(pk__in=pks),
            "errors",
            f"row: repeats line {first} (same batch, customer, check number and amount)",
        )
    # Already posted by another import.
    posted = ARImportRow.objects.filter(
        posted=True,
        batch_number=OuterRef("batch_number"),
        contact_id=OuterRef("contact_id"),
        check_number=OuterRef("check_number"),
        amount=OuterRef("amount"),
    ).values("ar_import_id")[:1]
    seen = keyed.annotate(prev=Subquery(posted)).filter(prev__isnull=False).values_list("pk", "prev")
    by_prev: dict[int, list[int]] = {}
    for pk, prev in seen:
        by_prev.setdefault(prev, []).append(pk)
    for prev, pks in by_prev.items():
        _append(
            ARImportRow.objects.filter(pk__in=pks),
            "errors",
            f"row: already posted by AR import {prev} (same batch, customer, check number and amount)",
        )
    imp.repeat_count = _flag_repeats(imp)
    named = rows.exclude(invoice_number="")
    if imp.auto_apply:
        _append(named, "warnings", "invoice number: ignored; auto apply pays the oldest open lines first")
        return
    _append(
        named.filter(invoice__isnull=True),
        "warnings",
        "invoice number: invoice ",
        F("invoice_number"),
        " does not exist; the amount becomes an open credit",
    )
    if imp.entity_id:
        _append(
            named.filter(invoice__isnull=False).exclude(invoice__entity_id=imp.entity_id),
            "errors",
            "invoice number: invoice ",
            F("invoice_number"),
            " belongs to another financial entity than the cash account",
        )
    _append(
        named.filter(invoice__isnull=False, contact__isnull=False).exclude(invoice__bill_to_id=F("contact_id")),
        "warnings",
        "invoice number: invoice ",
        F("invoice_number"),
        " is billed to another contact",
    )


REPEAT_WARNING = "row: the same payer, check number and amount were posted before, in batch "


def _repeats_query(imp: ARImport) -> tuple[str, list]:
    """SQL of the import's rows that repeat a posted payment: (row_id, line_number,
    batch_number, payment_id), the earliest such payment per row. One join of the staged
    rows with the payments on (payer, reference, amount): set-based, not a lookup per row.
    Rows without a check number are left out (nothing identifies the check), and so are
    reversed payments (their money left the books)."""
    sql = f"""
        SELECT m.row_id, m.line_number, b.number AS batch_number, m.payment_id
          FROM (SELECT r.id AS row_id, r.line_number, MIN(p.id) AS payment_id
                  FROM {T["row"]} r
                  JOIN {T["pay"]} p
                    ON p.payer_id = r.contact_id AND p.reference = r.check_number AND p.amount = r.amount
                 WHERE r.ar_import_id = %s AND r.check_number <> '' AND p.status = %s
                 GROUP BY r.id, r.line_number) m
          JOIN {T["pay"]} fp ON fp.id = m.payment_id
          JOIN {T["batch"]} b ON b.id = fp.batch_id
    """
    return sql, [imp.pk, Payment.Status.POSTED]


def _flag_repeats(imp: ARImport) -> int:
    """Warn on each row that repeats a posted payment, naming its batch (one statement);
    the number of such rows."""
    sql, params = _repeats_query(imp)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {T["row"]}
               SET warnings = warnings || %s || m.batch_number || ' (payment ' || m.payment_id || ')' || %s
              FROM ({sql}) m
             WHERE {T["row"]}.id = m.row_id
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


def _finish(imp: ARImport, errors: list[dict], warnings: list[dict], *, file_error_total: int) -> ARImport:
    """Store the problems and counts (``file_error_total``: the parser's errors not kept
    in ``errors``), then the preview when nothing is wrong."""
    rows = ARImportRow.objects.filter(ar_import=imp)
    n_file_errors = len(errors)
    row_errors = rows.exclude(errors="")
    n_row_errors = row_errors.count()
    room = MAX_ERRORS_KEPT - len(errors)
    for line, text in row_errors.order_by("line_number").values_list("line_number", "errors")[: max(room, 0)]:
        for part in text.split("\n"):
            if part:
                field_name, _, message = part.partition(": ")
                errors.append({"line": line, "field": field_name, "message": message, "level": "error", "row": True})
    imp.error_count = n_file_errors + file_error_total + n_row_errors
    row_warnings = rows.exclude(warnings="")
    imp.warning_count = len(warnings) + row_warnings.count()
    room = WARNINGS_KEPT - len(warnings)
    for line, text in row_warnings.order_by("line_number").values_list("line_number", "warnings")[: max(room, 0)]:
        for part in text.split("\n"):
            if part:
                field_name, _, message = part.partition(": ")
                warnings.append(
                    {"line": line, "field": field_name, "message": message, "level": "warning", "row": True}
                )
    imp.errors = errors[:MAX_ERRORS_KEPT] + warnings[:WARNINGS_KEPT]
    imp.validated_at = timezone.now()
    if imp.error_count == 0:
        imp.status = ARImport.Status.VALIDATED
        _plan(imp, lock=False)
        agg = rows.aggregate(a=Sum("plan_applied"), c=Sum("plan_credit"), n=Count("pk", filter=Q(plan_credit__gt=0)))
        imp.applied_amount, imp.credit_amount = quantize(agg["a"] or ZERO), quantize(agg["c"] or ZERO)
        imp.credit_count = agg["n"]
    else:
        imp.status = ARImport.Status.INVALID
    imp.save()
    return imp


def problems(imp: ARImport, level: str = "error") -> list[str]:
    """The stored problems of ``level`` as "Line n, field: message" strings."""
    out = []
    for p in imp.errors:
        if p.get("level", "error") != level:
            continue
        where = f"Line {p['line']}" if p["line"] else "File"
        out.append(f"{where}, {p['field']}: {p['message']}" if p["field"] else f"{where}: {p['message']}")
    return out


# --- planning (the preview) ---------------------------------------------------------------


def _plan(imp: ARImport, *, lock: bool):
    with connection.cursor() as cursor:
        _sql_allocate(cursor, imp, lock=lock)
        cursor.execute(
            f"""
            UPDATE {ARImportRow._meta.db_table} r
               SET plan_applied = s.applied, plan_credit = s.amount - s.applied, plan_text = s.text
              FROM (SELECT ar.row_id, ar.amount, COALESCE(SUM(a.amount), 0) AS applied,
                           COALESCE(LEFT(STRING_AGG(a.inv_number || '/' || a.line_no || ' ' || a.amount, ', '
                                                    ORDER BY a.ord), {PLAN_TEXT_MAX}), '') AS text
                      FROM ar_rows ar
                      LEFT JOIN ar_app a ON a.row_id = ar.row_id
                     GROUP BY ar.row_id, ar.amount) s
             WHERE r.id = s.row_id
            """
        )
        _drop_temp(cursor)


# --- set-based allocation -----------------------------------------------------------------

T = {
    "row": ARImportRow._meta.db_table,
    "inv": Invoice._meta.db_table,
    "line": InvoiceLine._meta.db_table,
    "pay": Payment._meta.db_table,
    "app": PaymentApplication._meta.db_table,
    "je": JournalEntry._meta.db_table,
    "jl": JournalLine._meta.db_table,
    "contact": Contact._meta.db_table,
    "batch": Batch._meta.db_table,
}


# What the allocation needs of each candidate invoice (kept in ``ar_locked``).
INVOICE_COLUMNS = "i.id, i.bill_to_id, i.date, i.number, i.type, i.accounting_method"


def _drop_temp(cursor):
    cursor.execute("DROP TABLE IF EXISTS ar_rows, ar_open, ar_app, ar_locked, ar_credit, ar_legs, ar_entries")


def _sql_allocate(cursor, imp: ARImport, *, lock: bool):
    """Temp tables ``ar_rows`` (one per import row, with its running interval per payer
    or invoice) and ``ar_app`` (row → line, amount), the same plan as payment_receive
    row by row: a row covers [lo, hi) of its key's running total, a line covers
    [lo, hi) of the open balances in apply order, and a row pays each line the overlap.
    With auto apply off the named invoice's last positive line also takes what runs
    past the invoice's open total (overpayment), for the row that crosses it."""
    _drop_temp(cursor)
    # Room for the window sorts over every open line of the payers (this transaction only).
    cursor.execute("SET LOCAL work_mem = '128MB'")
    key = "contact_id" if imp.auto_apply else "invoice_id"
    cursor.execute(
        f"""
        CREATE TEMP TABLE ar_rows ON COMMIT DROP AS
        SELECT r.id AS row_id, r.line_number, r.contact_id, r.invoice_id, r.amount, r.date, r.check_number,
               r.{key} AS k,
               SUM(r.amount) OVER w - r.amount AS lo, SUM(r.amount) OVER w AS hi
          FROM {T["row"]} r
         WHERE r.ar_import_id = %s
        WINDOW w AS (PARTITION BY r.{key} ORDER BY r.line_number ROWS UNBOUNDED PRECEDING)
        """,
        [imp.pk],
    )
    cursor.execute("CREATE INDEX ON ar_rows (k); CREATE INDEX ON ar_rows (row_id); ANALYZE ar_rows")
    if imp.auto_apply:
        candidates = f"""
            SELECT {INVOICE_COLUMNS} FROM {T["inv"]} i
             WHERE i.entity_id = %s AND i.bill_to_id IN (SELECT contact_id FROM ar_rows)
        """
        if lock:  # lock only the payers' invoices that have an open line
            candidates += f" AND EXISTS (SELECT 1 FROM {T['line']} l WHERE l.invoice_id = i.id AND l.balance > 0)"
    else:
        candidates = f"""
            SELECT {INVOICE_COLUMNS} FROM {T["inv"]} i
             WHERE i.entity_id = %s AND i.id IN (SELECT invoice_id FROM ar_rows WHERE invoice_id IS NOT NULL)
        """
    if lock:
        # Lock the invoices in primary-key order, as every writer does; only those are paid.
        cursor.execute(
            f"""
            CREATE TEMP TABLE ar_locked ON COMMIT DROP AS {candidates} WITH NO DATA;
            WITH l AS ({candidates} ORDER BY i.id FOR UPDATE OF i) INSERT INTO ar_locked SELECT * FROM l
            """,
            [imp.entity_id, imp.entity_id],
        )
        cursor.execute("ANALYZE ar_locked")
        invoices, params = "ar_locked", None
    else:
        # The preview reads the candidates as they are, in the statement below.
        invoices, params = f"({candidates})", [imp.entity_id]
    if imp.auto_apply:
        order, part_key = "i.date, i.id, l.line_number", "i.bill_to_id"
        # The named invoice's total and last line matter only for overpayments (auto apply off).
        last = "NULL::numeric AS total, false AS is_last"
    else:
        order, part_key = "l.line_number", "l.invoice_id"
        last = (
            "MAX(s.hi) OVER (PARTITION BY s.k) AS total,"
            " ROW_NUMBER() OVER (PARTITION BY s.k ORDER BY s.hi DESC) = 1 AS is_last"
        )
    cursor.execute(
        f"""
        CREATE TEMP TABLE ar_open ON COMMIT DROP AS
        SELECT s.*, {last}
          FROM (SELECT l.id AS line_id, l.invoice_id, {part_key} AS k,
                       i.number AS inv_number, l.line_number AS line_no, l.account_id,
                       i.type AS inv_type, i.accounting_method AS inv_method,
                       ROW_NUMBER() OVER w AS pos,
                       SUM(l.balance) OVER w - l.balance AS lo, SUM(l.balance) OVER w AS hi
                  FROM {T["line"]} l
                  JOIN {invoices} i ON i.id = l.invoice_id
                 WHERE l.balance > 0
                WINDOW w AS (PARTITION BY {part_key} ORDER BY {order} ROWS UNBOUNDED PRECEDING)) s
        """,
        params,
    )
    cursor.execute("CREATE INDEX ON ar_open (k); ANALYZE ar_open")
    overflow = (
        ""
        if imp.auto_apply
        else "+ CASE WHEN o.is_last AND r.lo < o.total AND r.hi > o.total THEN r.hi - o.total ELSE 0 END"
    )
    cursor.execute(
        f"""
        CREATE TEMP TABLE ar_app ON COMMIT DROP AS
        SELECT r.row_id, o.line_id, o.invoice_id, o.inv_number, o.line_no, o.account_id, o.inv_type, o.inv_method,
               ROW_NUMBER() OVER (ORDER BY r.line_number, o.pos) AS ord,
               LEAST(r.hi, o.hi) - GREATEST(r.lo, o.lo) {overflow} AS amount
          FROM ar_rows r
          JOIN ar_open o ON o.k = r.k AND o.lo < r.hi AND r.lo < o.hi
        """
    )
    cursor.execute("CREATE INDEX ON ar_app (row_id); ANALYZE ar_app")


# --- posting ------------------------------------------------------------------------------


def _progress_writer(imp_id: int, status: str = ARImport.Status.POSTING):
    """A function that records the progress of a posting (or of a validation in the
    worker) on the import row from another connection, so it shows while the work's
    transaction is open; it writes only while the import has ``status``."""
    return POSTING.progress(imp_id, status)


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


def _seq(table: str) -> str:
    return f"pg_get_serial_sequence('{table}', 'id')"


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
            SELECT s.*, nextval({_seq(T["pay"])}) AS payment_id
              FROM (SELECT ar.row_id, ar.line_number, ar.contact_id, ar.amount, ar.date, ar.check_number,
                           ar.amount - COALESCE(a.applied, 0) AS residual, c.name AS payer_name
                      FROM ar_rows ar
                      JOIN {T["contact"]} c ON c.id = ar.contact_id
                      LEFT JOIN (SELECT row_id, SUM(amount) AS applied FROM ar_app GROUP BY row_id) a
                             ON a.row_id = ar.row_id
                     ORDER BY ar.line_number) s
            """
        )
        cursor.execute("CREATE INDEX ON ar_pay (row_id); CREATE INDEX ON ar_pay (payment_id); ANALYZE ar_pay")
        cursor.execute("SELECT COUNT(*) FROM ar_pay WHERE residual > 0")
        n_credits = cursor.fetchone()[0]
        numbers = reserve_invoice_numbers(n_credits)
        unapplied_id = account_for_role(entity, GLAccount.Role.UNAPPLIED_CASH).pk if n_credits else None
        cursor.execute("CREATE TEMP TABLE ar_numbers (pos bigint PRIMARY KEY, number varchar(20)) ON COMMIT DROP")
        if numbers:
            with cursor.copy("COPY ar_numbers (pos, number) FROM STDIN") as copy:
                for pos, number in enumerate(numbers, start=1):
                    copy.write_row((pos, number))
        cursor.execute(
            f"""
            CREATE TEMP TABLE ar_credit ON COMMIT DROP AS
            SELECT c.*, n.number, nextval({_seq(T["inv"])}) AS invoice_id, nextval({_seq(T["line"])}) AS line_id
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
                           plan_credit = p.residual, plan_text = COALESCE(s.text, '')
                      FROM ar_pay p
                      LEFT JOIN (SELECT a.row_id,
                                        LEFT(STRING_AGG(a.inv_number || '/' || a.line_no || ' ' || a.amount, ', '
                                                        ORDER BY a.ord), {PLAN_TEXT_MAX}) AS text
                                   FROM ar_app a
                                  GROUP BY a.row_id) s ON s.row_id = p.row_id
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
        SELECT s.*, nextval({_seq(T["je"])}) AS entry_id
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


def pluralize(n: int) -> str:
    return "" if n == 1 else "s"
