"""A page of OpenWater invoices recorded as one set-based step.

Rules kept here:
- The invoices of a page that a run records are written together, in the caller's
  transaction (the page's, with its cursor): what the page needs is looked up once (the
  integration's row lock, the page's sync records under their row locks, the program
  mappings and their products, the payers' contacts by ``contacts.contacts_matching``,
  the open batch), the rows are built in Python by the ledger's own rules
  (``finance.services.invoices.invoice_rows``, ``finance.services.payments.
  applied_payment_rows`` and their checks) and written with one multi-row statement per
  table, their ids taken from the tables' sequences first. The outcome of each invoice
  is the one ``recording.invoice_record`` gives it: the same skip rules and messages,
  the same payer, lines, payment and sync record.
- What this step does not take on is left to the per-invoice recording
  (``recording.invoice_record``, under its savepoint), which records it or its error as
  before: an invoice OpenWater's data does not allow to record as it is, one pushed
  already (a refund or a new transaction to look at), one with refunds, one staff took
  in hand, one whose program Pay Central does not know yet, one whose user is not at
  hand, and one the ledger's checks refuse. Nothing of those is written here.
- When the ledger's checks refuse an invoice, or the writing fails, nothing of the step
  stays (a savepoint): the step is tried again without the refused invoices, and after
  a failed write the whole page goes to the per-invoice recording.
"""

import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from finance.errors import FinanceError, LedgerMisconfigured
from finance.models import (
    Contact,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    Product,
)
from finance.services.accounts import account_for_role
from finance.services.batches import lock_batch_for_writing
from finance.services.contacts import reserve_party_ids
from finance.services.invoices import invoice_rows, reserve_invoice_numbers
from finance.services.payments import (
    applied_payment_rows,
    check_named_plan,
    payment_accounts,
    receivable_amount,
)
from finance.signals import invoices_created
from integrations.openwater.client import UserCache
from integrations.openwater.errors import InvoiceDataError
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping
from integrations.openwater.services.contacts import contacts_matching, new_contact
from integrations.openwater.services.mapping import ParsedInvoice, Payer, parse_invoice, payer_of
from integrations.openwater.services.recording import (
    _is_staff_handled,
    invoice_date,
    invoice_description,
    line_specs,
    lock_integration,
    mark_pushed,
    mark_skipped,
    note_seen,
    outcome_for,
    paying_plan,
    payment_reference,
)
from integrations.openwater.services.setup import discount_product_for, open_batch_for

logger = logging.getLogger(__name__)


@dataclass
class _Planned:
    data: dict
    parsed: ParsedInvoice
    payer: Payer
    sync: InvoiceSync | None  # None: no record yet
    product: Product | None = None  # None: skipped (``skip``)
    skip: str = ""


class _Refused(Exception):
    """The ledger's checks refused these invoices (by OpenWater id): nothing was written."""

    def __init__(self, ow_ids: set[int]):
        super().__init__(f"{len(ow_ids)} invoices refused")
        self.ow_ids = ow_ids


def page_record(
    *, integration: Integration, invoices: list[tuple[int, dict]], users: UserCache | None
) -> dict[int, InvoiceSync]:
    """Record the OpenWater invoices of a page (``invoices``: their ids as listed and
    their details, in page order; ``users``: the run's OpenWater users, those fetched
    already are used) as one step (module doc), in the caller's transaction. Returns
    the sync record of each invoice recorded (pushed or skipped) by OpenWater id; the
    others are the caller's to record one by one."""
    if not invoices:
        return {}
    refused: set[int] = set()
    while True:
        try:
            with transaction.atomic():
                locked = lock_integration(integration)
                planned = [p for p in _plan(locked, invoices, users) if p.parsed.id not in refused]
                return _write(locked, planned) if planned else {}
        except _Refused as exc:  # written again without them; they are recorded one by one
            refused |= exc.ow_ids
        except Exception:  # nothing of the step stays: the page is recorded invoice by invoice
            logger.exception("OpenWater page of %s: recorded invoice by invoice", integration.name)
            return {}


