"""Open balances per currency and invoice date kept by PostgreSQL triggers on the
invoices (``OpenBalanceByDate``): after inserts, balance, date, currency and contact
changes, deletes and COPY, by the services and by raw SQL, they equal a GROUP BY over
the invoices; the AR aging and open credit totals and the dashboard's AR position read
them and give the figures of grouping the invoices."""

import datetime
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Count, Min, Q, Sum

from finance.models import Invoice
from finance.reporting import selectors
from finance.reporting.models import OpenBalanceByDate
from finance.services.adjustments import invoice_reverse
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.db import conninfo
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import D

pytestmark = pytest.mark.django_db
JAN = datetime.date(2026, 1, 10)
FEB = datetime.date(2026, 2, 3)
MAR = datetime.date(2026, 3, 15)


def kept_rows() -> dict:
    """The kept figures, all-zero rows left out: {(currency, date): (receivable, count, credit, count)}."""
    rows = (
        OpenBalanceByDate.objects.order_by()
        .values("currency", "date")
        .annotate(r=Sum("receivable"), rc=Sum("receivable_count"), c=Sum("credit"), cc=Sum("credit_count"))
        .exclude(r=0, rc=0, c=0, cc=0)
    )
    return {(x["currency"], x["date"]): (x["r"], x["rc"], x["c"], x["cc"]) for x in rows}


def grouped_rows() -> dict:
    """The same figures grouped over the invoices."""
    rows = (
        Invoice.objects.exclude(balance=0)
        .order_by()
        .values("currency", "date")
        .annotate(
            receivable=Sum("balance", filter=Q(balance__gt=0), default=D("0.00")),
            receivable_count=Count("pk", filter=Q(balance__gt=0)),
            credit=Sum("balance", filter=Q(balance__lt=0), default=D("0.00")),
            credit_count=Count("pk", filter=Q(balance__lt=0)),
        )
    )
    return {
        (r["currency"], r["date"]): (r["receivable"], r["receivable_count"], r["credit"], r["credit_count"])
        for r in rows
    }


def assert_kept():
    assert kept_rows() == grouped_rows()
    count, rows = selectors.open_balance_by_date_mismatches()
    assert count == 0, rows
    count, rows = selectors.contact_balance_mismatches()
    assert count == 0, rows


def day(currency: str, date: datetime.date) -> tuple:
    return kept_rows().get((currency, date), (D("0.00"), 0, D("0.00"), 0))


def test_kept_by_date__follow_invoices_payments_and_reversals(ledger):
    alice, bob = ContactFactory(), ContactFactory()
    batch = BatchFactory()
    first = make_invoice(ledger, alice, batch, "100.00", "50.00", date=JAN)
    make_invoice(ledger, bob, batch, "30.00", date=JAN)
    second = make_invoice(ledger, alice, batch, "80.00", date=FEB)
    assert day("USD", JAN) == (D("180.00"), 2, D("0.00"), 0)
    assert day("USD", FEB) == (D("80.00"), 1, D("0.00"), 0)
    assert_kept()

    # Paid in part (oldest first), then overpaid: the rest is a credit invoice dated
    # the payment's day.
    payment_receive(payer=alice, method=ledger.check_method, amount="120.00", date=MAR, batch=batch)
    assert day("USD", JAN) == (D("60.00"), 2, D("0.00"), 0)
    over = payment_receive(payer=alice, method=ledger.check_method, amount="200.00", date=MAR, batch=batch)
    assert day("USD", JAN) == (D("30.00"), 1, D("0.00"), 0)
    assert day("USD", FEB) == (D("0.00"), 0, D("0.00"), 0)
    assert day("USD", MAR) == (D("0.00"), 0, D("-90.00"), 1)
    assert_kept()
    # The overpayment bounced: the lines reopen and the credit goes.
    payment_reverse(payment=over, batch=batch, date=MAR, reason="Returned")
    assert day("USD", FEB) == (D("80.00"), 1, D("0.00"), 0)
    assert day("USD", MAR) == (D("0.00"), 0, D("0.00"), 0)
    assert_kept()
    # A partly paid invoice cancelled: what was paid becomes credit on it.
    invoice_reverse(invoice=first, batch=batch, date=MAR, reason="Cancelled")
    payment_receive(
        payer=alice, method=ledger.cash_method, amount="80.00", date=MAR, batch=batch,
        applications=[ApplicationSpec(line=second.lines.get(), amount=D("80.00"))],
    )  # fmt: skip
    assert day("USD", FEB) == (D("0.00"), 0, D("0.00"), 0)
    assert_kept()
    # Settled days keep their (all zero) rows, as the per-contact balances do.
    assert OpenBalanceByDate.objects.filter(currency="USD", date=FEB, receivable=0, receivable_count=0).exists()


