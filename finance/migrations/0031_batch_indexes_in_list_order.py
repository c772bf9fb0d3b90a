"""A batch's invoices and payments by (batch, date, id), the order the batch page lists
them in, with the columns the batch figures read (index-only): PostgreSQL took a batch's
newest rows by walking the whole date index. Each new index is built before the one it
replaces is dropped."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0030_batch_covering_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(fields=["batch", "date", "id"], include=("type", "total"), name="invoice_by_batch_date"),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(fields=["batch", "date", "id"], include=("amount",), name="payment_by_batch_date"),
        ),
        migrations.RemoveIndex(
            model_name="invoice",
            name="invoice_by_batch",
        ),
        migrations.RemoveIndex(
            model_name="payment",
            name="payment_by_batch",
        ),
    ]
