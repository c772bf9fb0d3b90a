"""The ledger core: contacts, entities, GL accounts, products, batches, invoices,
payments and their applications, and the double-entry journal.

Balances (``Invoice.balance``, ``InvoiceLine.balance``, ``Payment.amount_applied``) are
stored for fast reads and changed only by services under row locks; ``verify_ledger``
recomputes each of them from the applications and the journal. Rules that hold for a
single row are database constraints; the journal balance rule, the immutability of
posted journal entries and posted batches are PostgreSQL triggers, declared in the
``Meta.triggers`` of the models they fire on (bodies in ``finance.triggers``).
"""

import pgtrigger
from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from core.db_triggers import Trigger
from core.uploads import product_image_path, validate_image_upload
from finance import triggers as trigger_sql
from finance.fields import CurrencyField, MoneyField

# The ledger's models kept in modules of their own (registered with the app from here):
# the AR import's records, and the payment methods, their sets and the gateway accounts.
from finance.models_ar_import import ARImport, ARImportRow  # noqa: F401
from finance.models_payment_methods import (  # noqa: F401
    GatewayAccount,
    PaymentHandlingMode,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
)
from finance.money import ZERO


def batch_open_trigger(name: str) -> Trigger:
    """``name``: no row may be written into a batch that is posted or deleted (one check
    per INSERT statement, over the distinct batches of its rows)."""
    return Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        operation=pgtrigger.Insert,
        referencing=pgtrigger.Referencing(new="new_rows"),
        declare=[("bad", "record")],
        func=trigger_sql.BATCH_ACCEPTS_NEW_ROWS,
    )


class FinanceSettings(models.Model):
    """Finance-wide switches (a single row, pk=1)."""

    require_balanced_batches = models.BooleanField(
        default=True,
        help_text="Refuse to post a batch whose count/amount differ from its controls.",
    )
    auto_apply_cash = models.BooleanField(
        default=True,
        help_text="Cash Application Auto Apply: apply receipts to the oldest open lines.",
    )
    allow_prepayments = models.BooleanField(
        default=True,
        help_text="Allow staff to enter prepayments and overpayments.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "finance settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="finance_settings_singleton")]

    def __str__(self):
        return "Finance settings"

    @classmethod
    def load(cls) -> "FinanceSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class Contact(models.Model):
    """A party: a person or a company (organization)."""

    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        ORGANIZATION = "organization", "Organization"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"

    # iMIS-style numeric id, e.g. "23456".
    party_id = models.CharField(max_length=20, unique=True)
    # Lockbox and affiliates match payers on it; unique when set.
    major_key = models.CharField(max_length=40, null=True, blank=True)
    name = models.CharField(max_length=200)
    sort_name = models.CharField(max_length=200, blank=True, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INDIVIDUAL)
    # Members of a company may use the company's open credit.
    company = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        limit_choices_to={"kind": Kind.ORGANIZATION},
    )
    email = models.EmailField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sort_name", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["major_key"],
                condition=Q(major_key__isnull=False),
                name="contact_major_key_unique",
            ),
            models.CheckConstraint(condition=Q(party_id__regex=r"^[0-9]+$"), name="contact_party_id_numeric"),
            models.CheckConstraint(condition=~Q(company=F("pk")), name="contact_not_own_company"),
        ]
        indexes = [
            models.Index(fields=["name"]),
            # The contact finder's "starts with, any case" lookups (finance.search): btree
            # indexes of the upper-cased text whose operator class serves LIKE 'ABC%'
            # whatever the database's collation.
            models.Index(OpClass(Upper("name"), name="text_pattern_ops"), name="contact_name_prefix"),
            models.Index(OpClass(Upper("sort_name"), name="text_pattern_ops"), name="contact_sort_name_prefix"),
            models.Index(OpClass(Upper("email"), name="text_pattern_ops"), name="contact_email_prefix"),
        ]

    def __str__(self):
        return f"{self.name} ({self.party_id})"


class FinancialEntity(models.Model):
    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=100)
    currency = CurrencyField()

    class Meta:
        verbose_name_plural = "financial entities"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} – {self.name}"


