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

Rows come from a server-side cursor (``QuerySet.iterator``) and are yielded in chunks,
so memory stays flat whatever the size of the export.
"""

import calendar
import csv
import datetime
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

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
    writer = csv.writer(_Line())
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, 0])
    buffer = [writer.writerow(COLUMNS)]
    for day, batch, entity, account, desc, debit, credit, currency, reference in export_rows(export):
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
    for currency in sorted(totals):
        debit, credit, count = totals[currency]
        buffer.append(
            writer.writerow(
                ("", "", "", "TOTAL", f"Totals of {count} rows", debit, credit, currency, f"GLX-{export.pk}")
            )
        )
    yield "".join(buffer)
