"""A large, realistic ledger written with COPY: ``manage.py generate_scale_data``.

For ``invoices`` N: about N/5 contacts (12 % companies, half the people members of
one), two years of daily billing and receipt batches, N accrual invoices of 1–4 lines
(≈ 2 N lines), payments for about 85 % of them (most in full, some partial, 2 %
overpaid into an open credit invoice), every application, and the balanced journal
entry of each invoice and payment. Then, in small proportions, what happens to
invoices and payments afterwards, each posted as the services post it:

- a payment bounces (a returned check, 1.5 %): ``reversal`` rows reopen the lines and
  a reversing journal entry undoes the payment's (``finance.services.payments``);
- a paid invoice is cancelled (a credit memo, 1 %): the payment's money moves to a
  new open credit of the payer (``unapply`` rows, DR AR / CR unapplied cash) and the
  charges are taken off by adjustments (DR income / CR AR), as
  ``finance.services.adjustments.invoice_reverse`` does; unpaid invoices are
  cancelled too (3 % of them: adjustments only);
- a payment is unapplied (0.5 %): its money leaves the lines for an open credit;
- prepayments (0.4 % of N) are held as open credit from the start;
- 30 % of the overpayment and prepayment credits are refunded by check (record only:
  a refund row, a ``refund`` application, DR unapplied cash / CR refund clearing).
  A refund returns all the credit the payment holds on that credit invoice (the rule of
  ``finance.services.credits``), so a refunded credit's balance is zero.

Batches older than two weeks are posted.

Everything is written with COPY in chunks; each chunk is one transaction holding
EXCLUSIVE locks on the tables it writes (readers go on, writers wait), so a chunk is
whole or absent, and ids come from the tables' own sequences. The database's
guarantees stay on while it runs: foreign keys, CHECK constraints and the journal
balance trigger check every row. The ledger it writes obeys every invariant that
``verify_ledger`` checks. Deterministic for a given seed. PostgreSQL only.
"""

import datetime
import io
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    NumberSequence,
    Payment,
    PaymentApplication,
    PaymentMethod,
    Product,
    Refund,
)
from finance.reporting.services import gl_batch_counts_refresh

ENTITY_CODE = "SCALE"
DAYS = 730
POST_AFTER_DAYS = 14
CHUNK = 20_000
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Weights of 1, 2, 3 and 4 lines per invoice: 2.0 lines on average.
LINES_PER_INVOICE = (35, 40, 15, 10)
# How often each later event happens: "bounced" and "credit_memo"/"unapplied" (paid in
# full only) per paid invoice, "cancelled" per unpaid invoice, "refunded" per
# overpayment or prepayment credit.
FATES = {"bounced": 0.015, "credit_memo": 0.01, "unapplied": 0.005, "cancelled": 0.03, "refunded": 0.3}
PREPAYMENTS = 0.004  # per invoice

FIRST = (
    "Ada Alan Amara Ben Carla Chen Dana Diego Elena Emeka Farah Grace Hana Ivan Jamal Jun Kai Lena Luis Maya "
    "Nadia Noah Omar Priya Quinn Rosa Sam Tara Uma Victor Wen Yara Zoe"
).split()
LAST = (
    "Abbott Baker Castillo Dubois Evans Fischer Garcia Hughes Ito Jensen Kowalski Larsen Moreau Nakamura Okafor "
    "Patel Quintero Rossi Schmidt Tanaka Ueda Vargas Walsh Xu Yilmaz Zimmerman"
).split()
ORG_WORDS = (
    "Harbor Lakeshore Summit Riverside Granite Meridian Beacon Cedar Northgate Prairie Keystone Maple Pioneer"
).split()
ORG_KINDS = ("Credit Union", "Bank", "Savings", "Financial", "Trust", "Federal Credit Union")
PRODUCTS = (
    # code, name, price, income account code
    ("SC-DUES-IND", "Individual membership dues", "195.00", "4000"),
    ("SC-DUES-ORG", "Organization membership dues", "1250.00", "4000"),
    ("SC-CONF", "Annual conference registration", "495.00", "4100"),
    ("SC-CONF-WS", "Conference workshop", "125.00", "4100"),
    ("SC-WEB-1", "Webinar: compliance update", "59.00", "4100"),
    ("SC-WEB-2", "Webinar: lending essentials", "79.00", "4100"),
    ("SC-CERT", "Certification exam", "350.00", "4200"),
    ("SC-CERT-RN", "Certification renewal", "95.00", "4200"),
    ("SC-PUB-HB", "Handbook", "45.00", "4300"),
    ("SC-PUB-SV", "Salary survey", "150.00", "4300"),
    ("SC-SPONSOR", "Sponsorship", "2500.00", "4400"),
    ("SC-DONATION", "Foundation gift", "100.00", "4400"),
)
# The tables written (their statistics are refreshed at the end).
TABLES = (
    Contact, Batch, Invoice, InvoiceLine, InvoiceAdjustment, Payment, PaymentApplication, Refund, JournalEntry,
    JournalLine,
)  # fmt: skip
METHODS = (
    ("SC_CHECK", "Check", "check", 0.5),
    ("SC_CARD", "Card", "credit_card", 0.35),
    ("SC_CASH", "Cash", "cash", 0.15),
)


