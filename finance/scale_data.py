"""A large, realistic ledger written with COPY: ``manage.py generate_scale_data``.

For ``invoices`` N: about N/5 contacts (12 % companies, half the people members of
one), two years of daily billing and receipt batches, N accrual invoices of 1–3 lines
(≈ 1.5 N lines), payments for about 85 % of them (most in full, some partial, 2 %
overpaid into an open credit invoice), every application, and the balanced journal
entry of each invoice and payment. Batches older than two weeks are posted.

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
    InvoiceLine,
    JournalEntry,
    JournalLine,
    NumberSequence,
    Payment,
    PaymentApplication,
    Product,
)

ENTITY_CODE = "SCALE"
DAYS = 730
POST_AFTER_DAYS = 14
CHUNK = 20_000
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

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
    payments: int = 0
    applications: int = 0
    entries: int = 0
    journal_lines: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rows = (
            self.contacts
            + self.batches
            + self.invoices
            + self.credit_invoices
            + self.lines
            + self.payments
            + self.applications
            + self.entries
            + self.journal_lines
        )
        return (
            f"{self.contacts:,} contacts, {self.batches:,} batches, {self.invoices:,} invoices "
            f"(+{self.credit_invoices:,} open credits), {self.lines:,} lines, {self.payments:,} payments, "
            f"{self.applications:,} applications, {self.entries:,} journal entries, {self.journal_lines:,} journal "
            f"lines: {rows:,} rows in {self.seconds:.1f} s ({rows / max(self.seconds, 1e-9):,.0f} rows/s)"
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
    from paycentral.models import PaymentMethod

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
    account("2150", "Refund clearing", GLAccount.Type.LIABILITY, GLAccount.Role.REFUND_CLEARING)
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
    return Setup(entity=entity, cash=cash, ar=ar, unapplied=unapplied, products=products, methods=methods)


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


def _invoice_numbers(setup: Setup, n: int) -> int:
    """Take ``n`` invoice numbers from the invoice sequence at once; returns the first."""
    seq, _ = NumberSequence.objects.get_or_create(name="invoice", defaults={"next_value": 1000})
    seq = NumberSequence.objects.select_for_update().get(pk=seq.pk)
    first = max(seq.next_value, setup.next_number)
    seq.next_value = first + n
    seq.save(update_fields=["next_value"])
    setup.next_number = first + n
    return first


def _highest_numeric_invoice_number() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(number::bigint) FROM finance_invoice WHERE number ~ '^[0-9]{1,18}$'")
        return cursor.fetchone()[0] or 0


def _chunk(setup: Setup, n: int, rng: random.Random, today: datetime.date, stats: Stats, user_id) -> None:
    """``n`` invoices with their lines, payments, applications and journal, in one transaction."""
    now = timezone.now().isoformat()
    start = today - datetime.timedelta(days=DAYS - 1)
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, Invoice, InvoiceLine, Payment, PaymentApplication, JournalEntry, JournalLine)
        # Plan in memory first (ids are reserved once the counts are known).
        plans = []
        for _ in range(n):
            day = start + datetime.timedelta(days=rng.randrange(DAYS))
            contact = rng.choice(setup.contacts)
            k = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
            lines = []
            for _ in range(k):
                product, price, account_id = rng.choice(setup.products)
                qty = 1 if rng.random() < 0.9 else rng.randint(2, 4)
                lines.append((product, qty, price, (price * qty).quantize(CENT), account_id))
            total = sum((ln[3] for ln in lines), ZERO)
            r = rng.random()
            if r < 0.75:
                paid = total
            elif r < 0.83:
                paid = (total / 2).quantize(CENT)
            elif r < 0.85:
                paid = total + Decimal(rng.randrange(10, 51))
            else:
                paid = ZERO
            pay_day = min(day + datetime.timedelta(days=rng.randrange(0, 61)), today)
            plans.append((day, contact, lines, total, paid, pay_day))

        n_lines = sum(len(p[2]) for p in plans)
        paying = [p for p in plans if p[4] > 0]
        n_credits = sum(1 for p in plans if p[4] > p[3])
        n_inv = n + n_credits
        inv_id = _reserve_ids(cursor, Invoice, n_inv)
        line_id = _reserve_ids(cursor, InvoiceLine, n_lines + n_credits)
        pay_id = _reserve_ids(cursor, Payment, len(paying)) if paying else 0
        n_apps = sum(len(p[2]) for p in paying) + n_credits  # at most; unused ids leave a gap
        number0 = _invoice_numbers(setup, n_inv)
        app_id = _reserve_ids(cursor, PaymentApplication, n_apps) if n_apps else 0
        entry_id = _reserve_ids(cursor, JournalEntry, n + len(paying))
        n_jl = (n_lines + n) + sum(2 + (1 if p[4] > p[3] else 0) for p in paying)
        jl_id = _reserve_ids(cursor, JournalLine, n_jl)

        inv = Copier(
            Invoice,
            [
                "id", "number", "date", "due_date", "accounting_method", "type", "source", "currency", "description",
                "total", "balance", "created_at", "batch_id", "bill_to_id", "sold_to_id", "entity_id", "created_by_id",
            ],
        )  # fmt: skip
        line = Copier(
            InvoiceLine,
            [
                "id", "line_number", "description", "quantity", "unit_price", "amount", "balance", "account_id",
                "invoice_id", "product_id",
            ],
        )  # fmt: skip
        pay = Copier(
            Payment,
            [
                "id", "amount", "currency", "date", "reference", "status", "source", "amount_applied",
                "reversal_reason", "created_at", "batch_id", "cash_account_id", "created_by_id", "entity_id",
                "method_id", "payer_id", "processor_charge_id", "refunded_amount",
            ],
        )  # fmt: skip
        app = Copier(
            PaymentApplication,
            ["id", "amount", "is_reversal", "created_at", "invoice_id", "line_id", "payment_id", "kind"],
        )
        entry = Copier(
            JournalEntry,
            [
                "id", "date", "kind", "description", "is_posted", "exclude_from_gl_export", "created_at", "batch_id",
                "invoice_id", "payment_id",
            ],
        )  # fmt: skip
        jline = Copier(
            JournalLine, ["id", "debit", "credit", "currency", "description", "account_id", "contact_id", "entry_id"]
        )
        entity_id, currency = setup.entity.pk, setup.entity.currency
        ar_id, cash_id, unapplied_id = setup.ar.pk, setup.cash.pk, setup.unapplied.pk
        method_ids = [m for m, _ in setup.methods]
        method_weights = [w for _, w in setup.methods]
        number = number0
        next_inv, next_line, next_pay, next_app, next_entry, next_jl = inv_id, line_id, pay_id, app_id, entry_id, jl_id

        for day, contact, lines, total, paid, pay_day in plans:
            iid = next_inv
            next_inv += 1
            num = str(number)
            number += 1
            applied_total = min(paid, total)
            bill_batch = setup.batches[(day, "B")]
            line_rows = []
            remaining = applied_total
            for ln_no, (product, qty, price, amount, account_id) in enumerate(lines, start=1):
                lid = next_line
                next_line += 1
                part = min(amount, remaining)
                remaining -= part
                line_rows.append((lid, amount, part))
                line.add(lid, ln_no, product.name, qty, price, amount, amount - part, account_id, iid, product.pk)
            inv.add(
                iid, num, day.isoformat(), (day + datetime.timedelta(days=30)).isoformat(), "accrual", "regular",
                "staff", currency, "", total, total - applied_total, now, bill_batch, contact, contact, entity_id,
                user_id,
            )  # fmt: skip
            eid = next_entry
            next_entry += 1
            entry.add(eid, day.isoformat(), "invoice", f"Invoice {num}", "t", "f", now, bill_batch, iid, None)
            jline.add(next_jl, total, ZERO, currency, f"Invoice {num}", ar_id, contact, eid)
            next_jl += 1
            for product, _qty, _price, amount, account_id in lines:
                jline.add(next_jl, ZERO, amount, currency, product.name, account_id, contact, eid)
                next_jl += 1
            if paid <= 0:
                continue

            pid = next_pay
            next_pay += 1
            receipts = setup.batches[(pay_day, "R")]
            method_id = rng.choices(method_ids, weights=method_weights)[0]
            pay.add(
                pid, paid, currency, pay_day.isoformat(), f"{rng.randrange(1000, 99999)}", "posted", "staff", paid, "",
                now, receipts, cash_id, user_id, entity_id, method_id, contact, "", ZERO,
            )  # fmt: skip
            for lid, _amount, part in line_rows:
                if part > 0:
                    app.add(next_app, part, "f", now, iid, lid, pid, "apply")
                    next_app += 1
            peid = next_entry
            next_entry += 1
            entry.add(peid, pay_day.isoformat(), "payment", f"Payment {pid}", "t", "f", now, receipts, None, pid)
            jline.add(next_jl, paid, ZERO, currency, "", cash_id, contact, peid)
            jline.add(next_jl + 1, ZERO, applied_total, currency, "", ar_id, contact, peid)
            next_jl += 2
            residual = paid - total
            if residual > 0:
                cid = next_inv
                next_inv += 1
                clid = next_line
                next_line += 1
                cnum = str(number)
                number += 1
                description = f"Unapplied rest of payment {pid}"
                inv.add(
                    cid, cnum, pay_day.isoformat(), pay_day.isoformat(), "accrual", "credit", "payment", currency,
                    description, ZERO, -residual, now, receipts, contact, contact, entity_id, user_id,
                )  # fmt: skip
                line.add(clid, 1, description, 1, ZERO, ZERO, -residual, unapplied_id, cid, None)
                app.add(next_app, residual, "f", now, cid, clid, pid, "apply")
                next_app += 1
                jline.add(next_jl, ZERO, residual, currency, "", unapplied_id, contact, peid)
                next_jl += 1
                stats.credit_invoices += 1

        for copier in (inv, line, pay, app, entry, jline):
            copier.flush(cursor)
    stats.invoices += n
    stats.lines += n_lines + n_credits
    stats.payments += len(paying)
    stats.applications += next_app - app_id
    stats.entries += n + len(paying)
    stats.journal_lines += n_jl


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
    if connection.vendor != "postgresql":
        raise RuntimeError("generate_scale_data writes with COPY: run it on PostgreSQL (set DATABASE_URL).")
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
        for model in (Contact, Batch, Invoice, InvoiceLine, Payment, PaymentApplication, JournalEntry, JournalLine):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    _post_old_batches(setup, today)
    # Then what autovacuum would do in a while: the visibility map (index-only scans)
    # and hint bits, so that the pages are timed as a settled database answers them.
    # (Inside a transaction, as in the tests, VACUUM cannot run: statistics only.)
    with connection.cursor() as cursor:
        for model in (Contact, Batch, Invoice, InvoiceLine, Payment, PaymentApplication, JournalEntry, JournalLine):
            table = model._meta.db_table
            cursor.execute(f"ANALYZE {table}" if connection.in_atomic_block else f"VACUUM (ANALYZE) {table}")
    stats.seconds = time.monotonic() - started
    return stats
