"""AR payment import ("lockbox"): an uploaded file, its rows (the staging table) and the
dedupe guarantee.

An ``ARImport`` moves uploaded → validated | invalid → posting → posted | failed; one
not posted (validated, invalid, failed) may be discarded instead. Its
rows are written once, when the file is validated, and hold what each row will do
(the preview). Posting reads them back (set-based on PostgreSQL) and marks them
``posted``; a partial unique constraint on (batch number, customer, check number,
amount) over posted rows guarantees the same payment row is never posted twice, also
by two imports running at once. A partial unique constraint on the content hash over
imports that are posting or posted does the same for whole files.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from finance.fields import MoneyField
from finance.money import ZERO

# The message of an import released after its posting's worker stopped (see
# finance.ar_import.services.ar_import_recover): nothing was posted; it may be posted again.
INTERRUPTED_MESSAGE = "The posting was interrupted (the worker stopped) before it finished; nothing was posted."


class ARImport(models.Model):
    class Format(models.TextChoices):
        IMIS = "imis", "iMIS AR Importer (BH + PAY)"
        CSV = "csv", "CSV with a header row"

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        VALIDATED = "validated", "Validated"
        INVALID = "invalid", "Invalid"
        POSTING = "posting", "Posting"
        POSTED = "posted", "Posted"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"

    file_name = models.CharField(max_length=255)
    # The file as uploaded, kept when it is checked in the worker (big files); empty when
    # it was checked as it was read (small uploads, the import_ar command).
    upload = models.FileField(upload_to="ar_imports/%Y/%m/", blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)  # hex digest of the file's bytes
    size = models.PositiveBigIntegerField(default=0)  # bytes
    format = models.CharField(max_length=10, choices=Format.choices, blank=True)
    auto_apply = models.BooleanField(default=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    # From the BH header (or the options given with a plain CSV).
    batch_number = models.CharField(max_length=20, blank=True)
    date = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    cash_account_code = models.CharField(max_length=40, blank=True)  # as written: CODE or ENTITY:CODE
    cash_account = models.ForeignKey(
        "finance.GLAccount", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The entity the import is for: chosen on upload (the cash account code is looked up
    # in it), then the cash account's.
    entity = models.ForeignKey(
        "finance.FinancialEntity", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    control_count = models.PositiveIntegerField(null=True, blank=True)
    control_amount = MoneyField(null=True, blank=True)
    # Figures of the rows (all rows, valid or not; amounts that parse). The total is null
    # when it is more than the column holds (an error of the file says so).
    row_count = models.PositiveIntegerField(default=0)
    total_amount = MoneyField(default=ZERO, null=True, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    # Rows whose payer, check number and amount were posted before (a warning each);
    # posting them needs a confirmation.
    repeat_count = models.PositiveIntegerField(default=0)
    # What the preview (then the posting) applies to invoices and leaves as open credit.
    applied_amount = MoneyField(default=ZERO)
    credit_amount = MoneyField(default=ZERO)
    credit_count = models.PositiveIntegerField(default=0)
    # File-level errors and the first row errors: [{"line": n, "field": "...", "message": "..."}].
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)  # why posting failed
    progress = models.PositiveSmallIntegerField(default=0)  # percent of the posting done
    batch = models.ForeignKey(
        "finance.Batch", on_delete=models.PROTECT, null=True, blank=True, related_name="ar_imports"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posting_started_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    discarded_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "AR import"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"],
                condition=Q(status__in=["posting", "posted"]),
                name="ar_import_file_posted_once",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="ar_import_progress_percent"),
            models.CheckConstraint(
                condition=~Q(status="posted") | (Q(batch__isnull=False) & Q(posted_at__isnull=False)),
                name="ar_import_posted_has_batch",
            ),
            models.CheckConstraint(
                condition=~Q(status="discarded") | (Q(batch__isnull=True) & Q(discarded_at__isnull=False)),
                name="ar_import_discarded_unposted",
            ),
        ]

    def __str__(self):
        return f"AR import {self.pk} ({self.file_name})"

    @property
    def was_interrupted(self) -> bool:
        """Released after its posting's worker stopped (and not claimed again since)."""
        return self.status == self.Status.FAILED and self.message == INTERRUPTED_MESSAGE

    @property
    def is_postable(self) -> bool:
        return self.status in (self.Status.VALIDATED, self.Status.FAILED) and self.error_count == 0

    @property
    def is_discardable(self) -> bool:
        """Not posted and not being checked or posted (see ar_import_discard)."""
        return self.status in (self.Status.VALIDATED, self.Status.INVALID, self.Status.FAILED)


class ARImportRow(models.Model):
    """One PAY (or CSV) row as read and checked, with its plan and, once posted, its payment."""

    # Rows are found by import (the (import, line) unique index); the other foreign keys
    # are not searched by, and an index would be written by every row staged and posted.
    ar_import = models.ForeignKey(ARImport, on_delete=models.CASCADE, related_name="rows", db_index=False)
    line_number = models.PositiveIntegerField()  # line in the file, 1-based
    batch_number = models.CharField(max_length=20, blank=True)
    customer_ref = models.CharField(max_length=60, blank=True)  # party id, or * + Major Key
    contact = models.ForeignKey(
        "finance.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    date = models.DateField(null=True, blank=True)
    invoice_number = models.CharField(max_length=40, blank=True)
    invoice = models.ForeignKey(
        "finance.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    amount = MoneyField(null=True, blank=True)  # null when the field does not parse
    check_number = models.CharField(max_length=40, blank=True)
    payer_name = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=200, blank=True)
    errors = models.TextField(blank=True)  # "field: message" parts separated by "\n"
    warnings = models.TextField(blank=True)
    plan_applied = MoneyField(default=ZERO)  # to invoice lines
    plan_credit = MoneyField(default=ZERO)  # left as open credit
    plan_text = models.TextField(blank=True)  # e.g. "1042/1 100.00, 1043/2 30.00"
    posted = models.BooleanField(default=False)
    payment = models.ForeignKey(
        "finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["ar_import_id", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["ar_import", "line_number"], name="ar_import_row_line_unique"),
            models.UniqueConstraint(
                fields=["batch_number", "contact", "check_number", "amount"],
                condition=Q(posted=True),
                name="ar_import_row_posted_once",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="ar_import_row_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(posted=False) | Q(contact__isnull=False, amount__isnull=False),
                name="ar_import_row_posted_complete",
            ),
        ]

    def __str__(self):
        return f"AR import {self.ar_import_id} line {self.line_number}"

    @property
    def error_list(self) -> list[str]:
        return [e for e in self.errors.split("\n") if e]

    @property
    def warning_list(self) -> list[str]:
        return [w for w in self.warnings.split("\n") if w]