def _plan(integration: Integration, invoices: list[tuple[int, dict]], users: UserCache | None) -> list[_Planned]:
    """The invoices this step records, with their outcome (module doc): three queries."""
    parsed: list[tuple[dict, ParsedInvoice, Payer, bool]] = []
    for ow_id, data in invoices:
        try:
            p = parse_invoice(data)
            if p.refunds or p.id != ow_id:
                continue
            # The user fetched ahead with the page, as the per-invoice recording is given it.
            user = users.peek(p.user_id) if p.needs_user and users is not None else None
            parsed.append((data, p, payer_of(p, user), user is not None))
        except InvoiceDataError:
            continue
    if not parsed:
        return []
    syncs = {
        s.ow_invoice_id: s
        for s in InvoiceSync.objects.select_for_update()
        .filter(integration=integration, ow_invoice_id__in=[p.id for _, p, _, _ in parsed])
        .order_by("ow_invoice_id")
    }
    programs = {
        m.program_id: m
        for m in ProgramMapping.objects.filter(
            integration=integration, program_id__in={p.program_id for _, p, _, _ in parsed if p.program_id is not None}
        )
    }
    product_ids = {m.product_id for m in programs.values() if m.product_id}
    product_ids |= {integration.default_product_id, integration.discount_product_id} - {None}
    products = Product.objects.select_related("entity", "income_account", "deferred_income_account").in_bulk(
        product_ids
    )
    for m in programs.values():  # the products read once, with their entity and accounts
        if m.product_id:
            m.product = products[m.product_id]
    if integration.default_product_id:
        integration.default_product = products[integration.default_product_id]
    planned = []
    for data, p, payer, user_at_hand in parsed:
        sync = syncs.get(p.id)
        if sync is not None and (_is_staff_handled(sync) or sync.status == InvoiceSync.Status.PUSHED):
            continue
        if p.program_id is not None and p.program_id not in programs:
            continue  # a program not known yet: the per-invoice recording adds it
        product, skip = outcome_for(integration, p, programs.get(p.program_id))
        if skip:
            planned.append(_Planned(data, p, payer, sync, skip=skip))
            continue
        if p.needs_user and not user_at_hand:
            continue  # its user is not at hand: fetched when it is recorded by itself
        planned.append(_Planned(data, p, payer, sync, product=product))
    return planned


def _sequence_values(counts: dict[str, int]) -> dict[str, list[int]]:
    """``n`` ids of each table's own sequence, in one statement."""
    tables = [t for t, n in counts.items() if n]
    if not tables:
        return {t: [] for t in counts}
    parts = ", ".join(
        "ARRAY(SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s))" for _ in tables
    )
    params = [x for t in tables for x in (t, counts[t])]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {parts}", params)
        row = cursor.fetchone()
    values = dict(zip(tables, row, strict=True))
    return {t: list(values.get(t, [])) for t in counts}


def _write(integration: Integration, planned: list[_Planned]) -> dict[int, InvoiceSync]:
    """Write the planned invoices (module doc); raises ``_Refused`` with nothing kept
    when the ledger's checks refuse some."""
    pushes = [p for p in planned if p.product is not None]
    contacts, new = _payers(pushes)
    batch = open_batch_for(integration) if pushes else None
    if new:
        for contact, party_id in zip(new, reserve_party_ids(len(new)), strict=True):
            contact.party_id = party_id
        # A payer naming one of these new party ids would have matched it: recorded by itself.
        named = {c.party_id for c in new}
        clash = {p.parsed.id for p in pushes if {p.payer.unique_id, p.payer.corporate_id} & named}
        if clash:
            raise _Refused(clash)
    rows = _Rows(integration)
    if pushes:
        rows.prepare(pushes, new, lock_batch_for_writing(batch))
    refused: set[int] = set()
    done: dict[int, tuple] = {}
    for p, (contact, made) in zip(pushes, contacts, strict=True):
        try:
            done[p.parsed.id] = (*rows.add(p, contact), contact, made)
        except (FinanceError, InvoiceDataError):
            refused.add(p.parsed.id)
    if refused:
        raise _Refused(refused)
    if new:
        Contact.objects.bulk_create(new)
    rows.insert()
    return _write_syncs(integration, planned, done)


