"""Cash receipts are money in less money out, by method: open credit used to pay is no
cash (shown apart, in no total), a refund is taken off the method of the payment it
returns on the refund's day, a reversed payment on the reversal's day; the report
counts posted batches only or every batch; the dashboard's "Receipts today" is the
report's today; a method has one chart colour."""

import csv
import datetime
import io

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from core.models import Module
from finance.models import Invoice, PaymentMethod
from finance.reporting import selectors
from finance.reporting.colours import method_style
from finance.services.credits import credit_apply, refund_record
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory, PaymentMethodFactory
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import D, post

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def yesterday():
    return today() - datetime.timedelta(days=1)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def reader(django_user_model, grant):
    user = django_user_model.objects.create_user("reader", password="pw-reader-123")
    grant(user, Module.AR_CASH, 1)
    grant(user, Module.FINANCE, 2)
    return user


@pytest.fixture
def books(ledger):
    """Yesterday, in a batch now posted: CASH 100 from Alice, CHECK 250 from Bob (150 of
    it overpaid, held as open credit). Today, in an open batch: VISA 40 from Alice;
    Bob uses 60 of his credit on a new invoice (OPENCREDIT) and is refunded the other
    90 by check (record only): money out of CHECK today."""
    opencredit = PaymentMethod.objects.create(
        code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT
    )
    visa = PaymentMethodFactory(code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash)
    alice, bob = ContactFactory(name="Alice"), ContactFactory(name="Bob")
    old = BatchFactory(number="OLD", date=yesterday())
    make_invoice(ledger, alice, old, "100.00", date=yesterday())
    make_invoice(ledger, bob, old, "100.00", date=yesterday())
    payment_receive(payer=alice, method=ledger.cash_method, amount="100.00", date=yesterday(), batch=old)
    overpaid = payment_receive(payer=bob, method=ledger.check_method, amount="250.00", date=yesterday(), batch=old)
    post(old)
    new = BatchFactory(number="NEW", date=today())
    payment_receive(payer=alice, method=visa, amount="40.00", date=today(), batch=new)
    second = make_invoice(ledger, bob, new, "60.00", date=today())
    (credit,) = Invoice.objects.filter(bill_to=bob, balance__lt=0)
    credit_apply(
        credit_invoice=credit, applications=[ApplicationSpec(line=second.lines.get(), amount=D("60.00"))],
        batch=new, date=today(),
    )  # fmt: skip
    refund_record(payment=overpaid, credit_invoice=credit, batch=new, date=today())
    return {"opencredit": opencredit, "visa": visa, "ledger": ledger}


def test_cash_receipts__open_credit_apart_and_refunds_taken_off(books):
    grid = selectors.cash_receipts(yesterday(), today())
    assert [code for code, _, _ in grid.methods] == ["CASH", "CHECK", "VISA"]
    # Yesterday: 100 cash + 250 check came in. Today: 40 by card, 90 paid back by check.
    assert grid.row(yesterday()) == [D("100.00"), D("250.00"), D("0")]
    assert grid.row(today()) == [D("0"), D("-90.00"), D("40.00")]
    assert grid.day_refunded(today()) == D("90.00") and grid.day_refund_count(today()) == 1
    assert grid.day_count(today()) == 1  # the card payment; the credit used is no receipt
    assert grid.currency_total("USD") == D("300.00")  # 100 + 250 + 40 - 90
    # The 60 of credit used is shown apart, in no total.
    assert [code for code, _, _ in grid.credit_methods] == ["OPENCREDIT"]
    assert grid.credit_row(today()) == [D("60.00")]
    assert grid.credit_totals == [D("60.00")]


def test_cash_receipts__posted_batches_only_or_all(books):
    posted = selectors.cash_receipts(yesterday(), today(), batches=selectors.BATCHES_POSTED)
    assert posted.currency_total("USD") == D("350.00")  # only yesterday's batch is posted
    assert posted.row(today()) == [D("0"), D("0")]
    assert posted.credit_methods == []
    every = selectors.cash_receipts(yesterday(), today(), batches=selectors.BATCHES_ALL)
    assert every.currency_total("USD") == D("300.00")


