"""Allocation: which open lines each row pays, oldest first, as set-based SQL (the
preview's plan and the posting's)."""

from finance.ar_import.services.common import PLAN_TEXT_MAX
from finance.models import (
    Batch,
    Contact,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
)
from finance.models_ar_import import ARImport, ARImportRow

# --- planning (the preview) ---------------------------------------------------------------


def _plan(cursor, imp: ARImport, *, rows: str):
    """The preview: each row's plan in the temporary table ``ar_plan`` (row_id, amount,
    applied, text), for the rows of the table ``rows`` (the rows being checked, known by
    line number), as the posting would apply them now."""
    _sql_allocate(cursor, imp, lock=False, rows=rows)
    cursor.execute(
        f"""
        DROP TABLE IF EXISTS ar_plan;
        CREATE TEMP TABLE ar_plan ON COMMIT DROP AS
        SELECT ar.row_id, ar.amount, COALESCE(SUM(a.amount), 0) AS applied,
               COALESCE(LEFT(STRING_AGG(a.inv_number || '/' || a.line_no || ' ' || a.amount, ', '
                                        ORDER BY a.ord), {PLAN_TEXT_MAX}), '') AS text
          FROM ar_rows ar
          LEFT JOIN ar_app a ON a.row_id = ar.row_id
         GROUP BY ar.row_id, ar.amount
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


def _sql_allocate(cursor, imp: ARImport, *, lock: bool, rows: str = ""):
    """Temp tables ``ar_rows`` (one per import row, with its running interval per payer
    or invoice) and ``ar_app`` (row → line, amount), the same plan as payment_receive
    row by row: a row covers [lo, hi) of its key's running total, a line covers
    [lo, hi) of the open balances in apply order, and a row pays each line the overlap.
    With auto apply off the named invoice's last positive line also takes what runs
    past the invoice's open total (overpayment), for the row that crosses it. ``rows``:
    a table of rows being checked (known by line number) instead of the import's rows."""
    _drop_temp(cursor)
    # Room for the window sorts over every open line of the payers (this transaction only).
    cursor.execute("SET LOCAL work_mem = '128MB'")
    # The temporary tables are analysed for their sizes and the spread of their keys, which
    # a sample of 3,000 rows tells as well as the default 30,000 at a tenth of the cost.
    cursor.execute("SET LOCAL default_statistics_target = 10")
    key = "contact_id" if imp.auto_apply else "invoice_id"
    cursor.execute(
        f"""
        CREATE TEMP TABLE ar_rows ON COMMIT DROP AS
        SELECT r.{"line_number" if rows else "id"} AS row_id, r.line_number, r.contact_id, r.invoice_id, r.amount,
               r.date, r.check_number, r.{key} AS k,
               SUM(r.amount) OVER w - r.amount AS lo, SUM(r.amount) OVER w AS hi
          FROM {rows or T["row"]} r
         WHERE {"true" if rows else "r.ar_import_id = %s"}
        WINDOW w AS (PARTITION BY r.{key} ORDER BY r.line_number ROWS UNBOUNDED PRECEDING)
        """,
        [] if rows else [imp.pk],
    )
    # Joined by key with hashes (no index on it); by row id with merges, through its index.
    cursor.execute("CREATE INDEX ON ar_rows (row_id); ANALYZE ar_rows")
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
    cursor.execute("ANALYZE ar_open")
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