class GLAccount(models.Model):
    class Type(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"
        INCOME = "income", "Income"
        EXPENSE = "expense", "Expense"
        EQUITY = "equity", "Equity"

    class Role(models.TextChoices):
        CASH = "cash", "Cash"
        AR = "ar", "Accounts receivable"
        INCOME = "income", "Income"
        DEFERRED_INCOME = "deferred_income", "Deferred income"
        UNAPPLIED_CASH = "unapplied_cash", "Unapplied cash (open credit)"
        REFUND_CLEARING = "refund_clearing", "Refund clearing"
        OTHER = "other", "Other"

    entity = models.ForeignKey(FinancialEntity, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type.choices)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OTHER)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "GL account"
        ordering = ["entity__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "code"], name="gl_code_unique_per_entity"),
            # The target of the payments' composite key payment_cash_account_of_entity.
            models.UniqueConstraint(fields=["id", "entity"], name="gl_account_with_entity"),
        ]

    def __str__(self):
        return f"{self.code} {self.name} [{self.entity.code}]"


class Product(models.Model):
    class Kind(models.TextChoices):
        DUES = "dues", "Dues"
        EVENT = "event", "Event"
        MERCHANDISE = "merchandise", "Merchandise"
        DONATION = "donation", "Donation"
        PROGRAM_FEE = "program_fee", "Program fee"
        PUBLICATION = "publication", "Publication"
        DISCOUNT = "discount", "Discount"
        OTHER = "other", "Other"

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    # Stored under a generated name; PNG, JPEG, GIF or WebP by content, at most 2 MB.
    image = models.FileField(upload_to=product_image_path, validators=[validate_image_upload], blank=True)
    post_purchase_info = models.TextField(blank=True)
    entity = models.ForeignKey(FinancialEntity, on_delete=models.PROTECT)
    income_account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="income_products")
    deferred_income_account = models.ForeignKey(
        GLAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deferred_products",
    )
    price = MoneyField(default=ZERO)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    is_recurring = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self):
        return f"{self.code} – {self.name}"


class NumberSequence(models.Model):
    """Gap-free counters (invoice numbers), taken under a row lock in the caller's
    transaction so a rolled-back transaction gives its number back."""

    name = models.CharField(max_length=50, unique=True)
    next_value = models.PositiveBigIntegerField(default=1)

    def __str__(self):
        return f"{self.name} → {self.next_value}"


class Batch(models.Model):
    """Batch control: every financial transaction belongs to a batch.

    Open → Ready → Posted; Ready → Open (reopened for more entries); Open or Ready →
    Deleted (only while empty). Only Open batches take transactions; a posted batch is
    immutable (PostgreSQL triggers refuse new rows in it and changes to it).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        READY = "ready", "Ready"
        POSTED = "posted", "Posted"
        DELETED = "deleted", "Deleted"

    TRANSITIONS = {
        Status.OPEN: {Status.READY, Status.DELETED},
        Status.READY: {Status.OPEN, Status.POSTED, Status.DELETED},
        Status.POSTED: set(),
        Status.DELETED: set(),
    }

    number = models.CharField(max_length=20, unique=True)  # e.g. "201106-1"
    description = models.CharField(max_length=200, blank=True)
    date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    control_count = models.PositiveIntegerField(null=True, blank=True)
    control_amount = MoneyField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "batches"
        ordering = ["-date", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="posted", posted_at__isnull=False) | ~Q(status="posted"),
                name="batch_posted_has_time",
            ),
        ]
        indexes = [models.Index(fields=["status", "date"])]
        triggers = [
            # A posted batch cannot be deleted, nor its status and figures changed.
            Trigger(
                name="batch_posted_frozen",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=trigger_sql.BATCH_POSTED_FROZEN,
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def is_posted(self) -> bool:
        return self.status == self.Status.POSTED

    @property
    def accepts_transactions(self) -> bool:
        return self.status == self.Status.OPEN


class CurrentBatch(models.Model):
    """A staff user's current batch, as in iMIS: chosen once (in the header), it is where
    the user's entries and adjustments go unless another open batch is picked in the
    form. One row per user. The batch may since have been marked ready, posted or
    deleted: it then takes nothing, and the user is asked to choose another."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="+")
    chosen_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "current batch"

    def __str__(self):
        return f"{self.user} → {self.batch}"


