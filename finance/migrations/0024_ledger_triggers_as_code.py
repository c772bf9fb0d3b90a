"""The ledger's triggers as code: declared in the models' ``Meta.triggers``.

The journal balance check (``journal_entry_balanced``, deferred, on the new state-only
model ``JournalCheckPending``: its table is the UNLOGGED one of migration 0008), the
statement-level triggers that queue the touched entries, the immutable posted journal,
the posted-batch guards and the frozen posted batch were SQL strings in migrations 0003
and 0008 (search_path set by 0023). They are now ``core.db_triggers.Trigger``
declarations on the models (bodies in ``finance.triggers``), installed below by
pgtrigger's ``AddTrigger``: same names, same timing, events and bodies, each function
with its own search_path. The hand-written functions go first.
"""

import core.db_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from core.db_triggers import set_search_path

# The hand-written triggers and functions this migration replaces, as migrations 0003, 0008 and 0023
# left them: dropped on the way forward, written again on the way back (after the
# functions pgtrigger leaves behind when it drops its triggers).
DROP_HAND_WRITTEN = """
DROP TRIGGER IF EXISTS batch_posted_frozen ON finance_batch;
DROP TRIGGER IF EXISTS batch_open_for_invoice ON finance_invoice;
DROP TRIGGER IF EXISTS batch_open_for_journal ON finance_journalentry;
DROP TRIGGER IF EXISTS batch_open_for_payment ON finance_payment;
DROP TRIGGER IF EXISTS journal_entry_balanced ON finance_journal_check_pending;
DROP TRIGGER IF EXISTS journal_line_queue_delete ON finance_journalline;
DROP TRIGGER IF EXISTS journal_line_queue_insert ON finance_journalline;
DROP TRIGGER IF EXISTS journal_line_queue_update ON finance_journalline;
DROP TRIGGER IF EXISTS journal_entry_immutable ON finance_journalentry;
DROP TRIGGER IF EXISTS journal_line_immutable ON finance_journalline;
DROP FUNCTION IF EXISTS finance_batch_posted_frozen();
DROP FUNCTION IF EXISTS finance_batch_accepts_new_rows();
DROP FUNCTION IF EXISTS finance_batch_accepts_rows();
DROP FUNCTION IF EXISTS finance_check_queued_entries_balanced();
DROP FUNCTION IF EXISTS finance_journal_queue_entries();
DROP FUNCTION IF EXISTS finance_journalentry_immutable();
DROP FUNCTION IF EXISTS finance_journalline_immutable();
"""

HAND_WRITTEN_FUNCTIONS = [
    "finance_batch_posted_frozen()",
    "finance_batch_accepts_new_rows()",
    "finance_batch_accepts_rows()",
    "finance_check_queued_entries_balanced()",
    "finance_journal_queue_entries()",
    "finance_journalentry_immutable()",
    "finance_journalline_immutable()",
]

HAND_WRITTEN = r"""
CREATE OR REPLACE FUNCTION finance_batch_posted_frozen()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
CREATE OR REPLACE FUNCTION finance_batch_accepts_new_rows()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
CREATE OR REPLACE FUNCTION finance_batch_accepts_rows()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
CREATE OR REPLACE FUNCTION finance_check_queued_entries_balanced()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
CREATE OR REPLACE FUNCTION finance_journal_queue_entries()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
CREATE OR REPLACE FUNCTION finance_journalentry_immutable()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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
CREATE OR REPLACE FUNCTION finance_journalline_immutable()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM finance_journalentry e WHERE e.id = OLD.entry_id AND e.is_posted) THEN
        RAISE EXCEPTION 'journal line % belongs to posted entry % and cannot be changed; post a reversing entry',
            OLD.id, OLD.entry_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER batch_posted_frozen BEFORE DELETE OR UPDATE ON finance_batch FOR EACH ROW EXECUTE FUNCTION finance_batch_posted_frozen();
CREATE TRIGGER batch_open_for_invoice AFTER INSERT ON finance_invoice REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION finance_batch_accepts_new_rows();
CREATE TRIGGER batch_open_for_journal AFTER INSERT ON finance_journalentry REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION finance_batch_accepts_new_rows();
CREATE TRIGGER batch_open_for_payment AFTER INSERT ON finance_payment REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION finance_batch_accepts_new_rows();
CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON finance_journal_check_pending DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION finance_check_queued_entries_balanced();
CREATE TRIGGER journal_line_queue_delete AFTER DELETE ON finance_journalline REFERENCING OLD TABLE AS old_lines FOR EACH STATEMENT EXECUTE FUNCTION finance_journal_queue_entries();
CREATE TRIGGER journal_line_queue_insert AFTER INSERT ON finance_journalline REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION finance_journal_queue_entries();
CREATE TRIGGER journal_line_queue_update AFTER UPDATE ON finance_journalline REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION finance_journal_queue_entries();
CREATE TRIGGER journal_entry_immutable BEFORE DELETE OR UPDATE ON finance_journalentry FOR EACH ROW EXECUTE FUNCTION finance_journalentry_immutable();
CREATE TRIGGER journal_line_immutable BEFORE DELETE OR UPDATE ON finance_journalline FOR EACH ROW EXECUTE FUNCTION finance_journalline_immutable();
""" + "".join(set_search_path(function) for function in HAND_WRITTEN_FUNCTIONS)

