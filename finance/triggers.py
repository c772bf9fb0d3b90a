"""The bodies (PL/pgSQL, between BEGIN and END) of the ledger's triggers.

The triggers themselves are declared in the ``Meta.triggers`` of the models whose tables
they fire on (``finance.models``: ``Batch``, ``Invoice``, ``Payment``, ``JournalEntry``,
``JournalLine``, ``JournalCheckPending``); ``makemigrations`` writes the migration that
installs a changed body. Each function runs with its own search_path (see
``core.db_triggers``), so the tables are named without a schema.

Errors use SQLSTATE class 23 (``check_violation``, ``integrity_constraint_violation``)
so that Django raises ``IntegrityError``.
"""

# --- Journal entries balance ---------------------------------------------------------
# Checked once per transaction, not once per row. PostgreSQL allows neither
# statement-level constraint triggers nor transition tables on constraint triggers, so
# the guarantee is kept in two steps: the statement-level triggers on the journal lines
# queue the ids of the entries each statement touched (keyed by the transaction id) and
# write the transaction's row in ``finance_journal_check_pending`` once; the deferred
# constraint trigger on that row checks every queued entry at commit (or at SET
# CONSTRAINTS journal_entry_balanced IMMEDIATE) in one query, then empties the queue.
# Savepoints keep it exact: a rolled-back savepoint takes its lines, its queue rows and
# (if it wrote it) the pending row with its queued event away together.

_PENDING = """
    IF n > 0 THEN
        INSERT INTO finance_journal_check_pending (xact) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
"""

# AFTER INSERT ... FOR EACH STATEMENT, new rows as ``new_lines``.
QUEUE_INSERTED_LINES = (
    """
    INSERT INTO finance_journal_check_queue (xact, entry_id)
    SELECT DISTINCT txid_current(), entry_id FROM new_lines;
    GET DIAGNOSTICS n = ROW_COUNT;
"""
    + _PENDING
)

# AFTER UPDATE ... FOR EACH STATEMENT: the entries a line left and the ones it joined.
QUEUE_UPDATED_LINES = (
    """
    INSERT INTO finance_journal_check_queue (xact, entry_id)
    SELECT txid_current(), entry_id FROM new_lines UNION SELECT txid_current(), entry_id FROM old_lines;
    GET DIAGNOSTICS n = ROW_COUNT;
"""
    + _PENDING
)

# AFTER DELETE ... FOR EACH STATEMENT, old rows as ``old_lines``.
QUEUE_DELETED_LINES = (
    """
    INSERT INTO finance_journal_check_queue (xact, entry_id)
    SELECT DISTINCT txid_current(), entry_id FROM old_lines;
    GET DIAGNOSTICS n = ROW_COUNT;
"""
    + _PENDING
)

# The deferred constraint trigger on the transaction's pending row: the first entry (by
# id, then currency) whose debits and credits differ fails the commit, by name. Each
# queued entry's lines are summed by their own lookup (LATERAL: a nested loop over the
# queued entries, the lines found through their entry index), whatever the statistics:
# a plain join let the function's cached plan read the whole journal at every commit
# when it was made while the tables looked small.
CHECK_QUEUED_ENTRIES_BALANCED = """
    SELECT q.entry_id, s.currency, s.d, s.c INTO bad
      FROM (SELECT DISTINCT entry_id FROM finance_journal_check_queue WHERE xact = NEW.xact) q
     CROSS JOIN LATERAL (
           SELECT l.currency, SUM(l.debit) AS d, SUM(l.credit) AS c
             FROM finance_journalline l
            WHERE l.entry_id = q.entry_id
            GROUP BY l.currency
           HAVING SUM(l.debit) <> SUM(l.credit)) s
     ORDER BY q.entry_id, s.currency
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debits %, credits %',
            bad.entry_id, bad.currency, bad.d, bad.c USING ERRCODE = 'check_violation';
    END IF;
    WITH queued AS (DELETE FROM finance_journal_check_queue WHERE xact = NEW.xact)
    DELETE FROM finance_journal_check_pending WHERE xact = NEW.xact;
    RETURN NULL;
"""

# --- Posted journal is immutable -----------------------------------------------------

# BEFORE UPDATE OR DELETE ... FOR EACH ROW on the lines.
JOURNAL_LINE_IMMUTABLE = """
    IF EXISTS (SELECT 1 FROM finance_journalentry e WHERE e.id = OLD.entry_id AND e.is_posted) THEN
        RAISE EXCEPTION 'journal line % belongs to posted entry % and cannot be changed; post a reversing entry',
            OLD.id, OLD.entry_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
"""

