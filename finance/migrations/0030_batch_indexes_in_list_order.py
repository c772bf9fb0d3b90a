"""A batch's invoices, payments and journal entries by (batch, date, id), the order the
batch page lists them in; invoices and payments with the columns the batch figures read
(counts and totals per batch from the index alone). PostgreSQL took a batch's newest rows
by walking the whole date index. Each new index replaces the foreign key's plain index
(or the older covering one), built first so the key is never without one; the keys keep
their constraints (no revalidation of every row)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0029_contact_search_trigram_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(fields=["batch", "date", "id"], include=("type", "total"), name="invoice_by_batch_date"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="invoice",
                    name="batch",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="invoices",
                        to="finance.batch",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "finance_invoice_batch_id_eab27dc1"',
                    reverse_sql='CREATE INDEX "finance_invoice_batch_id_eab27dc1" ON "finance_invoice" ("batch_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="journalentry",
            index=models.Index(fields=["batch", "date", "id"], name="journal_entry_by_batch"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="journalentry",
                    name="batch",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="journal_entries",
                        to="finance.batch",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "finance_journalentry_batch_id_f396096e"',
                    reverse_sql='CREATE INDEX "finance_journalentry_batch_id_f396096e" ON "finance_journalentry" ("batch_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(fields=["batch", "date", "id"], include=("amount",), name="payment_by_batch_date"),
        ),
        migrations.RemoveIndex(
            model_name="payment",
            name="payment_by_batch",
        ),
    ]
