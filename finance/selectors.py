"""Read queries of the staff UI. Nothing here writes; every query that feeds a list
pulls its related rows with ``select_related`` so a page costs the same number of
queries whatever its size."""

import functools
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from finance.models import (
    Batch,
    BatchEvent,
    BatchInvoices,
    BatchReceipts,
    Contact,
    CurrentBatch,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    Refund,
    SavedCard,
)
from finance.models_ar_import import ARImportRow
from finance.money import ZERO

MONEY: DecimalField = DecimalField(max_digits=14, decimal_places=2)
# PaymentMethod.Type.OPEN_CREDIT (paycentral): payments of this type use open credit.
OPEN_CREDIT_METHOD_TYPE = "open_credit"


# --- Contacts ---------------------------------------------------------------------


def contact_list() -> QuerySet[Contact]:
    return Contact.objects.select_related("company")


def contact_get(pk: int) -> Contact:
    return Contact.objects.select_related("company").get(pk=pk)


def contact_members(contact: Contact) -> QuerySet[Contact]:
    """The contacts whose company is ``contact``."""
    return Contact.objects.filter(company=contact).order_by("sort_name", "name", "pk")


@dataclass(frozen=True)
class ContactBalance:
    """Balances of the invoices billed to a contact, per currency."""

    currency: str
    balance: Decimal  # sum of every invoice balance (open credits count negative)
    receivable: Decimal  # sum of the positive balances
    credit: Decimal  # sum of the negative balances (a negative number)


def contact_balances(contact: Contact) -> list[ContactBalance]:
    """The contact's total balance: the sum of the balances of invoices it is billed on."""
    rows = (
        Invoice.objects.filter(bill_to=contact)
        .order_by()
        .values("currency")
        .annotate(
            total_balance=Sum("balance"),
            total_receivable=Coalesce(Sum("balance", filter=Q(balance__gt=0)), Value(ZERO), output_field=MONEY),
            total_credit=Coalesce(Sum("balance", filter=Q(balance__lt=0)), Value(ZERO), output_field=MONEY),
        )
        .order_by("currency")
    )
    return [ContactBalance(r["currency"], r["total_balance"], r["total_receivable"], r["total_credit"]) for r in rows]


def contact_invoices(contact: Contact) -> QuerySet[Invoice]:
    return Invoice.objects.filter(bill_to=contact).select_related("batch", "bill_to")


def contact_open_credits(contact: Contact) -> QuerySet[Invoice]:
    """Open credits: the contact's invoices whose balance is below zero."""
    return contact_invoices(contact).filter(balance__lt=0)


def contact_payments(contact: Contact) -> QuerySet[Payment]:
    return Payment.objects.filter(payer=contact).select_related("payer", "method", "batch")


# --- Invoices ---------------------------------------------------------------------


def invoice_list() -> QuerySet[Invoice]:
    return Invoice.objects.select_related("bill_to", "batch")


def invoice_get(pk: int) -> Invoice:
    return Invoice.objects.select_related("bill_to", "sold_to", "batch", "entity", "reversal_of", "created_by").get(
        pk=pk
    )


def invoice_reversal_credits(invoice: Invoice) -> QuerySet[Invoice]:
    """The credit invoices the reversal of ``invoice`` created (none unless reversed)."""
    if invoice.reversed_at is None:
        return Invoice.objects.none()
    return Invoice.objects.filter(reversal_of=invoice).select_related("bill_to").order_by("pk")


def invoice_lines(invoice: Invoice) -> QuerySet[InvoiceLine]:
    return invoice.lines.select_related("account", "product").order_by("line_number")


def invoice_applications(invoice: Invoice) -> QuerySet[PaymentApplication]:
    return (
        PaymentApplication.objects.filter(invoice=invoice)
        .select_related("payment__payer", "payment__method", "payment__batch", "line")
        .order_by("pk")
    )


# --- Payments ---------------------------------------------------------------------


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.select_related("payer", "method", "batch")


def payment_get(pk: int) -> Payment:
    return Payment.objects.select_related(
        "payer", "method", "batch", "entity", "cash_account", "reversal_batch", "created_by"
    ).get(pk=pk)


def payment_applications(payment: Payment) -> QuerySet[PaymentApplication]:
    return (
        PaymentApplication.objects.filter(payment=payment)
        .select_related("invoice", "line", "invoice__bill_to")
        .order_by("pk")
    )


# --- Journal ----------------------------------------------------------------------