DROP_DECLARED_FUNCTIONS = """
DROP FUNCTION IF EXISTS batch_posted_frozen();
DROP FUNCTION IF EXISTS batch_open_for_invoice();
DROP FUNCTION IF EXISTS batch_open_for_journal();
DROP FUNCTION IF EXISTS batch_open_for_payment();
DROP FUNCTION IF EXISTS journal_entry_balanced();
DROP FUNCTION IF EXISTS journal_entry_immutable();
DROP FUNCTION IF EXISTS journal_line_immutable();
DROP FUNCTION IF EXISTS journal_line_queue_insert();
DROP FUNCTION IF EXISTS journal_line_queue_update();
DROP FUNCTION IF EXISTS journal_line_queue_delete();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0023_trigger_functions_search_path"),
    ]

    operations = [
        # The table exists (migration 0008 created it UNLOGGED): the model only.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="JournalCheckPending",
                    fields=[
                        ("xact", models.BigIntegerField(primary_key=True, serialize=False)),
                    ],
                    options={
                        "db_table": "finance_journal_check_pending",
                        "default_permissions": (),
                    },
                ),
            ],
        ),
        migrations.RunSQL([DROP_HAND_WRITTEN], reverse_sql=[DROP_DECLARED_FUNCTIONS + HAND_WRITTEN]),
        pgtrigger.migrations.AddTrigger(
            model_name="batch",
            trigger=pgtrigger.compiler.Trigger(
                name="batch_posted_frozen",
                sql=core.db_triggers.TriggerSql(
                    func="\n    IF TG_OP = 'DELETE' THEN\n        IF OLD.status = 'posted' THEN\n            RAISE EXCEPTION 'batch % is posted and cannot be deleted', OLD.number\n                USING ERRCODE = 'integrity_constraint_violation';\n        END IF;\n        RETURN OLD;\n    END IF;\n    IF OLD.status = 'posted' AND (NEW.status, NEW.number, NEW.date, NEW.control_count, NEW.control_amount,\n                                  NEW.posted_at)\n        IS DISTINCT FROM (OLD.status, OLD.number, OLD.date, OLD.control_count, OLD.control_amount,\n                          OLD.posted_at) THEN\n        RAISE EXCEPTION 'batch % is posted and cannot be changed', OLD.number\n            USING ERRCODE = 'integrity_constraint_violation';\n    END IF;\n    RETURN NEW;\n",
                    hash="82c21d206bdd4b9444872ab73bbc68f7cb830582",
                    operation="UPDATE OR DELETE",
                    pgid="batch_posted_frozen",
                    table="finance_batch",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoice",
            trigger=pgtrigger.compiler.Trigger(
                name="batch_open_for_invoice",
                sql=core.db_triggers.TriggerSql(
                    declare="DECLARE bad record;",
                    func="\n    SELECT b.number, b.status INTO bad\n      FROM finance_batch b\n     WHERE b.id IN (SELECT DISTINCT batch_id FROM new_rows) AND b.status IN ('posted', 'deleted')\n     ORDER BY b.id\n     LIMIT 1;\n    IF FOUND THEN\n        RAISE EXCEPTION 'batch % is %; it takes no new transactions (%)', bad.number, bad.status, TG_TABLE_NAME\n            USING ERRCODE = 'integrity_constraint_violation';\n    END IF;\n    RETURN NULL;\n",
                    hash="78a59e0d3fc7dee89fb873b01f3d3e813543531c",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="batch_open_for_invoice",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalentry",
            trigger=pgtrigger.compiler.Trigger(
                name="journal_entry_immutable",
                sql=core.db_triggers.TriggerSql(
                    func="\n    IF TG_OP = 'DELETE' THEN\n        IF OLD.is_posted THEN\n            RAISE EXCEPTION 'journal entry % is posted and cannot be deleted; post a reversing entry', OLD.id\n                USING ERRCODE = 'integrity_constraint_violation';\n        END IF;\n        RETURN OLD;\n    END IF;\n    IF OLD.is_posted AND (NEW.is_posted, NEW.batch_id, NEW.date, NEW.kind, NEW.invoice_id, NEW.payment_id,\n                          NEW.reversal_of_id, NEW.exclude_from_gl_export)\n        IS DISTINCT FROM (OLD.is_posted, OLD.batch_id, OLD.date, OLD.kind, OLD.invoice_id, OLD.payment_id,\n                          OLD.reversal_of_id, OLD.exclude_from_gl_export) THEN\n        RAISE EXCEPTION 'journal entry % is posted and cannot be changed; post a reversing entry', OLD.id\n            USING ERRCODE = 'integrity_constraint_violation';\n    END IF;\n    RETURN NEW;\n",
                    hash="8350db4844d86037b0272bb5653b957f590d5ebd",
                    operation="UPDATE OR DELETE",
                    pgid="journal_entry_immutable",
                    table="finance_journalentry",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalentry",
            trigger=pgtrigger.compiler.Trigger(
                name="batch_open_for_journal",
                sql=core.db_triggers.TriggerSql(
                    declare="DECLARE bad record;",
                    func="\n    SELECT b.number, b.status INTO bad\n      FROM finance_batch b\n     WHERE b.id IN (SELECT DISTINCT batch_id FROM new_rows) AND b.status IN ('posted', 'deleted')\n     ORDER BY b.id\n     LIMIT 1;\n    IF FOUND THEN\n        RAISE EXCEPTION 'batch % is %; it takes no new transactions (%)', bad.number, bad.status, TG_TABLE_NAME\n            USING ERRCODE = 'integrity_constraint_violation';\n    END IF;\n    RETURN NULL;\n",
                    hash="60a21ad7fa09b384ff918b9a833731570e9a0d20",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="batch_open_for_journal",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="finance_journalentry",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalline",
            trigger=pgtrigger.compiler.Trigger(
                name="journal_line_immutable",
                sql=core.db_triggers.TriggerSql(
                    func="\n    IF EXISTS (SELECT 1 FROM finance_journalentry e WHERE e.id = OLD.entry_id AND e.is_posted) THEN\n        RAISE EXCEPTION 'journal line % belongs to posted entry % and cannot be changed; post a reversing entry',\n            OLD.id, OLD.entry_id USING ERRCODE = 'integrity_constraint_violation';\n    END IF;\n    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n    RETURN NEW;\n",
                    hash="73f14f675927f7b7727ec6eb61b94f13ddfa685d",
                    operation="UPDATE OR DELETE",
                    pgid="journal_line_immutable",
                    table="finance_journalline",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalline",
            trigger=pgtrigger.compiler.Trigger(
                name="journal_line_queue_insert",
                sql=core.db_triggers.TriggerSql(
                    declare="DECLARE n bigint;",
                    func="\n    INSERT INTO finance_journal_check_queue (xact, entry_id)\n    SELECT DISTINCT txid_current(), entry_id FROM new_lines;\n    GET DIAGNOSTICS n = ROW_COUNT;\n\n    IF n > 0 THEN\n        INSERT INTO finance_journal_check_pending (xact) VALUES (txid_current()) ON CONFLICT DO NOTHING;\n    END IF;\n    RETURN NULL;\n",
                    hash="bc1554d140bac671bd663969698b9963b2037090",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="journal_line_queue_insert",
                    referencing="REFERENCING NEW TABLE AS new_lines ",
                    table="finance_journalline",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalline",
            trigger=pgtrigger.compiler.Trigger(
                name="journal_line_queue_update",
                sql=core.db_triggers.TriggerSql(
                    declare="DECLARE n bigint;",
                    func="\n    INSERT INTO finance_journal_check_queue (xact, entry_id)\n    SELECT txid_current(), entry_id FROM new_lines UNION SELECT txid_current(), entry_id FROM old_lines;\n    GET DIAGNOSTICS n = ROW_COUNT;\n\n    IF n > 0 THEN\n        INSERT INTO finance_journal_check_pending (xact) VALUES (txid_current()) ON CONFLICT DO NOTHING;\n    END IF;\n    RETURN NULL;\n",
                    hash="516ecd95a6edba0e3b523ce68721fdce5be4dfa6",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="journal_line_queue_update",
                    referencing="REFERENCING OLD TABLE AS old_lines  NEW TABLE AS new_lines ",
                    table="finance_journalline",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalline",
            trigger=pgtrigger.compiler.Trigger(
                name="journal_line_queue_delete",
                sql=core.db_triggers.TriggerSql(
                    declare="DECLARE n bigint;",
                    func="\n    INSERT INTO finance_journal_check_queue (xact, entry_id)\n    SELECT DISTINCT txid_current(), entry_id FROM old_lines;\n    GET DIAGNOSTICS n = ROW_COUNT;\n\n    IF n > 0 THEN\n        INSERT INTO finance_journal_check_pending (xact) VALUES (txid_current()) ON CONFLICT DO NOTHING;\n    END IF;\n    RETURN NULL;\n",
                    hash="a1116bbc2db3f8940661afc66e104168aa08e2a4",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="journal_line_queue_delete",
                    referencing="REFERENCING OLD TABLE AS old_lines ",
                    table="finance_journalline",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="payment",
            trigger=pgtrigger.compiler.Trigger(
                name="batch_open_for_payment",
                sql=core.db_triggers.TriggerSql(
                    declare="DECLARE bad record;",
                    func="\n    SELECT b.number, b.status INTO bad\n      FROM finance_batch b\n     WHERE b.id IN (SELECT DISTINCT batch_id FROM new_rows) AND b.status IN ('posted', 'deleted')\n     ORDER BY b.id\n     LIMIT 1;\n    IF FOUND THEN\n        RAISE EXCEPTION 'batch % is %; it takes no new transactions (%)', bad.number, bad.status, TG_TABLE_NAME\n            USING ERRCODE = 'integrity_constraint_violation';\n    END IF;\n    RETURN NULL;\n",
                    hash="331cf120789ce9e9830007374ac1d5253273334c",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="batch_open_for_payment",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="finance_payment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="journalcheckpending",
            trigger=pgtrigger.compiler.Trigger(
                name="journal_entry_balanced",
                sql=core.db_triggers.TriggerSql(
                    constraint="CONSTRAINT",
                    declare="DECLARE bad record;",
                    func="\n    SELECT q.entry_id, l.currency, SUM(l.debit) AS d, SUM(l.credit) AS c INTO bad\n      FROM (SELECT DISTINCT entry_id FROM finance_journal_check_queue WHERE xact = NEW.xact) q\n      JOIN finance_journalline l ON l.entry_id = q.entry_id\n     GROUP BY q.entry_id, l.currency\n    HAVING SUM(l.debit) <> SUM(l.credit)\n     ORDER BY q.entry_id, l.currency\n     LIMIT 1;\n    IF FOUND THEN\n        RAISE EXCEPTION 'journal entry % does not balance in %: debits %, credits %',\n            bad.entry_id, bad.currency, bad.d, bad.c USING ERRCODE = 'check_violation';\n    END IF;\n    DELETE FROM finance_journal_check_queue WHERE xact = NEW.xact;\n    DELETE FROM finance_journal_check_pending WHERE xact = NEW.xact;\n    RETURN NULL;\n",
                    hash="75b4b008efabdcd0dcb804f9a468fc7e7e89abd9",
                    operation="INSERT",
                    pgid="journal_entry_balanced",
                    table="finance_journal_check_pending",
                    timing="DEFERRABLE INITIALLY DEFERRED",
                    when="AFTER",
                ),
            ),
        ),
    ]
