"""OpenWater refunds recorded as record-only refunds in Pay Central.

Rules kept here:
- An OpenWater refund becomes a record-only refund in Pay Central: the refunded part
  of the payment is taken off the invoice lines onto a new credit invoice of the payer
  (``move_to_credit``), the same amount is taken off the lines' charges
  (``invoice_lines_write_down``: DR income / CR AR), and ``refund_record`` returns that
  credit (DR unapplied cash / CR refund clearing: OpenWater paid it back). A refund of
  everything still kept reverses the invoice instead (``invoice_reverse``). Each
  OpenWater refund id is recorded once (unique on sync + refund id). The caller holds
  the integration's and the sync record's row locks (``recording.invoice_record``).
"""

from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from finance.errors import FinanceError
from finance.models import Batch, Invoice, InvoiceLine, Payment, PaymentApplication
from finance.money import ZERO
from finance.services.adjustments import invoice_lines_write_down, invoice_reverse
from finance.services.credits import move_to_credit, refund_record
from finance.services.payments import lock_invoices
from integrations.openwater.errors import InvoiceDataError
from integrations.openwater.models import Integration, InvoiceSync, RefundSync
from integrations.openwater.selectors import refund_ids_recorded
from integrations.openwater.services.mapping import ParsedInvoice
from integrations.openwater.services.setup import open_batch_for


def record_refunds(integration: Integration, sync: InvoiceSync, parsed: ParsedInvoice) -> None:
    """Record the refunds of ``parsed`` not recorded yet on ``sync`` (module doc)."""
    done = refund_ids_recorded(sync)
    new = [r for r in parsed.refunds if r[0] not in done]
    if not new:
        return
    batch = open_batch_for(integration)
    for refund_id, amount, notes in new:
        kept = sync.total_paid - sync.total_refunded
        if amount > kept:
            raise InvoiceDataError(
                f"OpenWater invoice {parsed.id}: its refund {refund_id} of {amount} is more than the {kept} "
                "still kept in Pay Central; record it by hand"
            )
        refund = _refund(sync, amount, batch=batch, reason=f"OpenWater refund {refund_id}: {notes}"[:200])
        RefundSync.objects.create(sync=sync, ow_refund_id=refund_id, amount=amount, refund=refund)
        sync.total_refunded += amount
        InvoiceSync.objects.filter(pk=sync.pk).update(total_refunded=F("total_refunded") + amount)


def _refund(sync: InvoiceSync, amount: Decimal, *, batch: Batch, reason: str):
    """Take ``amount`` of the sync's payment off its invoice and refund it (module doc)."""
    today = timezone.localdate()
    date = max(today, sync.invoice.date)
    payment = Payment.objects.select_for_update().get(pk=sync.payment_id)
    invoice = lock_invoices([sync.invoice_id])[sync.invoice_id]
    kept = sync.total_paid - sync.total_refunded
    if amount == kept:
        before = set(
            Invoice.objects.filter(bill_to=payment.payer, type=Invoice.Type.CREDIT).values_list("pk", flat=True)
        )
        invoice_reverse(invoice=invoice, batch=batch, date=date, reason=reason)
        # The reversal gives each payment still on the invoice a credit of its own: the
        # refund comes off this payment's. None when staff moved its money off the
        # invoice in Pay Central (unapplied, reversed): the refund is then theirs to settle.
        credits = list(
            Invoice.objects.filter(
                bill_to=payment.payer, type=Invoice.Type.CREDIT, balance__lt=0, applications__payment=payment
            )
            .exclude(pk__in=before)
            .distinct()
        )
        if len(credits) != 1:
            raise FinanceError(
                f"Invoice {invoice.number}: payment {payment.pk} no longer holds its {amount} on the invoice "
                "(moved off it in Pay Central); record the OpenWater refund by hand"
            )
        credit = credits[0]
        return refund_record(
            payment=payment, credit_invoice=credit, batch=batch, date=date, amount=amount, reason=reason
        )
    # Part of it: from the last line backwards, what the payment still holds on each line.
    held: dict[int, Decimal] = {}
    for line_id, amt in PaymentApplication.objects.filter(payment=payment, invoice=invoice).values_list(
        "line_id", "amount"
    ):
        held[line_id] = held.get(line_id, ZERO) + amt
    lines = list(
        InvoiceLine.objects.select_for_update(of=("self",))
        .select_related("invoice")
        .filter(invoice=invoice)
        .order_by("-line_number")
    )
    amounts, rest = {}, amount
    for line in lines:
        part = min(held.get(line.pk, ZERO), rest)
        if part > 0:
            amounts[line.pk] = part
            rest -= part
    if rest != 0:
        raise InvoiceDataError(
            f"Invoice {invoice.number}: payment {payment.pk} holds less than {amount} on it; "
            "record the OpenWater refund by hand"
        )
    chosen = [ln for ln in lines if ln.pk in amounts]
    credit = move_to_credit(
        payment=payment,
        lines=chosen,
        amounts=amounts,
        batch=batch,
        date=date,
        description=f"Invoice {invoice.number}: {reason}"[:200],
    )
    invoice_lines_write_down(invoice=invoice, amounts=amounts, batch=batch, date=date, reason=reason)
    return refund_record(payment=payment, credit_invoice=credit, batch=batch, date=date, amount=amount, reason=reason)