class BatchEvent(models.Model):
    """Audit row for each batch status change."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10)
    to_status = models.CharField(max_length=10)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "pk"]


class Invoice(models.Model):
    """An invoice. Balance = charges − payments applied (+ refunds/adjustments).

    An invoice with a negative balance IS an open credit.
    """

    class AccountingMethod(models.TextChoices):
        ACCRUAL = "accrual", "Accrual"
        CASH = "cash", "Cash basis"

    class Type(models.TextChoices):
        REGULAR = "regular", "Regular"
        CREDIT = "credit", "Credit"
        MEMBERSHIP = "membership", "Membership"

    class Source(models.TextChoices):
        STAFF = "staff", "Staff entry"
        CART = "cart", "Cart"
        IMPORT = "import", "Import"
        MEMBERSHIP_BILLING = "membership_billing", "Membership billing"
        OPENWATER = "openwater", "OpenWater"
        API = "api", "API"
        PAYMENT = "payment", "Payment residual"

    number = models.CharField(max_length=20, unique=True)
    # Foreign keys without an index of their own (db_index=False) are either covered by a
    # composite index below or never searched by: every index is written by each new
    # invoice, the AR import's hottest statement on this table.
    entity = models.ForeignKey(FinancialEntity, on_delete=models.PROTECT, db_index=False)
    bill_to = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="invoices_billed", db_index=False)
    sold_to = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="invoices_sold", db_index=False)
    date = models.DateField()
    due_date = models.DateField()
    accounting_method = models.CharField(
        max_length=10, choices=AccountingMethod.choices, default=AccountingMethod.ACCRUAL
    )
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.REGULAR)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.STAFF)
    currency = CurrencyField()
    # Indexed by invoice_by_batch_date (below), with the columns the batch figures read.
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="invoices", db_index=False)
    # On a credit invoice created by reversing an invoice: that invoice (the reversal
    # puts each payment's money on the reversed invoice into a credit invoice of its
    # payer, so one reversed invoice may have several). Indexed below where set.
    reversal_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversal_credits", db_index=False
    )
    description = models.CharField(max_length=200, blank=True)
    # Set when the invoice is cancelled (its charges reversed by adjustments).
    reversed_at = models.DateTimeField(null=True, blank=True)
    # Sum of line amounts (charges); fixed once posted.
    total = MoneyField(default=ZERO)
    # Sum of line balances; changes under the invoice's row lock. No index may name it
    # (see Meta): its changes are heap-only updates.
    balance = MoneyField(default=ZERO)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(due_date__gte=F("date")), name="invoice_due_after_date"),
            models.CheckConstraint(condition=~Q(type="credit") | Q(total__lte=0), name="credit_invoice_no_charges"),
            models.CheckConstraint(condition=Q(balance__lte=F("total")), name="invoice_balance_le_total"),
        ]
        indexes = [
            models.Index(fields=["bill_to", "date"]),
            models.Index(fields=["date", "id"]),
            # A batch's invoices in the list order (newest first, the batch page pages
            # them), and the figures of a page of batches (counts and charges per batch,
            # credit invoices apart) from the index alone: a batch's invoices lie all
            # over the table.
            models.Index(fields=["batch", "date", "id"], include=["type", "total"], name="invoice_by_batch_date"),
            # The credit invoices a reversal created; other invoices are not in the index.
            models.Index(fields=["reversal_of"], condition=Q(reversal_of__isnull=False), name="invoice_by_reversal_of"),
        ]
        # No index names the balance, not even in an included column or a partial
        # index's condition, and the table keeps free room on each page (fillfactor,
        # migration 0015): a balance change is then a heap-only update that writes no
        # index. The reports read open balances from the kept per-contact and per-date
        # figures (finance.reporting: ContactBalance, OpenBalanceByDate) instead.
        triggers = [
            batch_open_trigger("batch_open_for_invoice"),
            # What each batch invoiced (BatchInvoices), kept per statement.
            Trigger(
                name="invoice_batch_figures_insert",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                referencing=pgtrigger.Referencing(new="new_invoices"),
                func=trigger_sql.KEEP_INSERTED_INVOICE_FIGURES,
            ),
            Trigger(
                name="invoice_batch_figures_update",
                level=pgtrigger.Row,
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf(*trigger_sql.INVOICE_FIGURE_COLUMNS),
                condition=pgtrigger.Condition(
                    " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in trigger_sql.INVOICE_FIGURE_COLUMNS)
                ),
                func=trigger_sql.KEEP_UPDATED_INVOICE_FIGURES,
            ),
            Trigger(
                name="invoice_batch_figures_delete",
                level=pgtrigger.Row,
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=trigger_sql.KEEP_DELETED_INVOICE_FIGURES,
            ),
        ]
        # Other apps' triggers on this table are declared on their proxies of Invoice:
        # the kept balances (finance.reporting.models.InvoiceBalanceTriggers) and the
        # membership dates (finance.membership.models.InvoiceDateTriggers).

    def __str__(self):
        return f"Invoice {self.number}"

    @property
    def is_open_credit(self) -> bool:
        return self.balance < 0

    @property
    def is_paid(self) -> bool:
        return self.balance == 0 and self.total > 0


class InvoiceLine(models.Model):
    # Found by the unique (invoice, line number) index: no index of its own.
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines", db_index=False)
    line_number = models.PositiveSmallIntegerField()
    # Not indexed: lines are found by invoice; the index would be written by every line.
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, db_index=False)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=1)
    unit_price = MoneyField(default=ZERO)
    amount = MoneyField()  # quantity × unit price, rounded half up
    # Credited by the charge (income, deferred income, or unapplied cash for credit lines).
    account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, db_index=False)
    billing_begin = models.DateField(null=True, blank=True)
    billing_end = models.DateField(null=True, blank=True)
    # Discount lines (a coupon, a discount, a manual reduction: a negative amount) hand
    # their amount to the invoice's charge lines when the invoice is created. On a charge
    # line: the part of the invoice's discounts it carries (0 down to minus its amount);
    # on a discount line: minus its amount (all of it handed on, so its balance is 0);
    # 0 on every other line. A line's charge is amount + discount; the discounts of an
    # invoice add up to 0, so its total is the sum of its line amounts.
    discount = MoneyField(default=ZERO, db_default=ZERO)
    # amount + discount + adjustments − applications; negative means credit held on this line.
    balance = MoneyField()

    class Meta:
        ordering = ["invoice_id", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "line_number"], name="line_number_unique"),
            # The key of the applications' composite foreign key (line, invoice).
            models.UniqueConstraint(fields=["id", "invoice"], name="line_of_invoice"),
            # A charge line carries at most its own amount of discount; a discount line
            # (negative amount) hands all of it on.
            models.CheckConstraint(
                condition=Q(amount__gte=0, discount__lte=0, discount__gte=-F("amount"))
                | Q(amount__lt=0, discount=-F("amount")),
                name="line_discount_within_amount",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(balance__lte=F("amount") + F("discount")), name="line_balance_le_charge"
            ),
            models.CheckConstraint(
                condition=Q(billing_end__isnull=True)
                | Q(billing_begin__isnull=True)
                | Q(billing_end__gte=F("billing_begin")),
                name="line_billing_period_ordered",
            ),
        ]
        # No index names the balance, and the table keeps free room on each page
        # (fillfactor, migration 0014): a balance change is then a heap-only update that
        # writes no index. An invoice's open lines are found through line_number_unique.

    def __str__(self):
        return f"{self.invoice.number}/{self.line_number} {self.description}"


class InvoiceAdjustment(models.Model):
    """A reduction of a posted line's charge: cancelling an invoice or reducing a line.

    The line keeps its original amount; its balance is amount + adjustments −
    applications. Accrual lines post DR the line's income account / CR accounts
    receivable; cash-basis lines post nothing (nothing was posted when invoiced).
    """

    invoice = models.ForeignKey("Invoice", on_delete=models.PROTECT, related_name="adjustments")
    line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="adjustments")
    amount = MoneyField()  # negative: the charge taken off
    date = models.DateField()
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="adjustments")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__lt=0), name="adjustment_reduces_charge")]

    def __str__(self):
        return f"{self.amount} on {self.line}"


class Payment(models.Model):
    """A receipt. Its applications add up to its amount; the unapplied rest lives on
    a credit invoice (one of the applications is to that credit line)."""

    class Status(models.TextChoices):
        POSTED = "posted", "Posted"
        REVERSED = "reversed", "Reversed"

    class Source(models.TextChoices):
        STAFF = "staff", "Staff entry"
        CART = "cart", "Cart"
        IMPORT = "import", "AR import"
        OPENWATER = "openwater", "OpenWater"
        PROCESSOR = "processor", "Payment processor"
        API = "api", "API"

    # Foreign keys without an index of their own: covered by a composite index below
    # (payer) or never searched by (the others); each index is written by every payment.
    payer = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="payments", db_index=False)
    method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, db_index=False)
    # The cash account and the entity have one key together, the composite foreign key
    # payment_cash_account_of_entity, (cash_account_id, entity_id) → the account's
    # (id, entity_id) (migration 0025): the account must exist and belong to the
    # payment's entity (whose existence the account's own key guarantees). One check per
    # row instead of two, and a rule the database now holds.
    entity = models.ForeignKey(FinancialEntity, on_delete=models.PROTECT, db_index=False, db_constraint=False)
    cash_account = models.ForeignKey(
        GLAccount, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    amount = MoneyField()
    currency = CurrencyField()
    date = models.DateField()
    reference = models.CharField(max_length=100, blank=True)  # check no., gateway txn id
    # Indexed below with the amount beside it (batch figures from the index alone).
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="payments", db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.POSTED)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.STAFF)
    # Sum of application rows other than credit draws: the amount less refunds while
    # posted, zero once reversed.
    amount_applied = MoneyField(default=ZERO)
    # Part of the amount returned to the payer by refunds.
    refunded_amount = MoneyField(default=ZERO)
    # The processor's charge id for card/ACH payments taken through a gateway.
    processor_charge_id = models.CharField(max_length=100, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    # The reversal's accounting date (its journal entries' date): the day the money is
    # taken off in the cash receipts.
    reversal_date = models.DateField(null=True, blank=True)
    reversal_batch = models.ForeignKey(
        Batch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_payments",
        db_index=False,
    )
    reversal_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_applied__gte=0) & Q(amount_applied__lte=F("amount")),
                name="payment_applied_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status="posted", reversed_at__isnull=True, reversal_date__isnull=True)
                | Q(status="reversed", reversed_at__isnull=False, reversal_date__isnull=False),
                name="payment_reversal_consistent",
            ),
        ]
        indexes = [
            # Receipts by day, method and batch (cash receipts, the dashboard) from the
            # index alone: the batch says whether a receipt counts (posted only, or all).
            models.Index(
                fields=["date", "id"],
                include=["method", "currency", "amount", "status", "batch"],
                name="payment_by_date",
            ),
            models.Index(fields=["payer", "date"]),
            # A batch's payments in the list order, its count and cash, and (the cash
            # receipts of open and ready batches) its receipts by day and method, from the
            # index alone.
            models.Index(
                fields=["batch", "date", "id"], include=["amount", "method", "currency"], name="payment_by_batch_date"
            ),
            # The header search finds a payment by its check number or transaction id;
            # payments without a reference are not in the index.
            models.Index(fields=["reference"], condition=~Q(reference=""), name="payment_by_reference"),
            # Only reversed payments have a reversal batch: the others are not in the index.
            models.Index(
                fields=["reversal_batch"], condition=Q(reversal_batch__isnull=False), name="payment_by_reversal_batch"
            ),
            # Reversals by day and method (cash receipts), from the index alone.
            models.Index(
                fields=["reversal_date"],
                include=["method", "currency", "amount", "reversal_batch"],
                condition=Q(reversal_date__isnull=False),
                name="payment_by_reversal_date",
            ),
        ]
        triggers = [
            batch_open_trigger("batch_open_for_payment"),
            # What each batch received and took back (BatchReceipts), kept per statement.
            Trigger(
                name="payment_receipts_insert",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                referencing=pgtrigger.Referencing(new="new_payments"),
                func=trigger_sql.KEEP_INSERTED_RECEIPTS,
            ),
            Trigger(
                name="payment_receipts_update",
                level=pgtrigger.Row,
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf(*trigger_sql.RECEIPT_COLUMNS),
                condition=pgtrigger.Condition(
                    " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in trigger_sql.RECEIPT_COLUMNS)
                ),
                func=trigger_sql.KEEP_UPDATED_RECEIPTS,
            ),
            Trigger(
                name="payment_receipts_delete",
                level=pgtrigger.Row,
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=trigger_sql.KEEP_DELETED_RECEIPTS,
            ),
        ]

    def __str__(self):
        return f"Payment {self.pk} {self.amount} {self.currency}"

    @property
    def unapplied(self):
        return self.amount - self.amount_applied


class BatchInvoices(models.Model):
    """What each batch invoiced, per slot: its invoices other than credit invoices (count
    and charges) and its credit invoices (count), as ``finance.triggers.invoice_figures``
    counts an invoice. Kept by the invoice table's triggers (``Invoice.Meta.triggers``)
    in the writing transaction, one slot per writing session, as ``BatchReceipts`` is;
    ``verify_ledger`` checks them against the invoices
    (``finance.reporting.selectors.batch_invoice_mismatches``). The batch list, the
    batch summary and the dashboard read them instead of adding up every invoice."""

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+", db_index=False)
    slot = models.SmallIntegerField(default=0)
    invoice_count = models.IntegerField(default=0)
    credit_count = models.IntegerField(default=0)
    charges = MoneyField(default=ZERO)

    class Meta:
        verbose_name = "batch invoices"
        verbose_name_plural = "batch invoices"
        constraints = [models.UniqueConstraint(fields=["batch", "slot"], name="batch_invoices_unique")]

    def __str__(self):
        return f"Batch {self.batch_id}: {self.invoice_count} invoices, {self.charges}"


class BatchReceipts(models.Model):
    """What each batch received and took back, per day, payment method, currency and
    slot: the payments received in it (by their date) and the payments reversed in it
    (by the reversal's date), as ``finance.triggers.payment_moves`` counts a payment.

    Kept by the database: the triggers on the payment table (``Payment.Meta.triggers``)
    add each statement's change in the writing transaction, whoever writes, so in every
    snapshot these figures equal the sums over that snapshot's payments, which
    ``verify_ledger`` checks (``finance.reporting.selectors.batch_receipts_mismatches``).
    The cash receipts report, the dashboard and the batch list read these rows (a few
    per batch and day) instead of adding up every payment. A key's figures are the sum
    of its slots: each writing session adds to one (``finance.triggers.RECEIPT_SLOTS``).
    """

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+", db_index=False)
    date = models.DateField()
    method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="+", db_index=False)
    currency = models.CharField(max_length=3)
    slot = models.SmallIntegerField(default=0)
    received = MoneyField(default=ZERO)
    received_count = models.IntegerField(default=0)
    reversed = MoneyField(default=ZERO)
    reversal_count = models.IntegerField(default=0)

    class Meta:
        verbose_name = "batch receipts"
        verbose_name_plural = "batch receipts"
        constraints = [
            # Also the index of a batch's rows (the batch list's figures).
            models.UniqueConstraint(
                fields=["batch", "date", "method", "currency", "slot"], name="batch_receipts_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["date"], name="batch_receipts_by_date"),
            models.Index(fields=["method"], name="batch_receipts_method"),
        ]

    def __str__(self):
        return f"Batch {self.batch_id} {self.date} {self.currency}: in {self.received}, back {self.reversed}"


class PaymentApplication(models.Model):
    """One movement of a payment's money on an invoice line. Rows are never changed.

    Kinds (the sign is a database rule):
    - ``apply`` (> 0): the payment pays the line (for a credit invoice's line: the
      payment's money is held there as open credit).
    - ``credit_draw`` (< 0): an open-credit payment draws the credit line down.
    - ``unapply`` (< 0): the payment's money leaves the line; an ``apply`` row of the
      same amount puts it on a credit line.
    - ``refund`` (< 0): held credit goes back to the payer.
    - ``reversal`` (either sign): the exact opposite of an earlier row of the payment.

    A line's balance is its amount minus the sum of its rows.
    """

    class Kind(models.TextChoices):
        APPLY = "apply", "Applied"
        CREDIT_DRAW = "credit_draw", "Credit used"
        UNAPPLY = "unapply", "Unapplied"
        REFUND = "refund", "Refunded"
        REVERSAL = "reversal", "Reversed"

    # Indexed by (payment, kind) below.
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="applications", db_index=False)
    # The line's key is the composite foreign key application_line_of_invoice,
    # (line_id, invoice_id) → the line's (id, invoice_id) (migrations 0014, 0022): the
    # line must exist and be a line of that invoice. Django declares no key of its own
    # for the line nor for the invoice (db_constraint=False): that one covers both (the
    # invoice exists because the line's own key names it). Applications are found by
    # invoice (or payment), never by line alone: the line has no index of its own.
    line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, related_name="applications", db_index=False, db_constraint=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="applications", db_constraint=False)
    amount = MoneyField()
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.APPLY)
    is_reversal = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="apply") & Q(amount__gt=0))
                | (Q(kind__in=["credit_draw", "unapply", "refund"]) & Q(amount__lt=0))
                | (Q(kind="reversal") & ~Q(amount=0)),
                name="application_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=(Q(is_reversal=True) & Q(kind="reversal")) | (Q(is_reversal=False) & ~Q(kind="reversal")),
                name="application_reversal_flag_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["payment", "kind"])]

    def __str__(self):
        return f"{self.amount} of payment {self.payment_id} → {self.line}"


class Refund(models.Model):
    """Open credit returned to the payer, through the processor or recorded only.

    Processor refunds are two-phase: the row is saved PENDING with its idempotency
    key and committed before the processor is called; the outcome is recorded after.
    The ledger moves only when the refund succeeds.
    """

    class Mode(models.TextChoices):
        PROCESSOR = "processor", "Through the processor"
        RECORD_ONLY = "record_only", "Record only (check issued outside)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    credit_invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    amount = MoneyField()
    currency = CurrencyField()
    mode = models.CharField(max_length=12, choices=Mode.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    date = models.DateField()
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="refunds")
    reason = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    processor_refund_id = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]
        # A payment may be refunded in several parts. Their total never exceeds it: the
        # refund services check it under the payment's row lock, and the database keeps
        # Payment.refunded_amount within Payment.amount (payment_refund_within_amount)
        # and a credit line's balance at or below zero (line_balance_le_charge).

    def __str__(self):
        return f"Refund {self.pk} of payment {self.payment_id}: {self.amount}"


class JournalEntry(models.Model):
    """A balanced double entry. Entries are posted when written and never changed;
    a correction is a new entry with ``reversal_of`` set."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        PAYMENT = "payment", "Payment"
        PAYMENT_REVERSAL = "payment_reversal", "Payment reversal"
        CREDIT_APPLICATION = "credit_application", "Open credit applied"
        REFUND = "refund", "Refund"
        UNAPPLY = "unapply", "Payment unapplied"
        INVOICE_REVERSAL = "invoice_reversal", "Invoice reversal"
        ADJUSTMENT = "adjustment", "Adjustment"

    # Indexed by journal_entry_by_batch (below), in the batch page's order.
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="journal_entries", db_index=False)
    date = models.DateField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=200, blank=True)
    # Each entry has one of invoice and payment (or neither): the partial indexes below
    # hold only the entries that have one.
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
        db_index=False,
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
        db_index=False,
    )
    reversal_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        db_index=False,
    )
    # The summary entries of a posted AR import: one per import (two when it pays
    # cash-basis membership lines), one line per account, instead of an entry per
    # payment. Its payments are the import's posted rows' payments.
    ar_import = models.ForeignKey(
        "finance.ARImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
        db_index=False,
    )
    is_posted = models.BooleanField(default=True)
    # Cash-basis membership transactions are recorded but left out of the GL export.
    exclude_from_gl_export = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "journal entries"
        ordering = ["date", "pk"]
        indexes = [
            models.Index(fields=["date", "id"]),
            # A batch's entries in date order (the batch page pages them).
            models.Index(fields=["batch", "date", "id"], name="journal_entry_by_batch"),
            models.Index(fields=["invoice"], condition=Q(invoice__isnull=False), name="journal_entry_by_invoice"),
            models.Index(fields=["payment"], condition=Q(payment__isnull=False), name="journal_entry_by_payment"),
            models.Index(
                fields=["reversal_of"], condition=Q(reversal_of__isnull=False), name="journal_entry_by_reversed"
            ),
            models.Index(fields=["ar_import"], condition=Q(ar_import__isnull=False), name="journal_entry_by_ar_import"),
        ]
        triggers = [
            # A posted entry cannot be deleted, nor what it posts changed.
            Trigger(
                name="journal_entry_immutable",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=trigger_sql.JOURNAL_ENTRY_IMMUTABLE,
            ),
            batch_open_trigger("batch_open_for_journal"),
        ]

    def __str__(self):
        return f"JE {self.pk} {self.get_kind_display()} {self.date}"


