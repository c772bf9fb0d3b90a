"""GL interface exports.

An export takes the journal entries of posted batches that no earlier export took and
marks each one with a ``GLExportedEntry`` row. The row's journal entry is UNIQUE: an
entry goes into exactly one export, even when two exports run at the same moment (the
second waits on the unique index and skips what the first took). The file is produced
from those rows, so an export can be downloaded again and gives the same file.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.db_triggers import Trigger
from finance.models import Invoice, MoneyField
from finance.money import ZERO
from finance.reporting import triggers as trigger_sql


class GLExport(models.Model):
    class Mode(models.TextChoices):
        DETAILED = "detailed", "Detailed (one row per journal line)"
        SUMMARY_DAY = "summary_day", "Summarised per GL account, entity and day"
        SUMMARY_MONTH = "summary_month", "Summarised per GL account, entity and month"

    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.DETAILED)
    # The journal entry dates the export took (inclusive); empty = no limit on that side.
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    # Only entries of this financial entity; empty = every entity.
    entity = models.ForeignKey("finance.FinancialEntity", on_delete=models.PROTECT, null=True, blank=True)
    entry_count = models.PositiveIntegerField(default=0)
    line_count = models.PositiveIntegerField(default=0)
    # Sums over every line of the exported entries (equal: each entry balances).
    total_debit = MoneyField(default=ZERO)
    total_credit = MoneyField(default=ZERO)
    # The sums of the file's totals rows, per line currency, taken when the export is made:
    # [{"currency": "USD", "debit": "12.50", "credit": "12.50", "lines": 3}, …] in currency
    # code order; empty for exports made before they were kept (the file sums them then).
    currency_totals = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "GL export"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(total_debit=F("total_credit")), name="gl_export_balanced"),
            models.CheckConstraint(
                condition=Q(date_from__isnull=True) | Q(date_to__isnull=True) | Q(date_to__gte=F("date_from")),
                name="gl_export_dates_ordered",
            ),
        ]

    def __str__(self):
        return f"GL export {self.pk}"

    @property
    def filename(self) -> str:
        return f"gl-export-{self.pk:06d}-{self.mode.replace('_', '-')}.csv"


class GLExportedEntry(models.Model):
    """Marks a journal entry as exported, with the export it went into."""

    export = models.ForeignKey(GLExport, on_delete=models.PROTECT, related_name="entries")
    journal_entry = models.OneToOneField(
        "finance.JournalEntry", on_delete=models.PROTECT, related_name="gl_export_mark"
    )

    class Meta:
        verbose_name = "exported journal entry"
        verbose_name_plural = "exported journal entries"
        indexes = [models.Index(fields=["export", "journal_entry"], name="gl_exported_by_export")]

    def __str__(self):
        return f"JE {self.journal_entry_id} in export {self.export_id}"


class GLBatchEntryCount(models.Model):
    """How many journal entries of a posted batch the GL export takes (posted entries
    not flagged ``exclude_from_gl_export``), counted once the batch is posted.

    A posted batch is frozen: it takes no new journal entry and its entries cannot
    change or go away (database triggers on PostgreSQL, the services elsewhere), so its
    count never changes once taken. The journal entries waiting for an export are then
    the sum of these counts less the entries the exports took (``GLExport.entry_count``,
    the number of entries each marked), read without touching the journal.
    ``finance.reporting.services.pending_entry_count`` counts the batches posted since
    it last ran before it adds up.
    """

    batch = models.OneToOneField("finance.Batch", on_delete=models.PROTECT, primary_key=True, related_name="+")
    exportable_entries = models.PositiveIntegerField()

    class Meta:
        verbose_name = "GL-exportable entry count of a posted batch"

    def __str__(self):
        return f"Batch {self.batch_id}: {self.exportable_entries} exportable entries"


class ContactBalance(models.Model):
    """The open balances of the invoices billed to one contact in one currency, kept by
    the database: statement triggers on the invoice table (``InvoiceBalanceTriggers``) add
    the change of every INSERT, UPDATE and DELETE of invoices, in the writing
    transaction, whoever writes (ORM, raw SQL, COPY). So in
    every snapshot these figures equal the sums over that snapshot's invoices, which
    ``finance.reporting.selectors.contact_balance_mismatches`` checks.

    ``receivable`` is the sum of the positive balances (``receivable_count`` invoices)
    and ``credit`` the sum of the negative ones, a negative amount (``credit_count``
    open credits). The AR aging and open credit reports page through these rows
    (largest first) instead of grouping every open invoice.
    """

    # Found by the unique (contact, currency) index: no index of its own (each index is
    # written again by every balance change, the kept rows' updates are not heap-only).
    contact = models.ForeignKey("finance.Contact", on_delete=models.CASCADE, related_name="+", db_index=False)
    currency = models.CharField(max_length=3)
    receivable = MoneyField(default=ZERO)
    receivable_count = models.IntegerField(default=0)
    credit = MoneyField(default=ZERO)
    credit_count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "currency"], name="contact_balance_unique")]
        indexes = [
            models.Index(
                F("receivable").desc(), "contact", condition=Q(receivable__gt=0), name="contact_balance_receivable"
            ),
            models.Index("credit", "contact", condition=Q(credit__lt=0), name="contact_balance_credit"),
        ]

    def __str__(self):
        return f"Contact {self.contact_id} {self.currency}: receivable {self.receivable}, credit {self.credit}"


class OpenBalanceByDate(models.Model):
    """The open balances of the invoices of one currency dated one day, kept by the
    database the way ``ContactBalance`` is: the same statement triggers on the invoice
    table (``InvoiceBalanceTriggers``) add each statement's change here too, in the
    writing transaction, whoever writes. So in every snapshot
    these figures equal the sums over that snapshot's invoices, which
    ``finance.reporting.selectors.open_balance_by_date_mismatches`` checks.

    ``receivable`` is the sum of the positive balances of the day's invoices
    (``receivable_count`` invoices), ``credit`` the sum of the negative ones, a negative
    amount (``credit_count`` open credits). A row whose invoices are all settled stays,
    all zero, as a ``ContactBalance`` row does. The AR aging and open credit totals and
    the dashboard's AR position read these rows (one per currency and day: a few
    thousand) instead of every invoice: no index of the invoices names the balance, so
    that a balance change is a heap-only update (finance migration 0015).
    """

    currency = models.CharField(max_length=3)
    date = models.DateField()  # the invoices' date (Invoice.date)
    # A day's figures are the sum of its rows: each writing session adds to one slot (see
    # finance.reporting.triggers), so a long posting does not hold up the others.
    slot = models.PositiveSmallIntegerField(default=0)
    receivable = MoneyField(default=ZERO)
    receivable_count = models.IntegerField(default=0)
    credit = MoneyField(default=ZERO)
    credit_count = models.IntegerField(default=0)

    class Meta:
        verbose_name = "open balance by currency and date"
        verbose_name_plural = "open balances by currency and date"
        constraints = [models.UniqueConstraint(fields=["currency", "date", "slot"], name="open_balance_by_date_unique")]

    def __str__(self):
        return f"{self.currency} {self.date}: receivable {self.receivable}, credit {self.credit}"


class InvoiceBalanceTriggers(Invoice):
    """The invoice table, with the triggers that keep ``ContactBalance`` and
    ``OpenBalanceByDate`` (bodies in ``finance.reporting.triggers``).

    A proxy: no table of its own and nothing to query. The triggers fire on the invoice
    table but keep this app's figures, so they are declared here, beside those figures,
    rather than on ``finance.Invoice``: the ledger core imports no app built on it.
    """

    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            Trigger(
                name="reporting_contact_balance_insert",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                referencing=pgtrigger.Referencing(new="new_invoices"),
                func=trigger_sql.KEEP_INSERTED_BALANCES,
            ),
            Trigger(
                name="reporting_contact_balance_update",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                referencing=pgtrigger.Referencing(old="old_invoices", new="new_invoices"),
                func=trigger_sql.KEEP_UPDATED_BALANCES,
            ),
            Trigger(
                name="reporting_contact_balance_delete",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                referencing=pgtrigger.Referencing(old="old_invoices"),
                func=trigger_sql.KEEP_DELETED_BALANCES,
            ),
        ]
