"""Receiving and reversing payments.

Rules kept here:
- A payment's amount is greater than zero; it is recorded in an Open batch and in the
  financial entity of its cash account, and applies only to that entity's invoices.
- Named applications: each line must have a positive balance and receive no more than
  that balance (unless the caller allows overpaying a line, as the AR importer does
  with Auto Apply off); together they never exceed the payment.
- Auto apply: the payer's open positive lines, oldest invoice date first (then invoice
  id, then line number), each closed before the next, until the payment is used up.
- The rest becomes an open credit: a credit invoice whose only line receives it, so
  the applications of a payment always add up to its amount.
- Postings: DR the method's cash account; CR accounts receivable for accrual lines,
  unapplied cash for the credit, and the line's own income account for cash-basis lines
  (those of cash membership invoices are flagged to stay out of the GL export).
- Reversal (bounced check, chargeback) adds opposite application rows, reopens the
  lines, reverses every journal entry of the payment in the given Open batch, and is
  refused when the credit the payment created has since been used, or when the payment
  has refunds (``reverse_refusal``).
- Balances change only under row locks, taken on invoices in primary-key order.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from finance.errors import AlreadyReversed, FinanceError, InvalidAmount, OverApplication
from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Payment,
    PaymentApplication,
)
from finance.models_ar_import import ARImport
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role, cash_account_for
from finance.services.batches import lock_batch_for_writing
from finance.services.invoices import credit_invoice_create
from finance.services.journal import Leg, journal_entry_create, journal_entry_reverse, line_posting_account


@dataclass(frozen=True)
class ApplicationSpec:
    line: InvoiceLine
    amount: Decimal


def lock_invoices(invoice_ids) -> dict[int, Invoice]:
    """Lock invoices in primary-key order (one order everywhere: no deadlocks)."""
    ids = sorted(set(invoice_ids))
    return {inv.pk: inv for inv in Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def _apply(
    payment: Payment,
    line: InvoiceLine,
    amount: Decimal,
    *,
    kind: str = PaymentApplication.Kind.APPLY,
) -> PaymentApplication:
    """Record one application row and move the line and invoice balances by it."""
    app = PaymentApplication.objects.create(
        payment=payment,
        line=line,
        invoice_id=line.invoice_id,
        amount=amount,
        kind=kind,
        is_reversal=kind == PaymentApplication.Kind.REVERSAL,
    )
    InvoiceLine.objects.filter(pk=line.pk).update(balance=F("balance") - amount)
    Invoice.objects.filter(pk=line.invoice_id).update(balance=F("balance") - amount)
    line.balance -= amount
    return app


def open_lines_oldest_first(payer: Contact, entity: FinancialEntity | None = None):
    """The payer's lines with a positive balance, in auto-apply order (all entities
    when ``entity`` is None)."""
    lines = InvoiceLine.objects.filter(invoice__bill_to=payer, balance__gt=0)
    if entity is not None:
        lines = lines.filter(invoice__entity=entity)
    return lines.select_related("invoice", "invoice__entity").order_by("invoice__date", "invoice_id", "line_number")


@transaction.atomic
def payment_receive(
    *,
    payer: Contact,
    method,
    amount,
    date: Date,
    batch: Batch,
    applications: list[ApplicationSpec] | None = None,
    auto_apply: bool = True,
    reference: str = "",
    cash_account: GLAccount | None = None,
    entity: FinancialEntity | None = None,
    source: str = Payment.Source.STAFF,
    allow_line_overpayment: bool = False,
    credit_description: str = "",
    processor_charge_id: str = "",
    user=None,
) -> Payment:
    """Record a payment, apply it, put the rest on an open credit, post the journal."""
    amount = _receivable_amount(amount, method)
    batch = lock_batch_for_writing(batch)
    entity, cash_account = _payment_accounts(method, cash_account, entity)
    payment = Payment.objects.create(
        payer=payer,
        method=method,
        entity=entity,
        cash_account=cash_account,
        amount=amount,
        currency=entity.currency,
        date=date,
        reference=reference[:100],
        batch=batch,
        source=source,
        processor_charge_id=processor_charge_id[:100],
        created_by=user,
    )
    plan: list[tuple[InvoiceLine, Decimal]] = []
    if applications:
        plan = _named_plan(applications, entity, amount, allow_line_overpayment=allow_line_overpayment)
    elif auto_apply:
        plan = _auto_plan(payer, entity, amount)
    residual = amount - sum((p for _, p in plan), ZERO)
    if residual > 0:
        credit = credit_invoice_create(
            contact=payer,
            entity=entity,
            batch=batch,
            date=date,
            description=credit_description or f"Unapplied rest of payment {payment.pk}",
            source=Invoice.Source.PAYMENT,
            user=user,
        )
        lock_invoices([credit.pk])
        plan.append((credit.lines.get(), residual))
    for line, part in plan:
        _apply(payment, line, part)
    Payment.objects.filter(pk=payment.pk).update(amount_applied=amount)
    payment.amount_applied = amount
    for excluded, credits in _posting_groups(entity, plan):
        cash_total = sum((v for _, v in credits), ZERO)
        legs = [
            Leg(
                cash_account,
                debit=cash_total,
                contact=payer,
                currency=payment.currency,
                description=f"{method.code} {reference}".strip(),
            )
        ]
        legs += [Leg(acct, credit=v, contact=payer, currency=payment.currency) for acct, v in credits]
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.PAYMENT,
            legs=legs,
            description=f"Payment {payment.pk} from {payer.name}",
            payment=payment,
            exclude_from_gl_export=excluded,
        )
    return payment


def _receivable_amount(amount, method) -> Decimal:
    """The payment's amount, checked: above zero, by an active method that takes money in."""
    try:
        amount = quantize(amount)
    except ValueError as exc:
        raise InvalidAmount(str(exc)) from exc
    if amount <= 0:
        raise InvalidAmount(f"A payment amount must be greater than zero (got {amount}).")
    if method.type == method.Type.OPEN_CREDIT:
        raise FinanceError("Open credit is applied from the cart, not received as a payment.")
    if not method.is_active:
        raise FinanceError(f"Payment method {method.code} is inactive.")
    return amount


