"""GL interface export: choosing and marking the journal entries of an export.

Rules kept here:
- Only entries of posted batches are exported; entries flagged
  ``exclude_from_gl_export`` (cash-basis membership transactions) never are.
- Each entry is exported exactly once: the export marks it with a
  ``GLExportedEntry`` row whose journal entry is UNIQUE. The marking is one
  ``INSERT … SELECT … ON CONFLICT DO NOTHING`` in entry-id order, so when two exports
  run at once the second waits on the first's uncommitted rows and skips them.
- An export that finds nothing new is refused (``NothingToExport``) and leaves no row.
- The export's totals are summed from its lines in the same transaction, per line
  currency (``currency_totals``, the file's totals rows) and in all; debits equal
  credits because every journal entry balances (a database trigger) and the export's
  check constraint refuses anything else. Its ``entry_count`` is the number of entries
  it marked.
- The number of entries waiting (``pending_entry_count``) is read from per-batch counts
  (``GLBatchEntryCount``, taken once per posted batch; a posted batch never changes)
  less the exports' entry counts: no scan of the journal.
"""

from datetime import date as Date
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Sum

from finance.errors import FinanceError
from finance.models import Batch, FinancialEntity, GLAccount, JournalEntry, JournalLine
from finance.money import ZERO, quantize
from finance.reporting.models import GLBatchEntryCount, GLExport, GLExportedEntry

# Exports marking at least this many entries analyse the marks table afterwards.
ANALYZE_AFTER = 10_000


class NothingToExport(FinanceError):
    """No journal entry of a posted batch is waiting to be exported."""


class InvalidExport(FinanceError):
    pass


_MARK_SQL = """
INSERT INTO {marks} (export_id, journal_entry_id)
SELECT %s, je.id
  FROM {entries} je
  JOIN {batches} b ON b.id = je.batch_id
 WHERE b.status = 'posted'
   AND je.is_posted
   AND NOT je.exclude_from_gl_export
   AND NOT EXISTS (SELECT 1 FROM {marks} x WHERE x.journal_entry_id = je.id)
   {extra}
 ORDER BY je.id
ON CONFLICT (journal_entry_id) DO NOTHING
"""