# BEFORE UPDATE OR DELETE ... FOR EACH ROW on the entries: a posted entry is not deleted
# and what it posts does not change (its description may).
JOURNAL_ENTRY_IMMUTABLE = """
    IF TG_OP = 'DELETE' THEN
        IF OLD.is_posted THEN
            RAISE EXCEPTION 'journal entry % is posted and cannot be deleted; post a reversing entry', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.is_posted AND (NEW.is_posted, NEW.batch_id, NEW.date, NEW.kind, NEW.invoice_id, NEW.payment_id,
                          NEW.reversal_of_id, NEW.exclude_from_gl_export)
        IS DISTINCT FROM (OLD.is_posted, OLD.batch_id, OLD.date, OLD.kind, OLD.invoice_id, OLD.payment_id,
                          OLD.reversal_of_id, OLD.exclude_from_gl_export) THEN
        RAISE EXCEPTION 'journal entry % is posted and cannot be changed; post a reversing entry', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
"""

# --- Posted batches ------------------------------------------------------------------

# AFTER INSERT ... FOR EACH STATEMENT on invoices, payments and journal entries, new
# rows as ``new_rows``: one query per statement over the distinct batches written.
BATCH_ACCEPTS_NEW_ROWS = """
    SELECT b.number, b.status INTO bad
      FROM finance_batch b
     WHERE b.id IN (SELECT DISTINCT batch_id FROM new_rows) AND b.status IN ('posted', 'deleted')
     ORDER BY b.id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'batch % is %; it takes no new transactions (%)', bad.number, bad.status, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
"""

# BEFORE UPDATE OR DELETE ... FOR EACH ROW on the batches: a posted batch is not
# deleted, and its status and figures do not change.
BATCH_POSTED_FROZEN = """
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'posted' THEN
            RAISE EXCEPTION 'batch % is posted and cannot be deleted', OLD.number
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'posted' AND (NEW.status, NEW.number, NEW.date, NEW.control_count, NEW.control_amount,
                                  NEW.posted_at)
        IS DISTINCT FROM (OLD.status, OLD.number, OLD.date, OLD.control_count, OLD.control_amount,
                          OLD.posted_at) THEN
        RAISE EXCEPTION 'batch % is posted and cannot be changed', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
"""


# --- What each batch received and took back, kept (cash receipts, batch figures) -----
# ``finance_batchreceipts`` (``BatchReceipts``) holds, per batch, day, payment method,
# currency and slot, the payments received in the batch (by their date) and the
# payments reversed in it (by the reversal's date), each against the payment's method
# and currency: the cash receipts report's money in and its reversals, and the batch
# list's payment count and cash. The triggers on the payment table add each
# statement's change in the writing transaction, whoever writes (ORM, set-based SQL,
# COPY): inserted payments count in, a changed payment's old contribution out and its
# new one in. Each writing session adds to one of SLOTS rows per key (chosen by its
# server process), so a long posting does not hold up the others' payments of the same
# batch and day; readers add up the slots.

RECEIPT_SLOTS = 16


def payment_moves(rows: str, sign: str = "") -> str:
    """The contributions of the payment rows ``rows`` (a table or subquery with the
    payment's columns), one per payment received and one per payment reversed: batch,
    date, method, currency, received, received count, reversed, reversal count; with
    ``sign`` "-" they count out. The one rule of what a payment adds to its batches'
    receipts."""
    return f"""
    SELECT r.batch_id, r.date, r.method_id, r.currency,
           {sign}r.amount AS received, {sign}1 AS received_count, 0 AS reversed, 0 AS reversal_count
      FROM {rows} r
    UNION ALL
    SELECT r.reversal_batch_id, r.reversal_date, r.method_id, r.currency, 0, 0, {sign}r.amount, {sign}1
      FROM {rows} r
     WHERE r.reversal_batch_id IS NOT NULL AND r.reversal_date IS NOT NULL"""


RECEIPT_KEYS = "batch_id, date, method_id, currency"
RECEIPT_FIGURES = ("received", "received_count", "reversed", "reversal_count")


def _keep_receipts(moves: str) -> str:
    figures = ", ".join(RECEIPT_FIGURES)
    sums = ", ".join(f"SUM({f})" for f in RECEIPT_FIGURES)
    updates = ", ".join(f"{f} = k.{f} + EXCLUDED.{f}" for f in RECEIPT_FIGURES)
    return f"""
    INSERT INTO finance_batchreceipts AS k ({RECEIPT_KEYS}, slot, {figures})
    SELECT {RECEIPT_KEYS}, (pg_backend_pid() % {RECEIPT_SLOTS})::smallint, {sums}
      FROM ({moves}) m
     GROUP BY {RECEIPT_KEYS}
    HAVING {" OR ".join(f"SUM({f}) <> 0" for f in RECEIPT_FIGURES)}
     ORDER BY {RECEIPT_KEYS}
    ON CONFLICT ({RECEIPT_KEYS}, slot) DO UPDATE SET {updates};
"""


