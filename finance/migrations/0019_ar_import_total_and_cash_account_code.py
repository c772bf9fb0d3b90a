from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    """The import's total is null when the rows add up to more than the column holds;
    the cash account code as written may name its entity (ENTITY:CODE)."""

    dependencies = [("finance", "0018_invoice_line_discounts")]

    operations = [
        migrations.AlterField(
            model_name="arimport",
            name="cash_account_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AlterField(
            model_name="arimport",
            name="total_amount",
            field=models.DecimalField(blank=True, decimal_places=2, default=Decimal("0.00"), max_digits=14, null=True),
        ),
    ]
