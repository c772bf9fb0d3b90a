"""The batch's invoices by a covering index (batch, then type and total): the figures of
a page of batches (counts and charges per batch) are read from the index alone. It
replaces the foreign key's plain index, created first so the key is never without one."""

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
            index=models.Index(fields=["batch"], include=("type", "total"), name="invoice_by_batch"),
        ),
        # The foreign key keeps its constraint (no revalidation of every row): only its
        # plain index goes.
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
    ]