def test_cash_receipts_page__batches_choice_and_csv_totals(books, client, reader):
    client.force_login(reader)
    query = {"date_from": yesterday().isoformat(), "date_to": today().isoformat()}
    html = client.get(reverse("reporting:report_cash_receipts"), {**query, "batches": "posted"}).content.decode()
    assert "posted batches only" in html and "350.00" in html
    html = client.get(reverse("reporting:report_cash_receipts"), {**query, "batches": "all"}).content.decode()
    assert "all batches (open, ready, posted)" in html and "300.00" in html and "Credit used" in html

    *rows, totals = csv_rows(
        client.get(reverse("reporting:report_cash_receipts"), {**query, "batches": "all", "format": "csv"})
    )
    assert [r["date"] for r in rows] == [yesterday().isoformat(), today().isoformat()]
    assert rows[1] == {
        "date": today().isoformat(), "CASH USD": "0.00", "CHECK USD": "-90.00", "VISA USD": "40.00",
        "total": "-50.00", "payments": "1", "refunded": "90.00", "refunds": "1", "reversals": "0",
        "credit_used OPENCREDIT USD": "60.00",
    }  # fmt: skip
    # The totals line is the sum of the rows, column by column.
    assert totals["date"] == "TOTAL"
    for column in ("CASH USD", "CHECK USD", "VISA USD", "total", "refunded", "credit_used OPENCREDIT USD"):
        assert D(totals[column]) == sum(D(r[column]) for r in rows), column
    assert int(totals["payments"]) == sum(int(r["payments"]) for r in rows) == 3


def test_dashboard_receipts_today__agree_with_the_report(books, client, manager_user):
    client.force_login(manager_user)
    response = client.get(reverse("finance:dashboard"))
    figures = response.context["figures"]
    assert [(r.currency, r.amount) for r in figures.receipts_today] == [("USD", D("-50.00"))]
    report = selectors.cash_receipts(today(), today(), batches=selectors.BATCHES_ALL)
    assert report.day_currency_total(today(), "USD") == D("-50.00")
    assert selectors.dashboard_figures(today()).receipts_today == figures.receipts_today
    # The dashboard links to the report of today, every batch.
    html = response.content.decode()
    assert f"date_from={today().isoformat()}&amp;date_to={today().isoformat()}&amp;batches=all" in html


def test_method_colours__one_rule_the_same_on_every_chart(books, client, manager_user):
    client.force_login(manager_user)
    dashboard = client.get(reverse("finance:dashboard")).context["receipts_chart"]
    report = client.get(reverse("reporting:report_cash_receipts")).context["chart_json"]
    visa = books["visa"]
    expected = method_style(visa.pk)
    for chart in (dashboard, report):
        (series,) = [s for s in chart["series"] if s["label"] == "Visa"]
        assert (series["colour"], series["pattern"]) == (expected["colour"], expected["pattern"])
    # Different methods, different colours; open credit is on no chart.
    colours = [s["colour"] for s in report["series"]]
    assert len(set(colours)) == len(colours) == 3
    assert not any(s["label"] == "Open credit" for s in report["series"])


def test_a_reversed_payment_is_taken_off_on_the_reversal_day_not_its_own(ledger, client, reader):
    """A check received yesterday (batch posted) bounces today: yesterday still shows it
    received, today takes it off, in the reversal's batch."""
    payer = ContactFactory(name="Carol")
    old = BatchFactory(number="OLD", date=yesterday())
    make_invoice(ledger, payer, old, "75.00", date=yesterday())
    check = payment_receive(payer=payer, method=ledger.check_method, amount="75.00", date=yesterday(), batch=old)
    post(old)
    before = selectors.cash_receipts(yesterday(), yesterday())
    returned = BatchFactory(number="NSF", date=today())
    payment_reverse(payment=check, batch=returned, date=today(), reason="Returned check")
    check.refresh_from_db()
    assert check.reversal_date == today()

    every = selectors.cash_receipts(yesterday(), today())
    assert every.row(yesterday()) == before.row(yesterday()) == [D("75.00")]
    assert every.row(today()) == [D("-75.00")]
    assert every.day_reversal_count(today()) == 1 and every.day_refunded(today()) == D("75.00")
    assert every.currency_total("USD") == D("0.00")
    assert selectors.dashboard_figures(today()).receipts_today[0].amount == D("-75.00")
    # Posted batches only: the reversal counts once its own batch is posted.
    posted = selectors.cash_receipts(yesterday(), today(), batches=selectors.BATCHES_POSTED)
    assert posted.currency_total("USD") == D("75.00")
    post(returned)
    posted = selectors.cash_receipts(yesterday(), today(), batches=selectors.BATCHES_POSTED)
    assert posted.currency_total("USD") == D("0.00")

    client.force_login(reader)
    query = {"date_from": yesterday().isoformat(), "date_to": today().isoformat(), "batches": "all"}
    html = client.get(reverse("reporting:report_cash_receipts"), query).content.decode()
    assert "1 reversal" in html and "-75.00" in html
    *rows, totals = csv_rows(client.get(reverse("reporting:report_cash_receipts"), {**query, "format": "csv"}))
    assert [(r["date"], r["CHECK USD"], r["reversals"]) for r in rows] == [
        (yesterday().isoformat(), "75.00", "0"),
        (today().isoformat(), "-75.00", "1"),
    ]
    assert (totals["CHECK USD"], totals["reversals"]) == ("0.00", "1")


