"""Creating and posting invoices.

Rules kept here:
- An invoice is written whole in one transaction: its number (gap-free sequence taken
  under a row lock), its lines, and for accrual invoices the journal entry
  DR accounts receivable / CR each line's income account (its deferred income account
  when the line's billing period begins after the invoice date).
- Cash-basis invoices post nothing when invoiced; their payments post cash / income.
- Discount lines (``LineSpec(discount=True)``: a coupon, a discount, a manual
  reduction) have a negative unit price and amount. Their total is handed to the
  invoice's charge lines (those above zero) at once, in proportion to the charges
  (``allocate``: the parts add up to the cent): each charge line's ``discount`` holds
  its part, each discount line's ``discount`` minus its amount. So a discount line's
  balance is 0 and no payment is ever applied to it; the charge lines' balances start
  at their charges (amount + discount) and carry the payments. Discounts never exceed
  the charges: the invoice total (the sum of all line amounts, discounts included) is
  never below zero, and is zero only for a fully discounted invoice. On an accrual
  invoice a discount line posts DR its account (a contra-income account) in the
  invoice entry; accounts receivable is debited by the total (by nothing when it is
  zero). On the cash basis nothing is posted at invoicing, and payments credit the
  charge lines' accounts with what was paid, net of the discounts.
- Lines' balances start at their charges; the invoice balance is their sum (its total).
- All lines belong to the invoice's financial entity; the batch must be Open.
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction

from finance.errors import FinanceError, InvalidAmount
from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    NumberSequence,
    Product,
)
from finance.money import ZERO, allocate, quantize
from finance.services.accounts import account_for_role
from finance.services.batches import lock_batch_for_writing
from finance.services.journal import Leg, journal_entry_create
from finance.signals import invoices_created

DEFAULT_TERMS_DAYS = 30


@dataclass
class LineSpec:
    product: Product | None = None
    quantity: Decimal = Decimal("1")
    unit_price: Decimal | None = None  # defaults to the product's price
    description: str = ""
    account: GLAccount | None = None  # defaults to the product's income account
    billing_begin: Date | None = None
    billing_end: Date | None = None
    discount: bool = False  # a discount line: unit price below zero (see module doc)


def reserve_invoice_numbers(n: int) -> list[str]:
    """Take ``n`` invoice numbers from the gap-free sequence, in order, under its row lock
    (held to the end of the caller's transaction: a rollback returns them), skipping
    numbers already used (an import may keep its own numbers). The one numbering rule:
    staff entry, the AR import's credit invoices and renewal runs all take theirs here."""
    if n <= 0:
        return []
    seq, _ = NumberSequence.objects.get_or_create(name="invoice", defaults={"next_value": 1000})
    inv, table = Invoice._meta.db_table, NumberSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT next_value FROM {table} WHERE id = %s FOR UPDATE", [seq.pk])
        start = cursor.fetchone()[0]
        numbers: list[str] = []
        window = n + 100
        while len(numbers) < n:
            cursor.execute(
                f"""SELECT g FROM generate_series(%s::bigint, %s::bigint) g
                     WHERE NOT EXISTS (SELECT 1 FROM {inv} i WHERE i.number = g::text) ORDER BY g LIMIT %s""",
                [start, start + window - 1, n - len(numbers)],
            )
            numbers += [str(r[0]) for r in cursor.fetchall()]
            start += window
            window *= 2
        cursor.execute(f"UPDATE {table} SET next_value = %s WHERE id = %s", [int(numbers[-1]) + 1, seq.pk])
    return numbers


def next_invoice_number() -> str:
    """Take the next invoice number (see ``reserve_invoice_numbers``)."""
    return reserve_invoice_numbers(1)[0]


def _prepare_line(i: int, spec: LineSpec, *, entity: FinancialEntity, date: Date, type: str) -> tuple:
    """Line ``i`` checked and priced: (i, spec, product, quantity, unit price, amount,
    account, the account it posts to: deferred income while its billing has not begun)."""
    product = spec.product
    if product is not None and product.entity_id != entity.pk:
        raise FinanceError(f"Line {i}: product {product.code} belongs to another financial entity.")
    unit_price = spec.unit_price if spec.unit_price is not None else (product.price if product else None)
    if unit_price is None:
        raise InvalidAmount(f"Line {i}: a unit price is required.")
    unit_price = quantize(unit_price)
    quantity = Decimal(spec.quantity)
    if quantity <= 0:
        raise InvalidAmount(f"Line {i}: quantity must be greater than zero.")
    if spec.discount and unit_price >= 0:
        raise InvalidAmount(f"Line {i}: a discount line's unit price must be below zero (got {unit_price}).")
    if unit_price < 0 and not spec.discount:
        raise InvalidAmount(f"Line {i}: unit price cannot be negative (a reduction is a discount line).")
    if spec.discount and type == Invoice.Type.CREDIT:
        raise FinanceError(f"Line {i}: a credit invoice takes no discount lines.")
    amount = quantize(quantity * unit_price)
    account = spec.account or (product.income_account if product else None)
    if account is None:
        raise FinanceError(f"Line {i}: no GL account (give a product or an account).")
    if account.entity_id != entity.pk:
        raise FinanceError(f"Line {i}: GL account {account.code} belongs to another financial entity.")
    credit_account = account
    billed_later = spec.billing_begin is not None and spec.billing_begin > date
    if product is not None and spec.account is None and product.deferred_income_account_id and billed_later:
        credit_account = product.deferred_income_account or account
    return (i, spec, product, quantity, unit_price, amount, account, credit_account)


@transaction.atomic
def invoice_create(
    *,
    bill_to: Contact,
    entity: FinancialEntity,
    batch: Batch,
    lines: list[LineSpec],
    date: Date,
    due_date: Date | None = None,
    sold_to: Contact | None = None,
    accounting_method: str = Invoice.AccountingMethod.ACCRUAL,
    type: str = Invoice.Type.REGULAR,
    source: str = Invoice.Source.STAFF,
    description: str = "",
    number: str | None = None,
    user=None,
) -> Invoice:
    """Create and post an invoice with its lines (and its journal entry if accrual)."""
    if not lines:
        raise FinanceError("An invoice needs at least one line.")
    batch = lock_batch_for_writing(batch)
    prepared = [_prepare_line(i, spec, entity=entity, date=date, type=type) for i, spec in enumerate(lines, start=1)]

    total = sum((p[5] for p in prepared), ZERO)
    charges = [p for p in prepared if p[5] > 0]
    gross = sum((p[5] for p in charges), ZERO)
    discounts = -sum((p[5] for p in prepared if p[5] < 0), ZERO)
    if type != Invoice.Type.CREDIT and gross <= 0:
        raise InvalidAmount("An invoice's total must be greater than zero.")
    if discounts > gross:
        raise InvalidAmount(f"The discount lines ({discounts}) are more than the charges ({gross}).")
    # Each line's discount (module doc): charge lines their share, discount lines minus their amount.
    line_discount = {p[0]: -p[5] for p in prepared if p[5] < 0}
    if discounts:
        shares = allocate(discounts, [p[5] for p in charges])
        line_discount.update({p[0]: -share for p, share in zip(charges, shares, strict=True)})
    invoice = Invoice.objects.create(
        number=number or next_invoice_number(),
        entity=entity,
        bill_to=bill_to,
        sold_to=sold_to or bill_to,
        date=date,
        due_date=due_date or date + timedelta(days=DEFAULT_TERMS_DAYS),
        accounting_method=accounting_method,
        type=type,
        source=source,
        currency=entity.currency,
        batch=batch,
        description=description,
        total=total,
        balance=total,
        created_by=user,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            line_number=i,
            product=product,
            description=(spec.description or (product.name if product else ""))[:200],
            quantity=quantity,
            unit_price=unit_price,
            amount=amount,
            discount=line_discount.get(i, ZERO),
            account=credit_account,
            billing_begin=spec.billing_begin,
            billing_end=spec.billing_end,
            balance=amount + line_discount.get(i, ZERO),
        )
        for i, spec, product, quantity, unit_price, amount, account, credit_account in prepared
    )
    if accounting_method == Invoice.AccountingMethod.ACCRUAL and gross > 0:
        legs = []
        if total > 0:
            ar = account_for_role(entity, GLAccount.Role.AR)
            legs.append(
                Leg(
                    ar, debit=total, contact=bill_to, description=f"Invoice {invoice.number}", currency=invoice.currency
                )
            )
        for p in prepared:
            if p[5] == 0:
                continue
            side = {"credit": p[5]} if p[5] > 0 else {"debit": -p[5]}
            legs.append(
                Leg(
                    p[7],
                    contact=bill_to,
                    description=p[1].description or (p[2].name if p[2] else ""),
                    currency=invoice.currency,
                    **side,
                )
            )
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.INVOICE,
            legs=legs,
            description=f"Invoice {invoice.number} – {bill_to.name}",
            invoice=invoice,
        )
    invoices_created.send(sender=Invoice, invoices=[invoice])
    return invoice


def credit_invoice_create(
    *, contact: Contact, entity: FinancialEntity, batch: Batch, date: Date, description: str, source: str, user=None
) -> Invoice:
    """An empty credit invoice (one zero line on unapplied cash) that will hold credit.

    The caller applies the credit amount to its line, which makes the balance negative.
    """
    unapplied = account_for_role(entity, GLAccount.Role.UNAPPLIED_CASH)
    return invoice_create(
        bill_to=contact,
        entity=entity,
        batch=batch,
        date=date,
        due_date=date,
        type=Invoice.Type.CREDIT,
        source=source,
        description=description,
        lines=[LineSpec(description=description or "Open credit", unit_price=ZERO, account=unapplied)],
        user=user,
    )
