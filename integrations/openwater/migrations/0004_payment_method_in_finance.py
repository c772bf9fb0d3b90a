"""The integration's payment method names the model where it now lives (``finance``,
the same table): state only, nothing in the database changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0028_payment_methods_moved_in"),
        ("openwater", "0003_drop_run_lease"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="integration",
                    name="payment_method",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="finance.paymentmethod",
                    ),
                ),
            ],
        ),
    ]