def _payers(pushes: list[_Planned]) -> tuple[list[tuple], list[Contact]]:
    """Each invoice's payer (``contacts_matching``) and whether it is new, and the new
    contacts (not saved): one per email (case-insensitive) in the page, flagged on the
    first invoice that names it; one each when there is no email."""
    contacts, new = [], []
    by_email: dict[str, Contact] = {}
    for p, (found, email_key) in zip(pushes, contacts_matching([p.payer for p in pushes]), strict=True):
        if found is not None:
            contacts.append((found, False))
        elif email_key and email_key in by_email:
            contacts.append((by_email[email_key], False))
        else:
            contact = new_contact(p.payer)
            new.append(contact)
            if email_key:
                by_email[email_key] = contact
            contacts.append((contact, True))
    return contacts, new


class _Rows:
    """The rows of a page's invoices and payments, built by the ledger's rules with ids
    taken in advance, then written one statement per table."""

    def __init__(self, integration: Integration):
        self.integration = integration
        self.method = integration.payment_method
        self.accounts: dict[int, tuple] = {}  # entity id: (AR account id, cash account)
        self.invoices, self.lines, self.entries, self.entry_lines = [], [], [], []
        self.payments, self.applications = [], []

    def prepare(self, pushes: list[_Planned], new: list[Contact], batch) -> None:
        self.batch = batch
        self.discount = None
        if any(p.parsed.discounts for p in pushes):
            discount = discount_product_for(self.integration)
            self.discount = Product.objects.select_related("entity", "income_account", "deferred_income_account").get(
                pk=discount.pk
            )
        self.paying = sum(1 for p in pushes if p.parsed.total_paid > 0)
        ids = _sequence_values(
            {
                Invoice._meta.db_table: len(pushes),
                InvoiceLine._meta.db_table: sum(len(p.parsed.lines) for p in pushes),
                JournalEntry._meta.db_table: len(pushes) + 2 * self.paying,
                Payment._meta.db_table: self.paying,
                Contact._meta.db_table: len(new),
            }
        )
        for contact, pk in zip(new, ids[Contact._meta.db_table], strict=True):
            contact.pk = pk
        self.invoice_ids, self.line_ids = iter(ids[Invoice._meta.db_table]), iter(ids[InvoiceLine._meta.db_table])
        self.entry_ids, self.payment_ids = iter(ids[JournalEntry._meta.db_table]), iter(ids[Payment._meta.db_table])
        self.numbers = iter(reserve_invoice_numbers(len(pushes)))

    def _accounts(self, entity) -> tuple:
        if entity.pk not in self.accounts:
            cash = payment_accounts(self.method, None, entity)[1] if self.paying else None
            self.accounts[entity.pk] = (_ar_id(entity), cash)
        return self.accounts[entity.pk]

    def add(self, p: _Planned, contact: Contact) -> tuple:
        """Build one invoice's rows and its payment's (``invoice_rows``,
        ``applied_payment_rows``); returns (invoice, payment or None). Raises FinanceError
        when the ledger's checks refuse it (its rows are then not kept)."""
        entity = p.product.entity
        ar_id, cash_account = self._accounts(entity)
        day = invoice_date(p.parsed)
        invoice_id, entry_id = next(self.invoice_ids), next(self.entry_ids)
        rows = invoice_rows(
            bill_to=contact,
            entity=entity,
            batch=self.batch,
            lines=line_specs(p.parsed, p.product, self.discount),
            date=day,
            due_date=day,
            sold_to=None,
            accounting_method=Invoice.AccountingMethod.ACCRUAL,
            type=Invoice.Type.REGULAR,
            source=Invoice.Source.OPENWATER,
            description=invoice_description(p.parsed),
            number=lambda: next(self.numbers),
            user=None,
            ar_id=ar_id,
            invoice_ref=invoice_id,
            entry_ref=entry_id,
        )
        rows.saved(invoice_id, [next(self.line_ids) for _ in rows.lines])
        invoice, payment, entries = rows.invoice, None, []
        if rows.entry is not None:
            rows.entry.pk = entry_id
            entries.append((rows.entry, rows.entry_lines))
        applications = []
        if p.parsed.total_paid > 0:
            amount = receivable_amount(p.parsed.total_paid, self.method)
            plan = paying_plan(rows.lines)
            check_named_plan(plan, entity, amount, allow_line_overpayment=False)
            if sum(part for _, part in plan) != amount:
                raise FinanceError(f"OpenWater invoice {p.parsed.id}: its payment does not pay its lines exactly.")
            payment_id = next(self.payment_ids)
            paid = applied_payment_rows(
                plan,
                ar_id=ar_id,
                payer=contact,
                method=self.method,
                entity=entity,
                cash_account=cash_account,
                amount=amount,
                date=day,
                batch=self.batch,
                reference=payment_reference(p.parsed),
                source=Payment.Source.OPENWATER,
                processor_charge_id="",
                user=None,
                payment_ref=payment_id,
                entry_refs=self.entry_ids,
            )
            payment = paid.payment
            payment.pk = payment_id
            # The applications move the balances: the rows are written as they leave them.
            for line in rows.lines:
                line.balance -= paid.per_line.get(line.pk, 0)
            invoice.balance -= paid.per_invoice.get(invoice.pk, 0)
            applications = paid.applications
            for entry, its_lines in paid.entries:
                entry.pk = its_lines[0].entry_id
                entries.append((entry, its_lines))
        self.invoices.append(invoice)
        self.lines += rows.lines
        if payment is not None:
            self.payments.append(payment)
        self.applications += applications
        for entry, its_lines in entries:
            self.entries.append(entry)
            self.entry_lines += its_lines
        return invoice, payment

    def insert(self) -> None:
        """One multi-row INSERT per table; the invoices announced (``invoices_created``)."""
        for model, rows in (
            (Invoice, self.invoices),
            (InvoiceLine, self.lines),
            (Payment, self.payments),
            (PaymentApplication, self.applications),
            (JournalEntry, self.entries),
            (JournalLine, self.entry_lines),
        ):
            if rows:
                model.objects.bulk_create(rows)
        if self.invoices:
            invoices_created.send(sender=Invoice, invoices=self.invoices)