def _payment_accounts(method, cash_account: GLAccount | None, entity: FinancialEntity | None):
    """(entity, cash account) of a payment: the cash account's entity when one is given,
    else the given entity or the method's account's, and the method's cash account there."""
    if cash_account is not None:
        return cash_account.entity, cash_account
    if entity is None:
        if method.cash_account_id is None:
            raise FinanceError(f"Payment method {method.code} has no cash account.")
        entity = method.cash_account.entity
    return entity, cash_account_for(method, entity)


def _named_plan(
    applications: list[ApplicationSpec], entity: FinancialEntity, amount: Decimal, *, allow_line_overpayment: bool
) -> list[tuple[InvoiceLine, Decimal]]:
    """The named applications, checked under the invoices' and lines' locks."""
    invoices = lock_invoices(spec.line.invoice_id for spec in applications)
    line_ids = [spec.line.pk for spec in applications]
    if len(set(line_ids)) != len(line_ids):
        raise FinanceError("A line appears twice in the applications; give it once.")
    lines = {ln.pk: ln for ln in InvoiceLine.objects.select_for_update().filter(pk__in=line_ids).order_by("pk")}
    plan = []
    for spec in applications:
        line = lines[spec.line.pk]
        inv = invoices[line.invoice_id]
        label = f"Invoice {inv.number} line {line.line_number}"
        part = quantize(spec.amount)
        if part <= 0:
            raise InvalidAmount(f"{label}: the amount applied must be greater than zero (got {part}).")
        if inv.entity_id != entity.pk:
            raise FinanceError(f"{label}: belongs to entity {inv.entity.code}, the payment to {entity.code}.")
        if line.balance <= 0:
            raise OverApplication(f"{label}: has no open balance (balance {line.balance}).")
        if part > line.balance and not allow_line_overpayment:
            raise OverApplication(f"{label}: {part} is more than its open balance {line.balance}.")
        plan.append((line, part))
    applied = sum((p for _, p in plan), ZERO)
    if applied > amount:
        raise OverApplication(f"The applications ({applied}) exceed the payment ({amount}).")
    return plan


def _auto_plan(payer: Contact, entity: FinancialEntity, amount: Decimal) -> list[tuple[InvoiceLine, Decimal]]:
    """Auto apply (module doc): the payer's open lines oldest first, each closed before the next."""
    candidates = open_lines_oldest_first(payer, entity)
    lock_invoices(candidates.values_list("invoice_id", flat=True))
    plan, remaining = [], amount
    for line in candidates.select_for_update(of=("self",)):
        if remaining <= 0:
            break
        part = min(line.balance, remaining)
        plan.append((line, part))
        remaining -= part
    return plan


def _posting_groups(entity: FinancialEntity, plan) -> list[tuple[bool, list[tuple[GLAccount, Decimal]]]]:
    """The credit side of a payment's postings: for each GL-export flag (kept, then left
    out), the accounts that ``line_posting_account`` gives the lines of ``plan`` (pairs
    of line and amount) with their positive totals."""
    ar = None
    groups: dict[tuple[int, bool], Decimal] = defaultdict(lambda: ZERO)
    accounts: dict[int, GLAccount] = {}
    for line, part in plan:
        inv = line.invoice
        if ar is None and inv.type != Invoice.Type.CREDIT and inv.accounting_method == Invoice.AccountingMethod.ACCRUAL:
            ar = account_for_role(entity, GLAccount.Role.AR)
        acct, excluded = line_posting_account(line, ar)
        accounts[acct.pk] = acct
        groups[(acct.pk, excluded)] += part
    out = []
    for excluded in (False, True):
        credits = [(accounts[a], v) for (a, ex), v in groups.items() if ex == excluded and v > 0]
        if credits:
            out.append((excluded, credits))
    return out


