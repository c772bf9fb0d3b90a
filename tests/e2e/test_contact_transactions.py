"""A staff member signs in, opens a contact and reads the Transactions tab."""

import datetime

import pytest
from playwright.sync_api import expect

from finance.services.payments import payment_receive
from tests.factories import BatchFactory, CompanyFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_contact_transactions_tab_lists_invoices_and_total_balance(
    browser_page, screenshot, live_server, ledger, staff_user
):
    page = browser_page
    batch = BatchFactory(number="260115-1", description="January dues")
    company = CompanyFactory(name="Acme Widgets", party_id="50001")
    contact = ContactFactory(name="Dana Devlin", sort_name="Devlin, Dana", party_id="30003", company=company)
    first = make_invoice(ledger, contact, batch, "1250.00", date=datetime.date(2026, 1, 5))
    second = make_invoice(ledger, contact, batch, "400.00", "75.50", date=datetime.date(2026, 2, 5))
    # 1,000.00 pays part of the oldest invoice: the balance is 250.00 + 475.50 = 725.50.
    payment_receive(
        payer=contact, method=ledger.check_method, amount="1000.00", date=datetime.date(2026, 2, 10), batch=batch
    )

    page.goto(f"{live_server.url}/contacts/{contact.pk}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/contacts/{contact.pk}/")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill("pw-clerk-123")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/contacts/{contact.pk}/")
    expect(page.get_by_role("heading", name="Dana Devlin")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Widgets (50001)")).to_be_visible()
    screenshot("contact-summary")

    page.get_by_role("tab", name="Transactions").click()
    expect(page).to_have_url(f"{live_server.url}/contacts/{contact.pk}/transactions/")
    expect(page.get_by_role("tab", name="Transactions")).to_have_class("nav-link active")
    invoices = page.get_by_test_id("contact-invoices")
    expect(invoices.get_by_role("link", name=first.number, exact=True)).to_be_visible()
    expect(invoices.get_by_role("link", name=second.number, exact=True)).to_be_visible()
    expect(page.get_by_test_id("total-balance")).to_have_text("725.50USD")
    expect(invoices).to_contain_text("250.00")
    expect(page.get_by_test_id("contact-payments")).to_contain_text("1,000.00")
    screenshot("contact-transactions")