SYNC_FIELDS = [
    "attempts",
    "program_id",
    "program_code",
    "ow_created_at",
    "ow_most_recent_transaction_at",
    "email",
    "status",
    "skip_reason",
    "skip_code",
    "last_error",
    "last_error_detail",
    "contact",
    "contact_created",
    "invoice",
    "payment",
    "total_paid",
    "pushed_at",
    "updated_at",
]


def _write_syncs(integration: Integration, planned: list[_Planned], done: dict[int, tuple]) -> dict[int, InvoiceSync]:
    """The sync records of the step: new ones in one statement, the others (tried before)
    in one more."""
    now = timezone.now()
    new, seen, result = [], [], {}
    for p in planned:
        sync = p.sync
        if sync is None:
            sync = InvoiceSync(integration=integration, ow_invoice_id=p.parsed.id, status=InvoiceSync.Status.ERROR)
            new.append(sync)
        else:
            seen.append(sync)
        note_seen(sync, p.parsed, p.payer)
        if p.skip:
            mark_skipped(integration, sync, p.parsed, p.skip)
        else:
            invoice, payment, contact, made = done[p.parsed.id]
            mark_pushed(sync, p.parsed, contact=contact, created=made, invoice=invoice, payment=payment)
        sync.updated_at = now
        result[p.parsed.id] = sync
    InvoiceSync.objects.bulk_create(new)
    if seen:
        InvoiceSync.objects.bulk_update(seen, SYNC_FIELDS)
    return result


def _ar_id(entity) -> int | None:
    """The entity's AR account id (``account_for_role``), None when it has none (an
    invoice that needs it is then refused by ``invoice_rows``)."""
    try:
        return account_for_role(entity, GLAccount.Role.AR).pk
    except LedgerMisconfigured:
        return None
