"""Per-contact open balances (``ContactBalance``) kept by PostgreSQL.

Three statement-level triggers on ``finance_invoice`` (AFTER INSERT / UPDATE / DELETE,
with transition tables) add, in the writing transaction, what the statement's rows
change in the balances: per bill-to contact and currency, the sum and number of the
positive balances and of the negative ones (new rows counted in, old rows counted out;
a row moved to another contact or currency leaves one and joins the other). One grouped
upsert per statement, in key order, whatever wrote the rows (ORM, raw SQL, COPY);
a statement that changes no balance writes nothing. The rows are then filled from the
invoices already there, under a SHARE lock so that no write slips between the two.

Other databases (the embedded SQLite default) keep no such rows: the reports group the
invoices there.
"""

import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


# What a set of invoice rows adds to the balances: per contact and currency, the
# positive balances (receivable) and the negative ones (credit), with their counts.
_DELTA = """
    SELECT bill_to_id AS contact_id, currency,
           {sign} GREATEST(balance, 0) AS receivable, {sign} (balance > 0)::int AS receivable_count,
           {sign} LEAST(balance, 0) AS credit, {sign} (balance < 0)::int AS credit_count
      FROM {rows}
"""

_UPSERT = """
    INSERT INTO reporting_contactbalance AS s (contact_id, currency, receivable, receivable_count, credit, credit_count)
    SELECT contact_id, currency, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM ({rows}) d
     GROUP BY contact_id, currency
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY contact_id, currency
    ON CONFLICT (contact_id, currency) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;
"""


def _function(name: str, rows: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_UPSERT.format(rows=rows)}
    RETURN NULL;
END $$;
"""


FORWARD = (
    _function("reporting_contact_balance_insert", _DELTA.format(sign="", rows="new_invoices"))
    + _function(
        "reporting_contact_balance_update",
        _DELTA.format(sign="", rows="new_invoices") + " UNION ALL " + _DELTA.format(sign="-", rows="old_invoices"),
    )
    + _function("reporting_contact_balance_delete", _DELTA.format(sign="-", rows="old_invoices"))
    + """
CREATE TRIGGER reporting_contact_balance_insert AFTER INSERT ON finance_invoice
REFERENCING NEW TABLE AS new_invoices
FOR EACH STATEMENT EXECUTE FUNCTION reporting_contact_balance_insert();
CREATE TRIGGER reporting_contact_balance_update AFTER UPDATE ON finance_invoice
REFERENCING NEW TABLE AS new_invoices OLD TABLE AS old_invoices
FOR EACH STATEMENT EXECUTE FUNCTION reporting_contact_balance_update();
CREATE TRIGGER reporting_contact_balance_delete AFTER DELETE ON finance_invoice
REFERENCING OLD TABLE AS old_invoices
FOR EACH STATEMENT EXECUTE FUNCTION reporting_contact_balance_delete();

-- The balances of the invoices already there, with writers held off until the
-- migration commits (the triggers above take every change after it).
LOCK TABLE finance_invoice IN SHARE MODE;
DELETE FROM reporting_contactbalance;
INSERT INTO reporting_contactbalance (contact_id, currency, receivable, receivable_count, credit, credit_count)
SELECT bill_to_id, currency,
       COALESCE(SUM(balance) FILTER (WHERE balance > 0), 0), COUNT(*) FILTER (WHERE balance > 0),
       COALESCE(SUM(balance) FILTER (WHERE balance < 0), 0), COUNT(*) FILTER (WHERE balance < 0)
  FROM finance_invoice
 WHERE balance <> 0
 GROUP BY bill_to_id, currency;
"""
)

BACKWARD = """
DROP TRIGGER IF EXISTS reporting_contact_balance_delete ON finance_invoice;
DROP TRIGGER IF EXISTS reporting_contact_balance_update ON finance_invoice;
DROP TRIGGER IF EXISTS reporting_contact_balance_insert ON finance_invoice;
DROP FUNCTION IF EXISTS reporting_contact_balance_delete();
DROP FUNCTION IF EXISTS reporting_contact_balance_update();
DROP FUNCTION IF EXISTS reporting_contact_balance_insert();
"""


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FORWARD)


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0013_invoice_open_by_contact_covering"),
        ("reporting", "0002_gl_batch_entry_count"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactBalance",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("currency", models.CharField(max_length=3)),
                ("receivable", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=14)),
                ("receivable_count", models.IntegerField(default=0)),
                ("credit", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=14)),
                ("credit_count", models.IntegerField(default=0)),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="finance.contact"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        models.OrderBy(models.F("receivable"), descending=True),
                        models.F("contact"),
                        condition=models.Q(("receivable__gt", 0)),
                        name="contact_balance_receivable",
                    ),
                    models.Index(
                        models.F("credit"),
                        models.F("contact"),
                        condition=models.Q(("credit__lt", 0)),
                        name="contact_balance_credit",
                    ),
                ],
                "constraints": [models.UniqueConstraint(fields=("contact", "currency"), name="contact_balance_unique")],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
