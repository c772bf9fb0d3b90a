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
from functools import cache

from django.db import connection, transaction
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
from finance.services.accounts import cash_account_for
from finance.services.batches import check_batch_open, lock_batch_for_writing
from finance.services.invoices import credit_invoice_create
from finance.services.journal import (
    application_legs,
    journal_entry_create,
    journal_entry_reverse,
    journal_entry_rows,
)
from finance.services.rows import Ref, Statement, prepared_cursor


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
    """Record a payment, apply it, put the rest on an open credit, post the journal.

    With named applications paying in full (no rest), the batch, invoices and lines are
    locked in one statement and the payment, its applications, the balance updates and
    its journal entry are written in one more (``finance.services.rows``)."""
    amount = receivable_amount(amount, method)
    entity, cash_account = payment_accounts(method, cash_account, entity)
    if applications:
        batch, plan, ar_id = _lock_named(batch, applications, entity)
        check_named_plan(plan, entity, amount, allow_line_overpayment=allow_line_overpayment)
        if sum((p for _, p in plan), ZERO) == amount:
            return _write_applied_payment(
                plan,
                ar_id=ar_id,
                payer=payer,
                method=method,
                entity=entity,
                cash_account=cash_account,
                amount=amount,
                date=date,
                reference=reference,
                batch=batch,
                source=source,
                processor_charge_id=processor_charge_id,
                user=user,
            )
    else:
        batch = lock_batch_for_writing(batch)
        plan = []
    payment = new_payment(
        payer=payer,
        method=method,
        entity=entity,
        cash_account=cash_account,
        amount=amount,
        date=date,
        reference=reference,
        batch=batch,
        source=source,
        processor_charge_id=processor_charge_id,
        user=user,
    )
    payment.save(force_insert=True)
    if not applications and auto_apply:
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
    for excluded, legs in _payment_legs(plan, entity, cash_account, payer, method, reference, payment.currency):
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


def _payment_legs(plan, entity, cash_account, payer, method, reference, currency, ar=None):
    """A payment's postings (``application_legs``): DR the cash account, CR where each line posts."""
    return application_legs(
        plan,
        entity=entity,
        counter_account=cash_account,
        contact=payer,
        currency=currency,
        ar=ar,
        counter_description=f"{method.code} {reference}".strip(),
    )


def _lock_named(batch: Batch, applications: list[ApplicationSpec], entity: FinancialEntity):
    """In one statement: the batch share-locked for writing, then the named lines'
    invoices and the lines, locked in invoice then line id order (an invoice before its
    lines, as everywhere), and the entity's AR account id (``account_for_role``'s rule).
    Returns the batch (refused unless Open), the plan (each line with its invoice, and
    the amount asked), the AR account id (None when the entity has none)."""
    line_ids = [spec.line.pk for spec in applications]
    if len(set(line_ids)) != len(line_ids):
        raise FinanceError("A line appears twice in the applications; give it once.")
    columns, select = _lock_columns()
    with prepared_cursor() as cursor:
        cursor.execute(
            f"""SELECT {select},
                       (SELECT a.id FROM finance_glaccount a WHERE a.entity_id = %s AND a.role = 'ar' AND a.is_active
                         ORDER BY a.code LIMIT 1)
                  FROM finance_batch b, finance_invoiceline l JOIN finance_invoice i ON i.id = l.invoice_id
                 WHERE b.id = %s AND l.id IN ({", ".join(["%s"] * len(line_ids))})
                 ORDER BY i.id, l.id
                   FOR SHARE OF b FOR UPDATE OF i, l""",
            [entity.pk, batch.pk, *line_ids],
        )
        rows = cursor.fetchall()
    if not rows:
        lock_batch_for_writing(batch)  # no such batch, or not Open: its own error
        raise InvoiceLine.DoesNotExist(f"Invoice lines {line_ids} do not exist.")
    cuts = [0, len(columns[0]), len(columns[0]) + len(columns[1]), sum(map(len, columns))]
    locked = Batch.from_db(connection.alias, _attnames(Batch), rows[0][: cuts[1]])
    check_batch_open(locked)
    invoices: dict[int, Invoice] = {}
    lines: dict[int, InvoiceLine] = {}
    for row in rows:
        inv_row = row[cuts[1] : cuts[2]]
        inv = invoices.get(inv_row[0])
        if inv is None:
            inv = invoices[inv_row[0]] = Invoice.from_db(connection.alias, _attnames(Invoice), inv_row)
        line = InvoiceLine.from_db(connection.alias, _attnames(InvoiceLine), row[cuts[2] : cuts[3]])
        line.invoice = inv
        lines[line.pk] = line
    missing = set(line_ids) - set(lines)
    if missing:
        raise InvoiceLine.DoesNotExist(f"Invoice lines {sorted(missing)} do not exist.")
    return locked, [(lines[spec.line.pk], spec.amount) for spec in applications], rows[0][-1]