def _with_lines(entries: QuerySet[JournalEntry]) -> QuerySet[JournalEntry]:
    return (
        entries.select_related("batch", "reversal_of")
        .prefetch_related(
            Prefetch("lines", queryset=JournalLine.objects.select_related("account", "contact").order_by("pk"))
        )
        .annotate(total_debit=Sum("lines__debit"), total_credit=Sum("lines__credit"))
        .order_by("date", "pk")
    )


def invoice_journal(invoice: Invoice) -> QuerySet[JournalEntry]:
    return _with_lines(JournalEntry.objects.filter(invoice=invoice))


def payment_journal(payment: Payment) -> QuerySet[JournalEntry]:
    """The payment's entries, and for a payment an AR import posted, the import's
    summary entries (one line per account for all its payments)."""
    entries = Q(payment=payment)
    if payment.source == Payment.Source.IMPORT:
        rows = ARImportRow.objects.filter(ar_import__batch_id=payment.batch_id, payment=payment)
        entries |= Q(ar_import__in=rows.values("ar_import_id"))
    return _with_lines(JournalEntry.objects.filter(entries))


# --- Batches ----------------------------------------------------------------------


def batch_list() -> QuerySet[Batch]:
    """Batches with their actual figures, counted as ``batch_totals`` counts them:
    invoices other than the credit invoices payments create, plus payments; the amount
    is the sum of the payments."""
    invoices = (
        Invoice.objects.filter(batch=OuterRef("pk"))
        .exclude(type=Invoice.Type.CREDIT)
        .order_by()
        .values("batch")
        .annotate(n=Count("pk"))
        .values("n")
    )
    payments = Payment.objects.filter(batch=OuterRef("pk")).order_by().values("batch")
    batches = Batch.objects.annotate(
        invoice_count=Coalesce(Subquery(invoices, output_field=IntegerField()), Value(0)),
        payment_count=Coalesce(
            Subquery(payments.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), Value(0)
        ),
        cash_total=Coalesce(
            Subquery(payments.annotate(s=Sum("amount")).values("s"), output_field=MONEY),
            Value(ZERO),
            output_field=MONEY,
        ),
    )
    return batches.annotate(actual_count=F("invoice_count") + F("payment_count"))


def batch_rows() -> QuerySet[Batch]:
    """Batches without their figures: the staff list pages them, then
    ``batch_with_figures`` counts the shown page only."""
    return Batch.objects.all()


def batch_with_figures(batches, *, with_others: bool = True) -> list[Batch]:
    """``batches`` with ``invoice_count``, ``payment_count``, ``actual_count`` and
    ``cash_total`` set, counted as ``batch_list`` counts them (the control figures of
    ``batch_totals``), plus ``charges`` (what the counted invoices charge) and
    ``other_count``: the rows the batch holds that the count leaves out (credit
    invoices, payment reversals, refunds, invoice adjustments; ``with_others=False``
    leaves the last three out and saves their query). Grouped queries over these
    batches only (not a subquery per row and column)."""
    batches = list(batches)
    ids = [b.pk for b in batches]
    # Invoices: each batch's counts and charges from its kept figures (BatchInvoices, a
    # row a batch and writing slot, kept by the invoice table's triggers).
    invoices = {
        row["batch_id"]: row
        for row in BatchInvoices.objects.filter(batch_id__in=ids)
        .order_by()
        .values("batch_id")
        .annotate(n=Sum("invoice_count"), credit_n=Sum("credit_count"), charges=Sum("charges"))
    }
    # Payments: each batch's count and cash from its kept receipts (BatchReceipts: a few
    # rows a batch and day, kept by the payment table's triggers), not its payments.
    payments = {
        batch_id: {"n": n, "amount": amount}
        for batch_id, n, amount in BatchReceipts.objects.filter(batch_id__in=ids)
        .order_by()
        .values("batch_id")
        .annotate(n=Sum("received_count"), amount=Sum("received"))
        .values_list("batch_id", "n", "amount")
    }
    others: dict[int, int] = {}
    if with_others and ids:
        # One query: the grouped counts of the three kinds, side by side.
        parts = [
            model.objects.filter(**{f"{column}__in": ids})
            .order_by()
            .values(column)
            .annotate(n=Count("*"))
            .values_list(column, "n")
            for model, column in ((Payment, "reversal_batch_id"), (Refund, "batch_id"), (InvoiceAdjustment, "batch_id"))
        ]
        for batch_id, n in parts[0].union(*parts[1:], all=True):
            others[batch_id] = others.get(batch_id, 0) + n
    for batch in batches:
        invoiced = invoices.get(batch.pk, {})
        paid = payments.get(batch.pk, {})
        batch.invoice_count = invoiced.get("n", 0)
        batch.payment_count = paid.get("n", 0)
        batch.actual_count = batch.invoice_count + batch.payment_count
        batch.cash_total = paid.get("amount") or ZERO
        batch.charges = invoiced.get("charges") or ZERO
        batch.other_count = invoiced.get("credit_n", 0) + others.get(batch.pk, 0)
    return batches


