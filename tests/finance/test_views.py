"""The staff UI pages: they render the ledger's data, filter it, and call the services."""

import datetime
import re
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Module
from finance.models import Batch, BatchEvent, Contact, FinanceSettings, Invoice, Payment
from finance.selectors import batch_list
from finance.services.batches import batch_set_controls, batch_totals, batch_transition, current_batch_set
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, CompanyFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db

JAN = datetime.date(2026, 1, 10)


@dataclass
class Books:
    batch: Batch
    company: Contact
    alice: Contact
    bob: Contact
    alice_invoice: Invoice  # 250.00, partly paid (100.00 applied)
    alice_second: Invoice  # 1,234,567.50, open
    bob_invoice: Invoice  # 80.00, paid; bob overpaid by 20.00
    bob_credit: Invoice  # the open credit of -20.00
    alice_payment: Payment
    bob_payment: Payment


@pytest.fixture
def books(ledger) -> Books:
    batch = BatchFactory(number="260115-1", description="January receipts")
    company = CompanyFactory(name="Acme Widgets", party_id="50001")
    alice = ContactFactory(
        name="Alice Archer", sort_name="Archer, Alice", party_id="20001", major_key="AA-1", email="alice@example.org"
    )
    alice.company = company
    alice.save()
    bob = ContactFactory(name="Bob Baker", sort_name="Baker, Bob", party_id="20002", email="bob@example.net")
    alice_invoice = invoice_create(
        bill_to=alice,
        entity=ledger.entity,
        batch=batch,
        date=JAN,
        lines=[
            LineSpec(
                product=ledger.dues,
                unit_price=D("250.00"),
                billing_begin=datetime.date(2026, 1, 1),
                billing_end=datetime.date(2026, 12, 31),
            )
        ],
    )
    alice_second = make_invoice(ledger, alice, batch, "1234567.50", date=datetime.date(2026, 2, 1))
    bob_invoice = make_invoice(ledger, bob, batch, "80.00", date=datetime.date(2026, 1, 20))
    alice_payment = payment_receive(
        payer=alice, method=ledger.check_method, amount="100.00", date=JAN, batch=batch, reference="CHK-1001"
    )
    bob_payment = payment_receive(
        payer=bob, method=ledger.cash_method, amount="100.00", date=timezone.localdate(), batch=batch
    )
    for inv in (alice_invoice, alice_second, bob_invoice):
        inv.refresh_from_db()
    bob_credit = Invoice.objects.get(bill_to=bob, type=Invoice.Type.CREDIT)
    return Books(
        batch, company, alice, bob, alice_invoice, alice_second, bob_invoice, bob_credit, alice_payment, bob_payment
    )


@pytest.fixture
def clerk_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def manager_client(client, manager_user):
    client.force_login(manager_user)
    return client