class JournalLine(models.Model):
    """One leg of an entry: exactly one of debit and credit is positive."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    # Indexed by (account, entry) below.
    account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="journal_lines", db_index=False)
    debit = MoneyField(default=ZERO)
    credit = MoneyField(default=ZERO)
    currency = CurrencyField()
    # Nothing searches journal lines by contact: no index (each would be written by every line).
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, null=True, blank=True, db_index=False)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["entry_id", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(credit__gt=0) & Q(debit=0)),
                name="journal_line_one_side_positive",
            ),
        ]
        indexes = [models.Index(fields=["account", "entry"])]
        triggers = [
            # Lines of a posted entry cannot be changed or deleted.
            Trigger(
                name="journal_line_immutable",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=trigger_sql.JOURNAL_LINE_IMMUTABLE,
            ),
            # Each statement queues the entries it touched for the balance check at
            # commit (JournalCheckPending).
            Trigger(
                name="journal_line_queue_insert",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                referencing=pgtrigger.Referencing(new="new_lines"),
                declare=[("n", "bigint")],
                func=trigger_sql.QUEUE_INSERTED_LINES,
            ),
            Trigger(
                name="journal_line_queue_update",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                referencing=pgtrigger.Referencing(old="old_lines", new="new_lines"),
                declare=[("n", "bigint")],
                func=trigger_sql.QUEUE_UPDATED_LINES,
            ),
            Trigger(
                name="journal_line_queue_delete",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                referencing=pgtrigger.Referencing(old="old_lines"),
                declare=[("n", "bigint")],
                func=trigger_sql.QUEUE_DELETED_LINES,
            ),
        ]

    def __str__(self):
        side = f"DR {self.debit}" if self.debit else f"CR {self.credit}"
        return f"{self.account.code} {side}"


class JournalCheckPending(models.Model):
    """One row per transaction that wrote journal lines, until its commit: the row the
    deferred balance check (``journal_entry_balanced``) fires on.

    A journal entry balances (debits = credits in each currency) at every commit,
    whoever wrote its lines (ORM, raw SQL, COPY). PostgreSQL has no statement-level
    constraint trigger, so the statement-level triggers on the lines (``JournalLine``)
    queue the entries each statement touched in ``finance_journal_check_queue`` (no
    model: transaction id, entry id) and insert this transaction's row here, once; the
    constraint trigger below, DEFERRABLE INITIALLY DEFERRED, fires once per transaction
    at commit (or at ``SET CONSTRAINTS journal_entry_balanced IMMEDIATE``), checks every
    queued entry in one query and empties the queue.

    Both tables are UNLOGGED (migration 0008 created them): their rows never outlive the
    transaction that wrote them. Nothing but the triggers writes them.
    """

    # txid_current() of the writing transaction.
    xact = models.BigIntegerField(primary_key=True)

    class Meta:
        db_table = "finance_journal_check_pending"
        default_permissions = ()
        triggers = [
            Trigger(
                name="journal_entry_balanced",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                declare=[("bad", "record")],
                func=trigger_sql.CHECK_QUEUED_ENTRIES_BALANCED,
            ),
        ]

    def __str__(self):
        return f"journal check of transaction {self.xact}"


class SavedCard(models.Model):
    """A card saved on a contact for later payments, per processor customer: only what
    the processor gives back for it (its payment method id, brand, last four digits and
    expiry), never a card number."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="saved_cards")
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT, related_name="saved_cards")
    # The processor's customer the card is attached to (Stripe: cus_…), blank when none:
    # a charge with the card names this customer.
    customer_ref = models.CharField(max_length=200, blank=True)
    # The processor's payment method id (pm_…): what a charge with this card sends.
    processor_id = models.CharField(max_length=100)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["gateway_account", "processor_id"], name="saved_card_once_per_gateway"),
            models.CheckConstraint(condition=Q(last4__regex=r"^[0-9]{4}$"), name="saved_card_last4_digits"),
            models.CheckConstraint(condition=Q(exp_month__gte=1, exp_month__lte=12), name="saved_card_exp_month"),
        ]

    def __str__(self):
        return f"{self.brand.title()} •••• {self.last4} (exp {self.exp_month:02d}/{self.exp_year % 100:02d})"