def test_kept_by_date__follow_raw_sql_date_currency_and_contact_changes(ledger):
    alice, bob = ContactFactory(), ContactFactory()
    batch = BatchFactory()
    moved = make_invoice(ledger, alice, batch, "75.00", date=JAN)
    make_invoice(ledger, alice, batch, "25.00", date=JAN)
    other = make_invoice(ledger, bob, batch, "40.00", date=FEB)
    with connection.cursor() as cursor:
        # Dated another day: it leaves January and joins March.
        cursor.execute("UPDATE finance_invoice SET date = %s, due_date = %s WHERE id = %s", [MAR, MAR, moved.pk])
        assert day("USD", JAN) == (D("25.00"), 1, D("0.00"), 0)
        assert day("USD", MAR) == (D("75.00"), 1, D("0.00"), 0)
        # Another currency, then a balance change and a date change in one statement.
        cursor.execute("UPDATE finance_invoice SET currency = 'CAD' WHERE id = %s", [other.pk])
        assert day("USD", FEB) == (D("0.00"), 0, D("0.00"), 0)
        assert day("CAD", FEB) == (D("40.00"), 1, D("0.00"), 0)
        cursor.execute(
            "UPDATE finance_invoice SET balance = balance - 50, date = %s, due_date = %s WHERE id = %s",
            [JAN, JAN, other.pk],
        )
        assert day("CAD", FEB) == (D("0.00"), 0, D("0.00"), 0)
        assert day("CAD", JAN) == (D("0.00"), 0, D("-10.00"), 1)
        # Billed to someone else: the days do not change, the contacts do.
        before = kept_rows()
        cursor.execute("UPDATE finance_invoice SET bill_to_id = %s WHERE id = %s", [bob.pk, moved.pk])
        assert kept_rows() == before
        # Many rows over several days in one statement, and one that changes no balance.
        cursor.execute("UPDATE finance_invoice SET balance = balance - 5 WHERE currency = 'USD'")
        assert day("USD", JAN) == (D("20.00"), 1, D("0.00"), 0)
        assert day("USD", MAR) == (D("70.00"), 1, D("0.00"), 0)
        cursor.execute("UPDATE finance_invoice SET description = 'no balance change'")
        assert_kept()
    loose = Invoice.objects.create(
        number="X-1", entity=ledger.entity, bill_to=bob, sold_to=bob, date=FEB, due_date=FEB, currency="USD",
        batch=batch, total=D("0.00"), balance=D("-5.00"), type=Invoice.Type.CREDIT,
    )  # fmt: skip
    assert day("USD", FEB) == (D("0.00"), 0, D("-5.00"), 1)
    loose.delete()
    assert day("USD", FEB) == (D("0.00"), 0, D("0.00"), 0)
    before = kept_rows()
    for number, date, balance in (("X-2", JAN, "-3.00"), ("X-3", MAR, "-4.00"), ("X-4", MAR, "-1.00")):
        Invoice.objects.create(
            number=number, entity=ledger.entity, bill_to=alice, sold_to=alice, date=date, due_date=date,
            currency="USD", batch=batch, total=D("0.00"), balance=D(balance), type=Invoice.Type.CREDIT,
        )  # fmt: skip
    assert day("USD", MAR) == (D("70.00"), 1, D("-5.00"), 2)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM finance_invoice WHERE number IN ('X-2', 'X-3', 'X-4')")
    assert kept_rows() == before
    assert_kept()


