"""The gateway account references name the model where it now lives (``finance``,
the same table): state only, nothing in the database changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0028_payment_methods_moved_in"),
        ("integrations", "0005_sandbox_processor_models_moved"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="invoicesyncrecord",
                    name="gateway_account",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sync_records",
                        to="finance.gatewayaccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="savedpaymentmethod",
                    name="gateway_account",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="finance.gatewayaccount"
                    ),
                ),
                migrations.AlterField(
                    model_name="webhookevent",
                    name="gateway_account",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="finance.gatewayaccount"
                    ),
                ),
            ],
        ),
    ]
