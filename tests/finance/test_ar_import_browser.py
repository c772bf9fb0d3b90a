"""The AR import pages in a real browser (Debian chromium via Playwright): upload, the
preview with a row error and a warning, and the history; screenshots for review."""

import datetime

import pytest
from playwright.sync_api import expect

from finance.models_ar_import import ARImport
from tests.e2e.conftest import browser_page, screenshot  # noqa: F401 - the browser fixtures
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import bh, imis, pay

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ar_import_preview_and_history_pages(browser_page, screenshot, live_server, ledger, staff_user, tmp_path):  # noqa: F811
    page = browser_page
    batch = BatchFactory(number="260101-1")
    carol = ContactFactory(party_id="105", name="Carol Hamilton")
    dan = ContactFactory(party_id="106", name="Dan Okafor", major_key="OKAFOR")
    make_invoice(ledger, carol, batch, "250.00", date=datetime.date(2026, 1, 2))
    make_invoice(ledger, carol, batch, "120.00", "30.00", date=datetime.date(2026, 1, 9))
    make_invoice(ledger, dan, batch, "400.00", date=datetime.date(2026, 1, 5))
    good = imis(
        pay(105, "265.00", check="1234", name="Carol Hamilton"),
        pay("*OKAFOR", "450.00", check="1235", name="Dan Okafor", invoice="1001"),
        batch="LB0120",
    )
    posted_file = tmp_path / "lockbox-0120.txt"
    posted_file.write_bytes(good)
    bad_file = tmp_path / "lockbox-0121.txt"
    bad_file.write_bytes(
        (
            "\n".join(
                [
                    bh(3, "380.00", batch="LB0121"),
                    pay(105, "100.00", check="2001", name="Carol Hamilton"),
                    pay(999, "200.00", check="2002", name="Unknown Payer"),
                    pay(106, "80.00", check="2003", name="=HYPERLINK(1)"),
                ]
            )
            + "\n"
        ).encode()
    )

    page.goto(f"{live_server.url}/ar-import/")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill("pw-clerk-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Upload a file").click()
    page.get_by_label("File").set_input_files(str(posted_file))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Validated")
    expect(page.get_by_test_id("ar-import-rows")).to_contain_text("Carol Hamilton")
    shot = screenshot("ar-import-preview")
    assert shot.exists()

    imp = ARImport.objects.get()
    from finance.services.ar_import import ar_import_post

    ar_import_post(ar_import=imp, user=staff_user)  # what the worker does on "Post"

    page.goto(f"{live_server.url}/ar-import/upload/")
    page.get_by_label("File").set_input_files(str(bad_file))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Invalid")
    expect(page.get_by_test_id("ar-import-rows")).to_contain_text("customer: no contact has party id 999")
    screenshot("ar-import-preview-errors")

    page.get_by_role("link", name="AR import", exact=True).first.click()
    expect(page.get_by_test_id("ar-import-history")).to_contain_text("Posted")
    screenshot("ar-import-history")
