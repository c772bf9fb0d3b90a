"""Taking charges off posted invoice lines: writing lines down, and cancelling
(reversing) an invoice.

Rules kept here:
- A write-down (``invoice_lines_write_down``) takes amounts off lines' open charges: an
  adjustment row per line (negative), the line and invoice balances reduced by it, and
  for accrual invoices one entry DR each line's income (or deferred income) account /
  CR accounts receivable; cash-basis lines post nothing (nothing was posted when
  invoiced). Never more than a line's open balance, never on a discount line.
- What was paid on the invoice becomes open credit of whoever paid it: each payment's
  net part on the invoice's lines moves to a new credit invoice of that payer (DR AR /
  CR unapplied cash), so a refund of it returns exactly that payment's money; each such
  credit invoice names the reversed invoice (``Invoice.reversal_of``). Credit
  used on the invoice (an OPENCREDIT payment) is given back to the credit it came
  from by reversing that use.
- Then every line's open balance is written down (``invoice_lines_write_down``): the
  line keeps its amount, its balance becomes zero. Discount lines hold nothing open
  (their balance is 0): the discount stays as given, and the charge lines are written
  down by what is still open on them, i.e. net of their discount.
- The invoice is marked reversed; it stays as it was otherwise (posted records are
  immutable; corrections are new rows and entries). All of it in one transaction.
"""

from collections import defaultdict
from datetime import date as Date
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from finance.errors import AlreadyReversed, FinanceError, InvalidAmount, OverApplication
from finance.models import (
    Batch,
    GLAccount,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    Payment,
    PaymentApplication,
)
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.batches import lock_batch_for_writing
from finance.services.credits import move_to_credit
from finance.services.journal import Leg, journal_entry_create
from finance.services.payments import lock_invoices, payment_reverse


@transaction.atomic
def invoice_reverse(
    *, invoice: Invoice, batch: Batch, date: Date | None = None, reason: str = "", user=None
) -> Invoice:
    """Cancel ``invoice``: its payments become open credit, its charges are reversed."""
    date = date or timezone.localdate()
    batch = lock_batch_for_writing(batch)
    invoice = lock_invoices([invoice.pk])[invoice.pk]
    if invoice.type == Invoice.Type.CREDIT:
        raise FinanceError(f"Invoice {invoice.number} is a credit invoice; refund or use its credit instead.")
    if invoice.reversed_at is not None:
        raise AlreadyReversed(f"Invoice {invoice.number} is already reversed.")
    if date < invoice.date:
        raise FinanceError("A reversal cannot be dated before the invoice.")

    # 1. Money paid on the invoice, per payment (net of earlier unapplies/reversals).
    net: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for payment_id, line_id, amount in PaymentApplication.objects.filter(invoice=invoice).values_list(
        "payment_id", "line_id", "amount"
    ):
        net[payment_id][line_id] += amount
    for payment in Payment.objects.filter(pk__in=list(net)).select_related("method").order_by("pk"):
        parts = {line_id: amt for line_id, amt in net[payment.pk].items() if amt > 0}
        if not parts or payment.status != Payment.Status.POSTED:
            continue
        if payment.method.type == payment.method.Type.OPEN_CREDIT:
            others = (
                PaymentApplication.objects.filter(payment=payment, kind=PaymentApplication.Kind.APPLY)
                .exclude(invoice=invoice)
                .exclude(invoice__type=Invoice.Type.CREDIT)
                .exists()
            )
            if others:
                raise FinanceError(
                    f"Credit used by payment {payment.pk} also pays other invoices; reverse that payment first."
                )
            payment_reverse(payment=payment, batch=batch, date=date, reason=f"Invoice {invoice.number} reversed")
            continue
        lines = list(
            InvoiceLine.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .filter(pk__in=list(parts))
            .order_by("pk")
        )
        Payment.objects.select_for_update().get(pk=payment.pk)
        move_to_credit(
            payment=payment,
            lines=lines,
            amounts=parts,
            batch=batch,
            date=date,
            description=f"Invoice {invoice.number} reversed: payment {payment.pk}",
            user=user,
            reversal_of=invoice,
        )

    # 2. Take every line's open balance off its charge.
    lines = list(InvoiceLine.objects.select_for_update().filter(invoice=invoice, balance__gt=0).order_by("line_number"))
    if lines:
        invoice_lines_write_down(
            invoice=invoice,
            amounts={line.pk: line.balance for line in lines},
            batch=batch,
            date=date,
            reason=reason,
            kind=JournalEntry.Kind.INVOICE_REVERSAL,
            description=f"Invoice {invoice.number} reversed{': ' + reason if reason else ''}",
            user=user,
        )
    Invoice.objects.filter(pk=invoice.pk).update(reversed_at=timezone.now())
    invoice.refresh_from_db()
    return invoice


@transaction.atomic
def invoice_lines_write_down(
    *,
    invoice: Invoice,
    amounts: dict[int, Decimal],
    batch: Batch,
    date: Date,
    reason: str = "",
    kind: str = JournalEntry.Kind.ADJUSTMENT,
    description: str = "",
    user=None,
) -> list[InvoiceAdjustment]:
    """Take ``amounts[line id]`` off those lines' open charges (see module doc).

    Locks the batch, the invoice and the lines; refuses an amount that is not above
    zero, more than the line's open balance, or on a line of another invoice or on a
    discount line. Returns the adjustment rows.
    """
    batch = lock_batch_for_writing(batch)
    invoice = lock_invoices([invoice.pk])[invoice.pk]
    lines = list(InvoiceLine.objects.select_for_update().filter(pk__in=list(amounts)).order_by("line_number"))
    if len(lines) != len(amounts) or any(line.invoice_id != invoice.pk for line in lines):
        raise FinanceError(f"Invoice {invoice.number}: a line to write down is not one of its lines.")
    if date < invoice.date:
        raise FinanceError("A write-down cannot be dated before the invoice.")
    description = description or f"Invoice {invoice.number}: {reason}".strip(": ")
    adjustments, legs, total = [], [], ZERO
    for line in lines:
        part = quantize(amounts[line.pk])
        label = f"Invoice {invoice.number} line {line.line_number}"
        if line.amount < 0:
            raise FinanceError(f"{label} is a discount line; it holds no charge to write down.")
        if part <= 0:
            raise InvalidAmount(f"{label}: the amount written down must be greater than zero (got {part}).")
        if part > line.balance:
            raise OverApplication(f"{label}: {part} is more than its open balance {line.balance}.")
        adjustments.append(
            InvoiceAdjustment.objects.create(
                invoice=invoice, line=line, amount=-part, date=date, batch=batch, reason=reason[:200], created_by=user
            )
        )
        InvoiceLine.objects.filter(pk=line.pk).update(balance=F("balance") - part)
        total += part
        legs.append(
            Leg(
                line.account,
                debit=part,
                contact=invoice.bill_to,
                currency=invoice.currency,
                description=line.description,
            )
        )
    Invoice.objects.filter(pk=invoice.pk).update(balance=F("balance") - total)
    if invoice.accounting_method == Invoice.AccountingMethod.ACCRUAL and total > 0:
        ar = account_for_role(invoice.entity, GLAccount.Role.AR)
        legs.append(
            Leg(ar, credit=total, contact=invoice.bill_to, currency=invoice.currency, description=description[:200])
        )
        journal_entry_create(
            batch=batch, date=date, kind=kind, legs=legs, description=description[:200], invoice=invoice
        )
    return adjustments