def test_kept_by_date__follow_copy(ledger):
    alice = ContactFactory()
    batch = BatchFactory()
    make_invoice(ledger, alice, batch, "10.00", date=JAN)
    columns = (
        "number, entity_id, bill_to_id, sold_to_id, date, due_date, accounting_method, type, source, currency, "
        "batch_id, description, total, balance, created_at"
    )
    rows = [
        ("C-1", JAN, "regular", "100.00", "100.00", "USD"),
        ("C-2", JAN, "regular", "60.00", "20.00", "USD"),
        ("C-3", FEB, "credit", "0.00", "-15.00", "USD"),
        ("C-4", FEB, "regular", "90.00", "90.00", "EUR"),
        ("C-5", MAR, "regular", "10.00", "0.00", "USD"),
    ]
    with connection.cursor() as cursor, cursor.copy(f"COPY finance_invoice ({columns}) FROM STDIN") as copy:
        for number, date, kind, total, balance, currency in rows:
            copy.write_row(
                (number, ledger.entity.pk, alice.pk, alice.pk, date, date, "accrual", kind, "import", currency,
                 batch.pk, "", total, balance, "2026-01-01T00:00:00Z")
            )  # fmt: skip
    assert day("USD", JAN) == (D("130.00"), 3, D("0.00"), 0)
    assert day("USD", FEB) == (D("0.00"), 0, D("-15.00"), 1)
    assert day("EUR", FEB) == (D("90.00"), 1, D("0.00"), 0)
    assert ("USD", MAR) not in kept_rows()
    assert_kept()


@pytest.mark.django_db(transaction=True)
def test_kept_by_date__exact_when_payments_of_one_day_commit_side_by_side(ledger):
    contacts = [ContactFactory() for _ in range(8)]
    invoices = [make_invoice(ledger, c, BatchFactory(), "10.00", "5.00", date=JAN) for c in contacts]
    errors = []

    def pay(invoice):
        try:
            with transaction.atomic():
                payment_receive(
                    payer=invoice.bill_to, method=ledger.cash_method, amount="20.00", date=FEB,
                    batch=invoice.batch,
                )  # fmt: skip
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(inv,)) for inv in invoices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert day("USD", JAN) == (D("0.00"), 0, D("0.00"), 0)
    assert day("USD", FEB) == (D("0.00"), 0, D("-40.00"), 8)
    assert_kept()


@pytest.mark.django_db(transaction=True)
def test_kept_by_date__an_open_transaction_on_a_day_does_not_hold_up_another_session(ledger):
    """A long posting keeps the kept rows it wrote locked until it commits; another
    session writing an invoice of the same day adds to its own slot and does not wait."""
    import psycopg

    dsn = conninfo()
    first = make_invoice(ledger, ContactFactory(), BatchFactory(), "10.00", date=JAN)
    second = make_invoice(ledger, ContactFactory(), BatchFactory(), "20.00", date=JAN)
    pay = "UPDATE finance_invoice SET balance = balance - 1 WHERE id = %s"
    with psycopg.connect(dsn) as posting:
        posting.execute(pay, [first.pk])  # holds its slot's (USD, JAN) row until it commits
        slot = posting.execute("SELECT pg_backend_pid() % 16").fetchone()[0]
        others = [psycopg.connect(dsn, autocommit=True) for _ in range(40)]
        try:
            other = next(c for c in others if c.execute("SELECT pg_backend_pid() % 16").fetchone()[0] != slot)
            other.execute("SET lock_timeout = '2s'")
            other.execute(pay, [second.pk])  # would fail on the lock if both shared one row
        finally:
            for c in others:
                c.close()
        posting.commit()
    assert day("USD", JAN) == (D("28.00"), 2, D("0.00"), 0)
    assert_kept()