@dataclass
class Setup:
    entity: FinancialEntity
    cash: GLAccount
    ar: GLAccount
    unapplied: GLAccount
    refund_clearing: GLAccount
    products: list[tuple[Product, Decimal, int]]  # product, price, income account id
    methods: list[tuple[int, float]]  # method id, weight
    contacts: list[int] = field(default_factory=list)
    batches: dict[tuple[datetime.date, str], int] = field(default_factory=dict)
    next_number: int = 0


@dataclass
class Stats:
    contacts: int = 0
    batches: int = 0
    invoices: int = 0
    credit_invoices: int = 0
    lines: int = 0
    adjustments: int = 0
    payments: int = 0
    applications: int = 0
    refunds: int = 0
    entries: int = 0
    journal_lines: int = 0
    seconds: float = 0.0
    # Events within the rows above (not rows of their own).
    reversed_payments: int = 0
    adjusted_invoices: int = 0

    def summary(self) -> str:
        rows = (
            self.contacts
            + self.batches
            + self.invoices
            + self.credit_invoices
            + self.lines
            + self.adjustments
            + self.payments
            + self.applications
            + self.refunds
            + self.entries
            + self.journal_lines
        )
        return (
            f"{self.contacts:,} contacts, {self.batches:,} batches, {self.invoices:,} invoices "
            f"(+{self.credit_invoices:,} credit invoices), {self.lines:,} lines, {self.adjustments:,} adjustments, "
            f"{self.payments:,} payments, {self.applications:,} applications, {self.refunds:,} refunds, "
            f"{self.entries:,} journal entries, {self.journal_lines:,} journal lines: {rows:,} rows in "
            f"{self.seconds:.1f} s ({rows / max(self.seconds, 1e-9):,.0f} rows/s); {self.reversed_payments:,} "
            f"payments reversed, {self.adjusted_invoices:,} invoices cancelled"
        )


def _text(value) -> str:
    if value is None:
        return r"\N"
    return str(value)


class Copier:
    """Rows for one table, written with one COPY at the end of a chunk."""

    def __init__(self, model, columns: list[str]):
        self.table = model._meta.db_table
        self.columns = columns
        self.buffer = io.StringIO()
        self.count = 0

    def add(self, *values) -> None:
        self.buffer.write("\t".join(_text(v) for v in values))
        self.buffer.write("\n")
        self.count += 1

    def flush(self, cursor) -> None:
        if not self.count:
            return
        with cursor.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN") as copy:
            copy.write(self.buffer.getvalue())
        self.buffer = io.StringIO()
        self.count = 0


def _reserve_ids(cursor, model, n: int) -> int:
    """The first of ``n`` consecutive ids of ``model``'s sequence (table locked by the caller)."""
    table = model._meta.db_table
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    seq = cursor.fetchone()[0]
    cursor.execute("SELECT nextval(%s)", [seq])
    first = cursor.fetchone()[0]
    if n > 1:
        cursor.execute("SELECT setval(%s, %s)", [seq, first + n - 1])
    return first


def _lock(cursor, *models) -> None:
    tables = ", ".join(m._meta.db_table for m in models)
    cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")


