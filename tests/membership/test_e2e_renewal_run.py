"""Browser walk-through of a renewal run: choose → preview (members, lines, totals,
skipped with reasons) → post in the worker with progress → the batch and the member's
term invoice; the ledger checks clean afterwards."""

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from finance.ledger_check import verify_ledger
from finance.membership.models import RenewalRun, Subscription
from finance.models import Invoice
from finance.services.payments import payment_receive
from tests.factories import BatchFactory
from tests.membership.conftest import make_member

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
DEC31 = datetime.date(2025, 12, 31)


def test_renewal_run__choose_preview_post(
    browser_page,
    screenshot,
    live_server,
    ledger,
    member_types,
    membership_manager,
    worker,
):
    page = browser_page
    reg, stu = member_types["REG"], member_types["STU"]
    ann, ann_sub = make_member(reg, DEC31, name="Ann Able", sort_name="Able, Ann", party_id="60001")
    make_member(stu, datetime.date(2025, 11, 30), name="Bob Baker", sort_name="Baker, Bob", party_id="60002")
    make_member(reg, DEC31, name="Lee Lapsed", sort_name="Lapsed, Lee", party_id="60003", status="lapsed")
    tia, _ = make_member(reg, DEC31, name="Tia Two", sort_name="Two, Tia", party_id="60004")
    Subscription.objects.create(contact=tia, member_type=stu, join_date=DEC31, paid_through=DEC31)
    # Ann overpaid last year: 120.00 of open credit, applied to her renewal automatically.
    payment_receive(
        payer=ann,
        method=ledger.check_method,
        amount="120.00",
        date=datetime.date(2025, 6, 1),
        batch=BatchFactory(number="250601-1"),
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("mm")
    page.get_by_label("Password").fill("pw-mm-12345")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Membership").first.click()
    expect(page.get_by_test_id("member-types")).to_contain_text("Regular member")
    screenshot("membership-01-home")

    page.get_by_role("link", name="New renewal run").first.click()
    page.get_by_label("Paid through from").fill("2025-11-01")
    page.get_by_label("Paid through to").fill("2025-12-31")
    page.get_by_label("Effective date").fill("2026-01-01")
    page.get_by_label("Invoice date").fill("2025-12-01")
    screenshot("membership-02-choose")
    page.get_by_role("button", name="Create preview").click()

    expect(page.get_by_test_id("run-status")).to_have_text("Ready for review", timeout=30_000)
    expect(page.get_by_test_id("run-totals")).to_contain_text("350.00")
    items = page.get_by_test_id("run-items")
    expect(items).to_contain_text("Ann Able")
    expect(items).to_contain_text("Annual dues 2026-01-01–2026-12-31")
    expect(items).to_contain_text("Chapter dues")
    expect(items).to_contain_text("2025-12-01 – 2026-11-30")
    screenshot("membership-03-preview")

    page.get_by_role("link", name=re.compile(r"Skipped \(3\)")).click()
    expect(page.get_by_test_id("run-items")).to_contain_text("Subscription is lapsed")
    expect(page.get_by_test_id("run-items")).to_contain_text("2 active subscriptions; expected exactly one")
    screenshot("membership-04-skipped")
    assert not Invoice.objects.filter(type="membership").exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Post 2 invoices").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Posted", timeout=30_000)
    expect(page.get_by_test_id("run-totals")).to_contain_text("120.00")  # open credit applied
    screenshot("membership-05-posted")

    run = RenewalRun.objects.get()
    assert run.batch.status == "posted"
    inv = Invoice.objects.get(bill_to=ann, type="membership")
    assert inv.balance == Decimal("180.00")
    page.get_by_role("link", name="Ann Able").click()
    sub = page.get_by_test_id("subscription")
    expect(sub).to_contain_text(inv.number)
    expect(page.get_by_test_id("renewed-through")).to_have_text("2026-12-31")
    expect(page.get_by_test_id("paid-through")).to_have_text("2025-12-31")
    screenshot("membership-06-member")
    report = verify_ledger()
    assert report.ok, report.format()
