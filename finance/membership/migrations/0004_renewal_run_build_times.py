from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("membership", "0003_drop_package_payment_amount"),
    ]

    operations = [
        migrations.AddField(
            model_name="renewalrun",
            name="build_queued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="renewalrun",
            name="build_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
