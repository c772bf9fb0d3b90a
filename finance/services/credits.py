"""Open credits: using them, creating them by unapplying a payment, refunding them.

An open credit is an invoice with a negative balance (DESIGN §4). Rules kept here:

- Using credit (``credit_apply``) records a payment with the OPENCREDIT method from the
  credit's holder: its ``apply`` rows pay the target lines and one ``credit_draw`` row
  of the same total draws the credit line down. Postings: DR unapplied cash / CR
  accounts receivable (or the line's income account for cash-basis lines). Never more
  than the credit's open amount, never to a line without an open balance, only within
  the credit's financial entity. The credit and the targets are locked (invoices in
  primary-key order) before anything is read, so concurrent carts cannot use the same
  credit twice.
- Unapplying a payment (``payment_unapply``) takes everything it paid off the invoice
  lines (``unapply`` rows) and puts it on a new credit invoice for the payer
  (DR accounts receivable / CR unapplied cash): the lines reopen, the money stays.
- Refunding (``refund_record`` and the two-phase ``refund_start``/``refund_finish``)
  returns credit a payment holds on one credit invoice, in full or in part: any amount
  above zero up to what is refundable (``refundable_now``: what the payment holds
  there, less its refunds still pending at the processor, and never more than the
  credit invoice's open credit). Several partial refunds are allowed; together they
  never exceed what the payment put there, so never the payment. The payment and the
  credit invoice are locked (payment first, then the invoice) while this is checked,
  so concurrent refunds cannot pass it twice; the database keeps ``refunded_amount``
  within the payment's amount and the credit line's balance at or below zero.
  Postings: DR unapplied cash / CR the payment's cash account (through the processor)
  or the refund clearing account (record only: a check is cut outside). A refund goes
  through the processor only for a card payment taken through one (``refund_modes``);
  any other payment's refund is recorded only. Needs a refund clearing account for
  record-only refunds. A processor refund whose batch was closed while the processor
  answered is posted into the current batch of the user who started it, or else into
  the day's "Processor refunds" batch (one a day).
"""

import uuid
from collections import defaultdict
from datetime import date as Date
from decimal import Decimal

from django.db import transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from finance.errors import FinanceError, InvalidAmount, LedgerMisconfigured, OverApplication
from finance.models import (
    Batch,
    Contact,
    CurrentBatch,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Payment,
    PaymentApplication,
    PaymentMethod,
    Refund,
)
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.batches import batch_create, lock_batch_for_writing
from finance.services.invoices import credit_invoice_create
from finance.services.journal import Leg, application_legs, journal_entry_create
from finance.services.payments import ApplicationSpec, _apply, lock_invoices


class InsufficientCredit(OverApplication):
    """More credit asked for than the credit invoice still holds."""


def open_credit_method():
    """The OPENCREDIT payment method (type "open credit"); refused when missing."""
    method = PaymentMethod.objects.filter(type=PaymentMethod.Type.OPEN_CREDIT, is_active=True).order_by("pk").first()
    if method is None:
        raise LedgerMisconfigured("There is no active payment method of type open credit (OPENCREDIT).")
    return method


def credits_of(contacts) -> "QuerySet[Invoice]":
    """Open credit invoices billed to ``contacts``, oldest invoice date first."""
    return (
        Invoice.objects.filter(bill_to__in=contacts, balance__lt=0)
        .select_related("bill_to", "entity")
        .order_by("date", "pk")
    )


def credit_available(invoice: Invoice) -> Decimal:
    return -invoice.balance if invoice.balance < 0 else ZERO