@transaction.atomic
def gl_export_create(
    *,
    mode: str = GLExport.Mode.DETAILED,
    date_from: Date | None = None,
    date_to: Date | None = None,
    entity: FinancialEntity | None = None,
    user=None,
) -> GLExport:
    """Create an export of every journal entry not exported yet that belongs to a
    posted batch, dated within ``date_from``..``date_to`` (inclusive, either may be
    open) and, when ``entity`` is given, posted to that entity's GL accounts.

    Raises InvalidExport for a bad mode or date range and NothingToExport when no
    entry qualifies; nothing is written then.
    """
    if mode not in GLExport.Mode.values:
        raise InvalidExport(f"Unknown export mode {mode!r}; use one of {', '.join(GLExport.Mode.values)}.")
    if date_from and date_to and date_to < date_from:
        raise InvalidExport(f"The date range ends ({date_to}) before it begins ({date_from}).")
    export = GLExport.objects.create(mode=mode, date_from=date_from, date_to=date_to, entity=entity, created_by=user)

    extra, params = [], [export.pk]
    if date_from:
        extra.append("AND je.date >= %s")
        params.append(date_from)
    if date_to:
        extra.append("AND je.date <= %s")
        params.append(date_to)
    if entity is not None:
        extra.append(
            f"AND EXISTS (SELECT 1 FROM {JournalLine._meta.db_table} jl "
            f"JOIN {GLAccount._meta.db_table} a ON a.id = jl.account_id "
            "WHERE jl.entry_id = je.id AND a.entity_id = %s)"
        )
        params.append(entity.pk)
    sql = _MARK_SQL.format(
        marks=GLExportedEntry._meta.db_table,
        entries=JournalEntry._meta.db_table,
        batches=Batch._meta.db_table,
        extra="\n   ".join(extra),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        marked = cursor.rowcount
    if not marked:
        raise NothingToExport("Nothing new to export: every journal entry of a posted batch in range is exported.")

    if marked >= ANALYZE_AFTER:
        # The file's statement joins the marks: plan it with their real number.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {GLExportedEntry._meta.db_table}")
    per_currency = (
        JournalLine.objects.filter(entry__gl_export_mark__export=export)
        .values("currency")
        .annotate(lines=Count("pk"), debit=Sum("debit"), credit=Sum("credit"))
        .order_by("currency")
    )
    export.currency_totals = [
        {
            "currency": t["currency"],
            "debit": str(quantize(t["debit"])),
            "credit": str(quantize(t["credit"])),
            "lines": t["lines"],
        }
        for t in sorted(per_currency, key=lambda t: t["currency"])
    ]
    export.entry_count = marked  # one mark per entry (every entry has lines)
    export.line_count = sum(t["lines"] for t in export.currency_totals)
    export.total_debit = quantize(sum((Decimal(t["debit"]) for t in export.currency_totals), ZERO))
    export.total_credit = quantize(sum((Decimal(t["credit"]) for t in export.currency_totals), ZERO))
    export.save(update_fields=["entry_count", "line_count", "total_debit", "total_credit", "currency_totals"])
    return export


def _exportable_entries(batch_alias: str) -> str:
    """SQL: the number of exportable journal entries of the batch ``batch_alias``."""
    return (
        f"(SELECT COUNT(*) FROM {JournalEntry._meta.db_table} je WHERE je.batch_id = {batch_alias}.id "
        "AND je.is_posted AND NOT je.exclude_from_gl_export)"
    )


def gl_batch_counts_refresh() -> int:
    """Count the exportable entries of every posted batch not counted yet (one grouped
    statement; nothing to do on most calls). Returns how many batches were counted.
    Safe to run at any time and side by side: a batch is counted from a snapshot in
    which it is already posted, hence final, and a second count of the same batch (a
    concurrent call) is the same number and is dropped on the primary key."""
    counts, batches = GLBatchEntryCount._meta.db_table, Batch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.id, {_exportable_entries('b')} FROM {batches} b WHERE b.status = %s "
            f"AND NOT EXISTS (SELECT 1 FROM {counts} c WHERE c.batch_id = b.id)",
            [Batch.Status.POSTED.value],
        )
        rows = cursor.fetchall()
    if rows:
        GLBatchEntryCount.objects.bulk_create(
            [GLBatchEntryCount(batch_id=pk, exportable_entries=n) for pk, n in rows], ignore_conflicts=True
        )
    return len(rows)


def pending_entry_count() -> int:
    """Journal entries of posted batches waiting for an export (excluded ones left out).

    = exportable entries of the posted batches − entries marked by the exports. Each
    export marks only exportable entries of posted batches, and its ``entry_count`` is
    how many it marked. The batches are counted first (``gl_batch_counts_refresh``);
    the sum is then read in one statement, hence one snapshot, with any batch posted in
    between counted on the spot, so the figure is exact even while batches are posted
    and exports run."""
    gl_batch_counts_refresh()
    counts, batches, exports = (
        GLBatchEntryCount._meta.db_table,
        Batch._meta.db_table,
        GLExport._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COALESCE((SELECT SUM(exportable_entries) FROM {counts}), 0)
                     + COALESCE((SELECT SUM({_exportable_entries("b")}) FROM {batches} b WHERE b.status = %s
                                    AND NOT EXISTS (SELECT 1 FROM {counts} c WHERE c.batch_id = b.id)), 0)
                     - COALESCE((SELECT SUM(entry_count) FROM {exports}), 0)""",
            [Batch.Status.POSTED.value],
        )
        return int(cursor.fetchone()[0])