class ProcessorCustomer(models.Model):
    """A contact's customer at a gateway account's processor (Stripe: cus_…): cards are
    kept for later on it, and a charge that keeps a card names it. One per contact and
    gateway account; created once (an idempotency key per gateway account and contact)."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="processor_customers")
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT, related_name="processor_customers")
    customer_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "gateway_account"], name="processor_customer_once_per_gateway"),
            models.UniqueConstraint(fields=["gateway_account", "customer_id"], name="processor_customer_id_unique"),
            models.CheckConstraint(condition=~Q(customer_id=""), name="processor_customer_id_set"),
        ]

    def __str__(self):
        return f"{self.customer_id} ({self.contact})"


class CardPayment(models.Model):
    """A payment received by card on the Receive payment page, charged in two phases:
    the attempt (amount, card's payment method id, idempotency key) is committed before
    the processor is called; the answer is recorded after, and a succeeded charge
    records the ledger's payment (``payment``) once. An attempt whose answer never came
    stays CHARGING and is asked about again with the same key, never charged anew."""

    class Status(models.TextChoices):
        CHARGING = "charging", "Charging"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Declined or refused"

    payer = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="+")
    entity = models.ForeignKey(FinancialEntity, on_delete=models.PROTECT, related_name="+")
    amount = MoneyField()
    currency = CurrencyField()
    date = models.DateField()
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+")
    # The processor's payment method id (pm_…) the card form made; never a card number.
    card_token = models.CharField(max_length=100)
    # Keep the card on the payer: the charge names ``customer_ref`` and asks the processor
    # to keep the card for it (decided before the first send, so every resend is the same).
    save_card = models.BooleanField(default=False)
    # The processor customer the charge names (the payer's, when the card is kept; a
    # saved card's own), blank for none. Stored with the attempt before the first send.
    customer_ref = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CHARGING)
    charge_id = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="card_payment"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_payment_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | (Q(payment__isnull=False) & ~Q(charge_id="")),
                name="card_payment_paid_has_payment",
            ),
            models.CheckConstraint(
                condition=Q(save_card=False) | ~Q(customer_ref=""), name="card_payment_saved_card_has_customer"
            ),
        ]

    def __str__(self):
        return f"Card payment {self.pk} {self.amount} {self.currency} ({self.status})"
