from django.db import migrations, models


class Migration(migrations.Migration):
    """Rows of an import that repeat payments posted before (same payer, check, amount)."""

    dependencies = [("finance", "0019_ar_import_total_and_cash_account_code")]

    operations = [
        migrations.AddField(
            model_name="arimport",
            name="repeat_count",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
