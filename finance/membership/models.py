"""Membership billing: member types, subscriptions, term invoices, renewal runs, the
dues importer and Subscription API packages.

A subscription's ``paid_through`` and ``renewed_through`` are derived from its terms:
``renewed_through`` is the end of its latest term whose invoice is not reversed,
``paid_through`` the end of its latest term whose primary fee line is paid in full (the
payments applied to it, net, reach its amount) and whose invoice is not reversed; both
never fall below ``opening_paid_through`` (what the member had paid before billing
started here). The database keeps them current: triggers recompute them when payment
applications are written (any path: staff entry, AR import, open credit, processor) and
when an invoice is reversed (``PaymentApplicationDateTriggers``, ``InvoiceDateTriggers``;
bodies in ``finance.membership.sql``).
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.db_triggers import Trigger
from finance.membership import sql as trigger_sql
from finance.models import Batch, Contact, Invoice, InvoiceLine, MoneyField, PaymentApplication, Product
from finance.money import ZERO


class MembershipSettings(models.Model):
    """Membership billing switches (a single row, pk=1)."""

    accounting_method = models.CharField(
        max_length=10,
        choices=Invoice.AccountingMethod.choices,
        default=Invoice.AccountingMethod.CASH,
        help_text="Membership invoices are cash basis (nothing posted until paid) or accrual.",
    )
    terms_days = models.PositiveSmallIntegerField(default=30, help_text="Days from invoice date to due date.")

    class Meta:
        verbose_name = verbose_name_plural = "membership settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="membership_settings_singleton")]

    def __str__(self):
        return "Membership settings"

    @classmethod
    def load(cls) -> "MembershipSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class MemberType(models.Model):
    """A kind of membership: its fee product (the primary line) and optional billing
    products (chapter dues, a journal) billed with it on every term."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    fee_product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    # Default billing cycle of new subscriptions, in months (12 = annual).
    term_months = models.PositiveSmallIntegerField(default=12)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=Q(term_months__gt=0), name="member_type_term_positive")]

    def __str__(self):
        return f"{self.code} – {self.name}"


class MemberTypeProduct(models.Model):
    """An optional billing product of a member type, billed after the fee line."""

    member_type = models.ForeignKey(MemberType, on_delete=models.CASCADE, related_name="billing_products")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["member_type", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["member_type", "product"], name="member_type_product_once"),
        ]

    def __str__(self):
        return f"{self.member_type.code}: {self.product.code}"


