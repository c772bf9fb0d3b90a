"""The kept balances' triggers as code: declared on ``InvoiceBalanceTriggers``.

The three statement-level triggers on ``finance_invoice`` that keep ``ContactBalance``
and ``OpenBalanceByDate`` were SQL strings in migrations 0003 and 0004 (search_path set
by finance 0023). They are now ``core.db_triggers.Trigger`` declarations on a
proxy of the invoice (bodies in ``finance.reporting.triggers``), installed below by
pgtrigger's ``AddTrigger``: same names and bodies. The kept rows need no refill: the
old triggers are dropped and the new ones created in this migration's transaction, and
writers of invoices wait for its commit.
"""

import core.db_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from core.db_triggers import set_search_path

# The hand-written triggers and functions this migration replaces, as migrations 0003, 0004 and finance 0020
# left them: dropped on the way forward, written again on the way back (after the
# functions pgtrigger leaves behind when it drops its triggers).
DROP_HAND_WRITTEN = """
DROP TRIGGER IF EXISTS reporting_contact_balance_insert ON finance_invoice;
DROP TRIGGER IF EXISTS reporting_contact_balance_update ON finance_invoice;
DROP TRIGGER IF EXISTS reporting_contact_balance_delete ON finance_invoice;
DROP FUNCTION IF EXISTS reporting_contact_balance_insert();
DROP FUNCTION IF EXISTS reporting_contact_balance_update();
DROP FUNCTION IF EXISTS reporting_contact_balance_delete();
"""

HAND_WRITTEN_FUNCTIONS = [
    "reporting_contact_balance_insert()",
    "reporting_contact_balance_update()",
    "reporting_contact_balance_delete()",
]

