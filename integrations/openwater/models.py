"""OpenWater pushback: integrations, program mappings, runs and one sync record per
OpenWater invoice.

The sync record's unique key (integration, OpenWater invoice id) is what makes a paid
OpenWater invoice land in Pay Central once, whatever happens to the worker; a refund
record's unique key (sync, OpenWater refund id) does the same for refunds.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.crypto import EncryptedTextField, mask_secret
from finance.models import MoneyField
from finance.money import ZERO


class Integration(models.Model):
    """A push-back integration of type "iMIS (Invoices)" with its OpenWater credentials."""

    class Kind(models.TextChoices):
        IMIS_INVOICES = "imis_invoices", "iMIS (Invoices)"

    class SyncMode(models.TextChoices):
        NONE = "none", "None (new programs wait until staff act)"
        DEFAULT_PRODUCT = "default_product", "Default Product (new programs push with the default product)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.IMIS_INVOICES)
    base_url = models.URLField(max_length=300)
    # Credentials: stored encrypted, shown back only masked.
    client_key = EncryptedTextField()
    api_key = EncryptedTextField()
    organization_code = models.CharField(max_length=100)

    # Set by Initialize.
    initialized_at = models.DateTimeField(null=True, blank=True)
    entity = models.ForeignKey("finance.FinancialEntity", on_delete=models.PROTECT, null=True, blank=True)
    payment_method = models.ForeignKey(
        "finance.PaymentMethod", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    default_product_name = models.CharField(max_length=200, default="OpenWater application fee")
    default_product = models.ForeignKey(
        "finance.Product", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # OW_DISCOUNT: the product of the invoices' discount lines (OpenWater coupons,
    # discounts and manual reductions: lines below zero), posted to its own account.
    # Made at Initialize; for an integration initialized before discounts were recorded,
    # made with its first discounted invoice. Finance may edit it like any product.
    discount_product = models.ForeignKey(
        "finance.Product", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # "Do not send invoices dated before": older OpenWater invoices are recorded as skipped.
    # Asked for at Initialize (no default).
    skip_before = models.DateField(null=True, blank=True)
    programs_sync_mode = models.CharField(max_length=20, choices=SyncMode.choices, default=SyncMode.NONE)

    # Start / Stop and the schedule.
    is_started = models.BooleanField(default=False)
    interval_minutes = models.PositiveIntegerField(default=5)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # mostRecentTransactionSinceUtc of the next pull; advanced after each fully recorded page.
    cursor = models.DateTimeField(null=True, blank=True)
    # The open batch pushed transactions go into (a new one when staff close it).
    current_batch = models.ForeignKey(
        "finance.Batch", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    page_size = models.PositiveSmallIntegerField(default=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(interval_minutes__gte=1), name="ow_interval_at_least_a_minute"),
            models.CheckConstraint(condition=Q(page_size__gte=1) & Q(page_size__lte=500), name="ow_page_size_in_range"),
            models.CheckConstraint(
                condition=Q(is_started=False) | Q(initialized_at__isnull=False),
                name="ow_started_only_when_initialized",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_initialized(self) -> bool:
        return self.initialized_at is not None

    @property
    def client_key_masked(self) -> str:
        return mask_secret(self.client_key)

    @property
    def api_key_masked(self) -> str:
        return mask_secret(self.api_key)


class ProgramMapping(models.Model):
    """An OpenWater program as Pay Central knows it, and the product it pushes with.

    The mapping holds the product's id: finance may rename the product, change its
    category, description, image, entity or income GL without breaking it.
    """

    class Status(models.TextChoices):
        NEW = "new", "Not mapped"
        INITIALIZED = "initialized", "Own product"
        DEFAULT = "default", "Default product"
        DISABLED = "disabled", "Disabled"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="programs")
    program_id = models.BigIntegerField()
    code = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=300, blank=True)
    is_archived = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    product = models.ForeignKey("finance.Product", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration_id", "name", "program_id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "program_id"], name="ow_program_unique"),
            models.CheckConstraint(
                condition=~Q(status="initialized") | Q(product__isnull=False), name="ow_initialized_has_product"
            ),
        ]

    def __str__(self):
        return f"{self.code or self.program_id} – {self.name}"


class PushbackRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0)
    pushed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    refunds = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["integration", "-started_at"])]

    def __str__(self):
        return f"Run {self.pk} of {self.integration}: {self.status}"


class InvoiceSync(models.Model):
    """One row per OpenWater invoice seen: what became of it in Pay Central."""

    class Status(models.TextChoices):
        PUSHED = "pushed", "Pushed"
        SKIPPED = "skipped", "Skipped"
        ERROR = "error", "Error"
        BY_HAND = "by_hand", "Recorded by hand"

    class StaffAction(models.TextChoices):
        RETRIED = "retried", "Tried again"
        SKIPPED = "skipped", "Skipped"
        BY_HAND = "by_hand", "Marked as recorded by hand"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="syncs")
    ow_invoice_id = models.BigIntegerField()
    program_id = models.BigIntegerField(null=True, blank=True)
    program_code = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    # before_date, disabled, unmapped, nothing_paid, staff: why it was skipped (picked up
    # again once the program is mapped or enabled; never when staff skipped it).
    skip_code = models.CharField(max_length=20, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Why it could not be recorded, for finance staff; the technical detail (the HTTP
    # answer, the exception) beside it for support.
    last_error = models.TextField(blank=True)
    last_error_detail = models.TextField(blank=True)
    # The last thing staff did about it in the Hub (an invoice in error: try again, skip
    # with a reason, or mark as recorded by hand), by whom and when; audited.
    staff_action = models.CharField(max_length=10, choices=StaffAction.choices, blank=True, default="")
    staff_note = models.CharField(max_length=200, blank=True)
    staff_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    staff_at = models.DateTimeField(null=True, blank=True)
    ow_created_at = models.DateTimeField(null=True, blank=True)
    ow_most_recent_transaction_at = models.DateTimeField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True)
    total_paid = MoneyField(default=ZERO)
    total_refunded = MoneyField(default=ZERO)
    # What was created: the first invoice and its payment, and the invoice that holds
    # the kept amount now (a partial refund replaces the invoice by one for the rest).
    contact = models.ForeignKey("finance.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    contact_created = models.BooleanField(default=False, help_text="No contact matched: one was created; review it.")
    invoice = models.ForeignKey("finance.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payment = models.ForeignKey("finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    current_invoice = models.ForeignKey(
        "finance.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pushed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "ow_invoice_id"], name="ow_invoice_once_per_integration"),
            # A pushed invoice has its Pay Central invoice, and its payment unless nothing
            # was paid (fully discounted).
            models.CheckConstraint(
                condition=~Q(status="pushed")
                | (Q(invoice__isnull=False) & (Q(payment__isnull=False) | Q(total_paid=0))),
                name="ow_pushed_has_invoice_and_payment",
            ),
            models.CheckConstraint(
                condition=Q(staff_action="") | (Q(staff_by__isnull=False) & Q(staff_at__isnull=False)),
                name="ow_staff_action_has_who_and_when",
            ),
            models.CheckConstraint(condition=Q(total_refunded__lte=models.F("total_paid")), name="ow_refund_le_paid"),
        ]
        indexes = [
            models.Index(fields=["integration", "status"]),
            models.Index(fields=["pushed_at"]),
        ]

    def __str__(self):
        return f"OpenWater invoice {self.ow_invoice_id}: {self.status}"


class RefundSync(models.Model):
    """An OpenWater refund recorded in Pay Central (once: unique on sync + refund id)."""

    sync = models.ForeignKey(InvoiceSync, on_delete=models.CASCADE, related_name="refunds")
    ow_refund_id = models.BigIntegerField()
    amount = MoneyField()
    refund = models.ForeignKey("finance.Refund", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["sync", "ow_refund_id"], name="ow_refund_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ow_refund_amount_positive"),
        ]
