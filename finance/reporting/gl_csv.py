"""The GL interface file of an export, written as a stream of CSV text.

Column layout (one header row, then the rows, then one totals row per currency):

==============  ==============================================================
``date``        detailed: the journal entry date; summarised per day: the day;
                summarised per month: the last day of the month (YYYY-MM-DD)
``batch``       detailed: the batch number; summarised: empty
``entity``      the financial entity code of the GL account
``gl_account``  the GL account code ("4000-10"); ``TOTAL`` on the totals row
``description`` detailed: the line's description (the entry's when the line has
                none); summarised: the account name and the period
``debit``       a plain number with two decimals ("1234.50"), 0.00 when none
``credit``      as debit
``currency``    the line's currency code
``reference``   detailed: ``JE-<entry id>``, then ``INV-<invoice number>``,
                ``PAY-<payment id>`` or, for an AR import's summary entry,
                ``ARI-<import id>`` when the entry has one; summarised:
                ``GLX-<export id>``
==============  ==============================================================

Summarised rows keep debits and credits apart (gross), so every file's debit total
equals its credit total per currency, as on the totals row.

Text cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are
prefixed with an apostrophe so a spreadsheet shows them as text instead of running
them as a formula; amount cells are never touched and stay numbers.

The detailed file is written by PostgreSQL: one ``COPY (SELECT …) TO STDOUT (FORMAT
csv)`` whose SELECT makes every cell what the file holds (ISO dates, the amounts' two
decimals, the reference, ``safe_text``'s apostrophe, an empty text as an empty cell),
read row by row and yielded in chunks of ``CHUNK_ROWS`` rows with the file's CR LF row
ends. COPY quotes as the csv module does (a cell holding a comma, a double quote, a CR
or a LF is quoted, its quotes doubled), so the bytes are those of ``csv.writer`` over
``_detailed_rows``; ``detailed_csv_python`` keeps that writer as the reference that the
tests compare with. The summaries (a few rows per account and period) are written by
the csv module from a grouped query. Either way the file streams: memory stays flat
whatever the size of the export.
"""

import calendar
import csv
import datetime
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import TruncMonth

from finance.csv_stream import FORMULA_STARTS, safe_text  # noqa: F401 - the GL file escapes text the same way
from finance.models import Batch, FinancialEntity, GLAccount, Invoice, JournalEntry, JournalLine
from finance.money import ZERO, quantize
from finance.reporting.models import GLExport, GLExportedEntry

COLUMNS = ["date", "batch", "entity", "gl_account", "description", "debit", "credit", "currency", "reference"]
CHUNK_ROWS = 2000
FETCH_ROWS = 5000


class _Line:
    """A file-like object whose write returns the text (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


_DETAILED_SQL = """
SELECT e.date, b.number, en.code, a.code, l.description, e.description, l.debit, l.credit, l.currency, e.id,
       i.number, e.payment_id, e.ar_import_id
  FROM {marks} x
  JOIN {entries} e ON e.id = x.journal_entry_id
  JOIN {lines} l ON l.entry_id = e.id
  JOIN {batches} b ON b.id = e.batch_id
  JOIN {accounts} a ON a.id = l.account_id
  JOIN {entities} en ON en.id = a.entity_id
  LEFT JOIN {invoices} i ON i.id = e.invoice_id
 WHERE x.export_id = %s
 ORDER BY e.date, e.id, l.id
