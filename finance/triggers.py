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


# --- What a batch received and took back (cash receipts) ------------------------------

# The payments received in the batches that ``{batches}`` selects (an SQL condition on
# a batch id), by their date, and the payments reversed in them, by the reversal's
# date, each against the payment's method and currency, between ``{date_from}`` and
# ``{date_to}``: the cash receipts report's money in and its reversals
# (``finance.reporting.selectors.cash_receipts``, which adds the refunds; and
# ``finance.selectors.batch_with_figures``). Columns:
# date, method_id, currency, batch_id, received, received_count, reversed,
# reversal_count.
PAYMENT_MOVES = """
    SELECT p.date, p.method_id, p.currency, p.batch_id,
           SUM(p.amount) AS received, COUNT(*) AS received_count, 0 AS reversed, 0 AS reversal_count
      FROM finance_payment p
     WHERE p.batch_id {batches} AND p.date BETWEEN {date_from} AND {date_to}
     GROUP BY p.date, p.method_id, p.currency, p.batch_id
    UNION ALL
    SELECT p.reversal_date, p.method_id, p.currency, p.reversal_batch_id, 0, 0, SUM(p.amount), COUNT(*)
      FROM finance_payment p
     WHERE p.reversal_batch_id {batches} AND p.reversal_date BETWEEN {date_from} AND {date_to}
     GROUP BY p.reversal_date, p.method_id, p.currency, p.reversal_batch_id
"""


def posted_receipts_rows(batches: str) -> str:
    """An ``INSERT`` of the ``PostedReceipts`` rows of the batches ``batches`` selects:
    what each took in and back per day, method and currency (``PAYMENT_MOVES`` of every
    date, one row per key)."""
    moves = PAYMENT_MOVES.format(batches=batches, date_from="'-infinity'::date", date_to="'infinity'::date")
    return f"""
    INSERT INTO finance_postedreceipts
           (batch_id, date, method_id, currency, received, received_count, reversed, reversal_count)
    SELECT batch_id, date, method_id, currency,
           SUM(received), SUM(received_count), SUM(reversed), SUM(reversal_count)
      FROM ({moves}) m
     GROUP BY batch_id, date, method_id, currency
     ORDER BY batch_id, date, method_id, currency;
"""


# When a batch is posted its payments and reversals can no longer change (the batch
# takes no new rows, and a posted payment's amount, date, method and batch are fixed):
# what it received and took back is written once, in the posting's transaction.
KEEP_POSTED_RECEIPTS = posted_receipts_rows("= NEW.id") + "\n    RETURN NULL;\n"
