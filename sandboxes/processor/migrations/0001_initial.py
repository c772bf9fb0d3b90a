"""The sandbox processor's tables, until now the integrations app's (its migration 0005
removes the models from its state and leaves the tables): taken over as they are, rows
kept, then renamed to this app's names."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("integrations", "0005_sandbox_processor_models_moved"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SandboxCharge",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("public_id", models.CharField(max_length=40, unique=True)),
                        ("account", models.CharField(db_index=True, max_length=64)),
                        ("amount", models.BigIntegerField()),
                        ("amount_refunded", models.BigIntegerField(default=0)),
                        ("currency", models.CharField(max_length=3)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("succeeded", "Succeeded"),
                                    ("processing", "Processing"),
                                    ("failed", "Failed"),
                                    ("requires_action", "Requires action"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("source", models.CharField(max_length=100)),
                        ("payment_method_type", models.CharField(max_length=20)),
                        ("customer", models.CharField(blank=True, max_length=200)),
                        ("description", models.CharField(blank=True, max_length=500)),
                        ("metadata", models.JSONField(blank=True, default=dict)),
                        ("failure_code", models.CharField(blank=True, max_length=50)),
                        ("failure_message", models.CharField(blank=True, max_length=300)),
                        ("disputed", models.BooleanField(default=False)),
                        ("settles_at", models.DateTimeField(blank=True, null=True)),
                        ("idempotency_key", models.CharField(max_length=255)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "db_table": "integrations_sandboxcharge",
                        "ordering": ["-created_at", "-pk"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("amount__gt", 0)), name="sandbox_charge_amount_positive"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("amount_refunded__gte", 0), ("amount_refunded__lte", models.F("amount"))
                                ),
                                name="sandbox_charge_refunded_within_amount",
                            ),
                            models.UniqueConstraint(
                                fields=("account", "idempotency_key"), name="sandbox_charge_one_per_key"
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SandboxIdempotencyRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("account", models.CharField(max_length=64)),
                        ("key", models.CharField(max_length=255)),
                        ("method", models.CharField(max_length=10)),
                        ("path", models.CharField(max_length=200)),
                        ("request_hash", models.CharField(max_length=64)),
                        ("response_status", models.PositiveSmallIntegerField()),
                        ("response_body", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "integrations_sandboxidempotencyrecord",
                        "constraints": [
                            models.UniqueConstraint(fields=("account", "key"), name="sandbox_idempotency_key_once")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SandboxPaymentRequest",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("public_id", models.CharField(max_length=40, unique=True)),
                        ("account", models.CharField(db_index=True, max_length=64)),
                        ("amount", models.BigIntegerField()),
                        ("currency", models.CharField(max_length=3)),
                        ("customer", models.CharField(blank=True, max_length=200)),
                        ("description", models.CharField(blank=True, max_length=500)),
                        ("metadata", models.JSONField(blank=True, default=dict)),
                        ("status", models.CharField(default="requires_payment_method", max_length=30)),
                        ("idempotency_key", models.CharField(max_length=255)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "charge",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="payment_request",
                                to="sandbox_processor.sandboxcharge",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "integrations_sandboxpaymentrequest",
                        "ordering": ["-created_at", "-pk"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("amount__gt", 0)), name="sandbox_payment_request_amount_positive"
                            ),
                            models.UniqueConstraint(
                                fields=("account", "idempotency_key"), name="sandbox_payment_request_one_per_key"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("status", "requires_payment_method"), ("charge__isnull", False), _connector="OR"
                                ),
                                name="sandbox_payment_request_paid_has_charge",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SandboxRefund",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("public_id", models.CharField(max_length=40, unique=True)),
                        ("account", models.CharField(db_index=True, max_length=64)),
                        ("amount", models.BigIntegerField()),
                        ("currency", models.CharField(max_length=3)),
                        (
                            "status",
                            models.CharField(
                                choices=[("succeeded", "Succeeded"), ("pending", "Pending"), ("failed", "Failed")],
                                max_length=20,
                            ),
                        ),
                        ("reason", models.CharField(blank=True, max_length=50)),
                        ("metadata", models.JSONField(blank=True, default=dict)),
                        ("idempotency_key", models.CharField(max_length=255)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "charge",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="refunds",
                                to="sandbox_processor.sandboxcharge",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "integrations_sandboxrefund",
                        "ordering": ["-created_at", "-pk"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("amount__gt", 0)), name="sandbox_refund_amount_positive"
                            ),
                            models.UniqueConstraint(
                                fields=("account", "idempotency_key"), name="sandbox_refund_one_per_key"
                            ),
                        ],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name="sandboxcharge", table=None),
        migrations.AlterModelTable(name="sandboxidempotencyrecord", table=None),
        migrations.AlterModelTable(name="sandboxpaymentrequest", table=None),
        migrations.AlterModelTable(name="sandboxrefund", table=None),
    ]