# The payment columns a receipt reads, as the row triggers name them.
_ROW = (
    "(SELECT {r}.batch_id, {r}.date, {r}.method_id, {r}.currency, {r}.amount, {r}.reversal_batch_id, {r}.reversal_date)"
)

KEEP_INSERTED_RECEIPTS = _keep_receipts(payment_moves("new_payments")) + "\n    RETURN NULL;\n"
KEEP_UPDATED_RECEIPTS = (
    _keep_receipts(payment_moves(_ROW.format(r="NEW")) + " UNION ALL " + payment_moves(_ROW.format(r="OLD"), "-"))
    + "\n    RETURN NULL;\n"
)
KEEP_DELETED_RECEIPTS = _keep_receipts(payment_moves(_ROW.format(r="OLD"), "-")) + "\n    RETURN NULL;\n"
# The columns whose change moves a payment's receipts.
RECEIPT_COLUMNS = ("batch_id", "date", "method_id", "currency", "amount", "reversal_batch_id", "reversal_date")


def kept_receipts_from_payments() -> str:
    """An ``INSERT`` of the receipts of every payment (a database that had none kept)."""
    return _keep_receipts(payment_moves("finance_payment")).replace(
        f"(pg_backend_pid() % {RECEIPT_SLOTS})::smallint", "0::smallint"
    )


# --- What each batch invoiced, kept (the batch list's figures) ----------------------
# ``finance_batchinvoices`` (``BatchInvoices``) holds, per batch and slot, the count of
# its invoices other than credit invoices, their charges (totals) and the count of its
# credit invoices: the batch list's, the batch summary's and the dashboard's figures
# (``finance.selectors.batch_with_figures``). Kept as the receipts are, by the invoice
# table's triggers, in the writing transaction, one slot per writing session.


def invoice_figures(rows: str, sign: str = "") -> str:
    """What the invoice rows ``rows`` add to their batches' figures (with ``sign`` "-",
    take off): the one rule of what an invoice counts for in its batch."""
    return f"""
    SELECT r.batch_id,
           {sign}(r.type <> 'credit')::int AS invoice_count,
           {sign}(r.type = 'credit')::int AS credit_count,
           {sign}(CASE WHEN r.type <> 'credit' THEN r.total ELSE 0 END) AS charges
      FROM {rows} r"""


INVOICE_FIGURES = ("invoice_count", "credit_count", "charges")


def _keep_invoice_figures(figures: str, slot: str = f"(pg_backend_pid() % {RECEIPT_SLOTS})::smallint") -> str:
    columns = ", ".join(INVOICE_FIGURES)
    sums = ", ".join(f"SUM({f})" for f in INVOICE_FIGURES)
    updates = ", ".join(f"{f} = k.{f} + EXCLUDED.{f}" for f in INVOICE_FIGURES)
    return f"""
    INSERT INTO finance_batchinvoices AS k (batch_id, slot, {columns})
    SELECT batch_id, {slot}, {sums}
      FROM ({figures}) f
     GROUP BY batch_id
    HAVING {" OR ".join(f"SUM({f}) <> 0" for f in INVOICE_FIGURES)}
     ORDER BY batch_id
    ON CONFLICT (batch_id, slot) DO UPDATE SET {updates};
"""


_INVOICE_ROW = "(SELECT {r}.batch_id, {r}.type, {r}.total)"
KEEP_INSERTED_INVOICE_FIGURES = _keep_invoice_figures(invoice_figures("new_invoices")) + "\n    RETURN NULL;\n"
KEEP_UPDATED_INVOICE_FIGURES = (
    _keep_invoice_figures(
        invoice_figures(_INVOICE_ROW.format(r="NEW"))
        + " UNION ALL "
        + invoice_figures(_INVOICE_ROW.format(r="OLD"), "-")
    )
    + "\n    RETURN NULL;\n"
)
KEEP_DELETED_INVOICE_FIGURES = (
    _keep_invoice_figures(invoice_figures(_INVOICE_ROW.format(r="OLD"), "-")) + "\n    RETURN NULL;\n"
)
# The columns whose change moves an invoice's figures.
INVOICE_FIGURE_COLUMNS = ("batch_id", "type", "total")


def kept_invoice_figures_from_invoices() -> str:
    """An ``INSERT`` of the figures of every invoice (a database that had none kept)."""
    return _keep_invoice_figures(invoice_figures("finance_invoice"), slot="0::smallint")
