"""Writing journal entries. Every entry balances per currency before it is saved;
PostgreSQL checks it again at commit (deferred constraint trigger)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal

from finance.errors import BatchClosed, FinanceError
from finance.models import Batch, Contact, GLAccount, Invoice, InvoiceLine, JournalEntry, JournalLine
from finance.money import ZERO, quantize


@dataclass(frozen=True)
class Leg:
    account: GLAccount
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    contact: Contact | None = None
    description: str = ""
    currency: str = "USD"


def line_posting_account(line: InvoiceLine, ar: GLAccount | None) -> tuple[GLAccount, bool]:
    """Where money applied to ``line`` is credited (and taken back, debited), and whether
    that posting stays out of the GL export: a credit invoice's line posts to its own
    account (unapplied cash); a cash-basis line to its own income account (left out of
    the export for membership invoices); any other line to accounts receivable (``ar``,
    the entity's AR account, needed only then). The AR import's SQL applies the same
    rule per application."""
    inv = line.invoice
    if inv.type == Invoice.Type.CREDIT:
        return line.account, False
    if inv.accounting_method == Invoice.AccountingMethod.CASH:
        return line.account, inv.type == Invoice.Type.MEMBERSHIP
    if ar is None:
        raise FinanceError(f"Invoice {inv.number} is on the accrual basis: its postings need the AR account.")
    return ar, False


def journal_entry_create(
    *,
    batch: Batch,
    date: Date,
    kind: str,
    legs: list[Leg],
    description: str = "",
    invoice=None,
    payment=None,
    reversal_of: JournalEntry | None = None,
    exclude_from_gl_export: bool = False,
) -> JournalEntry:
    """Write one balanced, posted entry. Must run inside the caller's transaction.

    Legs with a zero amount are dropped; a leg with both sides set is split in two.
    Raises FinanceError when the legs do not balance per currency, BatchClosed when the
    batch does not accept transactions.
    """
    if batch.status != Batch.Status.OPEN:
        raise BatchClosed(f"Batch {batch.number} is {batch.get_status_display()}; it takes no transactions.")
    clean: list[Leg] = []
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for leg in legs:
        debit, credit = quantize(leg.debit), quantize(leg.credit)
        if debit < 0 or credit < 0:
            raise FinanceError("Journal legs carry positive amounts on one side.")
        for d, c in ((debit, ZERO), (ZERO, credit)):
            if d or c:
                clean.append(Leg(leg.account, d, c, leg.contact, leg.description, leg.currency))
                totals[leg.currency][0] += d
                totals[leg.currency][1] += c
    if not clean:
        raise FinanceError("A journal entry needs at least one non-zero leg.")
    for currency, (dr, cr) in totals.items():
        if dr != cr:
            raise FinanceError(f"Journal entry does not balance in {currency}: debits {dr}, credits {cr}.")
    entry = JournalEntry.objects.create(
        batch=batch,
        date=date,
        kind=kind,
        description=description[:200],
        invoice=invoice,
        payment=payment,
        reversal_of=reversal_of,
        exclude_from_gl_export=exclude_from_gl_export,
    )
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            account=leg.account,
            debit=leg.debit,
            credit=leg.credit,
            currency=leg.currency,
            contact=leg.contact,
            description=leg.description[:200],
        )
        for leg in clean
    )
    return entry


def journal_entry_reverse(*, entry: JournalEntry, batch: Batch, date: Date, description: str = "") -> JournalEntry:
    """A new entry with every leg of ``entry`` on the other side."""
    legs = [
        Leg(
            line.account,
            debit=line.credit,
            credit=line.debit,
            contact=line.contact,
            description=line.description,
            currency=line.currency,
        )
        for line in entry.lines.select_related("account", "contact")
    ]
    if entry.payment_id is not None and entry.kind in (
        JournalEntry.Kind.PAYMENT,
        JournalEntry.Kind.CREDIT_APPLICATION,
        JournalEntry.Kind.UNAPPLY,
    ):
        kind = JournalEntry.Kind.PAYMENT_REVERSAL
    elif entry.kind == JournalEntry.Kind.INVOICE:
        kind = JournalEntry.Kind.INVOICE_REVERSAL
    else:
        kind = JournalEntry.Kind.ADJUSTMENT
    return journal_entry_create(
        batch=batch,
        date=date,
        kind=kind,
        legs=legs,
        description=description or f"Reversal of {entry.get_kind_display().lower()} entry {entry.pk}",
        invoice=entry.invoice,
        payment=entry.payment,
        reversal_of=entry,
        exclude_from_gl_export=entry.exclude_from_gl_export,
    )