def _setup(today: datetime.date) -> Setup:
    """The SCALE entity with its chart, products and payment methods (created once)."""
    entity, _ = FinancialEntity.objects.get_or_create(
        code=ENTITY_CODE, defaults={"name": "Scale test association", "currency": "USD"}
    )

    def account(code, name, type_, role):
        obj, _ = GLAccount.objects.get_or_create(
            entity=entity, code=code, defaults={"name": name, "type": type_, "role": role}
        )
        return obj

    cash = account("1000", "Operating cash", GLAccount.Type.ASSET, GLAccount.Role.CASH)
    ar = account("1200", "Accounts receivable", GLAccount.Type.ASSET, GLAccount.Role.AR)
    unapplied = account("2100", "Unapplied cash", GLAccount.Type.LIABILITY, GLAccount.Role.UNAPPLIED_CASH)
    clearing = account("2150", "Refund clearing", GLAccount.Type.LIABILITY, GLAccount.Role.REFUND_CLEARING)
    account("2400", "Deferred dues", GLAccount.Type.LIABILITY, GLAccount.Role.DEFERRED_INCOME)
    income = {
        code: account(code, name, GLAccount.Type.INCOME, GLAccount.Role.INCOME)
        for code, name in (
            ("4000", "Dues income"),
            ("4100", "Education income"),
            ("4200", "Certification income"),
            ("4300", "Publication sales"),
            ("4400", "Sponsorship and gifts"),
        )
    }
    products = []
    for code, name, price, income_code in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            code=code,
            defaults={"name": name, "price": Decimal(price), "entity": entity, "income_account": income[income_code]},
        )
        products.append((product, product.price, product.income_account_id))
    methods = []
    for code, name, type_, weight in METHODS:
        method, _ = PaymentMethod.objects.get_or_create(
            code=code, defaults={"name": f"{name} (scale)", "type": type_, "cash_account": cash}
        )
        methods.append((method.pk, weight))
    return Setup(
        entity=entity,
        cash=cash,
        ar=ar,
        unapplied=unapplied,
        refund_clearing=clearing,
        products=products,
        methods=methods,
    )


def _contacts(setup: Setup, n: int, rng: random.Random, stats: Stats) -> None:
    """``n`` contacts: 12 % companies, half the people members of one."""
    now = timezone.now().isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, Contact)
        first_id = _reserve_ids(cursor, Contact, n)
        cursor.execute("SELECT coalesce(max(party_id::bigint), 100000) FROM finance_contact")
        offset = cursor.fetchone()[0]
        copier = Copier(
            Contact,
            ["id", "party_id", "major_key", "name", "sort_name", "kind", "email", "status", "created_at", "company_id"],
        )
        n_orgs = max(1, n * 12 // 100)
        org_ids = []
        for i in range(n):
            cid = first_id + i
            serial = offset + i + 1
            party_id = str(serial)
            if i < n_orgs:
                name = f"{rng.choice(ORG_WORDS)} {rng.choice(ORG_WORDS)} {rng.choice(ORG_KINDS)} {serial}"
                copier.add(cid, party_id, f"MK{serial}", name, name, "organization", "", "active", now, None)
                org_ids.append(cid)
            else:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                company = rng.choice(org_ids) if rng.random() < 0.5 else None
                email = f"{first}.{last}.{serial}@example.org".lower()
                copier.add(
                    cid, party_id, None, f"{first} {last}", f"{last}, {first}", "individual", email, "active", now,
                    company,
                )  # fmt: skip
            setup.contacts.append(cid)
        copier.flush(cursor)
    stats.contacts += n


def _batches(setup: Setup, today: datetime.date, stats: Stats, user_id) -> None:
    """A billing and a receipts batch per day for two years (open; posted at the end)."""
    now = timezone.now().isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, Batch)
        days = [today - datetime.timedelta(days=d) for d in range(DAYS - 1, -1, -1)]
        wanted = [(day, kind) for day in days for kind in ("B", "R")]
        first_id = _reserve_ids(cursor, Batch, len(wanted))
        copier = Copier(Batch, ["id", "number", "description", "date", "status", "created_at", "created_by_id"])
        for i, (day, kind) in enumerate(wanted):
            bid = first_id + i
            number = f"S{day:%y%m%d}{kind}{bid}"[:20]
            description = "Scale billing" if kind == "B" else "Scale receipts"
            copier.add(bid, number, description, day.isoformat(), "open", now, user_id)
            setup.batches[(day, kind)] = bid
        copier.flush(cursor)
    stats.batches += len(wanted)


def _highest_numeric_invoice_number() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(number::bigint) FROM finance_invoice WHERE number ~ '^[0-9]{1,18}$'")
        return cursor.fetchone()[0] or 0


class _Ids:
    """Consecutive ids of one table's sequence, taken one by one while a chunk is
    planned (the table is locked by the caller, so nobody else draws from it); the
    sequence is moved past the last one used when the chunk is written."""

    def __init__(self, cursor, model):
        table = model._meta.db_table
        cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
        self.sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [self.sequence])
        self.first = self.next = cursor.fetchone()[0]

    def take(self) -> int:
        value = self.next
        self.next += 1
        return value

    @property
    def used(self) -> int:
        return self.next - self.first

    def close(self, cursor) -> None:
        cursor.execute("SELECT setval(%s, %s)", [self.sequence, max(self.first, self.next - 1)])


