"""Each main staff page has a fixed query budget that does not grow with the rows it
shows: the invoice and payment lists, a batch's page, a contact's page (summary and
transactions) and the dashboard, with a little data and with more."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finance.services.batches import current_batch_set
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, CompanyFactory, ContactFactory
from tests.finance.helpers import make_invoice

JAN = datetime.date(2026, 1, 10)

# The most queries each page may run, for a clerk (AR/Cash 2) with a current batch: the
# session, the user, the user's levels, the header's current batch and whether the user
# menu offers the Django admin (5) are in every figure. The invoice and payment lists
# keep one query in hand for a totals row.
BUDGETS = {
    "invoice list": 9,
    "payment list": 10,
    "batch page": 20,
    "contact page": 9,  # with its saved cards
    "contact transactions": 14,  # with its refunds
    "dashboard": 11,
}


@pytest.fixture
def clerk_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _urls(contact, batch) -> dict[str, str]:
    return {
        "invoice list": reverse("finance:invoice_list"),
        "payment list": reverse("finance:payment_list"),
        "batch page": reverse("finance:batch_detail", args=[batch.pk]),
        "contact page": reverse("finance:contact_detail", args=[contact.pk]),
        "contact transactions": reverse("finance:contact_transactions", args=[contact.pk]),
        "dashboard": reverse("finance:dashboard"),
    }


def _grow(ledger, contact, batch, n: int) -> None:
    """``n`` more invoices and payments of ``contact`` in ``batch``, members of its
    company, other batches, and credit left on some invoices."""
    for i in range(n):
        make_invoice(ledger, contact, batch, "10.00")
        make_invoice(ledger, ContactFactory(company=contact.company), batch, "20.00")
        payment_receive(payer=contact, method=ledger.check_method, amount="15.00", date=JAN, batch=batch)
        if i % 3 == 0:
            BatchFactory()


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries.captured_queries)


@pytest.mark.parametrize("page", list(BUDGETS))
def test_page__fixed_query_budget_whatever_the_rows(clerk_client, staff_user, ledger, page):
    contact = ContactFactory(company=CompanyFactory())
    batch = BatchFactory()
    current_batch_set(user=staff_user, batch=batch)
    url = _urls(contact, batch)[page]
    _grow(ledger, contact, batch, 2)
    clerk_client.get(url)  # the session's first renewal
    few = _count(clerk_client, url)

    _grow(ledger, contact, batch, 30)  # more than a page (25 rows) of everything
    many = _count(clerk_client, url)

    assert few <= BUDGETS[page], f"{page}: {few} queries with a few rows"
    assert many == few, f"{page}: {few} queries with a few rows, {many} with more than a page"
