"""Cash receipts read a day's payments with their batch from the index alone (the batch
says whether a receipt counts: posted batches only, or all)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0036_processor_customers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="payment",
            name="payment_by_date",
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                fields=["date", "id"],
                include=("method", "currency", "amount", "status", "batch"),
                name="payment_by_date",
            ),
        ),
    ]