class _ChunkWriter:
    """The rows of one chunk: a COPY buffer per table and the ids and invoice numbers
    they take."""

    def __init__(self, cursor, setup: Setup, user_id, now: str):
        self.cursor, self.setup, self.user_id, self.now = cursor, setup, user_id, now
        self.entity_id, self.currency = setup.entity.pk, setup.entity.currency
        self.ids = {
            m: _Ids(cursor, m)
            for m in (
                Invoice, InvoiceLine, InvoiceAdjustment, Payment, PaymentApplication, Refund, JournalEntry,
                JournalLine,
            )
        }  # fmt: skip
        seq, _ = NumberSequence.objects.get_or_create(name="invoice", defaults={"next_value": 1000})
        self.numbers = NumberSequence.objects.select_for_update().get(pk=seq.pk)
        self.number = max(self.numbers.next_value, setup.next_number)
        self.copiers = {
            Invoice: Copier(
                Invoice,
                [
                    "id", "number", "date", "due_date", "accounting_method", "type", "source", "currency",
                    "description", "total", "balance", "reversed_at", "created_at", "batch_id", "bill_to_id",
                    "sold_to_id", "entity_id", "created_by_id",
                ],
            ),
            InvoiceLine: Copier(
                InvoiceLine,
                [
                    "id", "line_number", "description", "quantity", "unit_price", "amount", "balance", "account_id",
                    "invoice_id", "product_id",
                ],
            ),
            InvoiceAdjustment: Copier(
                InvoiceAdjustment,
                ["id", "amount", "date", "reason", "created_at", "batch_id", "created_by_id", "invoice_id", "line_id"],
            ),
            Payment: Copier(
                Payment,
                [
                    "id", "amount", "currency", "date", "reference", "status", "source", "amount_applied",
                    "reversed_at", "reversal_batch_id", "reversal_reason", "created_at", "batch_id",
                    "cash_account_id", "created_by_id", "entity_id", "method_id", "payer_id", "processor_charge_id",
                    "refunded_amount", "reversal_date",
                ],
            ),
            PaymentApplication: Copier(
                PaymentApplication,
                ["id", "amount", "is_reversal", "created_at", "invoice_id", "line_id", "payment_id", "kind"],
            ),
            Refund: Copier(
                Refund,
                [
                    "id", "amount", "currency", "mode", "status", "date", "reason", "idempotency_key",
                    "processor_refund_id", "failure_message", "created_at", "completed_at", "batch_id",
                    "created_by_id", "credit_invoice_id", "payment_id",
                ],
            ),
            JournalEntry: Copier(
                JournalEntry,
                [
                    "id", "date", "kind", "description", "is_posted", "exclude_from_gl_export", "created_at",
                    "batch_id", "invoice_id", "payment_id", "reversal_of_id",
                ],
            ),
            JournalLine: Copier(
                JournalLine,
                ["id", "debit", "credit", "currency", "description", "account_id", "contact_id", "entry_id"],
            ),
        }  # fmt: skip

    def _add(self, model, *values) -> int:
        pk = self.ids[model].take()
        self.copiers[model].add(pk, *values)
        return pk

    def invoice(self, *, day, batch, contact, total, balance, type_="regular", source="staff", description="",
                reversed_at=None) -> tuple[int, str]:  # fmt: skip
        number = str(self.number)
        self.number += 1
        due = day if type_ == "credit" else day + datetime.timedelta(days=30)
        pk = self._add(
            Invoice, number, day.isoformat(), due.isoformat(), "accrual", type_, source, self.currency, description,
            total, balance, reversed_at, self.now, batch, contact, contact, self.entity_id, self.user_id,
        )  # fmt: skip
        return pk, number

    def line(self, *, invoice, number, description, qty, price, amount, balance, account, product) -> int:
        return self._add(InvoiceLine, number, description, qty, price, amount, balance, account, invoice, product)

    def credit_invoice(self, *, day, batch, contact, amount, description) -> tuple[int, str, int]:
        """A credit invoice holding ``amount`` (positive) once its line's application is written."""
        iid, number = self.invoice(
            day=day, batch=batch, contact=contact, total=ZERO, balance=-amount, type_="credit", source="payment",
            description=description,
        )  # fmt: skip
        lid = self.line(
            invoice=iid, number=1, description=description, qty=1, price=ZERO, amount=ZERO, balance=-amount,
            account=self.setup.unapplied.pk, product=None,
        )  # fmt: skip
        return iid, number, lid

    def adjustment(self, *, invoice, line, amount, day, batch, reason) -> None:
        self._add(InvoiceAdjustment, amount, day.isoformat(), reason, self.now, batch, self.user_id, invoice, line)

    def payment(self, *, amount, day, batch, contact, method, applied, refunded=ZERO, reversed_on=None,
                reversal_batch=None, reason="", reference="") -> int:  # fmt: skip
        reversed_at = _noon(reversed_on) if reversed_on else None
        return self._add(
            Payment, amount, self.currency, day.isoformat(), reference, "reversed" if reversed_on else "posted",
            "staff", applied, reversed_at, reversal_batch, reason, self.now, batch, self.setup.cash.pk, self.user_id,
            self.entity_id, method, contact, "", refunded, reversed_on.isoformat() if reversed_on else None,
        )  # fmt: skip

    def application(self, *, payment, invoice, line, amount, kind="apply") -> None:
        self._add(
            PaymentApplication, amount, "t" if kind == "reversal" else "f", self.now, invoice, line, payment, kind
        )

    def refund(self, *, payment, credit, amount, day, batch) -> None:
        pk = self.ids[Refund].next
        self._add(
            Refund, amount, self.currency, "record_only", "succeeded", day.isoformat(), "Refund by check",
            f"scale-refund-{pk}", "", "", self.now, _noon(day), batch, self.user_id, credit, payment,
        )  # fmt: skip

    def entry(self, *, day, kind, description, batch, legs, invoice=None, payment=None, reversal_of=None) -> int:
        """A journal entry with ``legs`` of (account, debit, credit, contact, description)."""
        pk = self._add(
            JournalEntry, day.isoformat(), kind, description, "t", "f", self.now, batch, invoice, payment, reversal_of
        )
        for account, debit, credit, contact, text in legs:
            self._add(JournalLine, debit, credit, self.currency, text, account, contact, pk)
        return pk

    def flush(self) -> None:
        for copier in self.copiers.values():
            copier.flush(self.cursor)
        for ids in self.ids.values():
            ids.close(self.cursor)
        self.numbers.next_value = self.number
        self.numbers.save(update_fields=["next_value"])
        self.setup.next_number = self.number


