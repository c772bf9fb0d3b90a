"""Pay Central: payment methods and sets, gateway accounts, module authorization."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from paycentral.crypto import EncryptedTextField


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


class Cart(models.Model):
    """A staff order taken on behalf of a contact (the bill-to), paid on submit.

    Open → Submitted (the invoice and its payments are written) or Open → Cancelled.
    Only an open cart changes; its lines and applied credits are changed by the
    services in ``paycentral.services.cart`` under the cart's row lock.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        # The remainder is being charged to a card: the cart is frozen until the
        # processor's answer is recorded (submitted) or the charge failed (open again).
        CHARGING = "charging", "Card charge in progress"
        SUBMITTED = "submitted", "Submitted"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.OPEN: {Status.SUBMITTED, Status.CANCELLED, Status.CHARGING},
        Status.CHARGING: {Status.SUBMITTED, Status.OPEN},
        Status.SUBMITTED: set(),
        Status.CANCELLED: set(),
    }

    # The staff user taking the order.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="carts")
    # Acting on behalf of: the bill-to contact of the invoice created on submit.
    contact = models.ForeignKey("finance.Contact", on_delete=models.PROTECT, related_name="carts")
    # The payment methods offered ("Staff" for staff, "Public" for a member checkout).
    method_set = models.ForeignKey(PaymentMethodSet, on_delete=models.PROTECT, related_name="carts")
    # Set by the first product: a cart's lines and credits belong to one financial entity.
    entity = models.ForeignKey("finance.FinancialEntity", on_delete=models.PROTECT, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Written on submit: the invoice, the batch it went into and the remainder payment.
    invoice = models.OneToOneField(
        "finance.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="cart"
    )
    batch = models.ForeignKey("finance.Batch", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payment = models.ForeignKey("finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # A prepayment entered in an empty cart (when finance settings allow it): on submit
    # it becomes an open credit of the contact in ``entity``.
    prepayment = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # The card charge of the remainder, in two phases: the idempotency key and amount are
    # committed before the processor is called; the answer is recorded after.
    charge_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    charge_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # The processor's single-use card token (never a card number), kept until the
    # charge's outcome is known so that a retry repeats the identical request.
    charge_token = models.CharField(max_length=100, blank=True)
    charge_key = models.CharField(max_length=64, blank=True)
    charge_id = models.CharField(max_length=100, blank=True)
    charge_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "contact"], condition=Q(status="open"), name="one_open_cart_per_user_contact"
            ),
            models.CheckConstraint(
                condition=~Q(status="submitted") | Q(invoice__isnull=False, submitted_at__isnull=False),
                name="cart_submitted_has_invoice",
            ),
            models.CheckConstraint(
                condition=~Q(status="charging")
                | (Q(charge_amount__gt=0, charge_method__isnull=False) & ~Q(charge_key="")),
                name="cart_charging_has_key_and_amount",
            ),
            models.CheckConstraint(
                condition=Q(prepayment__isnull=True) | Q(prepayment__gt=0), name="cart_prepayment_positive"
            ),
            models.UniqueConstraint(fields=["charge_key"], condition=~Q(charge_key=""), name="cart_charge_key_unique"),
        ]

    def __str__(self):
        return f"Cart {self.pk} for {self.contact}"


class CartLine(models.Model):
    """A product in a cart. ``amount`` = quantity × unit price, rounded half up."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("finance.Product", on_delete=models.PROTECT)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=1)
    # The product's price when it was added.
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cart_product_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cart_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="cart_line_price_not_negative"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="cart_line_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.product.code}"


class CartCredit(models.Model):
    """Open credit (a credit invoice) applied to a cart, used on submit in ``position`` order."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="credits")
    credit_invoice = models.ForeignKey("finance.Invoice", on_delete=models.PROTECT, related_name="cart_credits")
    # Part of the credit invoice's open credit used on this cart (> 0).
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    position = models.PositiveSmallIntegerField(default=0)
    applied_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    applied_at = models.DateTimeField(auto_now_add=True)
    # Another contact's credit (neither the bill-to's nor its company's): Orders ≥ 4 applied it.
    is_other = models.BooleanField(default=False)
    # The OPENCREDIT payment written on submit.
    payment = models.ForeignKey("finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "credit_invoice"], name="cart_credit_invoice_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="cart_credit_amount_positive"),
        ]

    def __str__(self):
        return f"{self.amount} of credit {self.credit_invoice.number} on cart {self.cart_id}"


class MemberAccount(models.Model):
    """A member's sign-in to the member checkout: the user acts as this contact only.

    Member users are not staff and hold no module levels, so every staff page answers
    them 403; the member pages (``/member/``) need this link.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_account")
    contact = models.ForeignKey("finance.Contact", on_delete=models.PROTECT, related_name="member_accounts")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contact__name"]

    def __str__(self):
        return f"{self.user} → {self.contact}"