def reverse_refusal(payment: Payment) -> str:
    """Why ``payment`` cannot be reversed ("" when it can): a reversed payment, or one
    with refunds (made or pending at the processor), whose money has left already."""
    if payment.status == Payment.Status.REVERSED:
        return f"Payment {payment.pk} is already reversed."
    if payment.refunded_amount > 0 or payment.refunds.filter(status="pending").exists():
        return f"Payment {payment.pk} has refunds ({payment.refunded_amount:,.2f}); it cannot be reversed as well."
    return ""


@transaction.atomic
def payment_reverse(
    *, payment: Payment, batch: Batch, date: Date | None = None, reason: str = "", user=None
) -> Payment:
    """Reverse a posted payment: reopen what it paid and reverse its postings."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status == Payment.Status.REVERSED:
        raise AlreadyReversed(f"Payment {payment.pk} is already reversed.")
    batch = lock_batch_for_writing(batch)
    date = date or timezone.localdate()
    if date < payment.date:
        raise FinanceError("A reversal cannot be dated before the payment.")
    net: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line_id, amt in payment.applications.values_list("line_id", "amount"):
        net[line_id] += amt
    lines = InvoiceLine.objects.filter(pk__in=list(net)).select_related("invoice")
    lock_invoices(lines.values_list("invoice_id", flat=True))
    refusal = reverse_refusal(payment)
    if refusal:
        raise FinanceError(refusal)
    for line in lines.select_for_update(of=("self",)).order_by("pk"):
        back = net[line.pk]
        if back == 0:
            continue
        if back > 0 and line.balance + back > line.amount + line.discount:
            raise FinanceError(
                f"Invoice {line.invoice.number}: the credit from payment {payment.pk} has been used; "
                "remove that use before reversing the payment."
            )
        _apply(payment, line, -back, kind=PaymentApplication.Kind.REVERSAL)
    reversible = payment.journal_entries.filter(reversal_of__isnull=True, reversals__isnull=True).exclude(
        kind__in=[JournalEntry.Kind.PAYMENT_REVERSAL, JournalEntry.Kind.REFUND]
    )
    description = f"Reversal of payment {payment.pk}: {reason}".strip(": ")
    for entry in reversible.order_by("pk"):
        journal_entry_reverse(entry=entry, batch=batch, date=date, description=description)
    summary = _summary_posting(payment)
    if summary is not None:
        _reverse_summary_share(payment, summary, batch=batch, date=date, description=description)
    payment.status = Payment.Status.REVERSED
    payment.reversed_at = timezone.now()
    payment.reversal_batch = batch
    payment.reversal_reason = reason[:200]
    payment.amount_applied = ZERO
    payment.save(update_fields=["status", "reversed_at", "reversal_batch", "reversal_reason", "amount_applied"])
    return payment


def _summary_posting(payment: Payment):
    """The AR import whose summary journal posted ``payment``, or None (the payment has
    entries of its own)."""
    if payment.source != Payment.Source.IMPORT:
        return None
    return (
        ARImport.objects.filter(batch_id=payment.batch_id, rows__payment=payment, journal_entries__isnull=False)
        .distinct()
        .first()
    )


def _reverse_summary_share(payment: Payment, ar_import, *, batch: Batch, date: Date, description: str) -> None:
    """Reverse what an AR import's summary entries posted for ``payment``: the import
    wrote the payment and its applications in one transaction, all stamped with that
    transaction's time, and posted DR cash / CR ``line_posting_account`` for each of
    them. Its later movements (unapply, moves to credit) have entries of their own."""
    apps = (
        PaymentApplication.objects.filter(
            payment=payment, kind=PaymentApplication.Kind.APPLY, created_at=payment.created_at
        )
        .select_related("line__account", "line__invoice")
        .order_by("pk")
    )
    for excluded, debits in _posting_groups(payment.entity, [(app.line, app.amount) for app in apps]):
        legs = [Leg(acct, debit=v, contact=payment.payer, currency=payment.currency) for acct, v in debits]
        legs.append(
            Leg(
                payment.cash_account,
                credit=sum((v for _, v in debits), ZERO),
                contact=payment.payer,
                currency=payment.currency,
            )
        )
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.PAYMENT_REVERSAL,
            legs=legs,
            description=f"{description} (posted in AR import {ar_import.pk})",
            payment=payment,
            exclude_from_gl_export=excluded,
        )
