"""Every page of the finance staff UI: anonymous users are sent to the login page and
a signed-in user without module levels is refused (403) — on every URL pattern."""

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.models import Module
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db


def finance_url_names() -> list[str]:
    """The names of every URL pattern in the finance app's namespace."""
    names = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "finance":
            for pattern in entry.url_patterns:
                assert isinstance(pattern, URLPattern)
                names.append(pattern.name)
    return names


FINANCE_URLS = finance_url_names()


def test_the_finance_app_has_pages():
    assert {"dashboard", "contact_list", "invoice_detail", "payment_reverse", "batch_post"} <= set(FINANCE_URLS)


@pytest.fixture
def objects(ledger):
    """One of each object a URL pattern can name."""
    batch = BatchFactory()
    contact = ContactFactory()
    invoice = make_invoice(ledger, contact, batch, "40.00")
    payment = payment_receive(payer=contact, method=ledger.cash_method, amount="40.00", date=invoice.date, batch=batch)
    from finance.models_ar_import import ARImport

    ar_import = ARImport.objects.create(file_name="lockbox.txt", sha256="0" * 64)  # the ar_import_* pages
    return {"contact": contact.pk, "invoice": invoice.pk, "payment": payment.pk, "batch": batch.pk, "ar": ar_import.pk}


def url_for(name: str, objects: dict) -> str:
    resolver = get_resolver()
    pattern = next(p for p in resolver.namespace_dict["finance"][1].url_patterns if p.name == name)
    kwargs = {}
    if "pk" in pattern.pattern.converters:
        kwargs["pk"] = objects[name.split("_")[0]]
    return reverse(f"finance:{name}", kwargs=kwargs)


@pytest.mark.parametrize("name", FINANCE_URLS)
def test_anonymous_get_is_sent_to_login(client, objects, name):
    url = url_for(name, objects)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse(settings.LOGIN_URL)}?next={url}"


@pytest.mark.parametrize("name", FINANCE_URLS)
def test_anonymous_post_is_sent_to_login(client, objects, name):
    response = client.post(url_for(name, objects))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


@pytest.mark.parametrize("name", FINANCE_URLS)
def test_user_without_module_levels_gets_403(client, django_user_model, objects, name):
    client.force_login(django_user_model.objects.create_user("nolevels", password="x", is_staff=True))
    url = url_for(name, objects)
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403


# The contact finder answers the cart's "acting on behalf of" box too: Orders ≥ 2 opens it.
OPEN_TO_ORDERS = {"contact_find"}


@pytest.mark.parametrize("name", FINANCE_URLS)
def test_levels_in_other_modules_do_not_open_finance_pages(client, django_user_model, grant, objects, name):
    user = django_user_model.objects.create_user("orders", password="x", is_staff=True)
    modules = (Module.ORDERS, Module.MEMBERSHIP, Module.INTEGRATIONS)
    for module in modules[1:] if name in OPEN_TO_ORDERS else modules:
        grant(user, module, 8)
    client.force_login(user)
    assert client.get(url_for(name, objects)).status_code == 403


@pytest.mark.parametrize("name", sorted(OPEN_TO_ORDERS))
def test_orders_2_opens_the_contact_finder(client, django_user_model, grant, objects, name):
    user = django_user_model.objects.create_user("orders", password="x", is_staff=True)
    client.force_login(grant(user, Module.ORDERS, 1))
    assert client.get(url_for(name, objects)).status_code == 403
    grant(user, Module.ORDERS, 2)
    assert client.get(url_for(name, objects)).status_code == 200


# Pages that only read: AR/Cash level 1 opens them. Pages that change something need
# more and are covered by the action tests in tests/finance/test_views.py.
READ_PAGES = [
    "dashboard",
    "contact_list",
    "contact_detail",
    "contact_transactions",
    "invoice_list",
    "invoice_detail",
    "payment_list",
    "payment_detail",
    "batch_list",
    "batch_detail",
]


def test_read_pages_are_finance_url_patterns():
    assert set(READ_PAGES) <= set(FINANCE_URLS)


@pytest.mark.parametrize("name", READ_PAGES)
def test_ar_cash_level_1_opens_every_reading_page(client, django_user_model, grant, objects, name):
    user = grant(django_user_model.objects.create_user("viewer", password="x", is_staff=True), Module.AR_CASH, 1)
    client.force_login(user)
    assert client.get(url_for(name, objects)).status_code == 200


@pytest.mark.parametrize(
    "name", ["batch_create", "batch_controls", "batch_ready", "batch_reopen", "batch_post", "batch_delete"]
)
def test_ar_cash_level_1_cannot_change_batches(client, django_user_model, grant, objects, name):
    user = grant(django_user_model.objects.create_user("viewer", password="x", is_staff=True), Module.AR_CASH, 1)
    client.force_login(user)
    assert client.post(url_for(name, objects)).status_code == 403