def text(response) -> str:
    """The page's visible text with whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def rows(response, table_testid=None) -> int:
    html = response.content.decode()
    if table_testid:
        html = html.split(f'data-testid="{table_testid}"', 1)[1].split("</table>", 1)[0]
    else:
        html = html.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    return html.count("<tr")


def listed(response, value: str) -> bool:
    return value in text(response)


# --- Dashboard -------------------------------------------------------------------


def test_dashboard__shows_open_ar_credits_receipts_today_and_unposted_batches(clerk_client, books):
    BatchFactory(number="260101-9", status=Batch.Status.READY)
    response = clerk_client.get(reverse("finance:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    # Open AR: 150.00 left on alice's first invoice + 1,234,567.50.
    assert re.search(r'data-testid="open-ar">1,234,717.50<span class="currency">USD', html)
    assert re.search(r'data-testid="open-credits">20.00<span class="currency">USD', html)
    assert re.search(r'data-testid="receipts-today">100.00<span class="currency">USD', html)
    assert 'data-testid="unposted-batches">2<' in html
    # The page title is plain text, and each chart is drawn once (after its canvas).
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "Dashboard" in title and "<" not in title
    assert html.count('pcChart("dash-receipts-chart"') == 1
    assert "260115-1" in text(response) and "260101-9" in text(response)


def test_login_redirects_to_the_dashboard(client, staff_user):
    response = client.post(reverse("login"), {"username": "clerk", "password": "pw-clerk-123"})
    assert response.status_code == 302
    # Straight to the dashboard, with no stop on the way (members go to their checkout).
    assert response["Location"] == reverse("finance:dashboard")
    page = client.get(response["Location"])
    assert "Signed in as" in text(page) and "clerk" in text(page)
    assert 'action="/accounts/logout/"' in page.content.decode()


def test_login_page_renders_a_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'name="password"' in html and "Sign in" in html
    assert "cdn" not in html.lower()


def test_logout_is_a_post_and_ends_the_session(clerk_client):
    response = clerk_client.post(reverse("logout"))
    assert response.status_code == 302
    assert clerk_client.get(reverse("finance:dashboard")).status_code == 302


# --- Contacts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "not_expected"),
    [
        ({"q": "alice"}, "Alice Archer", "Bob Baker"),
        ({"q": "20002"}, "Bob Baker", "Alice Archer"),
        ({"q": "aa-1"}, "Alice Archer", "Bob Baker"),
        ({"q": "example.net"}, "Bob Baker", "Alice Archer"),
        ({"kind": "organization"}, "Acme Widgets", "Alice Archer"),
        ({"status": "inactive"}, "Carol Inactive", "Alice Archer"),
        ({"company": "50001"}, "Alice Archer", "Bob Baker"),
    ],
)
def test_contact_list__filters(clerk_client, books, query, expected, not_expected):
    ContactFactory(name="Carol Inactive", sort_name="Inactive, Carol", status=Contact.Status.INACTIVE)
    response = clerk_client.get(reverse("finance:contact_list"), query)
    assert response.status_code == 200
    assert listed(response, expected)
    assert not listed(response, not_expected)


def test_contact_list__sorts_and_paginates_25_a_page(clerk_client, books):
    for i in range(30):
        ContactFactory(name=f"Zed Person{i:02d}", sort_name=f"Zed{i:02d}")
    response = clerk_client.get(reverse("finance:contact_list"), {"sort": "-name"})
    assert rows(response) == 25
    body = text(response)
    assert body.index("Zed Person29") < body.index("Zed Person28")
    page2 = clerk_client.get(reverse("finance:contact_list"), {"sort": "-name", "page": 2})
    assert rows(page2) == 33 - 25


def test_contact_summary__company_link_and_members(clerk_client, books):
    response = clerk_client.get(reverse("finance:contact_detail", args=[books.alice.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{reverse("finance:contact_detail", args=[books.company.pk])}"' in html
    assert "AA-1" in text(response) and "alice@example.org" in text(response)
    company_page = clerk_client.get(reverse("finance:contact_detail", args=[books.company.pk]))
    assert "Company members (1)" in text(company_page)
    assert f'href="{reverse("finance:contact_detail", args=[books.alice.pk])}"' in company_page.content.decode()


def test_contact_transactions__invoices_payments_open_credits_and_total_balance(clerk_client, books):
    url = reverse("finance:contact_transactions", args=[books.bob.pk])
    response = clerk_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    # Bob: invoice 80.00 paid, credit invoice -20.00 → total balance -20.00.
    assert re.search(r'data-testid="total-balance">-20.00<span class="currency">USD', html)
    assert rows(response, "contact-invoices") >= 2
    assert books.bob_invoice.number in text(response) and books.bob_credit.number in text(response)
    credits = html.split('data-testid="contact-credits"', 1)[1].split("</table>", 1)[0]
    assert books.bob_credit.number in credits and books.bob_invoice.number not in credits
    payments = html.split('data-testid="contact-payments"', 1)[1].split("</table>", 1)[0]
    assert f"#{books.bob_payment.pk}" in payments

    alice = clerk_client.get(reverse("finance:contact_transactions", args=[books.alice.pk]))
    # 150.00 + 1,234,567.50
    assert re.search(r'data-testid="total-balance">1,234,717.50<', alice.content.decode())
    assert "No open credits." in alice.content.decode().split('data-testid="contact-credits"', 1)[1]


def test_contact_tabs__htmx_request_gets_only_the_tab(clerk_client, books):
    url = reverse("finance:contact_transactions", args=[books.alice.pk])
    response = clerk_client.get(url, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="contact-tabs">')
    assert books.alice_second.number in html


def test_contact_detail__unknown_contact_is_404(clerk_client, db):
    assert clerk_client.get(reverse("finance:contact_detail", args=[999999])).status_code == 404


# --- Invoices ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "not_expected"),
    [
        ("number", "alice_invoice", "bob_invoice"),
        ("contact:Bob", "bob_invoice", "alice_invoice"),
        ("contact:20001", "alice_second", "bob_invoice"),
        ("date", "alice_second", "alice_invoice"),
        ("type:credit", "bob_credit", "bob_invoice"),
        ("state:open", "alice_invoice", "bob_invoice"),
        ("state:paid", "bob_invoice", "alice_invoice"),
        ("state:credit", "bob_credit", "alice_second"),
        ("batch", "alice_invoice", "other"),
    ],
)
def test_invoice_list__filters(clerk_client, books, ledger, query, expected, not_expected):
    other = make_invoice(ledger, ContactFactory(), BatchFactory(number="OTHER-1"), "5")
    invoices = {**books.__dict__, "other": other}
    params = {
        "number": {"number": books.alice_invoice.number},
        "date": {"date_after": "2026-01-25", "date_before": "2026-02-28"},
        "batch": {"batch": "260115-1"},
    }.get(query)
    if params is None:
        key, value = query.split(":")
        params = {key: value}
    response = clerk_client.get(reverse("finance:invoice_list"), params)
    assert response.status_code == 200
    numbers = re.findall(r'href="/invoices/\d+/">(\w+)</a>', response.content.decode())
    assert invoices[expected].number in numbers
    assert invoices[not_expected].number not in numbers


def test_invoice_list__money_right_aligned_with_thousands_separators(clerk_client, books):
    html = clerk_client.get(reverse("finance:invoice_list")).content.decode()
    assert re.search(r'<td class="money">\s*1,234,567.50\s*</td>', html)
    assert re.search(r'<th class="money[^"]*"', html)
    assert re.search(r'<td class="money negative">\s*-20.00\s*</td>', html)  # bob's open credit


def test_invoice_detail__header_lines_applications_and_journal(clerk_client, books, ledger):
    inv = books.alice_invoice
    response = clerk_client.get(reverse("finance:invoice_detail", args=[inv.pk]))
    assert response.status_code == 200
    body = text(response)
    html = response.content.decode()
    assert f"Invoice {inv.number}" in body and "Partly paid" in body
    assert "Alice Archer" in body and "260115-1" in body and "Accrual" in body and "Staff entry" in body
    assert 'data-testid="invoice-total">250.00<' in html
    assert 'data-testid="invoice-balance">150.00 <' in html
    lines = html.split('data-testid="invoice-lines"', 1)[1].split("</table>", 1)[0]
    assert "2026-01-01 – 2026-12-31" in text_of(lines) and "4000-10" in lines
    apps = html.split('data-testid="invoice-applications"', 1)[1].split("</table>", 1)[0]
    assert f"#{books.alice_payment.pk}" in apps and "100.00" in apps and "CHK-1001" in apps
    # The invoice's entry: DR AR 250.00 / CR dues income 250.00.
    assert html.count('data-testid="journal-entry"') == 1
    entry = html.split('data-testid="journal-entry"', 1)[1]
    assert "1200-00" in entry and "4000-10" in entry
    assert re.search(r'Total</td>\s*<td class="money">250.00</td>\s*<td class="money">250.00</td>', entry)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- Payments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected", "not_expected"),
    [
        ({"payer": "alice"}, "alice_payment", "bob_payment"),
        ({"payer": "20002"}, "bob_payment", "alice_payment"),
        ({"method": "CASH"}, "bob_payment", "alice_payment"),
        ({"date_after": "2026-01-01", "date_before": "2026-01-31"}, "alice_payment", "bob_payment"),
        ({"status": "open"}, "alice_payment", "reversed"),
        ({"status": "reversed"}, "reversed", "alice_payment"),
        ({"batch": "260115-1"}, "alice_payment", "reversed"),
        ({"reference": "chk-10"}, "alice_payment", "bob_payment"),
    ],
)
def test_payment_list__filters(clerk_client, books, ledger, params, expected, not_expected):
    from finance.services.payments import payment_reverse

    other_batch = BatchFactory(number="OTHER-2")
    carol = ContactFactory()
    reversed_payment = payment_receive(payer=carol, method=ledger.check_method, amount="5", date=JAN, batch=other_batch)
    payment_reverse(payment=reversed_payment, batch=other_batch, date=JAN, reason="NSF")
    payments = {**books.__dict__, "reversed": reversed_payment}
    if "method" in params:
        params = {"method": {"CASH": ledger.cash_method.pk}[params["method"]]}
    response = clerk_client.get(reverse("finance:payment_list"), params)
    assert response.status_code == 200
    ids = re.findall(r'href="/payments/(\d+)/"', response.content.decode())
    assert str(payments[expected].pk) in ids
    assert str(payments[not_expected].pk) not in ids


def test_payment_list__state_is_the_batchs(clerk_client, ledger):
    payer = ContactFactory()
    open_batch, posted = BatchFactory(number="OPEN-2"), BatchFactory(number="POSTED-2")
    in_open = payment_receive(payer=payer, method=ledger.check_method, amount="10", date=JAN, batch=open_batch)
    in_posted = payment_receive(payer=payer, method=ledger.check_method, amount="20", date=JAN, batch=posted)
    Batch.objects.filter(pk=posted.pk).update(status=Batch.Status.POSTED, posted_at=timezone.now())
    html = clerk_client.get(reverse("finance:payment_list")).content.decode()

    def badge(payment):
        row = html.split(f'href="/payments/{payment.pk}/"', 1)[1].split("</tr>", 1)[0]
        return row.rsplit("<td", 1)[1]

    assert ">Open</span>" in badge(in_open) and "Posted" not in badge(in_open)
    assert ">Posted</span>" in badge(in_posted)
    detail = clerk_client.get(reverse("finance:payment_detail", args=[in_open.pk])).content.decode()
    assert "Batch OPEN-2 is open: not posted yet" in detail.split("</h1>", 1)[0]
    posted_only = clerk_client.get(reverse("finance:payment_list"), {"status": "posted"}).content.decode()
    assert f'href="/payments/{in_posted.pk}/"' in posted_only and f'href="/payments/{in_open.pk}/"' not in posted_only


def test_payment_detail__header_applications_and_journal(clerk_client, books, ledger):
    payment = books.bob_payment
    response = clerk_client.get(reverse("finance:payment_detail", args=[payment.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    body = text(response)
    assert f"Payment #{payment.pk}" in body and "Bob Baker" in body and "CASH" in body
    assert 'data-testid="payment-amount">100.00 <' in html
    apps = html.split('data-testid="payment-applications"', 1)[1].split("</table>", 1)[0]
    assert books.bob_invoice.number in apps and books.bob_credit.number in apps
    assert "80.00" in apps and "20.00" in apps
    entry = html.split('data-testid="journal-entry"', 1)[1]
    # DR cash 100.00 / CR AR 80.00, CR unapplied cash 20.00.
    assert "1000-00" in entry and "1200-00" in entry and "2100-00" in entry
    # A clerk (Finance 0) sees no reversal form.
    assert 'data-testid="reverse-form"' not in html
    assert "needs Finance authorization level 4" in body


def test_payment_reverse__into_a_chosen_open_batch(manager_client, books):
    payment = books.alice_payment
    target = BatchFactory(number="REV-1")
    page = manager_client.get(reverse("finance:payment_detail", args=[payment.pk]))
    assert 'data-testid="reverse-form"' in page.content.decode()
    response = manager_client.post(
        reverse("finance:payment_reverse", args=[payment.pk]),
        {"batch": target.pk, "date": timezone.localdate().isoformat(), "reason": "Check returned NSF"},
        follow=True,
    )
    assert response.status_code == 200
    payment.refresh_from_db()
    books.alice_invoice.refresh_from_db()
    assert payment.status == Payment.Status.REVERSED
    assert payment.reversal_batch == target and payment.reversal_reason == "Check returned NSF"
    assert books.alice_invoice.balance == D("250.00")
    assert f"Payment {payment.pk} is reversed in batch REV-1." in text(response)
    assert 'data-testid="reversal-info"' in response.content.decode()
    assert f"Reversed as of {timezone.localdate().isoformat()}" in text(response)
    assert 'data-testid="reverse-form"' not in response.content.decode()


def test_payment_reverse__into_the_users_current_batch(manager_client, manager_user, books):
    payment = books.bob_payment
    current = BatchFactory(number="MY-1")
    current_batch_set(user=manager_user, batch=current)
    before = Batch.objects.count()
    page = manager_client.get(reverse("finance:payment_detail", args=[payment.pk])).content.decode()
    assert "My current batch: MY-1" in page
    response = manager_client.post(
        reverse("finance:payment_reverse", args=[payment.pk]),
        {"batch": "", "date": timezone.localdate().isoformat(), "reason": "Chargeback"},
        follow=True,
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REVERSED
    assert payment.reversal_batch == current
    assert Batch.objects.count() == before  # no batch of its own
    assert f"Payment {payment.pk} is reversed in batch MY-1." in text(response)


def test_payment_reverse__without_a_batch_is_refused_and_opens_none(manager_client, manager_user, books):
    payment = books.bob_payment
    before = Batch.objects.count()
    response = manager_client.post(
        reverse("finance:payment_reverse", args=[payment.pk]),
        {"batch": "", "date": timezone.localdate().isoformat(), "reason": "Chargeback"},
    )
    assert response.status_code == 200
    assert "you have no current batch" in text(response)
    # A current batch that was posted since is refused too, naming it.
    posted = BatchFactory(number="OLD-1")
    current_batch_set(user=manager_user, batch=posted)
    Batch.objects.filter(pk=posted.pk).update(status=Batch.Status.POSTED, posted_at=timezone.now())
    response = manager_client.post(
        reverse("finance:payment_reverse", args=[payment.pk]),
        {"batch": "", "date": timezone.localdate().isoformat(), "reason": "Chargeback"},
    )
    assert "Your current batch OLD-1 is posted" in text(response)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.POSTED
    assert Batch.objects.count() == before + 1  # OLD-1 only


def test_payment_reverse__refused_by_the_service_shows_the_error_and_changes_nothing(manager_client, books):
    payment = books.alice_payment
    before = Batch.objects.count()
    response = manager_client.post(
        reverse("finance:payment_reverse", args=[payment.pk]),
        {"batch": books.batch.pk, "date": "2025-12-31", "reason": "Typo"},
        follow=True,
    )
    assert "A reversal cannot be dated before the payment." in text(response)
    assert 'class="alert alert-danger' in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.POSTED
    assert Batch.objects.count() == before


def test_payment_reverse__invalid_form_is_shown_again(manager_client, books):
    response = manager_client.post(
        reverse("finance:payment_reverse", args=[books.alice_payment.pk]), {"batch": "", "date": "", "reason": ""}
    )
    assert response.status_code == 200
    assert "This field is required." in text(response)
    books.alice_payment.refresh_from_db()
    assert books.alice_payment.status == Payment.Status.POSTED


def test_payment_reverse__needs_finance_level_4(clerk_client, books, staff_user, grant):
    url = reverse("finance:payment_reverse", args=[books.alice_payment.pk])
    data = {"batch": "", "date": timezone.localdate().isoformat(), "reason": "NSF"}
    assert clerk_client.post(url, data).status_code == 403
    grant(staff_user, Module.FINANCE, 3)
    assert clerk_client.post(url, data).status_code == 403
    books.alice_payment.refresh_from_db()
    assert books.alice_payment.status == Payment.Status.POSTED


# --- Batches -----------------------------------------------------------------------


def test_batch_list__filters_by_status_and_date(clerk_client, books):
    BatchFactory(number="POSTED-1", status=Batch.Status.POSTED, posted_at=timezone.now())
    BatchFactory(number="MARCH-1", date=datetime.date(2026, 3, 3))
    by_status = clerk_client.get(reverse("finance:batch_list"), {"status": "posted"})
    assert listed(by_status, "POSTED-1") and not listed(by_status, "260115-1")
    by_date = clerk_client.get(reverse("finance:batch_list"), {"date_after": "2026-03-01", "date_before": "2026-03-31"})
    assert listed(by_date, "MARCH-1") and not listed(by_date, "260115-1") and not listed(by_date, "POSTED-1")


def test_batch_list__actual_figures_agree_with_batch_totals(clerk_client, books):
    totals = batch_totals(books.batch)
    row = batch_list().get(pk=books.batch.pk)
    assert (row.invoice_count, row.payment_count, row.actual_count, row.cash_total) == (
        totals.invoice_count,
        totals.payment_count,
        totals.count,
        totals.amount,
    )
    empty = batch_list().get(pk=BatchFactory().pk)
    assert (empty.actual_count, empty.cash_total) == (0, D("0.00"))
    html = clerk_client.get(reverse("finance:batch_list")).content.decode()
    assert re.search(r'<td class="num">\s*5\s*</td>', html)  # 3 invoices + 2 payments
    assert re.search(r'<td class="money">\s*200.00\s*</td>', html)


def test_batch_detail__figures_invoices_payments_and_actions(manager_client, books):
    response = manager_client.get(reverse("finance:batch_detail", args=[books.batch.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    figures = text_of(html.split('data-testid="batch-figures"', 1)[1].split("</table>", 1)[0])
    assert "not set" in figures and "5" in figures and "200.00" in figures and "1,234,897.50" in figures
    invoices = html.split('data-testid="batch-invoices"', 1)[1].split("</table>", 1)[0]
    for inv in (books.alice_invoice, books.alice_second, books.bob_invoice, books.bob_credit):
        assert inv.number in invoices
    payments = html.split('data-testid="batch-payments"', 1)[1].split("</table>", 1)[0]
    assert f"#{books.alice_payment.pk}" in payments and f"#{books.bob_payment.pk}" in payments
    for action in ("batch_ready", "batch_controls"):
        assert f'action="{reverse("finance:" + action, args=[books.batch.pk])}"' in html
    for action in ("batch_reopen", "batch_post", "batch_delete"):
        assert f'action="{reverse("finance:" + action, args=[books.batch.pk])}"' not in html
    # It holds transactions: Delete is shown disabled, saying why.
    assert 'data-testid="batch-delete-refused"' in html and "reverse them instead" in html
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    html = manager_client.get(reverse("finance:batch_detail", args=[books.batch.pk])).content.decode()
    for action in ("batch_reopen", "batch_post"):
        assert f'action="{reverse("finance:" + action, args=[books.batch.pk])}"' in html


def test_batch_detail__clerk_sees_post_disabled(clerk_client, books):
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    html = clerk_client.get(reverse("finance:batch_detail", args=[books.batch.pk])).content.decode()
    assert f'action="{reverse("finance:batch_post", args=[books.batch.pk])}"' not in html
    assert 'disabled title="Posting needs Finance authorization level 4"' in html
    assert f'action="{reverse("finance:batch_reopen", args=[books.batch.pk])}"' in html


def test_batch_set_controls__saves_through_the_service(clerk_client, books, staff_user):
    url = reverse("finance:batch_controls", args=[books.batch.pk])
    response = clerk_client.post(url, {"control_count": "5", "control_amount": "200.00"}, follow=True)
    assert "Controls of batch 260115-1 saved." in text(response)
    books.batch.refresh_from_db()
    assert (books.batch.control_count, books.batch.control_amount) == (5, D("200.00"))
    assert BatchEvent.objects.filter(batch=books.batch, note="controls changed", user=staff_user).exists()


def test_batch_set_controls__bad_input_shows_an_error(clerk_client, books):
    url = reverse("finance:batch_controls", args=[books.batch.pk])
    response = clerk_client.post(url, {"control_count": "-1", "control_amount": "abc"}, follow=True)
    assert "Control count:" in text(response) and "Control amount:" in text(response)
    books.batch.refresh_from_db()
    assert books.batch.control_count is None and books.batch.control_amount is None


def test_batch_set_controls__refused_on_a_posted_batch(manager_client, books):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    manager_client.post(reverse("finance:batch_post", args=[books.batch.pk]))
    response = manager_client.post(
        reverse("finance:batch_controls", args=[books.batch.pk]),
        {"control_count": "1", "control_amount": "1"},
        follow=True,
    )
    assert "its controls are fixed" in text(response)


def test_batch_ready_and_reopen(clerk_client, books):
    response = clerk_client.post(reverse("finance:batch_ready", args=[books.batch.pk]), follow=True)
    assert "Batch 260115-1 is now Ready." in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.READY
    assert f'action="{reverse("finance:batch_reopen", args=[books.batch.pk])}"' in response.content.decode()
    response = clerk_client.post(reverse("finance:batch_reopen", args=[books.batch.pk]), follow=True)
    assert "Batch 260115-1 is open again." in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.OPEN


def test_batch_post__out_of_balance_shows_the_error_and_the_batch_stays_ready(manager_client, books):
    batch_set_controls(batch=books.batch, control_count=4, control_amount=D("200.00"))
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    response = manager_client.post(reverse("finance:batch_post", args=[books.batch.pk]), follow=True)
    assert response.status_code == 200
    assert "Batch 260115-1 is out of balance: count 5 ≠ control 4." in text(response)
    assert 'class="alert alert-danger' in response.content.decode()
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.READY and books.batch.posted_at is None


def test_batch_post__open_batch_must_be_marked_ready_first(manager_client, books):
    batch_set_controls(batch=books.batch, control_count=5, control_amount=D("200.00"))
    response = manager_client.post(reverse("finance:batch_post", args=[books.batch.pk]), follow=True)
    assert "Batch 260115-1 cannot go from Open to Posted." in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.OPEN


def test_batch_post__balanced_batch_is_posted(manager_client, books, manager_user):
    batch_set_controls(batch=books.batch, control_count=5, control_amount=D("200.00"))
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    response = manager_client.post(reverse("finance:batch_post", args=[books.batch.pk]), follow=True)
    assert "Batch 260115-1 is posted." in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.POSTED and books.batch.posted_by == manager_user
    html = response.content.decode()
    for action in ("batch_ready", "batch_post", "batch_delete", "batch_reopen", "batch_controls"):
        assert f'action="{reverse("finance:" + action, args=[books.batch.pk])}"' not in html


def test_batch_post__clerk_below_finance_4_gets_403(clerk_client, books):
    batch_set_controls(batch=books.batch, control_count=5, control_amount=D("200.00"))
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    response = clerk_client.post(reverse("finance:batch_post", args=[books.batch.pk]))
    assert response.status_code == 403
    assert "Finance authorization level 4" in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.READY


def test_batch_delete__refused_while_it_holds_transactions(clerk_client, books):
    response = clerk_client.post(reverse("finance:batch_delete", args=[books.batch.pk]), follow=True)
    assert "holds transactions" in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.OPEN


def test_batch_delete__an_empty_batch(clerk_client, db):
    batch = BatchFactory(number="EMPTY-1")
    response = clerk_client.post(reverse("finance:batch_delete", args=[batch.pk]), follow=True)
    assert "Batch EMPTY-1 is deleted." in text(response)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.DELETED


def test_batch_transition__not_allowed_from_posted(manager_client, books):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    batch_transition(batch=books.batch, to_status=Batch.Status.READY)
    manager_client.post(reverse("finance:batch_post", args=[books.batch.pk]))
    response = manager_client.post(reverse("finance:batch_reopen", args=[books.batch.pk]), follow=True)
    assert "Batch 260115-1 cannot go from Posted to Open." in text(response)
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.POSTED


def test_batch_actions__viewer_level_1_gets_403(client, books, django_user_model, grant):
    viewer = grant(django_user_model.objects.create_user("viewer", password="x"), Module.AR_CASH, 1)
    client.force_login(viewer)
    assert client.get(reverse("finance:batch_detail", args=[books.batch.pk])).status_code == 200
    for name in ("batch_ready", "batch_delete", "batch_controls", "batch_post"):
        assert client.post(reverse(f"finance:{name}", args=[books.batch.pk])).status_code == 403
    assert client.get(reverse("finance:batch_create")).status_code == 403
    books.batch.refresh_from_db()
    assert books.batch.status == Batch.Status.OPEN


def test_batch_actions__get_is_not_allowed(clerk_client, books):
    assert clerk_client.get(reverse("finance:batch_ready", args=[books.batch.pk])).status_code == 405


def test_batch_create__opens_a_batch_through_the_service(clerk_client, staff_user, db):
    page = clerk_client.get(reverse("finance:batch_create"))
    assert page.status_code == 200 and 'name="control_amount"' in page.content.decode()
    response = clerk_client.post(
        reverse("finance:batch_create"),
        {
            "date": "2026-04-02",
            "description": "April lockbox",
            "number": "",
            "control_count": "3",
            "control_amount": "",
        },
    )
    batch = Batch.objects.get(description="April lockbox")
    assert response.status_code == 302 and response["Location"] == reverse("finance:batch_detail", args=[batch.pk])
    assert batch.number == "260402-1" and batch.control_count == 3 and batch.control_amount is None
    assert batch.created_by == staff_user and batch.status == Batch.Status.OPEN


def test_batch_create__duplicate_number_is_a_form_error(clerk_client, db):
    BatchFactory(number="DUP-1")
    response = clerk_client.post(reverse("finance:batch_create"), {"date": "2026-04-02", "number": "dup-1"})
    assert response.status_code == 200
    assert "already exists" in text(response)
    assert Batch.objects.filter(number="DUP-1").count() == 1


# --- Access ------------------------------------------------------------------------


def test_pages_need_ar_cash_level_1(client, books, django_user_model, grant):
    user = django_user_model.objects.create_user("nobody", password="x")
    client.force_login(user)
    response = client.get(reverse("finance:invoice_detail", args=[books.alice_invoice.pk]))
    assert response.status_code == 403
    assert "AR/Cash authorization level 1" in text(response)
    assert "Signed in as" in text(response)  # the 403 page wears the site's layout
    grant(user, Module.AR_CASH, 1)
    assert client.get(reverse("finance:invoice_detail", args=[books.alice_invoice.pk])).status_code == 200


# --- Query counts ------------------------------------------------------------------


def _grow(ledger, batch, contact, n):
    for _ in range(n):
        make_invoice(ledger, ContactFactory(company=contact.company), batch, "10.00")
        payment_receive(payer=contact, method=ledger.check_method, amount="15.00", date=JAN, batch=batch)
        BatchFactory()


@pytest.mark.parametrize(
    "url_name",
    ["finance:contact_list", "finance:invoice_list", "finance:payment_list", "finance:batch_list", "dashboard"],
)
def test_lists__query_count_does_not_grow_with_page_size(clerk_client, ledger, url_name, django_assert_max_num_queries):
    company = CompanyFactory()
    contact = ContactFactory(company=company)
    batch = BatchFactory()
    _grow(ledger, batch, contact, 5)
    url = reverse("finance:dashboard" if url_name == "dashboard" else url_name)
    clerk_client.get(url)  # warm up the session
    with CaptureQueriesContext(connection) as small:
        assert clerk_client.get(url).status_code == 200
    # Session, user, levels, the header's current batch, the page's own few queries (the
    # batch figures: three grouped queries for the shown batches).
    assert len(small.captured_queries) <= 13
    _grow(ledger, batch, contact, 25)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = clerk_client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("page", ["contact_transactions", "batch_detail"])
def test_detail_tables__query_count_does_not_grow(clerk_client, ledger, page, django_assert_max_num_queries):
    company = CompanyFactory()
    contact = ContactFactory(company=company)
    batch = BatchFactory()
    url = reverse(f"finance:{page}", args=[contact.pk if page == "contact_transactions" else batch.pk])

    def grow(n):
        for _ in range(n):
            make_invoice(ledger, contact, batch, "10.00")
            payment_receive(payer=contact, method=ledger.check_method, amount="15.00", date=JAN, batch=batch)

    grow(3)
    clerk_client.get(url)
    with CaptureQueriesContext(connection) as small:
        clerk_client.get(url)
    grow(27)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert clerk_client.get(url).status_code == 200


@pytest.mark.parametrize(
    "url_name,table,search",
    [
        ("finance:contact_list", "finance_contact", "q"),
        ("finance:invoice_list", "finance_invoice", "number"),
        ("finance:payment_list", "finance_payment", "payer"),
    ],
)
def test_big_unfiltered_lists_show_the_row_estimate_instead_of_counting(
    clerk_client, books, monkeypatch, url_name, table, search
):
    monkeypatch.setattr("finance.pagination.estimated_rows", lambda alias, t: 2_500_000 if t == table else None)
    with CaptureQueriesContext(connection) as queries:
        response = clerk_client.get(reverse(url_name))
    assert response.status_code == 200
    assert "about 2,500,000 records" in text(response)
    assert not [q for q in queries.captured_queries if "COUNT(*)" in q["sql"] and f'"{table}"' in q["sql"]]
    # A filtered list is counted exactly.
    filtered = clerk_client.get(reverse(url_name), {search: "no-such-record-xyz"})
    assert filtered.status_code == 200
    assert "about" not in text(filtered).split("records")[0] and "0 matching records" in text(filtered)


def test_invoice_and_payment_pages__query_count_does_not_grow_with_lines_and_applications(
    clerk_client, ledger, django_assert_max_num_queries
):
    from finance.services.payments import ApplicationSpec

    contact = ContactFactory()
    batch = BatchFactory()

    def books_of(n):
        invoice = make_invoice(ledger, contact, batch, *(["10.00"] * n))
        payment = payment_receive(
            payer=contact,
            method=ledger.check_method,
            amount=D("5.00") * n,
            date=JAN,
            batch=batch,
            applications=[ApplicationSpec(line, D("5.00")) for line in invoice.lines.all()],
            auto_apply=False,
        )
        for line in invoice.lines.all()[: n // 2]:
            payment_receive(
                payer=contact,
                method=ledger.cash_method,
                amount="1.00",
                date=JAN,
                batch=batch,
                applications=[ApplicationSpec(line, D("1.00"))],
                auto_apply=False,
            )
        return invoice, payment

    small_invoice, small_payment = books_of(2)
    big_invoice, big_payment = books_of(24)
    for name, small, big in [
        ("finance:invoice_detail", small_invoice, big_invoice),
        ("finance:payment_detail", small_payment, big_payment),
        ("finance:contact_detail", contact, contact),
    ]:
        clerk_client.get(reverse(name, args=[small.pk]))
        with CaptureQueriesContext(connection) as counted:
            assert clerk_client.get(reverse(name, args=[small.pk])).status_code == 200
        with django_assert_max_num_queries(len(counted.captured_queries)):
            response = clerk_client.get(reverse(name, args=[big.pk]))
        assert response.status_code == 200
