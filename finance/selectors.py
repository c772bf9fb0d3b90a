"""Read queries of the staff UI. Nothing here writes; every query that feeds a list
pulls its related rows with ``select_related`` so a page costs the same number of
queries whatever its size."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from finance.models import (
    Batch,
    BatchEvent,
    Contact,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
)
from finance.models_ar_import import ARImportRow
from finance.money import ZERO

MONEY: DecimalField = DecimalField(max_digits=14, decimal_places=2)


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
    return Invoice.objects.select_related(
        "bill_to", "sold_to", "batch", "entity", "reversal_of", "reversed_by", "created_by"
    ).get(pk=pk)


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


def batch_with_figures(batches) -> list[Batch]:
    """``batches`` with ``invoice_count``, ``payment_count``, ``actual_count`` and
    ``cash_total`` set, counted as ``batch_list`` counts them, with two grouped queries
    over these batches only (not a subquery per row and column)."""
    batches = list(batches)
    ids = [b.pk for b in batches]
    invoices = dict(
        Invoice.objects.filter(batch_id__in=ids)
        .exclude(type=Invoice.Type.CREDIT)
        .order_by()
        .values("batch_id")
        .annotate(n=Count("pk"))
        .values_list("batch_id", "n")
    )
    payments = {
        row["batch_id"]: row
        for row in Payment.objects.filter(batch_id__in=ids)
        .order_by()
        .values("batch_id")
        .annotate(n=Count("*"), amount=Sum("amount"))  # from the index payment_by_batch alone
    }
    for batch in batches:
        paid = payments.get(batch.pk, {})
        batch.invoice_count = invoices.get(batch.pk, 0)
        batch.payment_count = paid.get("n", 0)
        batch.actual_count = batch.invoice_count + batch.payment_count
        batch.cash_total = paid.get("amount") or ZERO
    return batches


def batch_get(pk: int) -> Batch:
    return Batch.objects.select_related("created_by", "posted_by").get(pk=pk)


def batch_invoices(batch: Batch) -> QuerySet[Invoice]:
    return Invoice.objects.filter(batch=batch).select_related("bill_to", "batch")


def batch_payments(batch: Batch) -> QuerySet[Payment]:
    return Payment.objects.filter(batch=batch).select_related("payer", "method", "batch")


def batch_events(batch: Batch) -> QuerySet[BatchEvent]:
    return BatchEvent.objects.filter(batch=batch).select_related("user").order_by("at", "pk")


def open_batches() -> QuerySet[Batch]:
    """Batches that take new transactions."""
    return Batch.objects.filter(status=Batch.Status.OPEN).order_by("-date", "-pk")


# --- Dashboard --------------------------------------------------------------------


def recent_unposted_batches(limit: int = 8) -> list[Batch]:
    return batch_with_figures(
        Batch.objects.filter(status__in=[Batch.Status.OPEN, Batch.Status.READY]).order_by("-date", "-pk")[:limit]
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