def batch_get(pk: int) -> Batch:
    return Batch.objects.select_related("created_by", "posted_by").get(pk=pk)


def batch_invoices(batch: Batch) -> QuerySet[Invoice]:
    return Invoice.objects.filter(batch=batch).select_related("bill_to", "batch")


def batch_payments(batch: Batch) -> QuerySet[Payment]:
    return Payment.objects.filter(batch=batch).select_related("payer", "method", "batch")


def batch_reversed_payments(batch: Batch) -> QuerySet[Payment]:
    """Payments reversed in ``batch`` (received in it or in another batch)."""
    return Payment.objects.filter(reversal_batch=batch).select_related("payer", "method", "batch", "reversal_batch")


def batch_refunds(batch: Batch) -> QuerySet[Refund]:
    return Refund.objects.filter(batch=batch).select_related("payment__payer", "credit_invoice", "batch")


def batch_adjustments(batch: Batch) -> QuerySet[InvoiceAdjustment]:
    """Charges taken off invoice lines in ``batch`` (write-downs and invoice reversals)."""
    return InvoiceAdjustment.objects.filter(batch=batch).select_related("invoice__bill_to", "line")


def batch_journal_entries(batch: Batch) -> QuerySet[JournalEntry]:
    """The postings of the transactions in ``batch``, with their debit total."""
    # The debit total of each shown entry only (a subquery per row of the page), not a
    # grouping of every line of the batch before the page is taken; the count of the
    # entries reads no line.
    debits = (
        JournalLine.objects.filter(entry=OuterRef("pk")).order_by().values("entry").annotate(s=Sum("debit")).values("s")
    )
    return (
        JournalEntry.objects.filter(batch=batch)
        .select_related("invoice", "payment")
        .annotate(total_debit=Subquery(debits, output_field=MONEY))
        .order_by("date", "pk")
    )


@dataclass(frozen=True)
class BatchContentRow:
    """One kind of transaction a batch holds: how many, for how much, and what of it
    the control figures take (``counted``: "count", "count and amount" or "")."""

    key: str
    label: str
    count: int
    amount: Decimal
    counted: str
    note: str = ""
    section: str = ""  # the list of the batch page that shows these rows (default: key)

    @property
    def anchor(self) -> str:
        return f"batch-{self.section or self.key}"


@dataclass(frozen=True)
class BatchContents:
    rows: list[BatchContentRow]

    @property
    def listed(self) -> int:
        """Every row the batch page lists (journal entries aside)."""
        return sum(row.count for row in self.rows)

    @property
    def counted(self) -> int:
        """The rows the control count takes: as ``batch_totals`` counts them."""
        return sum(row.count for row in self.rows if row.counted)

    @property
    def not_counted(self) -> int:
        return self.listed - self.counted


