"""The contact finder wherever a contact is asked (New invoice, Receive payment, the cart)
and the header search, driven with the keyboard and the mouse in a real browser."""

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from checkout.models import Cart
from finance.ledger_check import verify_ledger
from finance.models import Invoice, JournalLine, Payment
from finance.services.batches import current_batch_set
from finance.services.payments import payment_receive
from tests.e2e.test_cart_credit import sign_in
from tests.factories import BatchFactory, CompanyFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DAY = datetime.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def clerk_batch(staff_user):
    """The clerk's current batch: entries go into it."""
    return current_batch_set(user=staff_user, batch=BatchFactory(date=DAY))


@pytest.fixture
def contacts():
    harbor = CompanyFactory(name="Harbor Point Credit Union", sort_name="Harbor Point Credit Union", party_id="43456")
    return {
        "harbor": harbor,
        "brian": ContactFactory(
            name="Brian Fischer", sort_name="Fischer, Brian", party_id="45206", email="bfischer@harbor.example"
        ),
        "kenneth": ContactFactory(
            name="Kenneth Fischer", sort_name="Fischer, Kenneth", party_id="47158", email="kfischer@example.com"
        ),
        "olga": ContactFactory(
            name="Olga Novak", sort_name="Novak, Olga", party_id="47103", email="onovak@harbor.example", company=harbor
        ),
    }


def ledger_contacts(entry_filter) -> set:
    """The contacts named on the journal lines of the entries ``entry_filter`` selects."""
    return {line.contact for line in JournalLine.objects.filter(**entry_filter).select_related("contact")}


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def test_new_invoice__bill_to_found_by_part_of_the_name_and_picked_with_the_keyboard(
    browser_page, screenshot, live_server, ledger, staff_user, contacts
):
    page = browser_page
    kenneth = contacts["kenneth"]
    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/invoices/new/")

    box = page.get_by_role("combobox", name="Bill to")
    box.press_sequentially("fisch")
    matches = page.locator("#id_bill_to-list [role=option]")
    expect(matches).to_have_count(2)
    expect(matches.nth(0)).to_contain_text("Brian Fischer")
    expect(matches.nth(1)).to_contain_text("Kenneth Fischer")
    expect(matches.nth(0)).to_have_attribute("aria-selected", "true")  # the first is ready for Enter
    screenshot("finder-1-invoice-matches")
    box.press("ArrowDown")
    expect(matches.nth(1)).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(box).to_have_value("Kenneth Fischer (47158)")
    expect(page.locator("#id_bill_to-list")).to_be_hidden()
    expect(page.locator("[data-finder-chosen]").first).to_contain_text("kfischer@example.com")

    page.locator("select[name=lines-0-product]").select_option(str(ledger.dues.pk))
    screenshot("finder-2-invoice-picked")
    page.get_by_role("button", name="Create invoice").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+/$"))
    invoice = Invoice.objects.get()
    expect(page.get_by_role("heading", name=f"Invoice {invoice.number}")).to_be_visible()
    assert invoice.bill_to == kenneth and invoice.total == Decimal("250.00")
    assert ledger_contacts({"entry__invoice": invoice}) == {kenneth}
    assert_ledger_ok()