@cache
def _lock_columns() -> tuple[list[list[str]], str]:
    """The columns of the batch, the invoice and the line, and their select list in
    ``_lock_named`` (made once)."""
    columns = [[f.column for f in m._meta.concrete_fields] for m in (Batch, Invoice, InvoiceLine)]
    return columns, ", ".join(f"{alias}.{c}" for alias, cols in zip("bil", columns, strict=True) for c in cols)


@cache
def _attnames(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def check_named_plan(plan, entity: FinancialEntity, amount: Decimal, *, allow_line_overpayment: bool) -> None:
    """The named applications' rules (module doc), on the locked lines; the amounts in
    ``plan`` are quantized in place."""
    for n, (line, asked) in enumerate(plan):
        inv = line.invoice
        label = f"Invoice {inv.number} line {line.line_number}"
        part = quantize(asked)
        if part <= 0:
            raise InvalidAmount(f"{label}: the amount applied must be greater than zero (got {part}).")
        if inv.entity_id != entity.pk:
            raise FinanceError(f"{label}: belongs to entity {inv.entity.code}, the payment to {entity.code}.")
        if line.balance <= 0:
            raise OverApplication(f"{label}: has no open balance (balance {line.balance}).")
        if part > line.balance and not allow_line_overpayment:
            raise OverApplication(f"{label}: {part} is more than its open balance {line.balance}.")
        plan[n] = (line, part)
    applied = sum((p for _, p in plan), ZERO)
    if applied > amount:
        raise OverApplication(f"The applications ({applied}) exceed the payment ({amount}).")


@dataclass
class PaymentRows:
    """A payment's rows, checked and not yet written: the payment (its applied amount
    is its amount), its applications, what they take off each line and invoice, and
    its journal entries with their lines."""

    payment: Payment
    applications: list[PaymentApplication]
    per_line: dict[int, Decimal]
    per_invoice: dict[int, Decimal]
    entries: list[tuple[JournalEntry, list]]


def new_payment(
    *, payer, method, entity, cash_account, amount, date, reference, batch, source, processor_charge_id, user
) -> Payment:
    """A payment not yet saved, as both ways of writing one store it: in the entity's
    currency, its reference and processor charge id cut to their columns."""
    return Payment(
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


def applied_payment_rows(
    plan,
    *,
    ar_id,
    payer,
    method,
    entity,
    cash_account,
    amount,
    date,
    batch,
    reference,
    source,
    processor_charge_id,
    user,
    payment_ref,
    entry_refs,
) -> PaymentRows:
    """The rows of a payment whose checked applications (``plan``: lines with their
    invoices, amounts) use all of it (module doc). ``payment_ref``: the payment's id
    given in advance, or a ``Ref`` to it in the statement that writes the rows;
    ``entry_refs``: the same for each entry (one per GL-export flag)."""
    payment = new_payment(
        payer=payer,
        method=method,
        entity=entity,
        cash_account=cash_account,
        amount=amount,
        date=date,
        reference=reference,
        batch=batch,
        source=source,
        processor_charge_id=processor_charge_id,
        user=user,
    )
    payment.amount_applied = amount
    apps = [
        PaymentApplication(
            payment_id=payment_ref,
            line=line,
            invoice_id=line.invoice_id,
            amount=part,
            kind=PaymentApplication.Kind.APPLY,
        )
        for line, part in plan
    ]
    per_line: dict[int, Decimal] = defaultdict(lambda: ZERO)
    per_invoice: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line, part in plan:
        per_line[line.pk] += part
        per_invoice[line.invoice_id] += part
    ar = GLAccount(pk=ar_id, entity_id=entity.pk, role=GLAccount.Role.AR) if ar_id is not None else None
    entries = []
    for (excluded, legs), entry_ref in zip(  # noqa: B905 (one ref per entry, more refs than entries)
        _payment_legs(plan, entity, cash_account, payer, method, reference, payment.currency, ar), entry_refs
    ):
        entry, entry_lines = journal_entry_rows(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.PAYMENT,
            legs=legs,
            description=f"Payment {payment_ref} from {payer.name}",
            payment=payment_ref,
            exclude_from_gl_export=excluded,
        )
        if isinstance(payment_ref, Ref):  # the description names the id the statement gives
            named = "(SELECT left('Payment ' || id || ' from ' || %s, 200) FROM pay)"
            entry.description = Ref(named, (payer.name,))  # type: ignore[assignment]
        for jl in entry_lines:
            jl.entry_id = entry_ref
        entries.append((entry, entry_lines))
    return PaymentRows(payment, apps, per_line, per_invoice, entries)


def _write_applied_payment(plan, **fields) -> Payment:
    """Write ``applied_payment_rows`` in one statement: the payment, its applications,
    the lines' and the invoices' balances moved by them (under the locks taken) and its
    journal entry."""
    rows = applied_payment_rows(
        plan,
        payment_ref=Ref("(SELECT id FROM pay)"),
        entry_refs=[Ref("(SELECT id FROM je0)"), Ref("(SELECT id FROM je1)")],
        **fields,
    )
    statement = Statement().insert("pay", [rows.payment]).insert("app", rows.applications, returning=())
    # The moves as a VALUES list (not arrays): the statement is prepared, and a plan made
    # for any parameters knows how many rows a VALUES list has (not an array's).
    for name, table, moves in (
        ("moved_lines", "finance_invoiceline", rows.per_line),
        ("moved_invoices", "finance_invoice", rows.per_invoice),
    ):
        statement.add(
            name,
            f"UPDATE {table} t SET balance = t.balance - m.amount"
            f" FROM (VALUES {', '.join(['(%s::bigint, %s::numeric)'] * len(moves))}) AS m(id, amount)"
            " WHERE t.id = m.id",
            [v for pair in moves.items() for v in pair],
        )
    for n, (entry, entry_lines) in enumerate(rows.entries):
        statement.insert(f"je{n}", [entry]).insert(f"jl{n}", entry_lines, returning=())
    payment = rows.payment
    ((payment.pk,),) = statement.run("SELECT id FROM pay")
    payment._state.adding, payment._state.db = False, connection.alias
    for line, part in plan:
        line.balance -= part
    return payment


def receivable_amount(amount, method) -> Decimal:
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


def payment_accounts(method, cash_account: GLAccount | None, entity: FinancialEntity | None):
    """(entity, cash account) of a payment: the cash account's entity when one is given,
    else the given entity or the method's account's, and the method's cash account there."""
    if cash_account is not None:
        return cash_account.entity, cash_account
    if entity is None:
        if method.cash_account_id is None:
            raise FinanceError(f"Payment method {method.code} has no cash account.")
        entity = method.cash_account.entity
    return entity, cash_account_for(method, entity)


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
    payment.reversal_date = date
    payment.reversal_batch = batch
    payment.reversal_reason = reason[:200]
    payment.amount_applied = ZERO
    payment.save(
        update_fields=["status", "reversed_at", "reversal_date", "reversal_batch", "reversal_reason", "amount_applied"]
    )
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
    plan = [(app.line, app.amount) for app in apps]
    for excluded, legs in application_legs(
        plan,
        entity=payment.entity,
        counter_account=payment.cash_account,
        contact=payment.payer,
        currency=payment.currency,
        taken_off=True,
    ):
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.PAYMENT_REVERSAL,
            legs=legs,
            description=f"{description} (posted in AR import {ar_import.pk})",
            payment=payment,
            exclude_from_gl_export=excluded,
        )
