"""Pay Central: payment methods and sets, gateway accounts, module authorization."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class GatewayAccount(models.Model):
    """A payment processor account (sandbox or Stripe) used by card/ACH methods."""

    class Processor(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox"
        STRIPE = "stripe", "Stripe"

    name = models.CharField(max_length=100, unique=True)
    processor = models.CharField(max_length=20, choices=Processor.choices)
    entity = models.ForeignKey("finance.FinancialEntity", on_delete=models.PROTECT)
    # Credentials are set through the integration settings; never displayed in full.
    publishable_key = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    def __str__(self):
        return f"{self.name} ({self.get_processor_display()})"


class PaymentMethod(models.Model):
    """How money arrives: CASH, CHECK, VISA, ACH, OPENCREDIT, OPENWATER…"""

    class Type(models.TextChoices):
        CASH = "cash", "Cash"
        CHECK = "check", "Check"
        CREDIT_CARD = "credit_card", "Credit card"
        ACH = "ach", "ACH / direct debit"
        OPEN_CREDIT = "open_credit", "Open credit"
        OTHER = "other", "Other"

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type.choices)
    # Debited when a payment of this method is received (the entity's cash/bank account).
    cash_account = models.ForeignKey(
        "finance.GLAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payment_methods",
    )
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9_]+$"), name="payment_method_code_upper"),
            models.CheckConstraint(
                condition=Q(type="open_credit") | Q(cash_account__isnull=False),
                name="payment_method_cash_account_required",
            ),
        ]

    def __str__(self):
        return f"{self.code} – {self.name}"


class PaymentMethodSet(models.Model):
    """An ordered list of payment methods offered in a context ("Staff", "Public")."""

    name = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True)
    methods = models.ManyToManyField(PaymentMethod, through="PaymentMethodSetEntry")

    def __str__(self):
        return self.name

    def ordered_entries(self):
        return self.entries.select_related("method").order_by("position", "pk")


class PaymentMethodSetEntry(models.Model):
    method_set = models.ForeignKey(PaymentMethodSet, on_delete=models.CASCADE, related_name="entries")
    method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField(default=0)
    # Shown to the user instead of the method's name when set.
    display_name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["method_set", "method"], name="payment_method_once_per_set")]
        verbose_name_plural = "payment method set entries"

    def __str__(self):
        return self.display_name or self.method.name


class Module(models.TextChoices):
    ORDERS = "orders", "Orders"
    AR_CASH = "ar_cash", "AR/Cash"
    FINANCE = "finance", "Finance"
    MEMBERSHIP = "membership", "Membership"
    INTEGRATIONS = "integrations", "Integrations"


class ModuleAuthorization(models.Model):
    """A staff user's authorization level (0–8, as in iMIS) in one module.

    Superusers hold level 8 everywhere. A missing row means level 0.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="module_levels")
    module = models.CharField(max_length=20, choices=Module.choices)
    level = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "module"], name="one_level_per_module"),
            models.CheckConstraint(condition=Q(level__gte=0) & Q(level__lte=8), name="module_level_0_to_8"),
        ]

    def __str__(self):
        return f"{self.user} {self.get_module_display()} {self.level}"


class ApiToken(models.Model):
    """A bearer token for integrations calling the JSON API. Only a hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str) -> tuple["ApiToken", str]:
        """Create a token and return it with the clear key (shown once)."""
        key = "pc_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=key[:8], key_hash=cls.hash_key(key))
        return token, key
