"""PostgreSQL guarantees the ORM cannot express.

- ``journal_entry_balanced``: a DEFERRABLE INITIALLY DEFERRED constraint trigger; at
  commit, every journal entry touched in the transaction must have debits = credits in
  each currency, whatever wrote the rows (ORM, raw SQL, COPY).
- ``journal_line_immutable`` / ``journal_entry_immutable``: lines of a posted entry
  refuse UPDATE and DELETE; a posted entry refuses DELETE and changes to what it posts.
- ``batch_posted_guard``: no invoice, payment or journal entry may be added to a batch
  that is posted or deleted, and a posted batch's figures and status are frozen.

Errors use SQLSTATE class 23 so Django raises IntegrityError. Other databases (the
embedded SQLite default) rely on the services' checks.
"""

from django.db import migrations

FORWARD = r"""
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

CREATE OR REPLACE FUNCTION finance_journalline_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM finance_journalentry e WHERE e.id = OLD.entry_id AND e.is_posted) THEN
        RAISE EXCEPTION 'journal line % belongs to posted entry % and cannot be changed; post a reversing entry',
            OLD.id, OLD.entry_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER journal_line_immutable
BEFORE UPDATE OR DELETE ON finance_journalline
FOR EACH ROW EXECUTE FUNCTION finance_journalline_immutable();

CREATE OR REPLACE FUNCTION finance_journalentry_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
END $$;

CREATE TRIGGER journal_entry_immutable
BEFORE UPDATE OR DELETE ON finance_journalentry
FOR EACH ROW EXECUTE FUNCTION finance_journalentry_immutable();

CREATE OR REPLACE FUNCTION finance_batch_accepts_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st varchar;
    num varchar;
BEGIN
    SELECT status, number INTO st, num FROM finance_batch WHERE id = NEW.batch_id;
    IF st IN ('posted', 'deleted') THEN
        RAISE EXCEPTION 'batch % is %; it takes no new transactions (%)', num, st, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER batch_open_for_journal BEFORE INSERT ON finance_journalentry
FOR EACH ROW EXECUTE FUNCTION finance_batch_accepts_rows();
CREATE TRIGGER batch_open_for_invoice BEFORE INSERT ON finance_invoice
FOR EACH ROW EXECUTE FUNCTION finance_batch_accepts_rows();
CREATE TRIGGER batch_open_for_payment BEFORE INSERT ON finance_payment
FOR EACH ROW EXECUTE FUNCTION finance_batch_accepts_rows();

CREATE OR REPLACE FUNCTION finance_batch_posted_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
END $$;

CREATE TRIGGER batch_posted_frozen BEFORE UPDATE OR DELETE ON finance_batch
FOR EACH ROW EXECUTE FUNCTION finance_batch_posted_frozen();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS batch_posted_frozen ON finance_batch;
DROP FUNCTION IF EXISTS finance_batch_posted_frozen();
DROP TRIGGER IF EXISTS batch_open_for_payment ON finance_payment;
DROP TRIGGER IF EXISTS batch_open_for_invoice ON finance_invoice;
DROP TRIGGER IF EXISTS batch_open_for_journal ON finance_journalentry;
DROP FUNCTION IF EXISTS finance_batch_accepts_rows();
DROP TRIGGER IF EXISTS journal_entry_immutable ON finance_journalentry;
DROP FUNCTION IF EXISTS finance_journalentry_immutable();
DROP TRIGGER IF EXISTS journal_line_immutable ON finance_journalline;
DROP FUNCTION IF EXISTS finance_journalline_immutable();
DROP TRIGGER IF EXISTS journal_entry_balanced ON finance_journalline;
DROP FUNCTION IF EXISTS finance_check_entry_balanced();
"""


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FORWARD)  # no parameters: the '%' in RAISE stay literal


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("finance", "0002_initial")]
    operations = [migrations.RunPython(forward, backward)]