def test_receive_payment__payer_asked_once_found_by_email_picked_with_the_mouse(
    browser_page, screenshot, live_server, ledger, staff_user, contacts
):
    page = browser_page
    kenneth = contacts["kenneth"]
    invoice = make_invoice(ledger, kenneth, BatchFactory(date=DAY), "120", date=DAY)
    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/payments/new/")
    expect(page.locator("[data-finder-pick]")).to_have_count(1)  # the payer, asked once
    expect(page.get_by_role("button", name="Show open invoices")).to_have_count(0)
    expect(page.get_by_test_id("open-lines")).to_contain_text("Choose the payer to see their open invoices.")

    box = page.get_by_role("combobox", name="Payer")
    box.press_sequentially("kfisch")
    option = page.get_by_role("option", name=re.compile("Kenneth Fischer"))
    expect(option).to_have_count(1)
    option.click()
    expect(box).to_have_value("Kenneth Fischer (47158)")
    open_lines = page.get_by_test_id("open-lines")
    expect(open_lines).to_contain_text("Open invoice lines of Kenneth Fischer (47158)")
    expect(open_lines).to_contain_text(invoice.number)
    expect(open_lines).to_contain_text("120.00")

    page.get_by_label("Payment method").select_option(str(ledger.check_method.pk))
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.get_by_label("Reference").fill("5001")
    screenshot("finder-3-payment-picked")
    page.get_by_role("button", name="Record payment").click()
    expect(page).to_have_url(re.compile(r"/payments/\d+/$"))
    expect(page.locator(".alert-success")).to_contain_text("Payment of 120.00 from Kenneth Fischer recorded in batch")
    payment = Payment.objects.get()
    assert payment.payer == kenneth and payment.reference == "5001"
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("0.00")
    assert ledger_contacts({"entry__payment": payment}) == {kenneth}
    assert_ledger_ok()


def test_cart__contact_found_by_company_or_party_id_and_the_order_is_theirs(
    browser_page, screenshot, live_server, ledger, staff_user, contacts
):
    page = browser_page
    olga = contacts["olga"]
    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/cart/")

    box = page.get_by_role("combobox", name="Acting on behalf of")
    box.press_sequentially("harbor")  # the company brings its members along
    matches = page.locator("#id_contact-list [role=option]")
    expect(matches).to_have_count(2)
    expect(matches.nth(0)).to_contain_text("Harbor Point Credit Union")
    expect(matches.nth(1)).to_contain_text("Olga Novak")
    expect(matches.nth(1)).to_contain_text("member of Harbor Point Credit Union")
    screenshot("finder-4-cart-matches")

    # Typed over: the pick is gone; a party id and Enter (before or after the matches
    # arrive) takes the first match.
    box.fill("")
    box.press_sequentially("47103")
    box.press("Enter")
    expect(box).to_have_value("Olga Novak (47103)")
    page.get_by_role("button", name="Start order").click()
    expect(page.get_by_test_id("acting-banner")).to_contain_text("Acting on behalf of Olga Novak (47103)")

    page.get_by_label("Product").select_option(str(ledger.event.pk))
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_test_id("cart-total")).to_have_text("400.00")
    submit = page.get_by_test_id("cart-submit")
    submit.get_by_label("Pay the balance of 400.00 by").select_option(str(ledger.check_method.pk))
    submit.get_by_label("Reference").fill("3301")
    submit.get_by_role("button", name="Submit order").click()
    expect(page).to_have_url(re.compile(r"/invoices/\d+/$"))

    cart = Cart.objects.get()
    assert cart.contact == olga and cart.status == Cart.Status.SUBMITTED
    assert cart.invoice.bill_to == olga and cart.payment.payer == olga
    assert ledger_contacts({"entry__invoice": cart.invoice}) == {olga}
    assert ledger_contacts({"entry__payment": cart.payment}) == {olga}
    assert_ledger_ok()


def test_cart__typed_but_not_picked_is_refused_by_the_server(browser_page, live_server, ledger, staff_user, contacts):
    page = browser_page
    sign_in(page, live_server, "clerk", "pw-clerk-123")
    page.goto(f"{live_server.url}/cart/")
    box = page.get_by_role("combobox", name="Acting on behalf of")
    box.fill("nobody-by-this-name")
    expect(page.locator("#id_contact-list")).to_contain_text("No contact matches “nobody-by-this-name”.")
    box.press("Tab")
    expect(page.locator("#id_contact-list")).to_be_hidden()
    page.get_by_role("button", name="Start order").click()
    expect(page.locator(".invalid-feedback")).to_have_text("No contact matches “nobody-by-this-name”.")
    assert not Cart.objects.exists()


