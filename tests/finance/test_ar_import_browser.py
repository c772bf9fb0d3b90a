"""The AR import pages in a real browser (Debian chromium via Playwright): upload, the
preview with a row error and a warning, and the history; screenshots for review."""

import datetime
import io
import re

import pytest
from playwright.sync_api import expect

from finance.models_ar_import import ARImport
from tests.e2e.conftest import browser_page, screenshot  # noqa: F401 - the browser fixtures
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import bh, imis, pay
from tests.finance.test_ar_import_views import eager  # noqa: F401 - Celery tasks run where they are sent
from tests.finance.test_tasks import worker  # noqa: F401 - the embedded Celery worker fixture

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
    from finance.ar_import.services import ar_import_post

    ar_import_post(ar_import=imp, user=staff_user)  # what the worker does on "Post"

    page.goto(f"{live_server.url}/ar-import/upload/")
    page.get_by_label("File").set_input_files(str(bad_file))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Invalid")
    expect(page.get_by_test_id("ar-import-rows")).to_contain_text("customer: no contact has party id 999")
    screenshot("ar-import-preview-errors")

    page.get_by_role("link", name="AR import", exact=True).first.click()
    # The imported file's badge is its batch's state: open, nothing posted yet.
    badges = page.get_by_test_id("ar-import-history").get_by_test_id("ar-import-status")
    expect(badges.filter(has_text="Open")).to_have_count(1)
    expect(badges.filter(has_text="Posted")).to_have_count(0)
    screenshot("ar-import-history")


