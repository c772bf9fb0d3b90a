"""Payment methods (how money arrives), the sets that offer them and the gateway
(processor) accounts card and ACH methods charge through.

Part of the ledger: every payment names its method, and a method's cash account is the
one its receipts debit. The tables keep the names they were created with (``db_table``):
the models moved here from the project's first app with their rows.
"""

from django.db import models
from django.db.models import Q

from core.crypto import EncryptedTextField


class PaymentHandlingMode(models.TextChoices):
    """How invoice sync treats one invoice's charges (the default comes from the account)."""

    DEFAULT = "default", "Default"
    HOLD_FOR_DISPUTE = "hold_for_dispute", "Hold for dispute"
    MANUAL_REVIEW = "manual_review", "Manual review required"
    SKIP_AUTOPAY = "skip_autopay", "Skip autopay"
    ONE_TIME_RETRY = "one_time_retry", "One time retry"
    OVERRIDE_RETRY_LIMIT = "override_retry_limit", "Override retry limit (card)"
    SKIP_AFTER_FIRST_FAILURE = "skip_after_first_failure", "Skip after 1st failure (card)"


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
    # Stripe: the secret API key and the webhook endpoint's signing secret (whsec_…),
    # encrypted at rest; pages show them masked. The sandbox reads its key from settings.
    secret_key = EncryptedTextField(blank=True, default="")
    webhook_secret = EncryptedTextField(blank=True, default="")
    # Stripe only: another API host (a local Stripe-compatible server); blank = Stripe's.
    api_base = models.URLField(blank=True)
    is_active = models.BooleanField(default=True)
    # Invoice sync: this account offers the entity's new invoices to its processor
    # (at most one such account per entity) and posts their payments.
    invoice_sync = models.BooleanField(default=False)
    # The payment handling mode a new invoice's sync record starts with.
    default_handling_mode = models.CharField(
        max_length=30, choices=PaymentHandlingMode.choices, default=PaymentHandlingMode.DEFAULT
    )
    # Default mode: attempts per invoice on a card (ACH is always one attempt).
    card_attempt_limit = models.PositiveSmallIntegerField(default=3)

    class Meta:
        db_table = "paycentral_gatewayaccount"
        constraints = [
            models.UniqueConstraint(
                fields=["entity"], condition=Q(invoice_sync=True), name="one_invoice_sync_account_per_entity"
            ),
            models.CheckConstraint(
                condition=Q(card_attempt_limit__gte=1) & Q(card_attempt_limit__lte=20),
                name="gateway_card_attempt_limit_1_to_20",
            ),
        ]

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
        db_table = "paycentral_paymentmethod"
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
    """An ordered list of payment methods offered in a context: "Staff" (the staff
    payment entry and the staff cart), "Public" (the member checkout)."""

    name = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True)
    methods: "models.ManyToManyField[PaymentMethod, PaymentMethodSetEntry]" = models.ManyToManyField(
        PaymentMethod, through="PaymentMethodSetEntry"
    )

    class Meta:
        db_table = "paycentral_paymentmethodset"

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
        db_table = "paycentral_paymentmethodsetentry"
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["method_set", "method"], name="payment_method_once_per_set")]
        verbose_name_plural = "payment method set entries"

    def __str__(self):
        return self.display_name or self.method.name
