"""A finance manager reads the dashboard and each report in a real browser, runs a
GL export and downloads it."""

import csv
import io
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finance.models import Batch, PaymentMethod
from finance.reporting import selectors
from finance.services.batches import batch_transition
from finance.services.payments import payment_receive
from tests.e2e.conftest import browser_page, screenshot  # noqa: F401 - the browser fixtures
from tests.factories import BatchFactory, ContactFactory, PaymentMethodFactory
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NAMES = [
    "Avery Ross", "Blake Chen", "Casey Patel", "Drew Nakamura", "Emery Walsh", "Finley Ortiz",
    "Gray Okafor", "Harper Lind", "Indigo Sato", "Jordan Price", "Kai Moreau", "Logan Brandt",
]  # fmt: skip


@pytest.fixture
def books(ledger):
    rng = random.Random(7)
    today = timezone.localdate()
    visa = PaymentMethodFactory(code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash)
    methods = [ledger.cash_method, ledger.check_method, visa]
    contacts = [ContactFactory(name=n) for n in NAMES]
    posted = BatchFactory(number="260101-1", description="Dues billing", date=today - timedelta(days=40))
    for i, contact in enumerate(contacts):
        for age in rng.sample([3, 12, 28, 40, 55, 70, 95, 110, 135, 200], k=1 + i % 4):
            make_invoice(ledger, contact, posted, str(rng.randrange(50, 900)), date=today - timedelta(days=age))
    receipts = BatchFactory(number="260301-1", description="Front desk receipts", date=today)
    for day in range(14):
        for _ in range(rng.randrange(1, 4)):
            payment_receive(
                payer=rng.choice(contacts),
                method=rng.choice(methods),
                amount=Decimal(rng.randrange(40, 600)),
                date=today - timedelta(days=day),
                batch=receipts,
            )
    # An overpayment leaves Blake Chen holding open credit.
    payment_receive(payer=contacts[1], method=ledger.check_method, amount="5000.00", date=today, batch=receipts)
    post(posted)
    ready = BatchFactory(number="260302-1", description="Lockbox", control_count=2, control_amount=Decimal("80.00"))
    payment_receive(payer=contacts[2], method=ledger.check_method, amount="80.00", date=today, batch=ready)
    batch_transition(batch=ready, to_status=Batch.Status.READY)
    return {"contacts": contacts}


def sign_in(page, live_server, path="/"):
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("pw-manager-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}{path}")


def test_dashboard_reports_and_gl_export_in_the_browser(browser_page, screenshot, live_server, books, manager_user):  # noqa: F811
    page = browser_page
    sign_in(page, live_server)

    # Dashboard: morning figures, two charts drawn by Chart.js, health tiles loaded.
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("unposted-batches")).to_have_text("2")
    expect(page.get_by_test_id("health-0")).not_to_contain_text("Loading")
    expect(page.get_by_test_id("health-1")).not_to_contain_text("Loading")
    assert page.evaluate("Chart.getChart('dash-receipts-chart').data.labels.length") == 14
    assert page.evaluate("Chart.getChart('dash-aging-chart').data.labels.length") == 5
    screenshot("reporting-dashboard")

    # The Reports menu leads to AR aging.
    page.get_by_role("button", name="Reports").or_(page.get_by_role("link", name="Reports")).first.click()
    page.get_by_role("link", name="AR aging").first.click()
    expect(page.get_by_role("heading", name="AR aging by contact")).to_be_visible()
    owing = selectors.ar_aging_by_contact(timezone.localdate()).count()
    assert owing >= 3
    table = page.get_by_test_id("aging-table")
    expect(table.locator("tbody tr")).to_have_count(owing)
    expect(table.locator("tfoot")).to_contain_text(f"Total ({owing} contacts)")
    chart_series = page.evaluate("Chart.getChart('aging-chart').data.datasets.map(d => d.label)")
    assert chart_series == ["Current (0–30)", "31–60", "61–90", "91–120", "Over 120"]
    # Patterns, not colour alone: every series but the first is filled with a pattern.
    assert page.evaluate(
        "Chart.getChart('aging-chart').data.datasets.slice(1).every(d => d.backgroundColor instanceof CanvasPattern)"
    )
    screenshot("reporting-ar-aging")
    with page.expect_download() as download_info:
        page.get_by_test_id("csv-download").click()
    *aging_rows, totals = csv.DictReader(io.StringIO(open(download_info.value.path()).read()))
    assert len(aging_rows) == owing and "over_120" in aging_rows[0]
    assert totals["party_id"] == "TOTAL" and Decimal(totals["total"]) == sum(Decimal(r["total"]) for r in aging_rows)

    page.get_by_role("link", name="Cash receipts").last.click()
    expect(page.get_by_role("heading", name="Cash receipts")).to_be_visible()
    expect(page.get_by_test_id("receipts-table").locator("thead")).to_contain_text("VISA")
    assert page.evaluate("Chart.getChart('receipts-chart').data.datasets.length") == 3
    screenshot("reporting-cash-receipts")

    page.get_by_role("link", name="Open credits").last.click()
    expect(page.get_by_test_id("credits-table")).to_contain_text("Blake Chen")
    screenshot("reporting-open-credits")

    page.get_by_role("link", name="Batch summary").last.click()
    summary = page.get_by_test_id("batch-summary-table")
    expect(summary).to_contain_text("260302-1")
    lockbox = summary.locator("tr", has_text="260302-1")
    expect(lockbox).to_contain_text("-1 ✗")  # control count 2, one payment in it
    expect(lockbox).to_contain_text("0.00 ✓")
    expect(summary.locator("tr", has_text="260301-1")).to_contain_text("none")
    screenshot("reporting-batch-summary")

    # GL export: only the posted batch is waiting; export it per month and download it.
    page.get_by_role("link", name="GL export").last.click()
    pending = int(page.get_by_test_id("pending-entries").inner_text().replace(",", ""))
    assert pending > 0
    page.get_by_label("Layout").select_option("summary_month")
    page.get_by_role("button", name="Export").click()
    expect(page.locator(".alert-success")).to_contain_text("entries")
    expect(page.get_by_test_id("pending-entries")).to_have_text("0")
    row = page.get_by_test_id("gl-export-table").locator("tbody tr").first
    expect(row).to_contain_text("Per month")
    screenshot("reporting-gl-export")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    rows = list(csv.DictReader(io.StringIO(open(download_info.value.path()).read())))
    total = rows[-1]
    assert total["gl_account"] == "TOTAL" and total["debit"] == total["credit"]
    assert Decimal(total["debit"]) == sum(Decimal(r["debit"]) for r in rows[:-1])

    # Running it again finds nothing new and says so.
    page.get_by_role("button", name="Export").click()
    expect(page.locator(".alert-warning")).to_contain_text("Nothing new to export")