@pytest.mark.redis
def test_big_file_checked_in_the_worker_then_posted_and_a_stopped_posting_recovered(
    browser_page,  # noqa: F811
    screenshot,  # noqa: F811
    live_server,
    ledger,
    staff_user,
    tmp_path,
    worker,  # noqa: F811
    settings,
):
    """A file over the in-request limit: the page shows the check's progress bar, then
    the preview; Post runs in the worker. Then an import left "posting" by a stopped
    worker offers "Check and post again", which posts it."""
    from django.utils import timezone

    from finance.models import Payment

    settings.MEDIA_ROOT = str(tmp_path / "media")
    page = browser_page
    carol = ContactFactory(party_id="105", name="Carol Hamilton")
    make_invoice(ledger, carol, BatchFactory(number="260101-1"), "250.00", date=datetime.date(2026, 1, 2))
    rows = [pay(105, "1.00", check=str(50_000 + i), name="Carol Hamilton") for i in range(25_000)]
    big = tmp_path / "lockbox-big.txt"
    big.write_bytes(imis(*rows, batch="LB0130"))
    assert big.stat().st_size > 1024 * 1024

    page.goto(f"{live_server.url}/ar-import/upload/")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill("pw-clerk-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("File").set_input_files(str(big))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_text(re.compile(r"lockbox-big.txt: checking 1\.\d MB in the background"))).to_be_visible()
    screenshot("ar-import-checking")
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Validated", timeout=90_000)
    expect(page.get_by_test_id("ar-import-totals")).to_contain_text("25,000")
    screenshot("ar-import-checked-preview")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("ar-import-post").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Open", timeout=90_000)  # its batch is open
    assert Payment.objects.count() == 25_000

    # A posting whose worker stopped: "posting" with no posting running.
    stuck_file = tmp_path / "lockbox-stuck.txt"
    stuck_file.write_bytes(imis(pay(105, "40.00", check="9001", name="Carol Hamilton"), batch="LB0131"))
    page.goto(f"{live_server.url}/ar-import/upload/")
    page.get_by_label("File").set_input_files(str(stuck_file))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Validated")
    stuck = ARImport.objects.get(file_name="lockbox-stuck.txt")
    ARImport.objects.filter(pk=stuck.pk).update(status=ARImport.Status.POSTING, posting_started_at=timezone.now())
    page.reload()
    expect(page.get_by_test_id("ar-import-recover")).to_be_visible()
    screenshot("ar-import-posting-stopped")
    page.get_by_test_id("ar-import-recover").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Open", timeout=60_000)  # its batch is open
    assert Payment.objects.filter(reference="9001").count() == 1


def test_repeated_checks_need_the_confirmation_and_a_bad_file_is_discarded(
    browser_page,  # noqa: F811
    screenshot,  # noqa: F811
    live_server,
    ledger,
    staff_user,
    tmp_path,
    eager,  # noqa: F811
):
    """Two entities: the upload asks which. The same checks sent again under a new batch
    number: the preview marks each repeated row with the batch that posted it, and Post
    needs the confirmation box ticked (the posting runs in the request here). Then an
    invalid file is discarded from the list."""
    from finance.ar_import.services import ar_import_post, ar_import_validate
    from finance.ledger_check import verify_ledger
    from finance.models import Payment
    from tests.factories import LedgerSetup

    page = browser_page
    LedgerSetup.build(code="FDN")  # a second entity with its own 1000-00
    carol = ContactFactory(party_id="105", name="Carol Hamilton")
    ContactFactory(party_id="106", name="Dan Okafor")
    make_invoice(ledger, carol, BatchFactory(number="260101-1"), "250.00", date=datetime.date(2026, 1, 2))
    first = imis(
        pay(105, "120.00", check="4101", name="Carol Hamilton"),
        pay(106, "80.00", check="4102", name="Dan Okafor"),
        batch="LB0201",
    )
    done = ar_import_validate(fileobj=io.BytesIO(first), file_name="lockbox-0201.txt", entity=ledger.entity)
    ar_import_post(ar_import=done)
    resent = tmp_path / "lockbox-0202.txt"
    resent.write_bytes(
        imis(
            pay(105, "120.00", check="4101", name="Carol Hamilton"),
            pay(106, "80.00", check="4102", name="Dan Okafor"),
            pay(106, "35.00", check="4150", name="Dan Okafor"),
            batch="LB0202",
        )
    )
    bad = tmp_path / "lockbox-bad.txt"
    bad.write_bytes(imis(pay("10\x005", "10.00", check="1", name="Carol Hamilton"), batch="LB0203"))

    page.goto(f"{live_server.url}/ar-import/upload/")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill("pw-clerk-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Financial entity")).to_have_value(str(ledger.entity.pk))
    page.get_by_label("File").set_input_files(str(resent))
    screenshot("ar-import-upload-entity")
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Validated")
    repeats = page.get_by_test_id("ar-import-repeats")
    expect(repeats).to_contain_text("2 rows repeat payments posted before")
    expect(page.get_by_test_id("ar-import-rows")).to_contain_text(
        "row: the same payer, check number and amount were posted before, in batch LB0201"
    )
    screenshot("ar-import-preview-repeats")

    page.get_by_test_id("ar-import-post").click()  # the box is not ticked: the browser keeps the form
    imp = ARImport.objects.get(file_name="lockbox-0202.txt")
    assert imp.status == ARImport.Status.VALIDATED
    page.get_by_test_id("ar-import-confirm-repeats").check()
    page.get_by_test_id("ar-import-post").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Open", timeout=60_000)  # its batch is open
    assert Payment.objects.filter(batch__number="LB0202").count() == 3
    assert verify_ledger().ok

    page.goto(f"{live_server.url}/ar-import/upload/")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Check and preview").click()
    expect(page.get_by_test_id("ar-import-status")).to_have_text("Invalid")
    expect(page.get_by_test_id("ar-import-rows")).to_contain_text("customer: contains NUL (0x00) at character 3")
    screenshot("ar-import-preview-control-character")
    invalid = ARImport.objects.get(file_name="lockbox-bad.txt")
    page.get_by_role("link", name="AR import", exact=True).first.click()
    screenshot("ar-import-history-discard")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id(f"ar-import-discard-{invalid.pk}").click()
    expect(page.get_by_text(f"AR import {invalid.pk} (lockbox-bad.txt) discarded")).to_be_visible()
    expect(page.get_by_test_id("ar-import-history")).not_to_contain_text("lockbox-bad.txt")
    screenshot("ar-import-history-after-discard")
    invalid.refresh_from_db()
    assert invalid.status == ARImport.Status.DISCARDED