def batch_contents(batch: Batch) -> BatchContents:
    """Everything ``batch`` holds, by kind. The counted kinds (invoices other than
    credit invoices; payments, open credit used included) add up to ``batch_totals``'s
    count and their amounts to its figures; the others are listed beside them. Money
    out (reversals, refunds) and charges taken off (adjustments) are negative."""
    invoices = (
        Invoice.objects.filter(batch=batch)
        .order_by()
        .aggregate(  # counted on batch_id: from the index invoice_by_batch_date alone
            n=Count("batch", filter=~Q(type=Invoice.Type.CREDIT)),
            charges=Sum("total", filter=~Q(type=Invoice.Type.CREDIT)),
            credit_n=Count("batch", filter=Q(type=Invoice.Type.CREDIT)),
        )
    )
    credit_held = PaymentApplication.objects.filter(
        invoice__batch=batch, invoice__type=Invoice.Type.CREDIT, kind=PaymentApplication.Kind.APPLY
    ).aggregate(s=Sum("amount"))["s"]
    used = Q(method__type=OPEN_CREDIT_METHOD_TYPE)
    payments = (
        Payment.objects.filter(batch=batch)
        .order_by()
        .aggregate(
            n=Count("pk", filter=~used),
            received=Sum("amount", filter=~used),
            used_n=Count("pk", filter=used),
            used=Sum("amount", filter=used),
        )
    )
    # One query: the count and sum of the three kinds, one row each, side by side.
    kinds = [
        model.objects.filter(**{column: batch})
        .order_by()
        .annotate(kind=Value(kind))
        .values("kind")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .values_list("kind", "n", "total")
        for kind, model, column in (
            ("reversals", Payment, "reversal_batch"),
            ("refunds", Refund, "batch"),
            ("adjustments", InvoiceAdjustment, "batch"),
        )
    ]
    others: dict[str, tuple[int, Decimal]] = {kind: (0, ZERO) for kind in ("reversals", "refunds", "adjustments")}
    for kind, n, total in kinds[0].union(*kinds[1:], all=True):
        others[kind] = (n, total or ZERO)
    reversals, refunds, adjustments = others["reversals"], others["refunds"], others["adjustments"]
    return BatchContents(
        rows=[
            BatchContentRow("invoices", "Invoices", invoices["n"], invoices["charges"] or ZERO, "count", "charges"),
            BatchContentRow(
                "credit_invoices",
                "Credit invoices",
                invoices["credit_n"],
                credit_held or ZERO,
                "",
                "unapplied money put on open credit",
                section="invoices",
            ),
            BatchContentRow(
                "payments", "Payments received", payments["n"], payments["received"] or ZERO, "count and amount"
            ),
            BatchContentRow(
                "credit_used",
                "Open credit used",
                payments["used_n"],
                payments["used"] or ZERO,
                "count and amount",
                section="payments",
            ),
            BatchContentRow("reversals", "Payment reversals", reversals[0], -reversals[1], ""),
            BatchContentRow("refunds", "Refunds", refunds[0], -refunds[1], "", "pending ones included"),
            BatchContentRow(
                "adjustments",
                "Invoice adjustments",
                adjustments[0],
                adjustments[1],
                "",
                "charges taken off invoice lines",
            ),
        ]
    )


@functools.cache
def _current_batch_sql() -> tuple[str, list[str]]:
    """The statement of ``current_batch_of`` and the batch's field names, made once."""
    fields = Batch._meta.concrete_fields
    columns = ", ".join(f"b.{f.column}" for f in fields)
    sql = (
        f"SELECT {columns} FROM {CurrentBatch._meta.db_table} c"
        f" JOIN {Batch._meta.db_table} b ON b.id = c.batch_id WHERE c.user_id = %s"
    )
    return sql, [f.attname for f in fields]


def current_batch_of(user) -> Batch | None:
    """The user's current batch (whatever its status now), or None. Every staff page's
    header asks: one statement written once (not compiled by the ORM per request)."""
    if not getattr(user, "is_authenticated", False):
        return None
    sql, names = _current_batch_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk])
        row = cursor.fetchone()
    return Batch.from_db(connection.alias, names, row) if row else None


def batch_events(batch: Batch) -> QuerySet[BatchEvent]:
    return BatchEvent.objects.filter(batch=batch).select_related("user").order_by("at", "pk")


def open_batches() -> QuerySet[Batch]:
    """Batches that take new transactions."""
    return Batch.objects.filter(status=Batch.Status.OPEN).order_by("-date", "-pk")


# --- Dashboard --------------------------------------------------------------------


def recent_unposted_batches(limit: int = 8) -> list[Batch]:
    return batch_with_figures(
        Batch.objects.filter(status__in=[Batch.Status.OPEN, Batch.Status.READY]).order_by("-date", "-pk")[:limit],
        with_others=False,
    )


def contact_saved_cards(contact: Contact) -> QuerySet[SavedCard]:
    return SavedCard.objects.filter(contact=contact).select_related("gateway_account").order_by("-created_at", "-pk")


def payment_refunds(payment: Payment) -> QuerySet[Refund]:
    """The payment's refunds (pending, succeeded, failed), newest first."""
    return payment.refunds.select_related("credit_invoice", "batch", "created_by").order_by("-created_at", "-pk")


def contact_refunds(contact: Contact) -> QuerySet[Refund]:
    """Refunds of the payments the contact made, newest first."""
    return (
        Refund.objects.filter(payment__payer=contact)
        .select_related("payment", "payment__method", "credit_invoice", "batch")
        .order_by("-created_at", "-pk")
    )


def payment_credit_holdings(payment):
    """Credit invoices on which ``payment`` still holds open credit, with the amount."""
    rows = (
        PaymentApplication.objects.filter(payment=payment, invoice__type=Invoice.Type.CREDIT, invoice__balance__lt=0)
        .values("invoice_id")
        .annotate(held=Sum("amount"))
        .filter(held__gt=0)
        .order_by("invoice_id")
    )
    held = {r["invoice_id"]: r["held"] for r in rows}
    invoices = Invoice.objects.filter(pk__in=held).order_by("pk")
    return [(inv, min(held[inv.pk], -inv.balance)) for inv in invoices]