def test_each_batch_keeps_what_it_received_and_took_back_and_the_report_reads_it(ledger):
    """The payment table's triggers keep what each batch received and took back per day,
    method and currency (``BatchReceipts``), in the writing transaction; the report and
    the batch list read those rows; verify_ledger holds them to the payments."""
    from django.db import connection

    from finance.ledger_check import verify_ledger
    from finance.models import Batch, BatchReceipts
    from finance.selectors import batch_with_figures

    def kept():
        return {
            (r["batch_id"], r["date"], r["method__code"]): (r["received"], r["n"], r["reversed"], r["back"])
            for r in BatchReceipts.objects.values("batch_id", "date", "method__code")
            .annotate(
                received=Sum("received"),
                n=Sum("received_count"),
                reversed=Sum("reversed"),
                back=Sum("reversal_count"),
            )
            .order_by()
        }

    payer = ContactFactory(name="Dana")
    old = BatchFactory(number="OLD", date=yesterday())
    make_invoice(ledger, payer, old, "300.00", date=yesterday())
    first = payment_receive(payer=payer, method=ledger.check_method, amount="75.00", date=yesterday(), batch=old)
    payment_receive(payer=payer, method=ledger.check_method, amount="25.00", date=yesterday(), batch=old)
    payment_receive(payer=payer, method=ledger.cash_method, amount="10.00", date=yesterday(), batch=old)
    assert kept() == {
        (old.pk, yesterday(), "CHECK"): (D("100.00"), 2, D("0.00"), 0),
        (old.pk, yesterday(), "CASH"): (D("10.00"), 1, D("0.00"), 0),
    }
    post(old)
    # A reversal in another batch: counted there, on its day; the first batch's rows stay.
    returned = BatchFactory(number="NSF", date=today())
    payment_reverse(payment=first, batch=returned, date=today(), reason="Returned check")
    assert kept()[(returned.pk, today(), "CHECK")] == (D("0.00"), 0, D("75.00"), 1)
    assert kept()[(old.pk, yesterday(), "CHECK")] == (D("100.00"), 2, D("0.00"), 0)
    every = selectors.cash_receipts(yesterday(), today())
    assert every.row(yesterday()) == [D("10.00"), D("100.00")] and every.row(today()) == [D("0"), D("-75.00")]
    posted = selectors.cash_receipts(yesterday(), today(), batches=selectors.BATCHES_POSTED)
    assert posted.row(today()) == [D("0"), D("0")]  # the reversal's batch is open
    (listed,) = batch_with_figures([Batch.objects.get(pk=old.pk)])
    assert (listed.payment_count, listed.cash_total) == (3, D("110.00"))
    # 300 invoiced, 100 + 25 + 10 paid: no overpayment, so no credit invoice.
    assert (listed.invoice_count, listed.charges, listed.other_count) == (1, D("300.00"), 0)
    assert selectors.batch_receipts_mismatches() == (0, [])
    assert selectors.batch_invoice_mismatches() == (0, [])
    assert verify_ledger().ok

    # The report and the batch list read the kept rows: a changed row shows in both (and
    # verify_ledger reports it), where adding up the payments again would not.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE finance_batchreceipts SET received = received + 1 WHERE batch_id = %s", [old.pk])
    assert selectors.cash_receipts(yesterday(), yesterday()).row(yesterday()) == [D("11.00"), D("101.00")]
    (listed,) = batch_with_figures([Batch.objects.get(pk=old.pk)])
    assert listed.cash_total == D("112.00")
    count, rows = selectors.batch_receipts_mismatches()
    assert count == 2 and rows[0][0] == old.pk
    report = verify_ledger()
    assert not report.ok and "batch_receipts" in {c.name for c in report.checks if c.count}
    # The same for the kept invoice figures.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE finance_batchinvoices SET charges = charges - 1 WHERE batch_id = %s", [old.pk])
    (listed,) = batch_with_figures([Batch.objects.get(pk=old.pk)])
    assert listed.charges == D("299.00")
    assert selectors.batch_invoice_mismatches()[0] == 1
    assert "batch_invoices" in {c.name for c in verify_ledger().checks if c.count}


def test_payments_written_in_one_statement_are_kept_as_one_change(ledger):
    """A set-based write (as the AR import's) goes through the same statement trigger:
    many payments, one grouped change of the kept receipts."""
    from django.db import connection

    from finance.models import BatchReceipts, Payment

    payer = ContactFactory(name="Eve")
    batch = BatchFactory(number="BULK", date=today())
    model = payment_receive(payer=payer, method=ledger.check_method, amount="5.00", date=today(), batch=batch)
    columns = [f.column for f in Payment._meta.concrete_fields if f.column != "id"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO finance_payment ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM finance_payment, generate_series(1, 40) WHERE id = %s",
            [model.pk],
        )
    assert Payment.objects.filter(batch=batch).count() == 41
    rows = BatchReceipts.objects.filter(batch=batch)
    assert sum(r.received_count for r in rows) == 41 and sum(r.received for r in rows) == D("205.00")
    assert selectors.batch_receipts_mismatches() == (0, [])
