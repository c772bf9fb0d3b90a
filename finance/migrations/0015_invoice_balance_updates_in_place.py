"""Invoice balance changes become heap-only (HOT) updates.

PostgreSQL updates a row in place on its page, writing no index entry, only when no
index of the table names a column the update changes: a key column, an included
(covering) column or a column of a partial index's condition. The two partial covering
indexes of the open invoices (``invoice_open_by_contact`` and
``invoice_open_by_currency``) named the balance three ways, so every balance change
(each payment, credit use, adjustment, and the AR import's posting of 100,000+ rows in
one statement) wrote a new entry in every index of the invoice table. This migration
drops both, so that no index of ``finance_invoice`` contains the balance, and leaves
three tenths of each page free (fillfactor 70) for the new versions of the rows whose
balance changes: a row's new version must fit on its page, and a posting pays many of a
page's invoices in one transaction (the AR import benchmark: 43 % of them), before any
old version can be pruned.

The reports that read the open balances from those indexes read kept figures instead:
per contact (``reporting.ContactBalance``) and per currency and invoice date
(``reporting.OpenBalanceByDate``, migration ``reporting.0004``). An index naming the
balance must not come back: ``tests/finance/test_invoice_hot_updates.py`` fails if a
balance update stops being heap-only.

The fillfactor applies to the pages written from now on; pages already full get their
room back as vacuum frees the old row versions, or at once when the table is rewritten
(``VACUUM FULL finance_invoice`` in a maintenance window). Other databases (the embedded
SQLite default) have no such setting and only drop the indexes.
"""

from django.db import migrations


def invoice_fillfactor(apps, schema_editor):
    # Room on each page for the new versions of invoices whose balance changes.
    schema_editor.execute("ALTER TABLE finance_invoice SET (fillfactor = 70)")


def invoice_fillfactor_reset(apps, schema_editor):
    schema_editor.execute("ALTER TABLE finance_invoice RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0014_fewer_ledger_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="invoice",
            name="invoice_open_by_contact",
        ),
        migrations.RemoveIndex(
            model_name="invoice",
            name="invoice_open_by_currency",
        ),
        migrations.RunPython(invoice_fillfactor, invoice_fillfactor_reset),
    ]
