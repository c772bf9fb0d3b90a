"""Payment methods, their sets and the gateway accounts join the ledger: the models
move here from the app labelled ``paycentral`` (now the core), with their tables and rows
as they are (``db_table`` keeps the tables' names). State only: nothing in the database
changes. A payment's method now names this app's model (the same table).
The ``paycentral`` app's migration 0005 removes the models from its state and renames
their content types."""

import core.crypto
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0027_current_batch"),
        ("paycentral", "0004_gateway_account_invoice_sync"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PaymentMethodSet",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=50, unique=True)),
                        ("description", models.CharField(blank=True, max_length=200)),
                    ],
                    options={
                        "db_table": "paycentral_paymentmethodset",
                    },
                ),
                migrations.CreateModel(
                    name="GatewayAccount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100, unique=True)),
                        (
                            "processor",
                            models.CharField(choices=[("sandbox", "Sandbox"), ("stripe", "Stripe")], max_length=20),
                        ),
                        ("publishable_key", models.CharField(blank=True, max_length=200)),
                        ("secret_key", core.crypto.EncryptedTextField(blank=True, default="")),
                        ("webhook_secret", core.crypto.EncryptedTextField(blank=True, default="")),
                        ("api_base", models.URLField(blank=True)),
                        ("is_active", models.BooleanField(default=True)),
                        ("invoice_sync", models.BooleanField(default=False)),
                        (
                            "default_handling_mode",
                            models.CharField(
                                choices=[
                                    ("default", "Default"),
                                    ("hold_for_dispute", "Hold for dispute"),
                                    ("manual_review", "Manual review required"),
                                    ("skip_autopay", "Skip autopay"),
                                    ("one_time_retry", "One time retry"),
                                    ("override_retry_limit", "Override retry limit (card)"),
                                    ("skip_after_first_failure", "Skip after 1st failure (card)"),
                                ],
                                default="default",
                                max_length=30,
                            ),
                        ),
                        ("card_attempt_limit", models.PositiveSmallIntegerField(default=3)),
                        (
                            "entity",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, to="finance.financialentity"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "paycentral_gatewayaccount",
                    },
                ),
                migrations.CreateModel(
                    name="PaymentMethod",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("code", models.CharField(max_length=20, unique=True)),
                        ("name", models.CharField(max_length=100)),
                        (
                            "type",
                            models.CharField(
                                choices=[
                                    ("cash", "Cash"),
                                    ("check", "Check"),
                                    ("credit_card", "Credit card"),
                                    ("ach", "ACH / direct debit"),
                                    ("open_credit", "Open credit"),
                                    ("other", "Other"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("is_active", models.BooleanField(default=True)),
                        (
                            "cash_account",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="payment_methods",
                                to="finance.glaccount",
                            ),
                        ),
                        (
                            "gateway_account",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                to="finance.gatewayaccount",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "paycentral_paymentmethod",
                        "ordering": ["code"],
                    },
                ),
                migrations.AlterField(
                    model_name="payment",
                    name="method",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.PROTECT, to="finance.paymentmethod"
                    ),
                ),
                migrations.CreateModel(
                    name="PaymentMethodSetEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        ("display_name", models.CharField(blank=True, max_length=100)),
                        (
                            "method",
                            models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to="finance.paymentmethod"),
                        ),
                        (
                            "method_set",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="entries",
                                to="finance.paymentmethodset",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "payment method set entries",
                        "db_table": "paycentral_paymentmethodsetentry",
                        "ordering": ["position", "pk"],
                    },
                ),
                migrations.AddField(
                    model_name="paymentmethodset",
                    name="methods",
                    field=models.ManyToManyField(through="finance.PaymentMethodSetEntry", to="finance.paymentmethod"),
                ),
                migrations.AddConstraint(
                    model_name="gatewayaccount",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("invoice_sync", True)),
                        fields=("entity",),
                        name="one_invoice_sync_account_per_entity",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="gatewayaccount",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("card_attempt_limit__gte", 1), ("card_attempt_limit__lte", 20)),
                        name="gateway_card_attempt_limit_1_to_20",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="paymentmethod",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("code__regex", "^[A-Z0-9_]+$")), name="payment_method_code_upper"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="paymentmethod",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("type", "open_credit"), ("cash_account__isnull", False), _connector="OR"),
                        name="payment_method_cash_account_required",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="paymentmethodsetentry",
                    constraint=models.UniqueConstraint(
                        fields=("method_set", "method"), name="payment_method_once_per_set"
                    ),
                ),
            ],
        ),
    ]