@transaction.atomic
def credit_apply(
    *,
    credit_invoice: Invoice,
    applications: list[ApplicationSpec],
    batch: Batch,
    date: Date,
    user=None,
    source: str = Payment.Source.CART,
) -> Payment:
    """Use open credit from ``credit_invoice`` on the given lines (see module doc)."""
    if not applications:
        raise FinanceError("Nothing to apply the credit to.")
    method = open_credit_method()
    batch = lock_batch_for_writing(batch)
    invoice_ids = {credit_invoice.pk} | {spec.line.invoice_id for spec in applications}
    invoices = lock_invoices(invoice_ids)
    credit = invoices[credit_invoice.pk]
    available = credit_available(credit)
    line_ids = [spec.line.pk for spec in applications]
    if len(set(line_ids)) != len(line_ids):
        raise FinanceError("A line appears twice in the applications; give it once.")
    lines = {
        ln.pk: ln
        for ln in InvoiceLine.objects.select_for_update(of=("self",))
        .select_related("invoice")
        .filter(pk__in=line_ids)
        .order_by("pk")
    }
    plan = []
    for spec in applications:
        line = lines[spec.line.pk]
        inv = invoices[line.invoice_id]
        label = f"Invoice {inv.number} line {line.line_number}"
        part = quantize(spec.amount)
        if part <= 0:
            raise InvalidAmount(f"{label}: the credit applied must be greater than zero (got {part}).")
        if inv.pk == credit.pk or inv.type == Invoice.Type.CREDIT:
            raise FinanceError(f"{label}: credit cannot be applied to a credit invoice.")
        if inv.entity_id != credit.entity_id:
            raise FinanceError(f"{label}: belongs to entity {inv.entity.code}, the credit to {credit.entity.code}.")
        if line.balance <= 0:
            raise OverApplication(f"{label}: has no open balance (balance {line.balance}).")
        if part > line.balance:
            raise OverApplication(f"{label}: {part} is more than its open balance {line.balance}.")
        plan.append((line, part))
    total = sum((p for _, p in plan), ZERO)
    if total > available:
        raise InsufficientCredit(
            f"Credit invoice {credit.number} holds {available} of open credit; {total} was asked for."
        )
    unapplied = account_for_role(credit.entity, GLAccount.Role.UNAPPLIED_CASH)
    payment = Payment.objects.create(
        payer=credit.bill_to,
        method=method,
        entity=credit.entity,
        cash_account=unapplied,
        amount=total,
        currency=credit.currency,
        date=date,
        reference=f"Credit {credit.number}",
        batch=batch,
        source=source,
        amount_applied=total,
        created_by=user,
    )
    # Draw the credit down line by line (credit invoices have one line; be general).
    remaining = total
    for cline in credit.lines.select_for_update().filter(balance__lt=0).order_by("line_number"):
        part = min(-cline.balance, remaining)
        _apply(payment, cline, -part, kind=PaymentApplication.Kind.CREDIT_DRAW)
        remaining -= part
        if remaining == 0:
            break
    for line, part in plan:
        _apply(payment, line, part)
    for excluded, legs in application_legs(
        plan,
        entity=credit.entity,
        counter_account=unapplied,
        contact=credit.bill_to,
        currency=credit.currency,
        counter_description=f"Credit {credit.number} applied",
        line_description=f"Credit {credit.number} applied",
    ):
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.CREDIT_APPLICATION,
            legs=legs,
            description=f"Open credit {credit.number} of {credit.bill_to.name} applied",
            payment=payment,
            exclude_from_gl_export=excluded,
        )
    return payment


def unapply_refusal(payment: Payment) -> str:
    """Why ``payment`` cannot be unapplied ("" when it can): it is reversed, it is a use
    of open credit (reversing it restores the credit), or it pays no invoice line (all
    of it is open credit already, or refunded). Its applications change only under its
    row lock, which ``payment_unapply`` holds when it asks."""
    if payment.status != Payment.Status.POSTED:
        return f"Payment {payment.pk} is reversed; there is nothing to unapply."
    if payment.method.type == PaymentMethod.Type.OPEN_CREDIT:
        return "An open-credit payment is removed by reversing it, which restores the credit."
    paid = (
        PaymentApplication.objects.filter(payment=payment)
        .exclude(invoice__type=Invoice.Type.CREDIT)
        .values("line_id")
        .annotate(net=Sum("amount"))
        .filter(net__gt=0)
    )
    if not paid.exists():
        return f"Payment {payment.pk} is not applied to any invoice; it is already open credit."
    return ""