def _noon(day: datetime.date) -> str:
    return f"{day.isoformat()}T12:00:00+00:00"


def _chunk(setup: Setup, n: int, rng: random.Random, today: datetime.date, stats: Stats, user_id) -> None:
    """``n`` invoices with their lines, payments, applications, journal and what happened
    to them afterwards (see the module docstring), in one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(
            cursor, Invoice, InvoiceLine, InvoiceAdjustment, Payment, PaymentApplication, Refund, JournalEntry,
            JournalLine,
        )  # fmt: skip
        w = _ChunkWriter(cursor, setup, user_id, timezone.now().isoformat())
        books = _ChunkBooks(w, setup, rng, today, stats)
        for _ in range(n):
            books.invoice()
        # Prepayments: money received before anything was invoiced, held as open credit.
        for _ in range(max(1, round(n * PREPAYMENTS))):
            books.prepayment()
        w.flush()
    stats.lines += w.ids[InvoiceLine].used
    stats.adjustments += w.ids[InvoiceAdjustment].used
    stats.applications += w.ids[PaymentApplication].used
    stats.entries += w.ids[JournalEntry].used
    stats.journal_lines += w.ids[JournalLine].used


class _ChunkBooks:
    """What one chunk generates, an invoice (or a prepayment) at a time, through its
    writer. The random draws are taken in a fixed order: a seed gives the same books."""

    def __init__(self, w, setup: Setup, rng: random.Random, today: datetime.date, stats: Stats):
        self.w, self.setup, self.rng, self.today, self.stats = w, setup, rng, today, stats
        self.start = today - datetime.timedelta(days=DAYS - 1)
        self.ar, self.cash = setup.ar.pk, setup.cash.pk
        self.unapplied, self.clearing = setup.unapplied.pk, setup.refund_clearing.pk
        self.method_ids = [m for m, _ in setup.methods]
        self.method_weights = [w_ for _, w_ in setup.methods]

    def later(self, day, low, high):
        return min(day + datetime.timedelta(days=self.rng.randrange(low, high)), self.today)

    def billing(self, day):
        return self.setup.batches[(day, "B")]

    def receipts(self, day):
        return self.setup.batches[(day, "R")]

    def method(self):
        return self.rng.choices(self.method_ids, weights=self.method_weights)[0]

    def refund_credit(self, pid, contact, credit_id, credit_line, amount, day, number):
        """Return all the credit ``pid`` holds on ``credit_id`` by check (record only)."""
        w, receipts = self.w, self.receipts
        fday = self.later(day, 5, 45)
        w.application(payment=pid, invoice=credit_id, line=credit_line, amount=-amount, kind="refund")
        w.refund(payment=pid, credit=credit_id, amount=amount, day=fday, batch=receipts(fday))
        w.entry(
            day=fday, kind="refund", description=f"Refund of payment {pid} from credit {number}",
            batch=receipts(fday), payment=pid,
            legs=[(self.unapplied, amount, ZERO, contact, ""), (self.clearing, ZERO, amount, contact, "")],
        )  # fmt: skip
        self.stats.refunds += 1

    def _lines(self) -> list[tuple]:
        rng = self.rng
        k = rng.choices((1, 2, 3, 4), weights=LINES_PER_INVOICE)[0]
        lines = []
        for _ in range(k):
            product, price, account_id = rng.choice(self.setup.products)
            qty = 1 if rng.random() < 0.9 else rng.randint(2, 4)
            lines.append((product, qty, price, (price * qty).quantize(CENT), account_id))
        return lines

    def _paid(self, total: Decimal) -> Decimal:
        r = self.rng.random()
        if r < 0.75:
            return total
        if r < 0.83:
            return (total / 2).quantize(CENT)
        if r < 0.85:
            return total + Decimal(self.rng.randrange(10, 51))
        return ZERO

    def _fate(self, paid: Decimal, total: Decimal) -> str | None:
        """What happens afterwards (see FATES)."""
        r = self.rng.random()
        if paid == 0:
            return "cancelled" if r < FATES["cancelled"] else None
        if paid > total:
            return "refunded" if r < FATES["refunded"] else None
        if r < FATES["bounced"]:
            return "bounced"
        if paid == total and r < FATES["bounced"] + FATES["credit_memo"]:
            return "credit_memo"
        if paid == total and r < FATES["bounced"] + FATES["credit_memo"] + FATES["unapplied"]:
            return "unapplied"
        return None

    def invoice(self):
        w, rng, ar = self.w, self.rng, self.ar
        billing, later, stats = self.billing, self.later, self.stats
        day = self.start + datetime.timedelta(days=rng.randrange(DAYS))
        contact = rng.choice(self.setup.contacts)
        lines = self._lines()
        k = len(lines)
        total = sum((ln[3] for ln in lines), ZERO)
        paid = self._paid(total)
        pay_day = self.later(day, 0, 61)
        fate = self._fate(paid, total)
        applied = min(paid, total)
        parts, remaining = [], applied  # the payment's part on each line, oldest line first
        for ln in lines:
            part = min(ln[3], remaining)
            parts.append(part)
            remaining -= part
        # The lines' final state: paid parts stay applied unless the payment bounced or
        # was moved to a credit; cancelled and credit-memo lines are adjusted to zero.
        net = [ZERO] * k if fate in ("bounced", "unapplied", "credit_memo") else parts
        adjusted = fate in ("cancelled", "credit_memo")
        balances = [ZERO if adjusted else ln[3] - p for ln, p in zip(lines, net, strict=True)]
        event_day = later(pay_day if paid else day, 1, 60)
        iid, num = w.invoice(
            day=day, batch=billing(day), contact=contact, total=total, balance=sum(balances, ZERO),
            reversed_at=_noon(event_day) if adjusted else None,
        )  # fmt: skip
        line_ids = [
            w.line(
                invoice=iid,
                number=i,
                description=product.name,
                qty=qty,
                price=price,
                amount=amount,
                balance=balance,
                account=account_id,
                product=product.pk,
            )  # fmt: skip
            for i, ((product, qty, price, amount, account_id), balance) in enumerate(
                zip(lines, balances, strict=True), start=1
            )
        ]
        w.entry(
            day=day, kind="invoice", description=f"Invoice {num}", batch=billing(day), invoice=iid,
            legs=[(ar, total, ZERO, contact, f"Invoice {num}")]
            + [(ln[4], ZERO, ln[3], contact, ln[0].name) for ln in lines],
        )  # fmt: skip
        stats.invoices += 1

        if paid > 0:
            self._payment(contact, lines, line_ids, parts, iid, num, paid, total, applied, pay_day, event_day, fate)
        if adjusted:
            # The invoice cancelled: every line's open charge taken off (a credit memo).
            batch = billing(event_day)
            for lid, ln in zip(line_ids, lines, strict=True):
                w.adjustment(invoice=iid, line=lid, amount=-ln[3], day=event_day, batch=batch, reason="Cancelled")
            w.entry(
                day=event_day, kind="invoice_reversal", description=f"Invoice {num} reversed: Cancelled",
                batch=batch, invoice=iid,
                legs=[(ln[4], ln[3], ZERO, contact, ln[0].name) for ln in lines]
                + [(ar, ZERO, total, contact, f"Invoice {num} reversed")],
            )  # fmt: skip
            stats.adjusted_invoices += 1

    def _payment(self, contact, lines, line_ids, parts, iid, num, paid, total, applied, pay_day, event_day, fate):
        """The invoice's payment and what became of it (bounced, refunded, moved to credit)."""
        w, rng = self.w, self.rng
        ar, cash, unapplied = self.ar, self.cash, self.unapplied
        receipts, billing, method, stats = self.receipts, self.billing, self.method, self.stats
        refund_credit = self.refund_credit
        cid = cnum = clid = None
        bounced = fate == "bounced"
        residual = paid - total
        refunded = residual if fate == "refunded" else ZERO
        pid = w.payment(
            amount=paid, day=pay_day, batch=receipts(pay_day), contact=contact, method=method(),
            applied=ZERO if bounced else paid - refunded, refunded=refunded,
            reversed_on=event_day if bounced else None,
            reversal_batch=receipts(event_day) if bounced else None,
            reason="Returned check" if bounced else "", reference=f"{rng.randrange(1000, 99999)}",
        )  # fmt: skip
        stats.payments += 1
        for lid, part in zip(line_ids, parts, strict=True):
            if part > 0:
                w.application(payment=pid, invoice=iid, line=lid, amount=part)
        legs = [(cash, paid, ZERO, contact, ""), (ar, ZERO, applied, contact, "")]
        if residual > 0:
            text = f"Unapplied rest of payment {pid}"
            cid, cnum, clid = w.credit_invoice(
                day=pay_day, batch=receipts(pay_day), contact=contact, amount=residual - refunded,
                description=text,
            )  # fmt: skip
            w.application(payment=pid, invoice=cid, line=clid, amount=residual)
            legs.append((unapplied, ZERO, residual, contact, ""))
            stats.credit_invoices += 1
        peid = w.entry(
            day=pay_day, kind="payment", description=f"Payment {pid}", batch=receipts(pay_day), payment=pid,
            legs=legs,
        )  # fmt: skip
        if fate == "refunded":
            refund_credit(pid, contact, cid, clid, residual, pay_day, cnum)
        elif bounced:
            for lid, part in zip(line_ids, parts, strict=True):
                if part > 0:
                    w.application(payment=pid, invoice=iid, line=lid, amount=-part, kind="reversal")
            w.entry(
                day=event_day, kind="payment_reversal", batch=receipts(event_day), payment=pid,
                description=f"Reversal of payment {pid}: Returned check", reversal_of=peid,
                legs=[(cash, ZERO, paid, contact, ""), (ar, applied, ZERO, contact, "")],
            )  # fmt: skip
            stats.reversed_payments += 1
        elif fate in ("unapplied", "credit_memo"):
            # The payment's money leaves the lines for a new open credit of the payer.
            batch = receipts(event_day) if fate == "unapplied" else billing(event_day)
            text = f"Payment {pid} unapplied" if fate == "unapplied" else f"Invoice {num} reversed: payment {pid}"
            cid, cnum, clid = w.credit_invoice(
                day=event_day, batch=batch, contact=contact, amount=paid, description=text
            )
            for lid, part in zip(line_ids, parts, strict=True):
                if part > 0:
                    w.application(payment=pid, invoice=iid, line=lid, amount=-part, kind="unapply")
            w.application(payment=pid, invoice=cid, line=clid, amount=paid)
            w.entry(
                day=event_day, kind="unapply", description=f"{text}: credit {cnum}", batch=batch, payment=pid,
                legs=[(ar, paid, ZERO, contact, ""), (unapplied, ZERO, paid, contact, "")],
            )  # fmt: skip
            stats.credit_invoices += 1

    def prepayment(self):
        w, rng, cash, unapplied, receipts = self.w, self.rng, self.cash, self.unapplied, self.receipts
        setup, method, refund_credit, stats = self.setup, self.method, self.refund_credit, self.stats
        start = self.start
        pay_day = start + datetime.timedelta(days=rng.randrange(DAYS))
        contact = rng.choice(setup.contacts)
        amount = rng.choice(setup.products)[1]
        refunded = amount if rng.random() < FATES["refunded"] else ZERO
        pid = w.payment(
            amount=amount, day=pay_day, batch=receipts(pay_day), contact=contact, method=method(),
            applied=amount - refunded, refunded=refunded, reference=f"{rng.randrange(1000, 99999)}",
        )  # fmt: skip
        text = f"Prepayment {pid}"
        cid, cnum, clid = w.credit_invoice(
            day=pay_day, batch=receipts(pay_day), contact=contact, amount=amount - refunded, description=text
        )
        w.application(payment=pid, invoice=cid, line=clid, amount=amount)
        w.entry(
            day=pay_day, kind="payment", description=f"Payment {pid}", batch=receipts(pay_day), payment=pid,
            legs=[(cash, amount, ZERO, contact, ""), (unapplied, ZERO, amount, contact, "")],
        )  # fmt: skip
        if refunded:
            refund_credit(pid, contact, cid, clid, amount, pay_day, cnum)
        stats.payments += 1
        stats.credit_invoices += 1


