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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal
from functools import cache

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
from finance.services.batches import check_batch_open, lock_batch_for_writing
from finance.services.journal import Leg, journal_entry_rows
from finance.services.rows import Ref, Statement, prepared_cursor
from finance.signals import invoices_created, invoices_writing

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


def reserve_invoice_numbers(n: int, *, locked_next: int | None = None) -> list[str]:
    """Take ``n`` invoice numbers from the gap-free sequence, in order, under its row lock
    (held to the end of the caller's transaction: a rollback returns them), skipping
    numbers already used (an import may keep its own numbers). The one numbering rule
    (``add_free_numbers``): staff entry, the AR import's credit invoices and renewal
    runs all take theirs here or in the statement that writes the invoice.
    ``locked_next``: the caller has locked the sequence row already and read this value."""
    if n <= 0:
        return []
    if locked_next is None:
        NumberSequence.objects.get_or_create(name="invoice", defaults={"next_value": 1000})
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT next_value FROM {NumberSequence._meta.db_table} WHERE name = 'invoice' FOR UPDATE")
            locked_next = cursor.fetchone()[0]
    statement = add_free_numbers(Statement(), n, locked_next)
    return [str(g) for (g,) in statement.run("SELECT g FROM free_numbers ORDER BY g")]


def add_free_numbers(statement: Statement, n: int, locked_next: int) -> Statement:
    """The numbering rule as parts of one statement (``finance.services.rows``):
    ``free_numbers`` (column ``g``) holds the first ``n`` numbers from
    ``locked_next`` (the sequence's value, read under its row lock) on that no invoice
    uses, and the sequence is moved past the last of them. To be run in a statement of
    its own after the lock's, so that it sees every invoice committed before the lock was
    granted.

    The candidates are tried one after the other, each by one lookup in the number
    index (a scalar subquery, which the planner keeps as such), until ``n`` are free:
    usually the first ``n`` are."""
    taken = f"(SELECT i.id FROM {Invoice._meta.db_table} i WHERE i.number = (c.g + 1)::text LIMIT 1)"
    statement.add(
        "number_candidates(g, free, found)",
        f"""SELECT %s::bigint - 1, false, 0
             UNION ALL
            SELECT s.g, s.free, s.found + s.free::int
              FROM (SELECT c.g + 1 AS g, {taken} IS NULL AS free, c.found
                      FROM number_candidates c WHERE c.found < %s) s""",
        [locked_next, n],
        recursive=True,
    )
    statement.add("free_numbers", "SELECT g FROM number_candidates WHERE free")
    statement.add(
        "numbers_moved",
        f"UPDATE {NumberSequence._meta.db_table} SET next_value = (SELECT max(g) FROM free_numbers) + 1"
        " WHERE name = 'invoice'",
    )
    return statement


def next_invoice_number() -> str:
    """Take the next invoice number (see ``reserve_invoice_numbers``)."""
    return reserve_invoice_numbers(1)[0]


def _lock_for_invoice(
    batch: Batch, entity: FinancialEntity, *, number_needed: bool
) -> tuple[Batch, int | None, int | None]:
    """In one statement: the batch share-locked for writing (``lock_batch_for_writing``),
    the invoice number sequence locked when a number is to be taken (its next value),
    and the id of the entity's AR account (``account_for_role``'s rule, read in the
    same statement; None when it has none). The batch is locked before the sequence,
    as when they were two statements."""
    ar = (
        "(SELECT a.id FROM finance_glaccount a WHERE a.entity_id = %s AND a.role = 'ar' AND a.is_active"
        " ORDER BY a.code LIMIT 1)"
    )
    names, columns = _batch_columns()
    with prepared_cursor() as cursor:
        if number_needed:
            cursor.execute(
                f"""SELECT {columns}, s.next_value, {ar}
                      FROM finance_batch b, {NumberSequence._meta.db_table} s
                     WHERE b.id = %s AND s.name = 'invoice' FOR SHARE OF b FOR UPDATE OF s""",
                [entity.pk, batch.pk],
            )
        else:
            cursor.execute(
                f"SELECT {columns}, NULL, {ar} FROM finance_batch b WHERE b.id = %s FOR SHARE OF b",
                [entity.pk, batch.pk],
            )
        row = cursor.fetchone()
    if row is None:
        if not number_needed:
            raise Batch.DoesNotExist(f"Batch {batch.pk} does not exist.")
        # No sequence yet (or no batch): the plain way.
        NumberSequence.objects.get_or_create(name="invoice", defaults={"next_value": 1000})
        locked = lock_batch_for_writing(batch)
        return locked, None, _ar_id(entity)
    locked = Batch.from_db(connection.alias, names, row[: len(names)])
    check_batch_open(locked)
    return locked, row[-2], row[-1]


@cache
def _batch_columns() -> tuple[list[str], str]:
    """The batch's attribute names and its columns (``b.<column>, …``), made once."""
    return [f.attname for f in Batch._meta.concrete_fields], ", ".join(
        f"b.{f.column}" for f in Batch._meta.concrete_fields
    )