# Ids from 1: a payment's id and an invoice number ("1000"…) cannot be the same text.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_header_search__contact_invoice_number_and_payment(
    browser_page, screenshot, live_server, ledger, staff_user, contacts
):
    page = browser_page
    kenneth, olga = contacts["kenneth"], contacts["olga"]
    batch = BatchFactory(date=DAY)
    invoice = make_invoice(ledger, olga, batch, "80", date=DAY)
    first = payment_receive(
        payer=kenneth, method=ledger.check_method, amount="60.00", date=DAY, batch=batch, reference="CHK-2044"
    )
    second = payment_receive(
        payer=olga, method=ledger.check_method, amount="80.00", date=DAY, batch=batch, reference="CHK-2044"
    )
    sign_in(page, live_server, "clerk", "pw-clerk-123")
    search = page.get_by_role("combobox", name="Search contacts, invoices and payments")

    # A contact: pick the match with the mouse.
    search.click()
    search.press_sequentially("kenneth")
    match = page.locator("#header-search-list").get_by_role("option", name=re.compile("Kenneth Fischer"))
    expect(match).to_be_visible()
    screenshot("search-1-contact-suggestions")
    match.click()
    expect(page).to_have_url(f"{live_server.url}/contacts/{kenneth.pk}/")
    expect(page.get_by_role("heading", name="Kenneth Fischer")).to_be_visible()

    # An invoice number and Enter: the one match opens.
    search.click()
    search.press_sequentially(invoice.number)
    search.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/invoices/{invoice.pk}/")
    expect(page.get_by_role("heading", name=f"Invoice {invoice.number}")).to_be_visible()

    # A check number two payments carry: the results page lists both.
    search.click()
    search.press_sequentially("CHK-2044")
    search.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/search/?q=CHK-2044")
    payments = page.get_by_test_id("search-payments")
    expect(payments.locator("tbody tr")).to_have_count(2)
    expect(payments).to_contain_text("Kenneth Fischer")
    expect(payments).to_contain_text("Olga Novak")
    screenshot("search-2-results-page")
    payments.get_by_role("link", name=str(second.pk), exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/payments/{second.pk}/")

    # A payment by its id, chosen with the arrows among the suggestions.
    search.click()
    search.press_sequentially(str(first.pk))
    option = page.locator("#header-search-list").get_by_role("option", name=re.compile(rf"^Payment {first.pk}\b"))
    expect(option).to_be_visible()
    options = page.locator("#header-search-list [role=option]")
    target = [text.startswith(f"Payment {first.pk}") for text in options.all_inner_texts()].index(True)
    for _ in range(target + 1):
        search.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    search.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/payments/{first.pk}/")
    expect(page.get_by_role("heading", name=re.compile(rf"Payment #{first.pk}"))).to_be_visible()


def test_finder__text_typed_before_the_scripts_are_ready_is_searched_when_they_are(
    browser_page, live_server, ledger, staff_user, contacts
):
    """A quick typist on a slow page: the box is there before htmx is. What was typed is
    searched once the scripts have set the finder up (nothing is lost, nothing waits for
    another keystroke)."""
    page = browser_page
    sign_in(page, live_server, "clerk", "pw-clerk-123")
    held: list = []
    released = []

    def hold(route):  # htmx's script waits until released
        route.continue_() if released else held.append(route)

    page.route("**/htmx*.js", hold)
    page.goto(f"{live_server.url}/invoices/new/", wait_until="commit")
    box = page.get_by_role("combobox", name="Bill to")
    box.press_sequentially("fisch")
    expect(box).to_have_value("fisch")
    assert held  # htmx has not run: the typing raised no search
    matches = page.locator("#id_bill_to-list [role=option]")
    expect(matches).to_have_count(0)
    released.append(True)
    for route in held:
        route.continue_()
    expect(matches).to_have_count(2)
    expect(matches.nth(0)).to_contain_text("Brian Fischer")