"""


def _reference(entry_id, invoice_number, payment_id, ar_import_id=None) -> str:
    if invoice_number:
        return f"JE-{entry_id} INV-{invoice_number}"
    if payment_id:
        return f"JE-{entry_id} PAY-{payment_id}"
    if ar_import_id:
        return f"JE-{entry_id} ARI-{ar_import_id}"
    return f"JE-{entry_id}"


def _detailed_rows(export: GLExport) -> Iterator[tuple]:
    """One tuple per journal line. PostgreSQL: one SQL statement read through a
    server-side cursor in batches of FETCH_ROWS, so the rows never sit in memory
    together."""
    sql = _DETAILED_SQL.format(
        marks=GLExportedEntry._meta.db_table,
        entries=JournalEntry._meta.db_table,
        lines=JournalLine._meta.db_table,
        batches=Batch._meta.db_table,
        accounts=GLAccount._meta.db_table,
        entities=FinancialEntity._meta.db_table,
        invoices=Invoice._meta.db_table,
    )
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, [export.pk])
        while rows := cursor.fetchmany(FETCH_ROWS):
            for day, batch, entity, account, desc, entry_desc, debit, credit, currency, entry_id, inv, pay, imp in rows:
                reference = _reference(entry_id, inv, pay, imp)
                yield day.isoformat(), batch, entity, account, desc or entry_desc, debit, credit, currency, reference


def _month_end(day: datetime.date) -> datetime.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _summary_rows(export: GLExport) -> Iterator[tuple]:
    per_month = export.mode == GLExport.Mode.SUMMARY_MONTH
    period = TruncMonth("entry__date") if per_month else F("entry__date")
    rows = (
        JournalLine.objects.filter(entry__gl_export_mark__export=export)
        .annotate(period=period)
        .values("period", "account__entity__code", "account__code", "account__name", "currency")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by("period", "account__entity__code", "account__code", "currency")
        .values_list("period", "account__entity__code", "account__code", "account__name", "currency", "debit", "credit")
    )
    reference = f"GLX-{export.pk}"
    for day, entity, account, name, currency, debit, credit in rows.iterator(chunk_size=FETCH_ROWS):
        if isinstance(day, datetime.datetime):
            day = day.date()
        if per_month:
            label, day = day.strftime("%Y-%m"), _month_end(day)
        else:
            label = day.isoformat()
        debit, credit = quantize(debit), quantize(credit)  # two places in the file, as the sums' inputs
        yield day.isoformat(), "", entity, account, f"{name} {label}", debit, credit, currency, reference


def export_rows(export: GLExport) -> Iterator[tuple]:
    """The export's data rows (without header and totals), in file order."""
    return _detailed_rows(export) if export.mode == GLExport.Mode.DETAILED else _summary_rows(export)


def export_csv(export: GLExport) -> Iterator[str]:
    """The whole file as chunks of CSV text: header, rows, totals per currency."""
    if export.mode == GLExport.Mode.DETAILED:
        return _detailed_csv_copy(export)
    return _csv_of_rows(export, export_rows(export))


def detailed_csv_python(export: GLExport) -> Iterator[str]:
    """The detailed file written row by row by the csv module (``_detailed_rows`` and
    ``safe_text``): the rule that the database's file (``_detailed_csv_copy``) keeps,
    byte for byte."""
    return _csv_of_rows(export, _detailed_rows(export))


def _totals_rows(writer, export: GLExport, totals) -> list[str]:
    """The totals rows from (currency, debit, credit, row count), in currency code order."""
    return [
        writer.writerow(("", "", "", "TOTAL", f"Totals of {count} rows", debit, credit, currency, f"GLX-{export.pk}"))
        for currency, debit, credit, count in sorted(totals)
    ]


def _csv_of_rows(export: GLExport, rows: Iterator[tuple]) -> Iterator[str]:
    """Header, ``rows`` written by the csv module (text cells through ``safe_text``),
    totals per currency summed on the way."""
    writer = csv.writer(_Line())
    totals: dict[str, list] = defaultdict(lambda: [ZERO, ZERO, 0])
    buffer = [writer.writerow(COLUMNS)]
    for day, batch, entity, account, desc, debit, credit, currency, reference in rows:
        total = totals[currency]
        total[0] += debit
        total[1] += credit
        total[2] += 1
        buffer.append(
            writer.writerow(
                (
                    day,
                    safe_text(batch),
                    safe_text(entity),
                    safe_text(account),
                    safe_text(desc),
                    debit,
                    credit,
                    safe_text(currency),
                    safe_text(reference),
                )
            )
        )
        if len(buffer) >= CHUNK_ROWS:
            yield "".join(buffer)
            buffer = []
    buffer += _totals_rows(writer, export, [(currency, *total) for currency, total in totals.items()])
    yield "".join(buffer)


# The code points a text cell may not begin with (FORMULA_STARTS), for SQL.
_FORMULA_CODES = ", ".join(str(ord(c)) for c in FORMULA_STARTS)


def safe_text_sql(expr: str) -> str:
    """SQL for ``safe_text`` of the text expression ``expr``, as a COPY cell: prefixed
    with an apostrophe when it begins with a formula start (``ascii`` is the code point
    of the first character, 0 for an empty text), NULL when empty (COPY's CSV writes a
    NULL as an empty cell and an empty text as ``""``)."""
    return f"CASE WHEN ascii({expr}) IN ({_FORMULA_CODES}) THEN '''' || {expr} ELSE NULLIF({expr}, '') END"