def _ar_id(entity: FinancialEntity) -> int | None:
    return (
        GLAccount.objects.filter(entity=entity, role=GLAccount.Role.AR, is_active=True)
        .order_by("code")
        .values_list("id", flat=True)
        .first()
    )


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
    """Create and post an invoice with its lines (and its journal entry if accrual).

    Locks the batch for writing and the number sequence (one statement), then takes the
    number (``add_free_numbers``) and writes the invoice, its lines and its journal
    entry in one more (``finance.services.rows``); the ``invoices_created`` receivers
    follow in the same transaction. The returned invoice holds its lines
    (``invoice.lines.all()`` reads no rows until the invoice is refreshed)."""
    if not lines:
        raise FinanceError("An invoice needs at least one line.")
    batch, locked_next, ar_id = _lock_for_invoice(batch, entity, number_needed=not number)
    statement = Statement()
    numbering: str | Ref | Callable[[], str] = number or (lambda: reserve_invoice_numbers(1)[0])
    if not number and locked_next is not None:  # taken in the statement that writes the invoice
        add_free_numbers(statement, 1, locked_next)
        numbering = Ref("(SELECT g::text FROM free_numbers)")
    invoice_ref = Ref("(SELECT id FROM inv)")
    rows = invoice_rows(
        bill_to=bill_to,
        entity=entity,
        batch=batch,
        lines=lines,
        date=date,
        due_date=due_date,
        sold_to=sold_to,
        accounting_method=accounting_method,
        type=type,
        source=source,
        description=description,
        number=numbering,
        user=user,
        ar_id=ar_id,
        invoice_ref=invoice_ref,
        entry_ref=Ref("(SELECT id FROM je)"),
    )
    statement.insert("inv", [rows.invoice], returning=("id", "number"))
    statement.insert("ln", rows.lines, returning=("id", "line_number"))
    if rows.entry is not None:
        statement.insert("je", [rows.entry]).insert("jl", rows.entry_lines, returning=())
    invoices_writing.send(sender=Invoice, statement=statement, invoices=[(rows.invoice, invoice_ref)])
    invoice_id, taken, line_ids = statement.run_reading(
        ["(SELECT id FROM inv)", "(SELECT number FROM inv)", "(SELECT array_agg(id ORDER BY line_number) FROM ln)"]
    )
    rows.invoice.number = taken
    rows.saved(invoice_id, line_ids)
    invoices_created.send(sender=Invoice, invoices=[rows.invoice], written=statement.done)
    return rows.invoice


@dataclass
class InvoiceRows:
    """An invoice's rows, checked and not yet written: the invoice, its lines and (for
    an accrual invoice with charges) its journal entry and the entry's lines."""

    invoice: Invoice
    lines: list[InvoiceLine]
    entry: JournalEntry | None
    entry_lines: list

    def saved(self, invoice_id: int, line_ids: list[int]) -> None:
        """Mark the rows written with these ids; the invoice holds its lines
        (``invoice.lines.all()`` reads no rows until the invoice is refreshed)."""
        invoice = self.invoice
        invoice.pk = invoice_id
        invoice._state.adding, invoice._state.db = False, connection.alias
        for line, pk in zip(self.lines, line_ids, strict=True):
            line.pk, line.invoice = pk, invoice
            line._state.adding, line._state.db = False, connection.alias
        written = invoice.lines.get_queryset()  # as prefetch_related leaves it
        written._result_cache = self.lines
        setattr(written, "_prefetch_done", True)  # noqa: B010
        setattr(invoice, "_prefetched_objects_cache", {"lines": written})  # noqa: B010


def invoice_rows(
    *,
    bill_to: Contact,
    entity: FinancialEntity,
    batch: Batch,
    lines: list[LineSpec],
    date: Date,
    due_date: Date | None,
    sold_to: Contact | None,
    accounting_method: str,
    type: str,
    source: str,
    description: str,
    number,
    user,
    ar_id: int | None,
    invoice_ref,
    entry_ref,
) -> InvoiceRows:
    """The rows of one invoice (the rules of the module doc), checked, not written.
    ``number``: the invoice number, a function that takes one (called once the invoice
    has passed its checks), or a ``Ref`` to the number taken in the statement that
    writes the rows (the descriptions that name it are then computed there too);
    ``ar_id``: the entity's AR account id (None when it has none: refused when the
    invoice needs it); ``invoice_ref``/``entry_ref``: what
    the lines and the entry's lines name as their invoice and entry (an id given in
    advance, or a ``Ref`` to the row written in the same statement)."""
    if not lines:
        raise FinanceError("An invoice needs at least one line.")
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
    posts = accounting_method == Invoice.AccountingMethod.ACCRUAL and gross > 0
    if posts and total > 0 and ar_id is None:
        account_for_role(entity, GLAccount.Role.AR)  # raises LedgerMisconfigured with its message
    invoice = Invoice(
        number=number if isinstance(number, str | Ref) else number(),  # type: ignore[misc]  # a Ref: its SQL
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
    line_rows = [
        InvoiceLine(
            invoice_id=invoice_ref,
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
    ]
    if not posts:
        return InvoiceRows(invoice, line_rows, None, [])
    legs = []
    if total > 0:
        ar = GLAccount(pk=ar_id, entity_id=entity.pk, role=GLAccount.Role.AR)
        legs.append(
            Leg(
                ar,
                debit=total,
                contact=bill_to,
                description=_naming_number("Invoice ", invoice.number),
                currency=invoice.currency,
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
    entry, entry_lines = journal_entry_rows(
        batch=batch,
        date=date,
        kind=JournalEntry.Kind.INVOICE,
        legs=legs,
        description=_naming_number("Invoice ", invoice.number, f" – {bill_to.name}"),
        invoice=invoice_ref,
    )
    for jl in entry_lines:
        jl.entry_id = entry_ref
    return InvoiceRows(invoice, line_rows, entry, entry_lines)


def _naming_number(before: str, number, after: str = ""):
    """``before`` + the invoice number + ``after``, cut to a description's 200 characters;
    a ``Ref`` computing the same when the number is one (taken in the statement)."""
    if isinstance(number, Ref):
        return Ref(f"left(%s || {number.sql} || %s, 200)", (before, *number.params, after))
    return f"{before}{number}{after}"[:200]


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
