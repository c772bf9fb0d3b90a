"""Report pages and selectors: AR aging, cash receipts, open credits, batch summary,
their CSV downloads, the dashboard tiles and who may see what."""

import csv
import io
import sys
import types
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Module
from finance.models import Batch, PaymentMethod
from finance.reporting import selectors
from finance.reporting.models import GLExport
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory, PaymentMethodFactory
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import D, post

pytestmark = pytest.mark.django_db
REPORT_PAGES = [
    "report_home",
    "report_ar_aging",
    "report_cash_receipts",
    "report_open_credits",
    "report_batches",
    "report_gl_exports",
]


def today():
    return timezone.localdate()


def days_ago(n):
    return today() - timedelta(days=n)


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def reader(django_user_model, grant):
    user = django_user_model.objects.create_user("reader", password="pw-reader-123", is_staff=True)
    grant(user, Module.AR_CASH, 1)
    return grant(user, Module.FINANCE, 2)


@pytest.fixture
def aged(ledger):
    """Alice owes 100 (5 days), 200 (45 days), 300 (150 days); Bob 50 (75 days), 60
    (100 days) and holds a 40 credit (overpaid a 10 invoice by 40)."""
    alice, bob = ContactFactory(name="Alice Adams"), ContactFactory(name="Bob Brown")
    batch = BatchFactory()
    make_invoice(ledger, alice, batch, "100", date=days_ago(5))
    make_invoice(ledger, alice, batch, "200", date=days_ago(45))
    make_invoice(ledger, alice, batch, "300", date=days_ago(150))
    make_invoice(ledger, bob, batch, "50", date=days_ago(75))
    make_invoice(ledger, bob, batch, "60", date=days_ago(100))
    paid = make_invoice(ledger, bob, batch, "10", date=days_ago(20))
    from finance.services.payments import ApplicationSpec

    payment_receive(
        payer=bob,
        method=ledger.check_method,
        amount="50",
        date=days_ago(2),
        batch=batch,
        applications=[ApplicationSpec(line=paid.lines.get(), amount=D("10"))],
    )
    return {"alice": alice, "bob": bob, "batch": batch}


def test_ar_aging__buckets_by_invoice_age(aged):
    rows = {r["bill_to__name"]: r for r in selectors.ar_aging_by_contact(today())}
    alice, bob = rows["Alice Adams"], rows["Bob Brown"]
    assert [alice[k] for k, *_ in selectors.AGING_BUCKETS] == [D("100"), D("200"), D("0"), D("0"), D("300")]
    assert alice["total"] == D("600") and alice["invoice_count"] == 3
    assert [bob[k] for k, *_ in selectors.AGING_BUCKETS] == [D("0"), D("0"), D("50"), D("60"), D("0")]
    assert list(rows) == ["Alice Adams", "Bob Brown"]  # largest total first
    (totals,) = selectors.ar_aging_totals(today())
    assert totals["total"] == D("710") and totals["contact_count"] == 2
    assert totals["over_120"] == D("300")


def test_ar_aging__bucket_edges(ledger):
    c = ContactFactory()
    batch = BatchFactory()
    for age in (30, 31, 60, 61, 90, 91, 120, 121):
        make_invoice(ledger, c, batch, str(age), date=days_ago(age))
    (row,) = selectors.ar_aging_by_contact(today())
    assert [row[k] for k, *_ in selectors.AGING_BUCKETS] == [D("30"), D("91"), D("151"), D("211"), D("121")]