def _post_old_batches(setup: Setup, today: datetime.date) -> int:
    """Post the batches older than two weeks, their controls set to what they hold."""
    cutoff = today - datetime.timedelta(days=POST_AFTER_DAYS)
    ids = [bid for (day, _), bid in setup.batches.items() if day < cutoff]
    with transaction.atomic(), connection.cursor() as cursor:
        # The batch ids joined as a table (hash joins), not "= ANY(array)" filters, which
        # PostgreSQL checks element by element for each of millions of rows.
        cursor.execute(
            """
            WITH target AS (SELECT DISTINCT unnest(%(ids)s::bigint[]) AS id),
                 i AS (SELECT inv.batch_id, count(*) AS n FROM finance_invoice inv
                         JOIN target t ON t.id = inv.batch_id
                        WHERE inv.type <> 'credit' GROUP BY inv.batch_id),
                 p AS (SELECT pay.batch_id, count(*) AS n, sum(pay.amount) AS amount FROM finance_payment pay
                         JOIN target t ON t.id = pay.batch_id GROUP BY pay.batch_id)
            UPDATE finance_batch b
               SET status = 'posted', posted_at = now(),
                   control_count = COALESCE(i.n, 0) + COALESCE(p.n, 0),
                   control_amount = COALESCE(p.amount, 0)
              FROM target t
              LEFT JOIN i ON i.batch_id = t.id
              LEFT JOIN p ON p.batch_id = t.id
             WHERE b.id = t.id AND b.status = 'open'
            """,
            {"ids": ids},
        )
        return cursor.rowcount


