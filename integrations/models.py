"""Integrations with the outside world (OpenWater pushback, payment processors)."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.dates import format_moment
from finance.models import PaymentHandlingMode

# "Never asked" for InvoiceSyncRecord.request_checked_at: before any real check.
NEVER_CHECKED = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


# --- Invoice sync ---------------------------------------------------------------


class ProcessorStatus(models.TextChoices):
    """The processor's view of an invoice's payment, as last seen by us."""

    NOT_SYNCED = "not_synced", "Not synced"
    REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
    PROCESSING = "processing", "Processing"
    REQUIRES_ACTION = "requires_action", "Requires action"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DISPUTED = "disputed", "Disputed"


class InvoiceSyncRecord(models.Model):
    """One per invoice: how the invoice is offered to, charged at and paid through the
    invoice sync account's processor. Created in the invoice's own transaction.

    Staff edit only ``sync_enabled`` and ``handling_mode`` (through
    ``integrations.services.sync.records.sync_record_update``, which writes a change row);
    everything else is written by the sync services under this row's lock.
    """

    HandlingMode = PaymentHandlingMode

    invoice = models.OneToOneField("finance.Invoice", on_delete=models.PROTECT, related_name="sync_record")
    entity = models.ForeignKey("finance.FinancialEntity", on_delete=models.PROTECT, related_name="+")
    # The invoice sync account of the entity when the record was made (None: none set up).
    gateway_account = models.ForeignKey(
        "finance.GatewayAccount", on_delete=models.PROTECT, null=True, blank=True, related_name="sync_records"
    )
    currency = models.CharField(max_length=3)  # the invoice's (transaction) currency
    base_currency = models.CharField(max_length=3)  # the entity's base currency
    # "Invoice Sync to Payment Provider": off = the processor is never asked about it.
    sync_enabled = models.BooleanField("Invoice sync to payment provider", default=True)
    handling_mode = models.CharField(
        "payment handling mode", max_length=30, choices=HandlingMode.choices, default=HandlingMode.DEFAULT
    )
    # The payment request exists at the processor (guards against a second request).
    synced_to_processor = models.BooleanField(default=False)
    # Saved before the request is sent and reused on every retry of it.
    request_key = models.CharField(max_length=100, blank=True)
    payment_request_id = models.CharField(max_length=100, blank=True)
    processor_status = models.CharField(
        max_length=30, choices=ProcessorStatus.choices, default=ProcessorStatus.NOT_SYNCED
    )
    # The processor's payment was posted in the ledger (``payment``), exactly once.
    paid_in_ledger = models.BooleanField(default=False)
    payment = models.OneToOneField(
        "finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="sync_record"
    )
    processor_transaction_id = models.CharField(max_length=100, blank=True)
    has_error = models.BooleanField("processor error", default=False)
    # The error when ``has_error``; without it, a note for staff (e.g. that a charge found
    # later settled the attempt that had put the record in Manual review).
    error_message = models.CharField(max_length=500, blank=True)
    # Failed charge attempts so far.
    retries = models.PositiveIntegerField(default=0)
    provider_customer_id = models.CharField(max_length=100, blank=True)
    # When the next charge attempt may be made (backoff); None = no retry scheduled.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the poller last asked the processor about the payment request (the least
    # recently asked go first); NEVER_CHECKED = never (not NULL, so that one plain index
    # serves "oldest first" on every database).
    request_checked_at = models.DateTimeField(default=NEVER_CHECKED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["processor_status"], name="sync_record_status_idx"),
            models.Index(
                fields=["id"],
                condition=Q(synced_to_processor=False, sync_enabled=True),
                name="sync_record_unsynced_idx",
            ),
            models.Index(
                fields=["request_checked_at", "id"],
                condition=Q(synced_to_processor=True, sync_enabled=True, paid_in_ledger=False),
                name="sync_record_request_poll_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(paid_in_ledger=False, payment__isnull=True) | Q(paid_in_ledger=True, payment__isnull=False),
                name="sync_record_paid_has_payment",
            ),
            models.CheckConstraint(
                condition=Q(synced_to_processor=False) | ~Q(payment_request_id=""),
                name="sync_record_synced_has_request",
            ),
            models.CheckConstraint(
                condition=Q(has_error=False) | ~Q(error_message=""), name="sync_record_error_has_message"
            ),
        ]

    def __str__(self):
        return f"Sync of invoice {self.invoice_id}"

    @property
    def is_stopped(self) -> bool:
        """Hold for dispute and manual review stop all processing and retries."""
        return self.handling_mode in (self.HandlingMode.HOLD_FOR_DISPUTE, self.HandlingMode.MANUAL_REVIEW)


class SyncAttempt(models.Model):
    """One charge of an invoice at the processor, in two phases: the row (with its
    idempotency key) is committed STARTED before the call; the answer is written after.
    A lost answer leaves it UNKNOWN for the reconciler, which asks the processor."""

    class Method(models.TextChoices):
        CARD = "card", "Card"
        ACH = "ach", "ACH"

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"
        UNKNOWN = "unknown", "Unknown (no answer)"
        PROCESSING = "processing", "Processing"
        REQUIRES_ACTION = "requires_action", "Requires action"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    OPEN = (Outcome.STARTED, Outcome.UNKNOWN, Outcome.PROCESSING, Outcome.REQUIRES_ACTION)

    record = models.ForeignKey(InvoiceSyncRecord, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveSmallIntegerField()  # 1, 2, … per record
    trigger = models.CharField(max_length=20, default="autopay")  # autopay | retry | staff
    method = models.CharField(max_length=10, choices=Method.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_method_token = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=100, unique=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.STARTED)
    processor_charge_id = models.CharField(max_length=100, blank=True)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    # Times we sent the request (the first send and retries with the same key).
    sends = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["record", "number"]
        constraints = [
            models.UniqueConstraint(fields=["record", "number"], name="sync_attempt_number_once"),
            # Never two charges in flight for one invoice.
            models.UniqueConstraint(
                fields=["record"],
                condition=Q(outcome__in=["started", "unknown", "processing", "requires_action"]),
                name="sync_attempt_one_open_per_record",
            ),
            models.UniqueConstraint(
                fields=["record"], condition=Q(outcome="succeeded"), name="sync_attempt_one_success_per_record"
            ),
            # A processor charge is the charge of one attempt (each attempt has its own
            # key), so one charge never settles two attempts or two invoices.
            models.UniqueConstraint(
                fields=["processor_charge_id"], condition=~Q(processor_charge_id=""), name="sync_attempt_charge_once"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="sync_attempt_amount_positive"),
        ]

    def __str__(self):
        return f"Attempt {self.number} of {self.record}"


class SyncRecordChange(models.Model):
    """Audit trail of a sync record: staff edits of the two editable fields, the moves
    the sync makes by itself (a dispute's hold, Manual review of an unknown charge; no
    user), and staff resolving an unknown attempt (``field`` "attempt <n>", its outcome
    before and after, the staff's note)."""

    record = models.ForeignKey(InvoiceSyncRecord, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    field = models.CharField(max_length=30)
    old_value = models.CharField(max_length=50)
    new_value = models.CharField(max_length=50)
    note = models.CharField(max_length=200, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self):
        return f"{self.field}: {self.old_value} → {self.new_value}"


class SavedPaymentMethod(models.Model):
    """A contact's card or bank account saved at a processor, charged by autopay."""

    contact = models.ForeignKey("finance.Contact", on_delete=models.PROTECT, related_name="saved_payment_methods")
    gateway_account = models.ForeignKey("finance.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    provider_customer_id = models.CharField(max_length=100, blank=True)
    # The processor's saved method id (pm_…) or sandbox test token; never a card number.
    token = models.CharField(max_length=100)
    method = models.CharField(max_length=10, choices=SyncAttempt.Method.choices)
    label = models.CharField(max_length=100, blank=True)  # e.g. "Visa •••• 4242"
    autopay = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contact", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "gateway_account"],
                condition=Q(autopay=True, is_active=True),
                name="one_autopay_method_per_contact_account",
            )
        ]

    def __str__(self):
        return self.label or f"{self.get_method_display()} {self.token}"


class WebhookEvent(models.Model):
    """A processor event received at the webhook endpoint, kept once per event id."""

    gateway_account = models.ForeignKey("finance.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["gateway_account", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self):
        return f"{self.event_id} {self.type}"


class SyncRun(models.Model):
    """One run of a sync job (requests, poll, reconcile, autopay) and what it did."""

    kind = models.CharField(max_length=20)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["kind", "-started_at"], name="sync_run_kind_idx")]

    def __str__(self):
        return f"{self.kind} at {format_moment(self.started_at)}"
