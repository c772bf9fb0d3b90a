"""Triggers that keep subscriptions' paid-through and renewed-through dates current.

(The SQL as this migration installed it; the triggers are now declared on the models,
migration 0005.)
"""

from django.db import migrations

PG_REFRESH = """
CREATE OR REPLACE FUNCTION membership_refresh_subscriptions(ids bigint[]) RETURNS void AS $$
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
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION membership_applications_written() RETURNS trigger AS $$
BEGIN
    PERFORM membership_refresh_subscriptions(ARRAY(
        SELECT DISTINCT t.subscription_id FROM new_rows n JOIN membership_term t ON t.primary_line_id = n.line_id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION membership_invoice_reversed() RETURNS trigger AS $$
BEGIN
    PERFORM membership_refresh_subscriptions(ARRAY(
        SELECT t.subscription_id FROM membership_term t WHERE t.invoice_id = NEW.id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER membership_applications_written
    AFTER INSERT ON finance_paymentapplication
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION membership_applications_written();

CREATE TRIGGER membership_invoice_reversed
    AFTER UPDATE OF reversed_at ON finance_invoice
    FOR EACH ROW WHEN (OLD.reversed_at IS DISTINCT FROM NEW.reversed_at)
    EXECUTE FUNCTION membership_invoice_reversed();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS membership_invoice_reversed ON finance_invoice;
DROP TRIGGER IF EXISTS membership_applications_written ON finance_paymentapplication;
DROP FUNCTION IF EXISTS membership_invoice_reversed();
DROP FUNCTION IF EXISTS membership_applications_written();
DROP FUNCTION IF EXISTS membership_refresh_subscriptions(bigint[]);
"""


def install(apps, schema_editor):
    schema_editor.execute(PG_REFRESH)


def uninstall(apps, schema_editor):
    schema_editor.execute(PG_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("membership", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