def generate(*, invoices: int, seed: int = 7, today: datetime.date | None = None, user=None, progress=None) -> Stats:
    """Write the data set; ``progress(done, total)`` is called after each chunk."""
    if invoices < 1:
        raise ValueError("--invoices must be at least 1.")
    started = time.monotonic()
    today = today or timezone.localdate()
    rng = random.Random(seed)
    stats = Stats()
    user_id = user.pk if user else None
    with transaction.atomic():
        setup = _setup(today)
    setup.next_number = _highest_numeric_invoice_number() + 1
    _contacts(setup, max(10, invoices // 5), rng, stats)
    _batches(setup, today, stats, user_id)
    done = 0
    while done < invoices:
        n = min(CHUNK, invoices - done)
        _chunk(setup, n, rng, today, stats, user_id)
        done += n
        if progress:
            progress(done, invoices)
    # Statistics first: the batch posting's grouped counts (and every page afterwards)
    # are planned on them; without them the planner takes the fresh tables for empty.
    with connection.cursor() as cursor:
        for model in TABLES:
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    _post_old_batches(setup, today)
    # The GL export's count of what each posted batch holds for it (taken once per batch).
    gl_batch_counts_refresh()
    # Then what autovacuum would do in a while: the visibility map (index-only scans)
    # and hint bits, so that the pages are timed as a settled database answers them.
    # (Inside a transaction, as in the tests, VACUUM cannot run: statistics only.)
    with connection.cursor() as cursor:
        for model in TABLES:
            table = model._meta.db_table
            cursor.execute(f"ANALYZE {table}" if connection.in_atomic_block else f"VACUUM (ANALYZE) {table}")
    stats.seconds = time.monotonic() - started
    return stats