@pytest.fixture
def spread(ledger):
    """Open receivables and credits of several contacts over several ages and two
    currencies, some paid, some overpaid."""
    batch = BatchFactory()
    today = datetime.date.today()
    contacts = [ContactFactory() for _ in range(12)]
    for n, contact in enumerate(contacts):
        for age in (3, 40, 75, 100, 130, 400):
            if (n + age) % 3:
                make_invoice(ledger, contact, batch, str(10 + n + age % 7), date=today - datetime.timedelta(days=age))
        if n % 4 == 0:
            payment_receive(payer=contact, method=ledger.cash_method, amount="500.00", date=today, batch=batch)
        elif n % 4 == 1:
            payment_receive(payer=contact, method=ledger.cash_method, amount="25.00", date=today, batch=batch)
    cad = [c.pk for c in contacts[::3]]
    Invoice.objects.filter(bill_to_id__in=cad).update(currency="CAD")
    return today


def _grouped_ar_aging_totals(as_of):
    by_currency: dict = {}
    for row in selectors.ar_aging_by_contact(as_of):
        total = by_currency.setdefault(
            row["currency"], {"currency": row["currency"], "total": D("0.00"), "contact_count": 0}
        )
        total["contact_count"] += 1
        for key in ["total", *(k for k, *_ in selectors.AGING_BUCKETS)]:
            total[key] = total.get(key, D("0.00")) + row[key]
    return [by_currency[c] for c in sorted(by_currency)]


def _grouped_open_credit_totals():
    rows = (
        Invoice.objects.filter(balance__lt=0)
        .order_by()
        .values("currency")
        .annotate(held=-Sum("balance"), contact_count=Count("bill_to_id", distinct=True), credit_count=Count("*"))
        .annotate(since=Min("date"))
        .order_by("currency")
    )
    return list(rows)


def _grouped_ar_position(as_of):
    aging = {r["currency"]: r for r in _grouped_ar_aging_totals(as_of)}
    credit = {r["currency"]: r["held"] for r in _grouped_open_credit_totals()}
    rows = []
    for currency in sorted(set(aging) | set(credit)):
        row = {k: v for k, v in aging.get(currency, {}).items() if k != "contact_count"}
        row = {k: row.get(k, D("0.00")) for k in [*(k for k, *_ in selectors.AGING_BUCKETS), "total"]}
        rows.append({"currency": currency, **row, "credit_held": credit.get(currency, D("0.00"))})
    return rows


# Each report's figures computed the plain way, by grouping the invoices themselves.
GROUPING_THE_INVOICES = {
    selectors.ar_aging_totals: _grouped_ar_aging_totals,
    selectors.open_credit_totals: _grouped_open_credit_totals,
    selectors.ar_position: _grouped_ar_position,
}


def test_totals__kept_figures_equal_grouping_the_invoices(spread):
    assert_kept()
    for report, args in (
        (selectors.ar_aging_totals, (spread,)),
        (selectors.ar_aging_totals, (spread + datetime.timedelta(days=45),)),
        (selectors.open_credit_totals, ()),
        (selectors.ar_position, (spread,)),
    ):
        kept = report(*args)
        assert [r["currency"] for r in kept] == ["CAD", "USD"]
        assert [dict(sorted(r.items())) for r in kept] == [
            dict(sorted(r.items())) for r in GROUPING_THE_INVOICES[report](*args)
        ]
    (_, usd) = selectors.ar_aging_totals(spread)
    by_contact = [r for r in selectors.ar_aging_by_contact(spread) if r["currency"] == "USD"]
    assert usd["contact_count"] == len(by_contact) and usd["total"] == sum(r["total"] for r in by_contact)
