"""The cart pages: htmx requests get the cart panel, plain POSTs a redirect."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from checkout.models import Cart
from checkout.services.cart import cart_add_product, cart_apply_own_credit, cart_start
from core.models import Module
from finance.ledger_check import verify_ledger
from finance.models import Invoice, Payment
from tests.checkout.helpers import add_opencredit, make_credit, make_product
from tests.factories import CompanyFactory, ContactFactory

D = Decimal
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def opencredit(ledger):
    return add_opencredit("Staff")


@pytest.fixture
def clerk_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def manager_client(client, manager_user):
    client.force_login(manager_user)
    return client


def url(name, cart, *args):
    return reverse(f"cart:{name}", args=[cart.pk, *args])


@pytest.mark.django_db
def test_cart_pages__need_orders_2(client, django_user_model, grant, ledger):
    user = django_user_model.objects.create_user("viewer", password="pw")
    grant(user, Module.AR_CASH, 4)
    client.force_login(user)
    assert client.get(reverse("cart:home")).status_code == 403
    cart = cart_start(user=user, contact=ContactFactory())
    assert client.get(url("detail", cart)).status_code == 403
    grant(user, Module.ORDERS, 2)
    assert client.get(reverse("cart:home")).status_code == 200
    assert client.get(url("detail", cart)).status_code == 200


@pytest.mark.django_db
def test_contact_page_new_order_starts_a_cart_for_the_contact(clerk_client, ledger):
    contact = ContactFactory(name="Dana Devlin", party_id="30003")
    page = clerk_client.get(reverse("finance:contact_detail", args=[contact.pk])).content.decode()
    assert f'{reverse("cart:home")}?contact=30003">New order</a>' in page
    home = clerk_client.get(reverse("cart:home") + "?contact=30003").content.decode()
    assert "Start order for Dana Devlin" in home and 'href="/cart/"' in home  # the nav link
    response = clerk_client.post(reverse("cart:start"), {"contact": "30003"})
    cart = Cart.objects.get(contact=contact)
    assert response.status_code == 302 and response.url == url("detail", cart)
    page = clerk_client.get(response.url).content.decode()
    assert "Acting on behalf of" in page and "Dana Devlin" in page
    bad = clerk_client.post(reverse("cart:start"), {"contact": "99999"})
    assert bad.status_code == 200 and "No contact with party id" in bad.content.decode()


@pytest.mark.django_db
def test_add_product__htmx_gets_the_panel_and_plain_post_a_redirect(clerk_client, staff_user, ledger):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    mug = make_product(ledger, "14.50", name="Coffee mug")
    response = clerk_client.post(url("add_product", cart), {"product": mug.pk, "quantity": "2"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="cart-panel"')
    assert "Added Coffee mug." in body and "29.00" in body and "<html" not in body
    response = clerk_client.post(url("add_product", cart), {"product": mug.pk, "quantity": "1"})
    assert response.status_code == 302 and response.url == url("detail", cart)
    assert cart.lines.get().quantity == D("3")
    page = clerk_client.get(response.url).content.decode()
    assert "Added Coffee mug." in page and "43.50" in page
    line = cart.lines.get()
    response = clerk_client.post(url("remove_line", cart, line.pk), **HTMX)
    assert "Removed Coffee mug." in response.content.decode() and not cart.lines.exists()


@pytest.mark.django_db
def test_apply_and_remove_credit__htmx_and_plain(clerk_client, staff_user, ledger, opencredit):
    company = CompanyFactory(name="Acme Widgets")
    contact = ContactFactory(company=company)
    company_credit = make_credit(ledger, company, "25", date=datetime.date(2026, 1, 1))
    own = make_credit(ledger, contact, "100", date=datetime.date(2026, 1, 2))
    cart = cart_start(user=staff_user, contact=contact)
    cart_add_product(cart=cart, product=make_product(ledger, "60"))
    page = clerk_client.get(url("detail", cart)).content.decode()
    assert "Available to" in page and "and Acme Widgets" in page and "125.00" in page
    assert ">Apply</button>" in page and "Apply other credit" not in page  # Orders 2
    assert "Applying another contact's credit needs Orders authorization level 4." in page

    body = clerk_client.post(url("apply_credit", cart), **HTMX).content.decode()
    assert f"Applied 60.00 of open credit from invoices {company_credit.number} (Acme Widgets)" in body
    assert 'data-testid="cart-balance">0.00<' in body and "View details" in body and "other contact</span>" not in body
    assert [c.amount for c in cart.credits.all()] == [D("25.00"), D("35.00")]

    first = cart.credits.get(credit_invoice=company_credit)
    response = clerk_client.post(url("remove_credit", cart), {"credit": first.pk})
    assert response.status_code == 302
    assert [(c.credit_invoice, c.amount) for c in cart.credits.all()] == [(own, D("60.00"))]
    body = clerk_client.post(url("remove_credit", cart), **HTMX).content.decode()
    assert "Removed all applied credit." in body and not cart.credits.exists()


@pytest.mark.django_db
def test_no_apply_button_without_opencredit_in_the_set_and_the_endpoint_refuses(clerk_client, staff_user, ledger):
    contact = ContactFactory()
    make_credit(ledger, contact, "50")
    cart = cart_start(user=staff_user, contact=contact)
    cart_add_product(cart=cart, product=make_product(ledger, "30"))
    page = clerk_client.get(url("detail", cart)).content.decode()
    assert ">Apply</button>" not in page and "Open credit is not offered with the Staff payment methods" in page
    body = clerk_client.post(url("apply_credit", cart), **HTMX).content.decode()
    assert "OPENCREDIT method is not in the Staff set" in body and not cart.credits.exists()


@pytest.mark.django_db
def test_recurring_item_shows_why_and_hides_apply(clerk_client, staff_user, ledger, opencredit):
    contact = ContactFactory()
    make_credit(ledger, contact, "50")
    cart = cart_start(user=staff_user, contact=contact)
    cart_add_product(cart=cart, product=make_product(ledger, "17.50", recurring=True, name="Monthly dues"))
    page = clerk_client.get(url("detail", cart)).content.decode()
    assert ">Apply</button>" not in page
    assert "Open credit cannot be applied while a recurring item (Monthly dues) is in the cart" in page
    response = clerk_client.post(url("apply_credit", cart))
    assert response.status_code == 302
    assert "recurring item" in clerk_client.get(response.url).content.decode()


@pytest.mark.django_db
def test_apply_other_credit__orders_2_is_refused_with_403_and_no_button(clerk_client, staff_user, ledger, opencredit):
    credit = make_credit(ledger, ContactFactory(), "50")
    cart = cart_start(user=staff_user, contact=ContactFactory())
    cart_add_product(cart=cart, product=make_product(ledger, "30"))
    page = clerk_client.get(url("detail", cart) + "?q=x").content.decode()
    assert "Apply other credit" not in page and "other-credit-results" not in page
    assert clerk_client.get(url("search_credit", cart), {"q": credit.bill_to.party_id}, **HTMX).status_code == 403
    assert clerk_client.post(url("apply_other_credit", cart), {"credit": credit.pk}, **HTMX).status_code == 403
    assert clerk_client.post(url("apply_other_credit", cart), {"credit": credit.pk}).status_code == 403
    assert not cart.credits.exists()


@pytest.mark.django_db
def test_apply_other_credit__search_tick_apply_as_orders_4(manager_client, manager_user, ledger, opencredit):
    donor = ContactFactory(name="Rita Registrant", party_id="40404")
    older = make_credit(ledger, donor, "20", date=datetime.date(2026, 1, 1))
    newer = make_credit(ledger, donor, "80", date=datetime.date(2026, 2, 1))
    make_credit(ledger, ContactFactory(name="Someone Else"), "70")
    cart = cart_start(user=manager_user, contact=ContactFactory())
    cart_add_product(cart=cart, product=make_product(ledger, "50"))
    assert "Apply other credit" in manager_client.get(url("detail", cart)).content.decode()

    results = manager_client.get(url("search_credit", cart), {"q": "Registrant"}, **HTMX).content.decode()
    assert results.lstrip().startswith('<div id="other-credit-results"')
    assert older.number in results and newer.number in results and "Someone Else" not in results
    dated = manager_client.get(url("search_credit", cart), {"q": "40404", "date_from": "2026-01-15"}, **HTMX)
    assert newer.number in dated.content.decode() and f">{older.number}<" not in dated.content.decode()
    plain = manager_client.get(url("search_credit", cart), {"q": "40404"})
    assert plain.status_code == 302 and 'data-testid="credit-results"' in manager_client.get(plain.url).content.decode()

    body = manager_client.post(url("apply_other_credit", cart), {"credit": [newer.pk, older.pk]}, **HTMX)
    body = body.content.decode()
    assert f"Applied 50.00 of open credit from invoices {older.number} (Rita Registrant), {newer.number}" in body
    assert "other contact" in body and '<div id="other-credit-results" hx-swap-oob="true">' in body
    assert [(c.credit_invoice, c.amount) for c in cart.credits.all()] == [(older, D("20.00")), (newer, D("30.00"))]
    again = manager_client.post(url("apply_other_credit", cart), {"credit": [newer.pk]}).status_code
    assert again == 302  # already applied: keeps its amount


@pytest.mark.django_db
def test_submit__plain_post_redirects_to_the_invoice_and_htmx_gets_hx_redirect(
    clerk_client, staff_user, ledger, opencredit
):
    contact = ContactFactory()
    make_credit(ledger, contact, "10")
    cart = cart_start(user=staff_user, contact=contact)
    cart_add_product(cart=cart, product=make_product(ledger, "30"))
    cart_apply_own_credit(user=staff_user, cart=cart)
    response = clerk_client.post(url("submit", cart), {"method": ledger.check_method.pk, "reference": "1001"})
    cart.refresh_from_db()
    assert response.status_code == 302 and response.url == reverse("finance:invoice_detail", args=[cart.invoice_id])
    page = clerk_client.get(response.url).content.decode()
    assert f"Order submitted: invoice {cart.invoice.number} for 30.00" in page
    assert sorted(Payment.objects.filter(batch=cart.batch).values_list("amount", flat=True)) == [D("10.00"), D("20.00")]

    second = cart_start(user=staff_user, contact=ContactFactory())
    cart_add_product(cart=second, product=make_product(ledger, "5"))
    response = clerk_client.post(url("submit", second), {"method": ledger.cash_method.pk}, **HTMX)
    second.refresh_from_db()
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("finance:invoice_detail", args=[second.invoice_id])
    report = verify_ledger()
    assert report.ok, report.format()


@pytest.mark.django_db
def test_submit__errors_show_in_the_panel_and_nothing_is_written(clerk_client, staff_user, ledger, opencredit):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    cart_add_product(cart=cart, product=make_product(ledger, "30"))
    body = clerk_client.post(url("submit", cart), {"method": ""}, **HTMX).content.decode()
    assert 'data-testid="cart-error">Choose how the remaining 30.00 is paid.' in body
    assert not Invoice.objects.filter(source=Invoice.Source.CART).exists()


@pytest.mark.django_db
def test_other_users_carts_are_not_found(client, django_user_model, grant, staff_user, ledger):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    other = django_user_model.objects.create_user("other", password="pw")
    grant(other, Module.ORDERS, 4)
    client.force_login(other)
    assert client.get(url("detail", cart)).status_code == 404
    assert client.post(url("cancel", cart)).status_code == 404


@pytest.mark.django_db
def test_cancel__closes_the_cart(clerk_client, staff_user, ledger):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    response = clerk_client.post(url("cancel", cart))
    assert response.status_code == 302 and response.url == reverse("cart:home")
    cart.refresh_from_db()
    assert cart.status == Cart.Status.CANCELLED


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login(client, staff_user, ledger):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    for path in (reverse("cart:home"), url("detail", cart)):
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    response = client.post(url("apply_credit", cart))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
