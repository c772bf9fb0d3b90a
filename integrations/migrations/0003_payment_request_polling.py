import datetime

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_invoice_sync"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoicesyncrecord",
            name="request_checked_at",
            field=models.DateTimeField(default=datetime.datetime(2000, 1, 1, 0, 0, tzinfo=datetime.UTC)),
        ),
        migrations.AddField(
            model_name="sandboxpaymentrequest",
            name="charge",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="payment_request",
                to="integrations.sandboxcharge",
            ),
        ),
        migrations.AddIndex(
            model_name="invoicesyncrecord",
            index=models.Index(
                fields=["request_checked_at", "id"],
                condition=models.Q(("paid_in_ledger", False), ("sync_enabled", True), ("synced_to_processor", True)),
                name="sync_record_request_poll_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="sandboxpaymentrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("status", "requires_payment_method"), ("charge__isnull", False), _connector="OR"),
                name="sandbox_payment_request_paid_has_charge",
            ),
        ),
    ]