def test_ar_aging_page_and_csv(client, reader, aged):
    client.force_login(reader)
    response = client.get(reverse("reporting:report_ar_aging"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Alice Adams" in html and "710.00" in html and 'id="aging-data"' in html
    *rows, totals = csv_rows(client.get(reverse("reporting:report_ar_aging"), {"format": "csv"}))
    assert [(r["contact"], r["total"], r["over_120"]) for r in rows] == [
        ("Alice Adams", "600.00", "300.00"),
        ("Bob Brown", "110.00", "0.00"),
    ]
    assert (totals["party_id"], totals["currency"], totals["total"], totals["over_120"]) == (
        "TOTAL", "USD", "710.00", "300.00"
    )  # fmt: skip


def test_cash_receipts__per_day_and_method_a_reversal_taken_off_on_its_day(ledger, client, reader):
    from finance.services.payments import payment_reverse

    visa = PaymentMethodFactory(code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash)
    c = ContactFactory()
    batch = BatchFactory()
    payment_receive(payer=c, method=ledger.cash_method, amount="10", date=days_ago(1), batch=batch)
    payment_receive(payer=c, method=ledger.check_method, amount="20", date=days_ago(1), batch=batch)
    payment_receive(payer=c, method=visa, amount="30", date=days_ago(1), batch=batch)
    payment_receive(payer=c, method=ledger.check_method, amount="5", date=today(), batch=batch)
    bounced = payment_receive(payer=c, method=ledger.check_method, amount="99", date=today(), batch=batch)
    payment_reverse(payment=bounced, batch=batch, date=today(), reason="bounced")

    grid = selectors.cash_receipts(days_ago(6), today())
    assert len(grid.days) == 7
    assert [code for code, _, _ in grid.methods] == ["CASH", "CHECK", "VISA"]
    assert grid.row(days_ago(1)) == [D("10"), D("20"), D("30")]
    # Today: 5 + 99 by check came in, and the 99 went back the same day (bounced).
    assert grid.row(today()) == [D("0"), D("5"), D("0")]
    assert grid.day_count(today()) == 2 and grid.day_reversal_count(today()) == 1
    assert grid.currency_total("USD") == D("65")

    client.force_login(reader)
    query = {"date_from": days_ago(6).isoformat(), "date_to": today().isoformat()}
    response = client.get(reverse("reporting:report_cash_receipts"), query)
    assert response.status_code == 200 and "65.00" in response.content.decode()
    rows = csv_rows(client.get(reverse("reporting:report_cash_receipts"), {**query, "format": "csv"}))
    assert rows == [
        {"date": days_ago(1).isoformat(), "CASH USD": "10.00", "CHECK USD": "20.00", "VISA USD": "30.00",
         "total": "60.00", "payments": "3", "refunded": "0.00", "refunds": "0", "reversals": "0"},
        {"date": today().isoformat(), "CASH USD": "0.00", "CHECK USD": "5.00", "VISA USD": "0.00",
         "total": "5.00", "payments": "2", "refunded": "99.00", "refunds": "0", "reversals": "1"},
        {"date": "TOTAL", "CASH USD": "10.00", "CHECK USD": "25.00", "VISA USD": "30.00",
         "total": "65.00", "payments": "5", "refunded": "99.00", "refunds": "0", "reversals": "1"},
    ]  # fmt: skip


def test_cash_receipts__bad_range_named(client, reader):
    client.force_login(reader)
    response = client.get(
        reverse("reporting:report_cash_receipts"), {"date_from": "2026-03-01", "date_to": "2026-02-01"}
    )
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()


def test_open_credits__who_how_much_since_when(aged, client, reader):
    (row,) = selectors.open_credits_by_contact()
    assert row["bill_to__name"] == "Bob Brown" and row["held"] == D("40.00")
    assert row["since"] == days_ago(2) and row["credit_count"] == 1
    client.force_login(reader)
    html = client.get(reverse("reporting:report_open_credits")).content.decode()
    assert "Bob Brown" in html and "40.00" in html
    rows = csv_rows(client.get(reverse("reporting:report_open_credits"), {"format": "csv"}))
    assert rows == [
        {
            "party_id": aged["bob"].party_id,
            "contact": "Bob Brown",
            "currency": "USD",
            "credit_held": "40.00",
            "credit_invoices": "1",
            "held_since": days_ago(2).isoformat(),
        },
        {
            "party_id": "TOTAL",
            "contact": "",
            "currency": "USD",
            "credit_held": "40.00",
            "credit_invoices": "1",
            "held_since": "",
        },
    ]


def test_batch_summary__control_vs_actual(ledger, client, reader):
    c = ContactFactory()
    ok = BatchFactory(number="OK1", control_count=2, control_amount=D("25"))
    make_invoice(ledger, c, ok, "25")
    payment_receive(payer=c, method=ledger.cash_method, amount="25", date=days_ago(1), batch=ok)
    off = BatchFactory(number="OFF1", control_count=3, control_amount=D("100"))
    payment_receive(payer=c, method=ledger.cash_method, amount="60", date=days_ago(1), batch=off)
    posted = BatchFactory(number="POST1")
    post(posted)
    BatchFactory(number="GONE", status=Batch.Status.DELETED)

    rows = {b.number: b for b in selectors.batch_summary()}
    assert set(rows) == {"OK1", "OFF1", "POST1"}
    assert (rows["OK1"].actual_count, rows["OK1"].count_difference, rows["OK1"].amount_difference) == (2, 0, D("0"))
    assert (rows["OFF1"].count_difference, rows["OFF1"].amount_difference) == (-2, D("-40"))
    assert rows["POST1"].count_difference is None

    client.force_login(reader)
    html = client.get(reverse("reporting:report_batches"), {"status": "open"}).content.decode()
    assert "OFF1" in html and "POST1" not in html and "-40.00" in html
    rows = csv_rows(client.get(reverse("reporting:report_batches"), {"format": "csv"}))
    off_row = next(r for r in rows if r["batch"] == "OFF1")
    assert (off_row["control_count"], off_row["actual_count"], off_row["amount_difference"]) == ("3", "1", "-40.00")


def test_report_csv__text_cells_escaped(ledger, client, reader):
    evil = ContactFactory(name='=HYPERLINK("http://evil")')
    make_invoice(ledger, evil, BatchFactory(), "12.50", date=days_ago(3))
    client.force_login(reader)
    row, _totals = csv_rows(client.get(reverse("reporting:report_ar_aging"), {"format": "csv"}))
    assert row["contact"] == '\'=HYPERLINK("http://evil")'
    assert row["total"] == "12.50"


def test_reports__need_finance_level_2(client, staff_user, reader):
    client.force_login(staff_user)  # AR/Cash 2, no Finance level
    for name in REPORT_PAGES:
        assert client.get(reverse(f"reporting:{name}")).status_code == 403
    client.force_login(reader)
    for name in REPORT_PAGES:
        assert client.get(reverse(f"reporting:{name}")).status_code == 200


def test_reports__anonymous_sent_to_login(client):
    response = client.get(reverse("reporting:report_ar_aging"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_gl_export_page__level_4_runs_level_2_downloads(ledger, client, reader, manager_user):
    batch = BatchFactory(number="G1")
    make_invoice(ledger, ContactFactory(), batch, "125.00")
    post(batch)
    client.force_login(reader)
    page = client.get(reverse("reporting:report_gl_exports")).content.decode()
    assert "needs Finance authorization level 4" in page
    assert client.post(reverse("reporting:report_gl_exports"), {"mode": "detailed"}).status_code == 403
    assert not GLExport.objects.exists()

    client.force_login(manager_user)
    response = client.post(
        reverse("reporting:report_gl_exports"), {"mode": "summary_month", "date_from": "", "date_to": ""}
    )
    assert response.status_code == 302
    export = GLExport.objects.get()
    assert export.created_by == manager_user and export.total_debit == D("125.00")
    again = client.post(reverse("reporting:report_gl_exports"), {"mode": "detailed"})
    assert again.status_code == 400 and "Nothing new to export" in again.content.decode()
    bad = client.post(
        reverse("reporting:report_gl_exports"), {"mode": "detailed", "date_from": "2026-02-01", "date_to": "2026-01-01"}
    )
    assert "The end date is before the start date." in bad.content.decode()

    client.force_login(reader)
    download = client.get(reverse("reporting:report_gl_export_download", args=[export.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{export.filename}"'
    rows = csv_rows(download)
    assert rows[-1]["gl_account"] == "TOTAL" and rows[-1]["debit"] == rows[-1]["credit"] == "125.00"


def test_dashboard__health_tiles_not_set_up_then_figures(client, manager_user, monkeypatch):
    from finance.reporting import dashboard

    client.force_login(manager_user)
    client.get(reverse("finance:dashboard"))  # URLs loaded before the sources are swapped
    monkeypatch.setattr(
        dashboard,
        "health_sources",
        lambda: [
            ("OpenWater pushback", "tests.reporting.no_such_module", "pushback_health"),  # ImportError
            ("Processor invoice sync", "finance.reporting.selectors", "sync_health"),  # AttributeError
        ],
    )
    page = client.get(reverse("finance:dashboard")).content.decode()
    assert page.count('hx-trigger="load"') == 2 and "OpenWater pushback" in page
    html = "".join(client.get(reverse("reporting:report_health_tile", args=[i])).content.decode() for i in (0, 1))
    assert html.count("Not set up") == 2 and html.count('data-state="not-set-up"') == 2
    assert "OpenWater pushback" in html and "Processor invoice sync" in html
    assert client.get(reverse("reporting:report_health_tile", args=[2])).status_code == 404

    openwater = types.ModuleType("fake_openwater_selectors")
    openwater.pushback_health = lambda: {"integrations": 2, "started": 1, "last_run_status": "succeeded"}
    sync = types.ModuleType("fake_sync_selectors")
    sync.sync_health = lambda: {"in_error": 3, "on_hold": 0}
    monkeypatch.setitem(sys.modules, "fake_openwater_selectors", openwater)
    monkeypatch.setitem(sys.modules, "fake_sync_selectors", sync)
    monkeypatch.setattr(
        dashboard,
        "health_sources",
        lambda: [
            ("OpenWater pushback", "fake_openwater_selectors", "pushback_health"),
            ("Processor invoice sync", "fake_sync_selectors", "sync_health"),
        ],
    )
    html = "".join(client.get(reverse("reporting:report_health_tile", args=[i])).content.decode() for i in (0, 1))
    assert "Not set up" not in html and html.count('data-state="reporting"') == 2
    assert "Last run status" in html and "succeeded" in html and "In error" in html


def test_dashboard__real_health_sources_listed():
    """The integrations declare their tiles (their app configs' ``health_tiles``)."""
    from finance.reporting.dashboard import health_sources

    assert [(m, f) for _, m, f in health_sources()] == [
        ("integrations.openwater.selectors", "pushback_health"),
        ("integrations.selectors", "sync_health"),
    ]


def test_dashboard__figures_and_chart_data(aged, client, manager_user):
    client.force_login(manager_user)
    response = client.get(reverse("finance:dashboard"))
    context = response.context
    ((currency, buckets),) = context["aging"]
    assert currency == "USD" and dict(buckets)["Over 120"] == D("300")
    assert context["receipts_totals"] == [("USD", D("50"))]
    assert context["receipts_chart"]["series"][0]["data"][-3] == "50.00"  # two days ago
    assert 'id="dash-receipts-data"' in response.content.decode()


def test_dashboard__query_count_does_not_grow(aged, ledger, client, manager_user, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(manager_user)
    client.get(reverse("finance:dashboard"))
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("finance:dashboard"))
    for n in range(20):
        make_invoice(ledger, ContactFactory(), aged["batch"], "10", date=days_ago(n * 9))
        payment_receive(
            payer=aged["alice"], method=ledger.cash_method, amount="3", date=days_ago(n % 14), batch=aged["batch"]
        )
    with CaptureQueriesContext(connection) as large:
        client.get(reverse("finance:dashboard"))
    # (13: the header's current batch is one query of every staff page.)
    assert len(large.captured_queries) == len(small.captured_queries) <= 13


def test_report_pages__paged_by_contact_counts(ledger, client, reader):
    batch = BatchFactory()
    for n in range(55):
        contact = ContactFactory(name=f"Member {n:02d}")
        make_invoice(ledger, contact, batch, str(100 + n), date=days_ago(n))
    for n in range(3):
        BatchFactory(number=f"PG{n}")
    client.force_login(reader)
    first = client.get(reverse("reporting:report_ar_aging"))
    assert first.context["page"].paginator.count == 55
    assert len(first.context["page"].object_list) == 50 and first.context["chart_count"] == 10
    second = client.get(reverse("reporting:report_ar_aging"), {"page": 2})
    names = [r["bill_to__name"] for r in second.context["page"].object_list]
    assert names == [f"Member {n:02d}" for n in range(4, -1, -1)]  # the five smallest totals
    assert second.context["chart_json"]["labels"][0] == "Member 54"  # the chart keeps the largest
    batches = client.get(reverse("reporting:report_batches"))
    assert batches.context["page"].paginator.count == 4
    assert sorted(b.number for b in batches.context["batches"]) == sorted(["PG0", "PG1", "PG2", batch.number])


@pytest.mark.parametrize(
    "url_name",
    [
        "reporting:report_ar_aging",
        "reporting:report_cash_receipts",
        "reporting:report_open_credits",
        "reporting:report_batches",
        "reporting:report_gl_exports",
    ],
)
def test_report_pages__query_count_does_not_grow_with_rows(
    aged, ledger, client, reader, url_name, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(reader)
    url = reverse(url_name)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for n in range(30):
        contact = ContactFactory()
        batch = BatchFactory()
        make_invoice(ledger, contact, batch, "10", "5", date=days_ago(n * 7))
        payment_receive(payer=contact, method=ledger.cash_method, amount="40", date=days_ago(n % 20), batch=batch)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
