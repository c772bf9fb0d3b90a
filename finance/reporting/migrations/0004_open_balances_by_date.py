"""Open balances per currency and invoice date (``OpenBalanceByDate``) kept by PostgreSQL.

The invoice table has no index naming the balance any more (finance migration 0015:
balance changes are heap-only updates), so the sums of the open balances over every
contact (the AR aging and open credit totals, the dashboard's AR position) would scan
every invoice. They read these rows instead: per currency and invoice date, the sum and
number of the positive balances and of the negative ones.

The three statement-level trigger functions of ``0003_contact_balances`` (AFTER INSERT /
UPDATE / DELETE on ``finance_invoice``, with transition tables) are replaced by versions
that, after the per-contact upsert, run a second grouped upsert of the same rows per
currency and date, in key order: still one trigger call per statement, in the writing
transaction, whatever wrote the rows (ORM, raw SQL, COPY). New rows are counted in and
old rows out, so a row moved to another date or currency leaves one day and joins the
other; a statement that changes no balance, date or currency writes nothing here. Rows
that come down to zero stay, as ``ContactBalance`` rows do. Each day has up to 16 rows
(slots): a statement adds to the slot of its server process, so that a long posting,
which holds its rows until it commits, does not hold up the other sessions' invoices of
the same days; the readers add the slots up.

The invoice table is locked (SHARE) before the functions are replaced and the rows are
filled from the invoices already there, so no write slips between the two: writers wait
until the migration commits and then run the new functions.

Other databases (the embedded SQLite default) keep no such rows: the reports group the
invoices there.
"""

from decimal import Decimal

from django.db import migrations, models

# What a set of invoice rows adds to the kept figures, per key: the positive balances
# (receivable) and the negative ones (credit), with their counts.
_DELTA = """
    SELECT {keys},
           {sign} GREATEST(balance, 0) AS receivable, {sign} (balance > 0)::int AS receivable_count,
           {sign} LEAST(balance, 0) AS credit, {sign} (balance < 0)::int AS credit_count
      FROM {rows}
"""

_UPSERT = """
    INSERT INTO {table} AS s ({keys}, receivable, receivable_count, credit, credit_count)
    SELECT {keys}, SUM(receivable), SUM(receivable_count), SUM(credit), SUM(credit_count)
      FROM ({rows}) d
     GROUP BY {keys}
    HAVING SUM(receivable) <> 0 OR SUM(receivable_count) <> 0 OR SUM(credit) <> 0 OR SUM(credit_count) <> 0
     ORDER BY {keys}
    ON CONFLICT ({keys}) DO UPDATE
       SET receivable = s.receivable + EXCLUDED.receivable,
           receivable_count = s.receivable_count + EXCLUDED.receivable_count,
           credit = s.credit + EXCLUDED.credit,
           credit_count = s.credit_count + EXCLUDED.credit_count;
"""

# (kept table, its key columns, the invoice columns they are read from)
_CONTACTS = ("reporting_contactbalance", "contact_id, currency", "bill_to_id AS contact_id, currency")
# Per date, each statement adds to one of SLOTS rows, chosen by its server process: a
# long posting holds the rows of its slot until it commits, and the other sessions'
# invoices of the same day go on in theirs (readers add up the slots).
SLOTS = 16
_DATES = (
    "reporting_openbalancebydate",
    "currency, date, slot",
    f"currency, date, (pg_backend_pid() % {SLOTS})::smallint AS slot",
)

# The transition tables each trigger function reads: (sign, table) pairs.
_ROWS = {
    "insert": [("", "new_invoices")],
    "update": [("", "new_invoices"), ("-", "old_invoices")],
    "delete": [("-", "old_invoices")],
}


def _upsert(kept: tuple[str, str, str], event: str) -> str:
    table, keys, columns = kept
    rows = " UNION ALL ".join(_DELTA.format(keys=columns, sign=sign, rows=src) for sign, src in _ROWS[event])
    return _UPSERT.format(table=table, keys=keys, rows=rows)


def _functions(*kept: tuple[str, str, str]) -> str:
    # Contacts first, then dates, in every function: each statement takes the kept rows'
    # locks in the same order.
    return "".join(
        f"""
CREATE OR REPLACE FUNCTION reporting_contact_balance_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {"".join(_upsert(k, event) for k in kept)}
    RETURN NULL;
END $$;
"""
        for event in _ROWS
    )


FORWARD = (
    """
-- Writers wait from here until the migration commits, then run the new functions.
LOCK TABLE finance_invoice IN SHARE MODE;
"""
    + _functions(_CONTACTS, _DATES)
    + """
DELETE FROM reporting_openbalancebydate;
INSERT INTO reporting_openbalancebydate (currency, date, slot, receivable, receivable_count, credit, credit_count)
SELECT currency, date, 0,
       COALESCE(SUM(balance) FILTER (WHERE balance > 0), 0), COUNT(*) FILTER (WHERE balance > 0),
       COALESCE(SUM(balance) FILTER (WHERE balance < 0), 0), COUNT(*) FILTER (WHERE balance < 0)
  FROM finance_invoice
 WHERE balance <> 0
 GROUP BY currency, date;
"""
)

# The functions of 0003: per-contact balances only.
BACKWARD = "LOCK TABLE finance_invoice IN SHARE MODE;" + _functions(_CONTACTS)


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FORWARD)


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0015_invoice_balance_updates_in_place"),
        ("reporting", "0003_contact_balances"),
    ]

    operations = [
        migrations.CreateModel(
            name="OpenBalanceByDate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("currency", models.CharField(max_length=3)),
                ("date", models.DateField()),
                ("slot", models.PositiveSmallIntegerField(default=0)),
                ("receivable", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=14)),
                ("receivable_count", models.IntegerField(default=0)),
                ("credit", models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=14)),
                ("credit_count", models.IntegerField(default=0)),
            ],
            options={
                "verbose_name": "open balance by currency and date",
                "verbose_name_plural": "open balances by currency and date",
                "constraints": [
                    models.UniqueConstraint(fields=("currency", "date", "slot"), name="open_balance_by_date_unique")
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