class Subscription(models.Model):
    """A contact's membership subscription of one member type."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LAPSED = "lapsed", "Lapsed"
        CANCELLED = "cancelled", "Cancelled"

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="subscriptions")
    member_type = models.ForeignKey(MemberType, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Billing cycle in months (12 = annual; any term length).
    term_months = models.PositiveSmallIntegerField(default=12)
    join_date = models.DateField()
    # Paid through before billing started here (migrated members); a new member's is
    # the day before the first term.
    opening_paid_through = models.DateField(null=True, blank=True)
    paid_through = models.DateField(null=True, blank=True)  # derived, see module doc
    renewed_through = models.DateField(null=True, blank=True)  # derived, see module doc
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contact_id", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(term_months__gt=0), name="subscription_term_positive"),
            models.UniqueConstraint(
                fields=["contact", "member_type"],
                condition=Q(status="active"),
                name="one_active_subscription_per_type",
            ),
        ]
        indexes = [
            models.Index(fields=["paid_through"], condition=Q(status="active"), name="subscription_active_paid"),
            models.Index(fields=["contact", "status"]),
        ]

    def __str__(self):
        return f"{self.contact} {self.member_type.code} ({self.get_status_display()})"


class Term(models.Model):
    """One billed term of a subscription: its invoice and primary fee line."""

    class Source(models.TextChoices):
        JOIN = "join", "Join"
        RENEWAL = "renewal", "Renewal"
        RENEWAL_RUN = "renewal_run", "Renewal run"
        IMPORT = "import", "Dues import"
        API = "api", "Subscription API"

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="terms")
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="membership_term")
    primary_line = models.OneToOneField(InvoiceLine, on_delete=models.PROTECT, related_name="+")
    term_begin = models.DateField()
    term_end = models.DateField()
    source = models.CharField(max_length=12, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subscription_id", "term_begin", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(term_end__gte=F("term_begin")), name="term_end_after_begin"),
        ]

    def __str__(self):
        return f"{self.subscription} {self.term_begin}–{self.term_end}"


# The two triggers that keep the subscriptions' dates fire on tables of the ledger core,
# and keep this app's rows: they are declared here, beside the subscriptions and terms,
# on proxies of the ledger's models (no table of their own, nothing to query), rather
# than on finance.PaymentApplication and finance.Invoice: the ledger core imports no
# app built on it.


class PaymentApplicationDateTriggers(PaymentApplication):
    """The payment application table, with the trigger that recomputes the dates of
    the subscriptions whose primary term lines an INSERT statement's applications name
    (``finance.membership.sql``)."""

    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            Trigger(
                name="membership_applications_written",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=trigger_sql.APPLICATIONS_WRITTEN,
            ),
        ]


class InvoiceDateTriggers(Invoice):
    """The invoice table, with the trigger that recomputes the dates of the
    subscriptions with a term on an invoice whose ``reversed_at`` changes
    (``finance.membership.sql``)."""

    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            Trigger(
                name="membership_invoice_reversed",
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf("reversed_at"),
                condition=pgtrigger.AnyChange("reversed_at"),
                func=trigger_sql.INVOICE_REVERSED,
            ),
        ]


class RenewalRun(models.Model):
    """A renewal run: members whose paid-through falls in a range are billed their next
    term. Creating the run writes a preview (items and lines) in an Open batch; staff
    review it and delete it or post it, which creates the invoices."""

    class Status(models.TextChoices):
        CREATING = "creating", "Creating preview"
        READY = "ready", "Ready for review"
        POSTING = "posting", "Posting"
        POSTED = "posted", "Posted"
        DELETED = "deleted", "Deleted"
        FAILED = "failed", "Failed"

    effective_date = models.DateField()
    invoice_date = models.DateField()
    paid_through_from = models.DateField()
    paid_through_to = models.DateField()
    member_type = models.ForeignKey(MemberType, on_delete=models.PROTECT, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATING)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    member_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    line_count = models.PositiveIntegerField(default=0)
    total = MoneyField(default=ZERO)
    credit_applied = MoneyField(default=ZERO)
    progress = models.PositiveSmallIntegerField(default=0)  # percent while posting
    message = models.TextField(blank=True)
    # The preview's build: when it was last queued (creation, "build again", recovery)
    # and when a worker last began it (committed before the build's own transaction).
    # ``finance.membership.renewals.renewal_run_recover_build`` reads them.
    build_queued_at = models.DateTimeField(null=True, blank=True)
    build_started_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(paid_through_to__gte=F("paid_through_from")), name="renewal_run_range_ordered"
            ),
        ]

    def __str__(self):
        return f"Renewal run {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.CREATING, self.Status.READY, self.Status.POSTING)


class RenewalItem(models.Model):
    """One member of a run: billed (with lines) or skipped with the reason."""

    run = models.ForeignKey(RenewalRun, on_delete=models.CASCADE, related_name="items")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    member_type = models.ForeignKey(MemberType, on_delete=models.PROTECT, related_name="+")
    skipped = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)
    term_begin = models.DateField(null=True, blank=True)
    term_end = models.DateField(null=True, blank=True)
    amount = MoneyField(default=ZERO)
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["run", "pk"]
        indexes = [models.Index(fields=["run", "skipped"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(skipped=True) | (Q(term_begin__isnull=False) & Q(term_end__gte=F("term_begin"))),
                name="renewal_item_term_ordered",
            ),
            models.CheckConstraint(condition=Q(skipped=False) | ~Q(reason=""), name="renewal_skip_has_reason"),
        ]

    def __str__(self):
        return f"{self.run} {self.contact_id}"


class RenewalLine(models.Model):
    """A preview line of a billed item: becomes an invoice line when the run is posted."""

    item = models.ForeignKey(RenewalItem, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=200)
    amount = MoneyField()
    account = models.ForeignKey("finance.GLAccount", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["item", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "line_number"], name="renewal_line_number_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="renewal_line_amount_not_negative"),
        ]


class DuesImport(models.Model):
    """A dues file: validated into rows, then created whole in an Open batch."""

    class Status(models.TextChoices):
        INVALID = "invalid", "Has errors"
        VALIDATED = "validated", "Validated"
        CREATED = "created", "Created"

    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices)
    invoice_date = models.DateField()
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    row_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    total = MoneyField(default=ZERO)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["sha256"], condition=Q(status="created"), name="dues_file_created_once"),
        ]

    def __str__(self):
        return f"Dues import {self.pk} ({self.file_name})"


class DuesImportRow(models.Model):
    dues_import = models.ForeignKey(DuesImport, on_delete=models.CASCADE, related_name="rows")
    line_number = models.PositiveIntegerField()
    party_id = models.CharField(max_length=40)
    member_type_code = models.CharField(max_length=40)
    term_begin = models.DateField(null=True, blank=True)
    term_end = models.DateField(null=True, blank=True)
    amount = MoneyField(null=True, blank=True)
    payment_method = models.CharField(max_length=20, blank=True)
    payment_reference = models.CharField(max_length=100, blank=True)
    errors = models.TextField(blank=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payment = models.ForeignKey("finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["dues_import", "line_number"]


class SubscriptionPackage(models.Model):
    """An import package submitted through the Subscription API, processed by a task.

    The client's ``key`` makes a resubmission return the same package (never billed
    twice); the same key with a different payload is refused."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"

    key = models.CharField(max_length=100, unique=True)
    payload_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    invoice_date = models.DateField()
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    item_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self):
        return f"Subscription package {self.key}"


class SubscriptionPackageItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CREATED = "created", "Created"
        ERROR = "error", "Error"

    package = models.ForeignKey(SubscriptionPackage, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    party_id = models.CharField(max_length=40)
    member_type_code = models.CharField(max_length=40)
    term_begin = models.DateField()
    term_end = models.DateField()
    amount = MoneyField(null=True, blank=True)
    payment_method = models.CharField(max_length=20, blank=True)
    payment_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    invoice_numbers = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["package", "position"]
        constraints = [
            models.UniqueConstraint(fields=["package", "position"], name="package_item_position_unique"),
            models.CheckConstraint(condition=Q(term_end__gte=F("term_begin")), name="package_item_term_ordered"),
        ]
