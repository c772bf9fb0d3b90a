"""Writing journal entries. Every entry balances per currency before it is saved;
PostgreSQL checks it again at commit (deferred constraint trigger)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal

from finance.errors import BatchClosed, FinanceError
from finance.models import Batch, Contact, GLAccount, Invoice, InvoiceLine, JournalEntry, JournalLine
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.rows import Ref


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


def application_legs(
    plan,
    *,
    entity,
    counter_account: GLAccount,
    contact: Contact | None,
    currency: str,
    ar: GLAccount | None = None,
    taken_off: bool = False,
    counter_description: str = "",
    line_description: str = "",
) -> list[tuple[bool, list[Leg]]]:
    """The journal legs of money applied to invoice lines, or taken off them: the one
    rule for payments received, open credit used, payments unapplied and an imported
    payment's share reversed.

    ``plan`` is pairs of (line, amount), each line with its invoice. The lines' side
    goes to ``line_posting_account`` (grouped per account, positive totals only), the
    other side to ``counter_account`` (cash, unapplied cash) for the total. Applied
    money credits the lines' accounts and debits the counter account (its leg first);
    money taken off (``taken_off``) debits them and credits the counter account (its
    leg last). One entry's legs per GL-export flag: kept first, then left out. ``ar``
    is the entity's AR account when the caller has it; otherwise it is looked up when
    an accrual line needs it.
    """
    groups: dict[tuple[int, bool], Decimal] = defaultdict(lambda: ZERO)
    accounts: dict[int, GLAccount] = {}
    for line, part in plan:
        inv = line.invoice
        if ar is None and inv.type != Invoice.Type.CREDIT and inv.accounting_method == Invoice.AccountingMethod.ACCRUAL:
            ar = account_for_role(entity, GLAccount.Role.AR)
        acct, excluded = line_posting_account(line, ar)
        accounts[acct.pk] = acct
        groups[(acct.pk, excluded)] += part
    entries = []
    for excluded in (False, True):
        parts = [(accounts[a], v) for (a, ex), v in groups.items() if ex == excluded and v > 0]
        if not parts:
            continue
        total = sum((v for _, v in parts), ZERO)
        if taken_off:
            legs = [
                Leg(acct, debit=v, contact=contact, currency=currency, description=line_description)
                for acct, v in parts
            ]
            legs.append(
                Leg(counter_account, credit=total, contact=contact, currency=currency, description=counter_description)
            )
        else:
            legs = [
                Leg(counter_account, debit=total, contact=contact, currency=currency, description=counter_description)
            ]
            legs += [
                Leg(acct, credit=v, contact=contact, currency=currency, description=line_description)
                for acct, v in parts
            ]
        entries.append((excluded, legs))
    return entries


def journal_entry_rows(
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
) -> tuple[JournalEntry, list[JournalLine]]:
    """The rows of one balanced, posted entry, checked and not saved (``journal_entry_create``
    saves them; a service writing its rows in one statement writes them itself).

    Legs with a zero amount are dropped; a leg with both sides set is split in two.
    Raises FinanceError when the legs do not balance per currency, BatchClosed when the
    batch does not accept transactions. ``invoice``/``payment`` may be ids (or ``Ref``s).
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
    entry = JournalEntry(
        batch_id=batch.pk,
        date=date,
        kind=kind,
        description=_cut(description),
        reversal_of=reversal_of,
        exclude_from_gl_export=exclude_from_gl_export,
    )
    entry.invoice_id = getattr(invoice, "pk", invoice)  # an instance, an id, a Ref or None
    entry.payment_id = getattr(payment, "pk", payment)
    lines = [
        JournalLine(
            account_id=leg.account.pk,
            debit=leg.debit,
            credit=leg.credit,
            currency=leg.currency,
            contact_id=leg.contact.pk if leg.contact is not None else None,
            description=_cut(leg.description),
        )
        for leg in clean
    ]
    return entry, lines


def _cut(description):
    """A description cut to its column's 200 characters (a ``Ref`` cuts its own)."""
    return description if isinstance(description, Ref) else description[:200]


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
    """Write one balanced, posted entry (``journal_entry_rows``). Must run inside the
    caller's transaction."""
    entry, lines = journal_entry_rows(
        batch=batch,
        date=date,
        kind=kind,
        legs=legs,
        description=description,
        invoice=invoice,
        payment=payment,
        reversal_of=reversal_of,
        exclude_from_gl_export=exclude_from_gl_export,
    )
    entry.batch = batch
    if hasattr(invoice, "pk"):
        entry.invoice = invoice
    if hasattr(payment, "pk"):
        entry.payment = payment
    entry.save(force_insert=True)
    for line in lines:
        line.entry = entry
    JournalLine.objects.bulk_create(lines)
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
