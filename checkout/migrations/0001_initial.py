"""The cart (lines, credits) and the member accounts, until now models of the app
labelled ``paycentral`` (now the core): taken over with their tables and rows as they are
(``db_table`` keeps the tables' names). State only: nothing in the database changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("finance", "0028_payment_methods_moved_in"),
        ("paycentral", "0004_gateway_account_invoice_sync"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Cart",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("open", "Open"),
                                    ("charging", "Card charge in progress"),
                                    ("submitted", "Submitted"),
                                    ("cancelled", "Cancelled"),
                                ],
                                default="open",
                                max_length=10,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("submitted_at", models.DateTimeField(blank=True, null=True)),
                        ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                        ("prepayment", models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                        ("charge_amount", models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                        ("charge_token", models.CharField(blank=True, max_length=100)),
                        ("charge_key", models.CharField(blank=True, max_length=64)),
                        ("charge_id", models.CharField(blank=True, max_length=100)),
                        ("charge_error", models.CharField(blank=True, max_length=300)),
                        (
                            "batch",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="finance.batch",
                            ),
                        ),
                        (
                            "charge_method",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="finance.paymentmethod",
                            ),
                        ),
                        (
                            "contact",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="carts", to="finance.contact"
                            ),
                        ),
                        (
                            "entity",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                to="finance.financialentity",
                            ),
                        ),
                        (
                            "invoice",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="cart",
                                to="finance.invoice",
                            ),
                        ),
                        (
                            "method_set",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="carts",
                                to="finance.paymentmethodset",
                            ),
                        ),
                        (
                            "payment",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="finance.payment",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="carts",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "paycentral_cart",
                        "ordering": ["-created_at", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="CartCredit",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("amount", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        ("applied_at", models.DateTimeField(auto_now_add=True)),
                        ("is_other", models.BooleanField(default=False)),
                        (
                            "applied_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "cart",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="credits", to="checkout.cart"
                            ),
                        ),
                        (
                            "credit_invoice",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="cart_credits",
                                to="finance.invoice",
                            ),
                        ),
                        (
                            "payment",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="finance.payment",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "paycentral_cartcredit",
                        "ordering": ["position", "pk"],
                    },
                ),
                migrations.CreateModel(
                    name="CartLine",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("quantity", models.DecimalField(decimal_places=2, default=1, max_digits=10)),
                        ("unit_price", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("amount", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        (
                            "cart",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="checkout.cart"
                            ),
                        ),
                        (
                            "product",
                            models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to="finance.product"),
                        ),
                    ],
                    options={
                        "db_table": "paycentral_cartline",
                        "ordering": ["position", "pk"],
                    },
                ),
                migrations.CreateModel(
                    name="MemberAccount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("is_active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "contact",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="member_accounts",
                                to="finance.contact",
                            ),
                        ),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="member_account",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "paycentral_memberaccount",
                        "ordering": ["contact__name"],
                    },
                ),
                migrations.AddConstraint(
                    model_name="cart",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("status", "open")),
                        fields=("user", "contact"),
                        name="one_open_cart_per_user_contact",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cart",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "submitted"), _negated=True),
                            models.Q(("invoice__isnull", False), ("submitted_at__isnull", False)),
                            _connector="OR",
                        ),
                        name="cart_submitted_has_invoice",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cart",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "charging"), _negated=True),
                            models.Q(
                                ("charge_amount__gt", 0),
                                ("charge_method__isnull", False),
                                models.Q(("charge_key", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="cart_charging_has_key_and_amount",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cart",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("prepayment__isnull", True), ("prepayment__gt", 0), _connector="OR"),
                        name="cart_prepayment_positive",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cart",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("charge_key", ""), _negated=True),
                        fields=("charge_key",),
                        name="cart_charge_key_unique",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cartcredit",
                    constraint=models.UniqueConstraint(
                        fields=("cart", "credit_invoice"), name="cart_credit_invoice_once"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cartcredit",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("amount__gt", 0)), name="cart_credit_amount_positive"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cartline",
                    constraint=models.UniqueConstraint(fields=("cart", "product"), name="cart_product_once"),
                ),
                migrations.AddConstraint(
                    model_name="cartline",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("quantity__gt", 0)), name="cart_line_quantity_positive"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cartline",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("unit_price__gte", 0)), name="cart_line_price_not_negative"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="cartline",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("amount__gte", 0)), name="cart_line_amount_not_negative"
                    ),
                ),
            ],
        ),
    ]
