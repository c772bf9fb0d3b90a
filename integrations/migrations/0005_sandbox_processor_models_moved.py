"""The sandbox processor's models moved to their own app (sandboxes.processor, label
sandbox_processor): removed from this app's state only. Its migration 0001 takes the
tables over with their rows; where that app is not installed (production settings) the
tables stay, unused."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_sync_attempt_charge_once"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="sandboxpaymentrequest", name="charge"),
                migrations.RemoveField(model_name="sandboxrefund", name="charge"),
                migrations.DeleteModel(name="SandboxIdempotencyRecord"),
                migrations.DeleteModel(name="SandboxPaymentRequest"),
                migrations.DeleteModel(name="SandboxCharge"),
                migrations.DeleteModel(name="SandboxRefund"),
            ],
        ),
    ]
