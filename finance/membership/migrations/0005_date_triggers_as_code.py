"""The subscription dates' triggers as code: declared on proxies of the ledger's models.

The triggers of migration 0002 (search_path set by finance 0023) are now
``core.db_triggers.Trigger`` declarations on ``PaymentApplicationDateTriggers``
and ``InvoiceDateTriggers`` (bodies in ``finance.membership.sql``), installed below by
pgtrigger's ``AddTrigger``: same names and bodies. The plain function
``membership_refresh_subscriptions(bigint[])`` that they and the services call stays a
SQL function: it is written again here, with its search_path, from the body of
``finance.membership.sql.REFRESH_SUBSCRIPTIONS_BODY`` as it is now (unchanged since 0002).
"""

import core.db_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from core.db_triggers import set_search_path

# The hand-written triggers and functions this migration replaces, as migrations 0002 and finance 0020
# left them: dropped on the way forward, written again on the way back (after the
# functions pgtrigger leaves behind when it drops its triggers).
DROP_HAND_WRITTEN = """
DROP TRIGGER IF EXISTS membership_applications_written ON finance_paymentapplication;
DROP TRIGGER IF EXISTS membership_invoice_reversed ON finance_invoice;
DROP FUNCTION IF EXISTS membership_applications_written();
DROP FUNCTION IF EXISTS membership_invoice_reversed();
"""

HAND_WRITTEN_FUNCTIONS = ["membership_applications_written()", "membership_invoice_reversed()"]

HAND_WRITTEN = r"""
CREATE OR REPLACE FUNCTION membership_applications_written()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM membership_refresh_subscriptions(ARRAY(
        SELECT DISTINCT t.subscription_id FROM new_rows n JOIN membership_term t ON t.primary_line_id = n.line_id));
    RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION membership_invoice_reversed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM membership_refresh_subscriptions(ARRAY(
        SELECT t.subscription_id FROM membership_term t WHERE t.invoice_id = NEW.id));
    RETURN NULL;
END;
$$;
CREATE TRIGGER membership_applications_written AFTER INSERT ON finance_paymentapplication REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_applications_written();
CREATE TRIGGER membership_invoice_reversed AFTER UPDATE OF reversed_at ON finance_invoice FOR EACH ROW WHEN ((old.reversed_at IS DISTINCT FROM new.reversed_at)) EXECUTE FUNCTION membership_invoice_reversed();
""" + "".join(set_search_path(function) for function in HAND_WRITTEN_FUNCTIONS)

# membership_refresh_subscriptions, as finance.membership.sql.REFRESH_SUBSCRIPTIONS_BODY
# has it (the same function as 0002 wrote and 0020 gave its search_path: the way back
# leaves it).
REFRESH_SUBSCRIPTIONS = """
CREATE OR REPLACE FUNCTION membership_refresh_subscriptions(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    UPDATE membership_subscription s
       SET renewed_through = GREATEST(s.opening_paid_through, x.renewed),
           paid_through = GREATEST(s.opening_paid_through, x.paid)
      FROM (SELECT sub.id AS subscription_id,
                   MAX(t.term_end) FILTER (WHERE i.reversed_at IS NULL) AS renewed,
                   MAX(t.term_end) FILTER (
                       WHERE i.reversed_at IS NULL
                         AND (SELECT COALESCE(SUM(a.amount), 0) FROM finance_paymentapplication a
                               WHERE a.line_id = t.primary_line_id) >= l.amount
                   ) AS paid
              FROM membership_subscription sub
              LEFT JOIN membership_term t ON t.subscription_id = sub.id
              LEFT JOIN finance_invoice i ON i.id = t.invoice_id
              LEFT JOIN finance_invoiceline l ON l.id = t.primary_line_id
             WHERE sub.id = ANY(ids)
             GROUP BY sub.id) x
     WHERE s.id = x.subscription_id
       AND (s.renewed_through IS DISTINCT FROM GREATEST(s.opening_paid_through, x.renewed)
            OR s.paid_through IS DISTINCT FROM GREATEST(s.opening_paid_through, x.paid));
END;
$$;
""" + set_search_path("membership_refresh_subscriptions(bigint[])")


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0023_trigger_functions_search_path"),
        ("finance", "0024_ledger_triggers_as_code"),
        ("membership", "0004_renewal_run_build_times"),
    ]

    operations = [
        migrations.CreateModel(
            name="InvoiceDateTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.invoice",),
        ),
        migrations.CreateModel(
            name="PaymentApplicationDateTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.paymentapplication",),
        ),
        migrations.RunSQL([DROP_HAND_WRITTEN], reverse_sql=[HAND_WRITTEN]),
        migrations.RunSQL([REFRESH_SUBSCRIPTIONS], reverse_sql=migrations.RunSQL.noop),
        pgtrigger.migrations.AddTrigger(
            model_name="invoicedatetriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="membership_invoice_reversed",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."reversed_at" IS DISTINCT FROM (NEW."reversed_at"))',
                    func="\n    PERFORM membership_refresh_subscriptions(ARRAY(\n        SELECT t.subscription_id FROM membership_term t WHERE t.invoice_id = NEW.id));\n    RETURN NULL;\n",
                    hash="7d315d64ae42bf87363e92d8229f3b0b10eef82a",
                    operation='UPDATE OF "reversed_at"',
                    pgid="membership_invoice_reversed",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentapplicationdatetriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="membership_applications_written",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM membership_refresh_subscriptions(ARRAY(\n        SELECT DISTINCT t.subscription_id FROM new_rows n JOIN membership_term t ON t.primary_line_id = n.line_id));\n    RETURN NULL;\n",
                    hash="c75871945fac22a641f4fb48afebe3af8bb0c6be",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="membership_applications_written",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="finance_paymentapplication",
                    when="AFTER",
                ),
            ),
        ),
    ]