HAND_WRITTEN = r"""
CREATE OR REPLACE FUNCTION reporting_contact_balance_insert()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN

    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)
    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM (
    SELECT bill_to_id AS contact_id, currency,
            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,
            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count
      FROM new_invoices
) d
     GROUP BY contact_id, currency
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY contact_id, currency
    ON CONFLICT (contact_id, currency) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;

    INSERT INTO reporting_openbalancebydate AS s (currency, date, slot, receivable, receivable_count, credit, credit_count)
    SELECT currency, date, slot, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM (
    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,
            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,
            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count
      FROM new_invoices
) d
     GROUP BY currency, date, slot
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY currency, date, slot
    ON CONFLICT (currency, date, slot) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;

    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION reporting_contact_balance_update()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN

    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)
    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM (
    SELECT bill_to_id AS contact_id, currency,
            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,
            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count
      FROM new_invoices
 UNION ALL
    SELECT bill_to_id AS contact_id, currency,
           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,
           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count
      FROM old_invoices
) d
     GROUP BY contact_id, currency
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY contact_id, currency
    ON CONFLICT (contact_id, currency) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;

    INSERT INTO reporting_openbalancebydate AS s (currency, date, slot, receivable, receivable_count, credit, credit_count)
    SELECT currency, date, slot, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM (
    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,
            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,
            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count
      FROM new_invoices
 UNION ALL
    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,
           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,
           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count
      FROM old_invoices
) d
     GROUP BY currency, date, slot
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY currency, date, slot
    ON CONFLICT (currency, date, slot) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;

    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION reporting_contact_balance_delete()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN

    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)
    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM (
    SELECT bill_to_id AS contact_id, currency,
           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,
           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count
      FROM old_invoices
) d
     GROUP BY contact_id, currency
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY contact_id, currency
    ON CONFLICT (contact_id, currency) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;

    INSERT INTO reporting_openbalancebydate AS s (currency, date, slot, receivable, receivable_count, credit, credit_count)
    SELECT currency, date, slot, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM (
    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,
           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,
           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count
      FROM old_invoices
) d
     GROUP BY currency, date, slot
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY currency, date, slot
    ON CONFLICT (currency, date, slot) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;

    RETURN NULL;
END $$;
CREATE TRIGGER reporting_contact_balance_insert AFTER INSERT ON finance_invoice REFERENCING NEW TABLE AS new_invoices FOR EACH STATEMENT EXECUTE FUNCTION reporting_contact_balance_insert();
CREATE TRIGGER reporting_contact_balance_update AFTER UPDATE ON finance_invoice REFERENCING OLD TABLE AS old_invoices NEW TABLE AS new_invoices FOR EACH STATEMENT EXECUTE FUNCTION reporting_contact_balance_update();
CREATE TRIGGER reporting_contact_balance_delete AFTER DELETE ON finance_invoice REFERENCING OLD TABLE AS old_invoices FOR EACH STATEMENT EXECUTE FUNCTION reporting_contact_balance_delete();
""" + "".join(set_search_path(function) for function in HAND_WRITTEN_FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0023_trigger_functions_search_path"),
        ("finance", "0024_ledger_triggers_as_code"),
        ("reporting", "0005_contact_balance_contact_unindexed"),
    ]

    operations = [
        migrations.CreateModel(
            name="InvoiceBalanceTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.invoice",),
        ),
        migrations.RunSQL([DROP_HAND_WRITTEN], reverse_sql=[HAND_WRITTEN]),
        pgtrigger.migrations.AddTrigger(
            model_name="invoicebalancetriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="reporting_contact_balance_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)\n    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)\n      FROM (\n    SELECT bill_to_id AS contact_id, currency,\n            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,\n            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count\n      FROM new_invoices\n) d\n     GROUP BY contact_id, currency\n    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0\n     ORDER BY contact_id, currency\n    ON CONFLICT (contact_id, currency) DO UPDATE\n       SET receivable = s.receivable + EXCLUDED.receivable,\n           receivable_count = s.receivable_count + EXCLUDED.receivable_count,\n           credit = s.credit + EXCLUDED.credit,\n           credit_count = s.credit_count + EXCLUDED.credit_count;\n\n    INSERT INTO reporting_openbalancebydate AS s (currency, date, slot, receivable, receivable_count, credit, credit_count)\n    SELECT currency, date, slot, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)\n      FROM (\n    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,\n            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,\n            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count\n      FROM new_invoices\n) d\n     GROUP BY currency, date, slot\n    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0\n     ORDER BY currency, date, slot\n    ON CONFLICT (currency, date, slot) DO UPDATE\n       SET receivable = s.receivable + EXCLUDED.receivable,\n           receivable_count = s.receivable_count + EXCLUDED.receivable_count,\n           credit = s.credit + EXCLUDED.credit,\n           credit_count = s.credit_count + EXCLUDED.credit_count;\n\n    RETURN NULL;\n",
                    hash="c70b0296a879c8d52515d41616d9b681afc65c98",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="reporting_contact_balance_insert",
                    referencing="REFERENCING NEW TABLE AS new_invoices ",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoicebalancetriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="reporting_contact_balance_update",
                sql=core.db_triggers.TriggerSql(
                    func="\n    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)\n    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)\n      FROM (\n    SELECT bill_to_id AS contact_id, currency,\n            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,\n            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count\n      FROM new_invoices\n UNION ALL \n    SELECT bill_to_id AS contact_id, currency,\n           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,\n           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count\n      FROM old_invoices\n) d\n     GROUP BY contact_id, currency\n    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0\n     ORDER BY contact_id, currency\n    ON CONFLICT (contact_id, currency) DO UPDATE\n       SET receivable = s.receivable + EXCLUDED.receivable,\n           receivable_count = s.receivable_count + EXCLUDED.receivable_count,\n           credit = s.credit + EXCLUDED.credit,\n           credit_count = s.credit_count + EXCLUDED.credit_count;\n\n    INSERT INTO reporting_openbalancebydate AS s (currency, date, slot, receivable, receivable_count, credit, credit_count)\n    SELECT currency, date, slot, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)\n      FROM (\n    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,\n            GREATEST(balance, 0) AS receivable,  (balance > 0)::int AS receivable_count,\n            LEAST(balance, 0) AS credit,  (balance < 0)::int AS credit_count\n      FROM new_invoices\n UNION ALL \n    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,\n           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,\n           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count\n      FROM old_invoices\n) d\n     GROUP BY currency, date, slot\n    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0\n     ORDER BY currency, date, slot\n    ON CONFLICT (currency, date, slot) DO UPDATE\n       SET receivable = s.receivable + EXCLUDED.receivable,\n           receivable_count = s.receivable_count + EXCLUDED.receivable_count,\n           credit = s.credit + EXCLUDED.credit,\n           credit_count = s.credit_count + EXCLUDED.credit_count;\n\n    RETURN NULL;\n",
                    hash="0ec359649a43c298b9173addbbd7d1532c1a5226",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="reporting_contact_balance_update",
                    referencing="REFERENCING OLD TABLE AS old_invoices  NEW TABLE AS new_invoices ",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoicebalancetriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="reporting_contact_balance_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)\n    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)\n      FROM (\n    SELECT bill_to_id AS contact_id, currency,\n           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,\n           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count\n      FROM old_invoices\n) d\n     GROUP BY contact_id, currency\n    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0\n     ORDER BY contact_id, currency\n    ON CONFLICT (contact_id, currency) DO UPDATE\n       SET receivable = s.receivable + EXCLUDED.receivable,\n           receivable_count = s.receivable_count + EXCLUDED.receivable_count,\n           credit = s.credit + EXCLUDED.credit,\n           credit_count = s.credit_count + EXCLUDED.credit_count;\n\n    INSERT INTO reporting_openbalancebydate AS s (currency, date, slot, receivable, receivable_count, credit, credit_count)\n    SELECT currency, date, slot, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)\n      FROM (\n    SELECT currency, date, (pg_backend_pid() % 16)::smallint AS slot,\n           - GREATEST(balance, 0) AS receivable, - (balance > 0)::int AS receivable_count,\n           - LEAST(balance, 0) AS credit, - (balance < 0)::int AS credit_count\n      FROM old_invoices\n) d\n     GROUP BY currency, date, slot\n    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0\n     ORDER BY currency, date, slot\n    ON CONFLICT (currency, date, slot) DO UPDATE\n       SET receivable = s.receivable + EXCLUDED.receivable,\n           receivable_count = s.receivable_count + EXCLUDED.receivable_count,\n           credit = s.credit + EXCLUDED.credit,\n           credit_count = s.credit_count + EXCLUDED.credit_count;\n\n    RETURN NULL;\n",
                    hash="566b0bf321f396b6dabdfe749452c8c3aefa8104",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="reporting_contact_balance_delete",
                    referencing="REFERENCING OLD TABLE AS old_invoices ",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
    ]