_DETAILED_COPY_SQL = """
COPY (
SELECT date, {batch}, {entity}, {account}, {description}, debit, credit, {currency},
       'JE-' || entry_id || CASE WHEN invoice_number <> '' THEN ' INV-' || invoice_number
                                 WHEN payment_id IS NOT NULL THEN ' PAY-' || payment_id
                                 WHEN ar_import_id IS NOT NULL THEN ' ARI-' || ar_import_id
                                 ELSE '' END
  FROM (SELECT e.date, b.number AS batch, en.code AS entity, a.code AS account,
               COALESCE(NULLIF(l.description, ''), e.description) AS description, l.debit, l.credit, l.currency,
               e.id AS entry_id, i.number AS invoice_number, e.payment_id, e.ar_import_id
          FROM {marks} x
          JOIN {entries} e ON e.id = x.journal_entry_id
          JOIN {lines} l ON l.entry_id = e.id
          JOIN {batches} b ON b.id = e.batch_id
          JOIN {accounts} a ON a.id = l.account_id
          JOIN {entities} en ON en.id = a.entity_id
          LEFT JOIN {invoices} i ON i.id = e.invoice_id
         WHERE x.export_id = {export_id}
         ORDER BY e.date, e.id, l.id) s
) TO STDOUT (FORMAT csv)
"""

_TOTALS_SQL = """
SELECT l.currency, SUM(l.debit), SUM(l.credit), COUNT(*)
  FROM {marks} x
  JOIN {lines} l ON l.entry_id = x.journal_entry_id
 WHERE x.export_id = %s
 GROUP BY l.currency
"""


def _detailed_csv_copy(export: GLExport) -> Iterator[str]:
    """The detailed file from one COPY (see the module docstring), then its totals per
    currency as the export keeps them (``currency_totals``; summed by one grouped query
    for an export made before they were kept).

    COPY hands over one row per message (psycopg's ``Copy`` yields them one by one),
    each ending with a LF: that LF becomes the file's CR LF, while a CR or LF inside a
    quoted cell is data and stays. Dates are written in ISO form (``DateStyle``) in the
    association's time zone (``TIME_ZONE``); amounts are ``numeric(14, 2)`` columns and
    keep their two decimals. The reference never needs ``safe_text`` (it begins with
    ``JE-``). The rows are sorted with their plain columns and formatted after the sort
    (the sort moves narrower rows)."""
    tables = {
        "marks": GLExportedEntry._meta.db_table,
        "entries": JournalEntry._meta.db_table,
        "lines": JournalLine._meta.db_table,
        "batches": Batch._meta.db_table,
        "accounts": GLAccount._meta.db_table,
        "entities": FinancialEntity._meta.db_table,
        "invoices": Invoice._meta.db_table,
    }
    copy_sql = _DETAILED_COPY_SQL.format(
        **tables,
        batch=safe_text_sql("batch"),
        entity=safe_text_sql("entity"),
        account=safe_text_sql("account"),
        description=safe_text_sql("description"),
        currency=safe_text_sql("currency"),
        export_id=int(export.pk),
    )
    writer = csv.writer(_Line())
    end = b"\r\n"
    with transaction.atomic(), connection.cursor() as cursor:
        # JIT compiling takes longer than it saves on this statement.
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL jit = off")
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [settings.TIME_ZONE])
        parts: list = [writer.writerow(COLUMNS).encode()]
        with cursor.cursor.copy(copy_sql) as copy:
            for row in copy:
                parts.append(row[:-1])
                parts.append(end)
                if len(parts) >= 2 * CHUNK_ROWS:
                    yield b"".join(parts).decode()
                    parts = []
        if export.currency_totals:
            totals = [
                (t["currency"], Decimal(t["debit"]), Decimal(t["credit"]), t["lines"]) for t in export.currency_totals
            ]
        else:  # an export made before its totals were kept
            cursor.execute(_TOTALS_SQL.format(**tables), [export.pk])
            totals = cursor.fetchall()
    yield b"".join(parts).decode() + "".join(_totals_rows(writer, export, totals))
