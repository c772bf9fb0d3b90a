"""The sandbox processor's state: the provider's side of its charges, refunds, payment
requests and idempotency records, in tables of their own, separate from the ledger."""

from django.db import models
from django.db.models import F, Q


class SandboxCharge(models.Model):
    """A charge held by the sandbox processor (the provider's side, not our ledger)."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        PROCESSING = "processing", "Processing"
        FAILED = "failed", "Failed"
        REQUIRES_ACTION = "requires_action", "Requires action"

    # Public id on the wire, e.g. "ch_3f9c…".
    public_id = models.CharField(max_length=40, unique=True)
    # Fingerprint of the API key that created it: each key is a separate sandbox account.
    account = models.CharField(max_length=64, db_index=True)
    # Integer minor units of ``currency`` (cents for USD), as on the wire.
    amount = models.BigIntegerField()
    amount_refunded = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)  # ISO 4217, upper case
    status = models.CharField(max_length=20, choices=Status.choices)
    # The test token or payment method the charge was made with (decides its outcome).
    source = models.CharField(max_length=100)
    payment_method_type = models.CharField(max_length=20)  # card | us_bank_account
    customer = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    disputed = models.BooleanField(default=False)
    # When a processing charge settles (or a succeeded tok_dispute charge is disputed)
    # on the next read; an "advance" call does it at once.
    settles_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_charge_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount")),
                name="sandbox_charge_refunded_within_amount",
            ),
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="sandbox_charge_one_per_key"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.amount} {self.currency} {self.status}"


class SandboxRefund(models.Model):
    """A refund of a sandbox charge; the refunds of a charge never exceed it."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        PENDING = "pending", "Pending"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=40, unique=True)  # e.g. "re_…"
    account = models.CharField(max_length=64, db_index=True)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()  # integer minor units of ``currency``
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices)
    reason = models.CharField(max_length=50, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_refund_amount_positive"),
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="sandbox_refund_one_per_key"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.amount} {self.currency} of {self.charge_id}"


class SandboxIdempotencyRecord(models.Model):
    """The first answer given to an idempotency key, replayed for the same request.

    The same key with a different request (method, path or body) is refused (409).
    Written in the same transaction as the charge or refund it answered, so a key
    never has an object without its answer, nor an answer without its object.
    """

    account = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)  # sha256 of the canonical JSON body
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="sandbox_idempotency_key_once")]

    def __str__(self):
        return f"{self.key} → {self.response_status}"


class SandboxPaymentRequest(models.Model):
    """A payment request held by the sandbox processor: an amount the customer may pay
    (the provider's side; Stripe's equivalent is a PaymentIntent awaiting a method)."""

    public_id = models.CharField(max_length=40, unique=True)  # e.g. "pr_…"
    account = models.CharField(max_length=64, db_index=True)
    amount = models.BigIntegerField()  # integer minor units of ``currency``
    currency = models.CharField(max_length=3)
    customer = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # requires_payment_method (open) · requires_action · processing · paid: follows
    # ``charge`` (a failed charge leaves the request open to be paid again).
    status = models.CharField(max_length=30, default="requires_payment_method")
    # The latest charge the customer made on it (the one that paid it, once paid).
    charge = models.OneToOneField(
        SandboxCharge, on_delete=models.PROTECT, null=True, blank=True, related_name="payment_request"
    )
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_payment_request_amount_positive"),
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="sandbox_payment_request_one_per_key"),
            models.CheckConstraint(
                condition=Q(status="requires_payment_method") | Q(charge__isnull=False),
                name="sandbox_payment_request_paid_has_charge",
            ),
        ]

    def __str__(self):
        return f"{self.public_id} {self.amount} {self.currency}"


class SandboxPaymentMethod(models.Model):
    """A card entered in the sandbox's card form (``elements.js``), tokenized into a
    payment method id (``pm_…``) that charges use as their ``source``. The card number
    is never stored: only the test token it stands for, its brand, last four digits and
    expiry."""

    public_id = models.CharField(max_length=40, unique=True)  # e.g. "pm_…"
    account = models.CharField(max_length=64, db_index=True)
    # The test token whose behaviour charges with this method get (tok_visa, …).
    token = models.CharField(max_length=40)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    # The customer it is kept for (a charge with ``setup_future_usage`` attached it on
    # success), blank while it is not kept.
    customer = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(exp_month__gte=1, exp_month__lte=12), name="sandbox_pm_exp_month"),
            models.CheckConstraint(condition=Q(last4__regex=r"^[0-9]{4}$"), name="sandbox_pm_last4_digits"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.brand} •••• {self.last4}"


class SandboxCustomer(models.Model):
    """A customer of the sandbox processor (Stripe's Customer): what payment methods are
    kept for. Created once per idempotency key."""

    public_id = models.CharField(max_length=40, unique=True)  # e.g. "cus_…"
    account = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="sandbox_customer_one_per_key"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.name}"