@transaction.atomic
def payment_unapply(*, payment: Payment, batch: Batch, date: Date, user=None) -> Invoice:
    """Move everything ``payment`` paid on invoice lines to a new open credit invoice."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    refusal = unapply_refusal(payment)
    if refusal:
        raise FinanceError(refusal)
    batch = lock_batch_for_writing(batch)
    net: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line_id, amt in payment.applications.values_list("line_id", "amount"):
        net[line_id] += amt
    lines = InvoiceLine.objects.filter(pk__in=list(net)).select_related("invoice")
    lock_invoices(lines.values_list("invoice_id", flat=True))
    paid_lines = [
        ln
        for ln in lines.select_for_update(of=("self",)).order_by("pk")
        if net[ln.pk] > 0 and ln.invoice.type != Invoice.Type.CREDIT
    ]
    if not paid_lines:
        raise FinanceError(f"Payment {payment.pk} is not applied to any invoice; it is already open credit.")
    return move_to_credit(
        payment=payment,
        lines=paid_lines,
        amounts={ln.pk: net[ln.pk] for ln in paid_lines},
        batch=batch,
        date=date,
        description=f"Payment {payment.pk} unapplied",
        user=user,
    )


def move_to_credit(
    *,
    payment: Payment,
    lines,
    amounts: dict,
    batch: Batch,
    date: Date,
    description: str,
    user=None,
    reversal_of: Invoice | None = None,
):
    """Take ``amounts[line.pk]`` of ``payment`` off each line (``unapply`` rows) and
    hold the total on a new credit invoice for the payer. Posts DR AR (or the line's
    own account for cash-basis lines) / CR unapplied cash. The caller holds the locks
    on the payment, the batch and the lines' invoices. ``reversal_of``: the invoice
    being reversed, which the credit invoice names (``Invoice.reversal_of``)."""
    total = sum((amounts[ln.pk] for ln in lines), ZERO)
    credit = credit_invoice_create(
        contact=payment.payer,
        entity=payment.entity,
        batch=batch,
        date=date,
        description=description,
        source=Invoice.Source.PAYMENT,
        user=user,
    )
    lock_invoices([credit.pk])
    if reversal_of is not None:
        Invoice.objects.filter(pk=credit.pk).update(reversal_of=reversal_of)
    for line in lines:
        _apply(payment, line, -amounts[line.pk], kind=PaymentApplication.Kind.UNAPPLY)
    _apply(payment, credit.lines.get(), total)
    unapplied = account_for_role(payment.entity, GLAccount.Role.UNAPPLIED_CASH)
    for excluded, legs in application_legs(
        [(line, amounts[line.pk]) for line in lines],
        entity=payment.entity,
        counter_account=unapplied,
        contact=payment.payer,
        currency=payment.currency,
        taken_off=True,
    ):
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.UNAPPLY,
            legs=legs,
            description=f"{description}: credit {credit.number}",
            payment=payment,
            exclude_from_gl_export=excluded,
        )
    credit.refresh_from_db()
    return credit


def refundable(payment: Payment, credit_invoice: Invoice) -> Decimal:
    """What ``payment`` holds as credit on ``credit_invoice`` (its rows there, net)."""
    held = PaymentApplication.objects.filter(payment=payment, invoice=credit_invoice).aggregate(s=Sum("amount"))["s"]
    return held or ZERO


def _pending(**filters) -> Decimal:
    total = Refund.objects.filter(status=Refund.Status.PENDING, **filters).aggregate(s=Sum("amount"))["s"]
    return total or ZERO


def refundable_now(payment: Payment, credit_invoice: Invoice) -> Decimal:
    """What may still be refunded of ``payment``'s credit on ``credit_invoice``: what
    it holds there less its refunds pending at the processor, and no more than the
    credit invoice's open credit less every refund pending on it. Zero for a reversed
    payment. Read under the refund locks by the services; read as is by the pages."""
    if payment.status != Payment.Status.POSTED or credit_invoice.type != Invoice.Type.CREDIT:
        return ZERO
    held = refundable(payment, credit_invoice) - _pending(payment=payment, credit_invoice=credit_invoice)
    left_on_credit = credit_available(credit_invoice) - _pending(credit_invoice=credit_invoice)
    return max(min(held, left_on_credit), ZERO)


def refund_modes(payment: Payment) -> list[str]:
    """How a refund of ``payment`` may be made: through the processor only for a card
    payment that was taken through one (it has the processor's charge id and its method
    a gateway account); every refund may be recorded only (a check cut outside)."""
    method = payment.method
    through_processor = (
        bool(payment.processor_charge_id)
        and method.type == PaymentMethod.Type.CREDIT_CARD
        and method.gateway_account_id is not None
    )
    if through_processor:
        return [Refund.Mode.PROCESSOR, Refund.Mode.RECORD_ONLY]
    return [Refund.Mode.RECORD_ONLY]


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _check_refund(payment: Payment, credit: Invoice, amount) -> Decimal:
    """The amount of a refund of ``payment``'s credit on ``credit``: ``amount`` when
    given (above zero, at most what is refundable), else all that is refundable. The
    caller holds the locks on the payment and the credit invoice."""
    if credit.type != Invoice.Type.CREDIT or credit.balance >= 0:
        raise FinanceError(f"Invoice {credit.number} holds no open credit.")
    if payment.status != Payment.Status.POSTED:
        raise FinanceError(f"Payment {payment.pk} is reversed; it cannot be refunded.")
    if refundable(payment, credit) <= 0:
        raise FinanceError(f"Payment {payment.pk} holds no credit on invoice {credit.number}.")
    left = refundable_now(payment, credit)
    if left <= 0:
        raise FinanceError(
            f"Payment {payment.pk}'s credit on invoice {credit.number} is being refunded already; "
            "wait for the processor's answer."
        )
    if amount in (None, ""):
        return left
    try:
        amount = quantize(amount)
    except ValueError as exc:
        raise InvalidAmount(str(exc)) from exc
    if amount <= 0:
        raise InvalidAmount(f"A refund must be greater than zero (got {_money(amount)}).")
    if amount > left:
        raise OverApplication(
            f"A refund of {_money(amount)} is more than the {_money(left)} that can still be refunded of "
            f"payment {payment.pk} (credit invoice {credit.number})."
        )
    return amount


def _post_refund(refund: Refund, payment: Payment, credit: Invoice) -> None:
    """Move the ledger for a succeeded refund (caller holds the locks)."""
    cline = credit.lines.select_for_update().filter(balance__lt=0).order_by("line_number").first()
    if cline is None or -cline.balance < refund.amount:
        raise FinanceError(f"Invoice {credit.number} no longer holds {refund.amount} of credit.")
    _apply(payment, cline, -refund.amount, kind=PaymentApplication.Kind.REFUND)
    Payment.objects.filter(pk=payment.pk).update(
        refunded_amount=F("refunded_amount") + refund.amount, amount_applied=F("amount_applied") - refund.amount
    )
    unapplied = account_for_role(credit.entity, GLAccount.Role.UNAPPLIED_CASH)
    if refund.mode == Refund.Mode.RECORD_ONLY:
        paid_from = account_for_role(credit.entity, GLAccount.Role.REFUND_CLEARING)
    else:
        paid_from = payment.cash_account
    journal_entry_create(
        batch=refund.batch,
        date=refund.date,
        kind=JournalEntry.Kind.REFUND,
        legs=[
            Leg(unapplied, debit=refund.amount, contact=payment.payer, currency=refund.currency),
            Leg(paid_from, credit=refund.amount, contact=payment.payer, currency=refund.currency),
        ],
        description=f"Refund of payment {payment.pk} from credit {credit.number}",
        payment=payment,
    )


def _lock_for_refund(payment: Payment, credit_invoice: Invoice):
    """Lock the payment, then the credit invoice (the order every refund takes)."""
    payment = Payment.objects.select_for_update(of=("self",)).select_related("method").get(pk=payment.pk)
    credit = lock_invoices([credit_invoice.pk])[credit_invoice.pk]
    return payment, credit


@transaction.atomic
def refund_record(
    *,
    payment: Payment,
    credit_invoice: Invoice,
    batch: Batch,
    date: Date,
    amount=None,
    reason: str = "",
    user=None,
) -> Refund:
    """Record a refund made outside Pay Central (a check): posts at once."""
    batch = lock_batch_for_writing(batch)
    payment, credit = _lock_for_refund(payment, credit_invoice)
    amount = _check_refund(payment, credit, amount)
    refund = Refund.objects.create(
        payment=payment,
        credit_invoice=credit,
        amount=amount,
        currency=credit.currency,
        mode=Refund.Mode.RECORD_ONLY,
        status=Refund.Status.SUCCEEDED,
        date=date,
        batch=batch,
        reason=reason[:200],
        idempotency_key=f"refund-{uuid.uuid4()}",
        completed_at=timezone.now(),
        created_by=user,
    )
    _post_refund(refund, payment, credit)
    return refund


@transaction.atomic
def refund_start(
    *,
    payment: Payment,
    credit_invoice: Invoice,
    batch: Batch,
    date: Date,
    amount=None,
    reason: str = "",
    user=None,
) -> Refund:
    """Phase one of a processor refund: save it PENDING with its idempotency key.

    Commit before calling the processor. A pending refund holds its amount: later
    refunds of the same credit see only what is left (``refundable_now``).
    """
    lock_batch_for_writing(batch)
    payment, credit = _lock_for_refund(payment, credit_invoice)
    if Refund.Mode.PROCESSOR not in refund_modes(payment):
        raise FinanceError(
            f"Payment {payment.pk} was not a card payment taken through a processor; record the refund instead."
        )
    amount = _check_refund(payment, credit, amount)
    return Refund.objects.create(
        payment=payment,
        credit_invoice=credit,
        amount=amount,
        currency=credit.currency,
        mode=Refund.Mode.PROCESSOR,
        date=date,
        batch=batch,
        reason=reason[:200],
        idempotency_key=f"refund-{uuid.uuid4()}",
        created_by=user,
    )


LATE_REFUNDS_DESCRIPTION = "Processor refunds"


def _batch_for_late_refund(refund: Refund) -> Batch:
    """Where a processor refund is posted when its batch was closed while the processor
    answered: the current batch of the user who started it, when open; otherwise the
    open "Processor refunds" batch of the refund's date, opened when there is none (one
    a day, not one per refund)."""
    current = (
        CurrentBatch.objects.select_related("batch").filter(user_id=refund.created_by_id).first()
        if refund.created_by_id
        else None
    )
    if current is not None and current.batch.accepts_transactions:
        return current.batch
    batch = (
        Batch.objects.filter(status=Batch.Status.OPEN, date=refund.date, description=LATE_REFUNDS_DESCRIPTION)
        .order_by("pk")
        .first()
    )
    return batch or batch_create(date=refund.date, description=LATE_REFUNDS_DESCRIPTION)


@transaction.atomic
def refund_finish(*, refund: Refund, succeeded: bool, processor_refund_id: str = "", failure: str = "") -> Refund:
    """Phase two: record the processor's answer; a success posts the refund once."""
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != Refund.Status.PENDING:
        return refund  # already recorded: running twice changes nothing
    refund.processor_refund_id = processor_refund_id[:100]
    refund.completed_at = timezone.now()
    if succeeded:
        payment, credit = _lock_for_refund(refund.payment, refund.credit_invoice)
        batch = Batch.objects.get(pk=refund.batch_id)
        if batch.status != Batch.Status.OPEN:
            # The money has left: post it anyway, into another open batch.
            refund.batch = _batch_for_late_refund(refund)
        refund.status = Refund.Status.SUCCEEDED
        refund.save(update_fields=["status", "processor_refund_id", "completed_at", "batch"])
        _post_refund(refund, payment, credit)
    else:
        refund.status = Refund.Status.FAILED
        refund.failure_message = failure[:300]
        refund.save(update_fields=["status", "processor_refund_id", "completed_at", "failure_message"])
    return refund


def credit_holders_for(contact: Contact) -> list[Contact]:
    """Whose credit a contact may use without authorization: their own and, for a
    company member, the company's."""
    holders = [contact]
    if contact.company is not None:
        holders.append(contact.company)
    return holders
