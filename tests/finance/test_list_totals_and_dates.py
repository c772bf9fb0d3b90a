"""The invoice and payment lists end with a totals row per currency that adds up the
rows the filters select (one aggregate query, which also gives the pager its count),
and download the same rows as CSV, streamed, with a totals line. Every page and CSV
writes dates and times one way (core/formats), in the association's time zone."""

import csv
import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import Module
from finance import pagination
from finance.models import Batch
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db
D = Decimal
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def csv_rows(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def clerk(client, django_user_model, grant):
    user = django_user_model.objects.create_user("lister", password="pw-lister-123")
    grant(user, Module.AR_CASH, 2)
    client.force_login(user)
    return client


@pytest.fixture
def books(ledger):
    a, b = ContactFactory(name="Ann Archer"), ContactFactory(name="Ben Bishop")
    one, two = BatchFactory(number="LIST-1"), BatchFactory(number="LIST-2")
    make_invoice(ledger, a, one, "100.00")
    make_invoice(ledger, b, one, "250.50")
    make_invoice(ledger, a, two, "75.25")
    payment_receive(payer=a, method=ledger.cash_method, amount="60.00", date=one.date, batch=one)
    payment_receive(payer=b, method=ledger.check_method, amount="20.10", date=one.date, batch=one)
    payment_receive(payer=a, method=ledger.check_method, amount="5.00", date=two.date, batch=two)
    return {"one": one, "two": two}


def _footer(response) -> list[list[str]]:
    return [[cell["text"] for cell in row] for row in response.context["table"].totals_rows]


def test_invoice_list__totals_row_adds_up_the_filtered_rows_in_one_query(books, clerk):
    with CaptureQueriesContext(connection) as queries:
        response = clerk.get(reverse("finance:invoice_list"), {"batch": "LIST-1"})
    assert response.status_code == 200
    rows = list(response.context["table"].page.object_list)
    assert len(rows) == 2
    (footer,) = _footer(response)
    assert footer[0] == "Total USD · 2 invoices"
    assert "350.50" in footer  # 100.00 + 250.50, the rows' totals
    assert D(footer[-2].replace(",", "")) == sum(r.record.balance for r in rows)
    invoice_sql = [q["sql"] for q in queries.captured_queries if 'FROM "finance_invoice"' in q["sql"]]
    # One aggregate (count and sums) and the page's rows: the pager counts nothing again.
    assert sum("SUM(" in sql for sql in invoice_sql) == 1
    assert not any("COUNT(" in sql and "SUM(" not in sql for sql in invoice_sql), invoice_sql
    html = response.content.decode()
    assert 'data-testid="totals-row"' in html and "Download CSV" in html


def test_payment_list__totals_row_and_csv_with_totals_line(books, clerk):
    response = clerk.get(reverse("finance:payment_list"), {"batch": "LIST-1"})
    (footer,) = _footer(response)
    assert footer[0] == "Total USD · 2 payments" and "80.10" in footer
    *rows, totals = csv_rows(clerk.get(reverse("finance:payment_list"), {"batch": "LIST-1", "format": "csv"}))
    assert sorted(r["amount"] for r in rows) == ["20.10", "60.00"]
    assert {r["batch"] for r in rows} == {"LIST-1"}
    assert (totals["payment"], totals["currency"], totals["amount"]) == ("TOTAL", "USD", "80.10")


def test_invoice_csv__the_filtered_rows_and_their_totals(books, clerk):
    *rows, totals = csv_rows(clerk.get(reverse("finance:invoice_list"), {"format": "csv"}))
    assert len(rows) == 3
    assert totals["invoice"] == "TOTAL"
    assert D(totals["total"]) == sum(D(r["total"]) for r in rows) == D("425.75")
    assert D(totals["balance"]) == sum(D(r["balance"]) for r in rows)
    *rows, _ = csv_rows(clerk.get(reverse("finance:invoice_list"), {"contact": "Ann", "format": "csv"}))
    assert {r["bill_to"] for r in rows} == {"Ann Archer"}


def test_invoice_list__a_big_unfiltered_list_is_not_added_up(books, clerk, monkeypatch):
    monkeypatch.setattr(pagination, "estimated_rows", lambda alias, table: 2_000_000)
    with CaptureQueriesContext(connection) as queries:
        response = clerk.get(reverse("finance:invoice_list"))
    assert not any("SUM(" in q["sql"] for q in queries.captured_queries)
    assert _footer(response) == [["Filter the list to add it up (it is too long to total unfiltered)."]]


def test_sortable_headers__show_that_they_sort_and_the_direction(books, clerk):
    html = clerk.get(reverse("finance:invoice_list"), {"sort": "-date"}).content.decode()
    assert re.search(r'<th class="[^"]*desc[^"]*orderable[^"]*" scope="col" aria-sort="descending">', html)
    assert 'aria-sort="none"' in html and 'class="sort-mark"' in html
    assert 'title="Sort by date (now descending)"' in html


# --- one date format, the association's time zone -----------------------------------

ALLOWED = {"DATETIME_FORMAT", "l", "H:i:s", "Y-m-d"}


def test_templates__write_dates_the_configured_way():
    """Dates go through ``|date`` (DATE_FORMAT) or ``|date:"DATETIME_FORMAT"``; a fixed
    "Y-m-d" only inside URLs and form values (single quotes), never shown as text."""
    found = []
    for path in TEMPLATES.rglob("*.html"):
        for fmt in re.findall(r'\|date:"([^"]*)"', path.read_text()):
            if fmt not in ALLOWED - {"Y-m-d"}:
                found.append(f"{path.relative_to(TEMPLATES)}: {fmt}")
    assert not found, found


@pytest.mark.parametrize(
    ("zone", "shown"), [("America/New_York", "2026-01-14 22:30"), ("Europe/Paris", "2026-01-15 04:30")]
)
def test_pages_and_csv__one_format_in_the_local_time_zone(
    ledger, client, django_user_model, grant, settings, zone, shown
):
    settings.TIME_ZONE = zone
    user = django_user_model.objects.create_user("zone", password="pw-zone-123")
    grant(user, Module.AR_CASH, 1)
    grant(user, Module.FINANCE, 2)
    client.force_login(user)
    posted_at = datetime.datetime(2026, 1, 15, 3, 30, tzinfo=datetime.UTC)
    batch = BatchFactory(
        number="TZ-1", date=datetime.date(2026, 1, 15), status=Batch.Status.POSTED, posted_at=posted_at
    )
    html = client.get(reverse("finance:batch_detail", args=[batch.pk])).content.decode()
    assert f"posted {shown}" in html and "2026-01-15" in html
    html = client.get(reverse("reporting:report_batches")).content.decode()
    day, time = shown.split()
    assert f"{day}<div" in html and f">{time}</div>" in html  # the day, the time under it
    rows = csv_rows(client.get(reverse("reporting:report_batches"), {"format": "csv"}))
    (row,) = [r for r in rows if r["batch"] == "TZ-1"]
    assert (row["date"], row["posted_at"]) == ("2026-01-15", shown)  # not UTC, not ISO "T…+00:00"


def test_sql_day_format__writes_days_as_the_pages_do():
    from core.dates import SQL_DAY_FORMAT, format_day

    day = datetime.date(2026, 3, 7)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_char(%s::date, %s)", [day, SQL_DAY_FORMAT])
        assert cursor.fetchone()[0] == format_day(day) == "2026-03-07"
