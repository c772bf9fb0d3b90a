"""Ledger guarantees checked once per statement or transaction, not once per row.

The balance check of 0003 was a deferred constraint trigger FOR EACH ROW: a bulk write
of 260,000 journal lines queued 260,000 checks, each re-summing its entry at commit.
PostgreSQL allows neither statement-level constraint triggers nor transition tables on
them, so the guarantee is now kept in two steps:

- ``journal_line_queue_*``: AFTER INSERT / UPDATE / DELETE ... FOR EACH STATEMENT
  triggers with transition tables write the ids of the entries the statement touched
  into ``finance_journal_check_queue`` (keyed by the transaction id), and the
  transaction's row into ``finance_journal_check_pending`` (once per transaction:
  ON CONFLICT DO NOTHING).
- ``journal_entry_balanced``: a DEFERRABLE INITIALLY DEFERRED constraint trigger on
  ``finance_journal_check_pending``, so it fires once per transaction at commit (or at
  SET CONSTRAINTS ... IMMEDIATE): every queued entry must have debits = credits in
  each currency, checked in one query; then the queue is emptied. The error is the
  one of 0003 ("journal entry N does not balance in USD: debits .., credits ..").

Savepoints keep it exact: a rolled-back savepoint takes its lines, its queue rows and
(if it inserted it) the pending row with its queued event away together. The two
helper tables are UNLOGGED: their rows never outlive the transaction that wrote them.

The batch guard of 0003 (no invoice, payment or journal entry in a posted or deleted
batch) becomes AFTER INSERT ... FOR EACH STATEMENT with a transition table: one
query per statement over the distinct batches written, same message.

Other databases (the embedded SQLite default) rely on the services' checks.
"""

from django.db import migrations

FORWARD = r"""
DROP TRIGGER IF EXISTS journal_entry_balanced ON finance_journalline;
DROP FUNCTION IF EXISTS finance_check_entry_balanced();

CREATE UNLOGGED TABLE finance_journal_check_queue (
    xact bigint NOT NULL,
    entry_id bigint NOT NULL
);
CREATE INDEX finance_journal_check_queue_xact ON finance_journal_check_queue (xact);
CREATE UNLOGGED TABLE finance_journal_check_pending (xact bigint PRIMARY KEY);

CREATE OR REPLACE FUNCTION finance_journal_queue_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO finance_journal_check_queue (xact, entry_id)
        SELECT DISTINCT txid_current(), entry_id FROM new_lines;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO finance_journal_check_queue (xact, entry_id)
        SELECT txid_current(), entry_id FROM new_lines UNION SELECT txid_current(), entry_id FROM old_lines;
    ELSE
        INSERT INTO finance_journal_check_queue (xact, entry_id)
        SELECT DISTINCT txid_current(), entry_id FROM old_lines;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        INSERT INTO finance_journal_check_pending (xact) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER journal_line_queue_insert AFTER INSERT ON finance_journalline
REFERENCING NEW TABLE AS new_lines
FOR EACH STATEMENT EXECUTE FUNCTION finance_journal_queue_entries();
CREATE TRIGGER journal_line_queue_update AFTER UPDATE ON finance_journalline
REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines
FOR EACH STATEMENT EXECUTE FUNCTION finance_journal_queue_entries();
CREATE TRIGGER journal_line_queue_delete AFTER DELETE ON finance_journalline
REFERENCING OLD TABLE AS old_lines
FOR EACH STATEMENT EXECUTE FUNCTION finance_journal_queue_entries();

CREATE OR REPLACE FUNCTION finance_check_queued_entries_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT q.entry_id, l.currency, SUM(l.debit) AS d, SUM(l.credit) AS c INTO bad
      FROM (SELECT DISTINCT entry_id FROM finance_journal_check_queue WHERE xact = NEW.xact) q
      JOIN finance_journalline l ON l.entry_id = q.entry_id
     GROUP BY q.entry_id, l.currency
    HAVING SUM(l.debit) <> SUM(l.credit)
     ORDER BY q.entry_id, l.currency
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debits %, credits %',
            bad.entry_id, bad.currency, bad.d, bad.c USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM finance_journal_check_queue WHERE xact = NEW.xact;
    DELETE FROM finance_journal_check_pending WHERE xact = NEW.xact;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entry_balanced
AFTER INSERT ON finance_journal_check_pending
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION finance_check_queued_entries_balanced();

DROP TRIGGER IF EXISTS batch_open_for_journal ON finance_journalentry;
DROP TRIGGER IF EXISTS batch_open_for_invoice ON finance_invoice;
DROP TRIGGER IF EXISTS batch_open_for_payment ON finance_payment;

CREATE OR REPLACE FUNCTION finance_batch_accepts_new_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
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
END $$;

CREATE TRIGGER batch_open_for_journal AFTER INSERT ON finance_journalentry
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION finance_batch_accepts_new_rows();
CREATE TRIGGER batch_open_for_invoice AFTER INSERT ON finance_invoice
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION finance_batch_accepts_new_rows();
CREATE TRIGGER batch_open_for_payment AFTER INSERT ON finance_payment
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION finance_batch_accepts_new_rows();
"""

# Back to the row-level triggers of 0003 (its functions are recreated here).
BACKWARD = r"""
DROP TRIGGER IF EXISTS batch_open_for_journal ON finance_journalentry;
DROP TRIGGER IF EXISTS batch_open_for_invoice ON finance_invoice;
DROP TRIGGER IF EXISTS batch_open_for_payment ON finance_payment;
DROP FUNCTION IF EXISTS finance_batch_accepts_new_rows();
CREATE TRIGGER batch_open_for_journal BEFORE INSERT ON finance_journalentry
FOR EACH ROW EXECUTE FUNCTION finance_batch_accepts_rows();
CREATE TRIGGER batch_open_for_invoice BEFORE INSERT ON finance_invoice
FOR EACH ROW EXECUTE FUNCTION finance_batch_accepts_rows();
CREATE TRIGGER batch_open_for_payment BEFORE INSERT ON finance_payment
FOR EACH ROW EXECUTE FUNCTION finance_batch_accepts_rows();

DROP TRIGGER IF EXISTS journal_entry_balanced ON finance_journal_check_pending;
DROP FUNCTION IF EXISTS finance_check_queued_entries_balanced();
DROP TRIGGER IF EXISTS journal_line_queue_insert ON finance_journalline;
DROP TRIGGER IF EXISTS journal_line_queue_update ON finance_journalline;
DROP TRIGGER IF EXISTS journal_line_queue_delete ON finance_journalline;
DROP FUNCTION IF EXISTS finance_journal_queue_entries();
DROP TABLE IF EXISTS finance_journal_check_pending;
DROP TABLE IF EXISTS finance_journal_check_queue;

CREATE OR REPLACE FUNCTION finance_check_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    eid bigint;
    bad record;
BEGIN
    IF TG_OP = 'DELETE' THEN eid := OLD.entry_id; ELSE eid := NEW.entry_id; END IF;
    SELECT currency, SUM(debit) AS d, SUM(credit) AS c INTO bad
      FROM finance_journalline WHERE entry_id = eid
     GROUP BY currency HAVING SUM(debit) <> SUM(credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debits %, credits %',
            eid, bad.currency, bad.d, bad.c USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entry_balanced
AFTER INSERT OR UPDATE OR DELETE ON finance_journalline
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION finance_check_entry_balanced();
"""


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FORWARD)  # no parameters: the '%' in RAISE stay literal


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("finance", "0007_ar_import_row_fillfactor")]
    operations = [migrations.RunPython(forward, backward)]
