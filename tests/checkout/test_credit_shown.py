"""The contact's open credit shows from the start: an empty staff cart and an empty member
checkout list it (every entity's while no product has fixed the cart's entity)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from checkout.models import Cart, MemberAccount
from checkout.services.cart import available_credit_rows, cart_add_product, cart_start, credit_totals
from finance.models import Invoice, PaymentMethod
from finance.services.payments import payment_receive
from tests.checkout.helpers import add_opencredit, make_credit, make_product
from tests.factories import BatchFactory, CompanyFactory, ContactFactory, LedgerSetup, PaymentMethodFactory

pytestmark = pytest.mark.django_db
D = Decimal
DAY = datetime.date(2026, 1, 10)


def shown(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</span>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)).split() if match else None


def test_available_credit_rows__every_entity_until_a_product_fixes_one(ledger, staff_user):
    add_opencredit("Staff")
    company = CompanyFactory()
    kenneth = ContactFactory(name="Kenneth Fischer", company=company)
    own = make_credit(ledger, kenneth, "195.00")
    company_credit = make_credit(ledger, company, "20.00")
    fdn = LedgerSetup.build(code="FDN")
    fdn_check = PaymentMethodFactory(code="FDNCHECK", type=PaymentMethod.Type.CHECK, cash_account=fdn.cash)
    payment = payment_receive(
        payer=kenneth, method=fdn_check, amount="30.00", date=DAY, batch=BatchFactory(), auto_apply=False
    )
    elsewhere = Invoice.objects.get(applications__payment=payment)
    assert elsewhere.entity == fdn.entity
    cart = cart_start(user=staff_user, contact=kenneth)

    rows = available_credit_rows(cart)
    assert {(inv, amount, used) for inv, amount, used in rows} == {
        (own, D("195.00"), False),
        (company_credit, D("20.00"), False),
        (elsewhere, D("30.00"), False),
    }
    assert credit_totals(rows) == [("USD", D("245.00"))]

    cart_add_product(cart=cart, product=make_product(ledger, "50.00"))
    cart.refresh_from_db()
    assert {inv for inv, _, _ in available_credit_rows(cart)} == {own, company_credit}


def test_empty_staff_cart_shows_the_contacts_credit(client, staff_user, ledger):
    add_opencredit("Staff")
    kenneth = ContactFactory(name="Kenneth Fischer")
    credit = make_credit(ledger, kenneth, "195.00")
    client.force_login(staff_user)
    cart = cart_start(user=staff_user, contact=kenneth)

    html = client.get(reverse("cart:detail", args=[cart.pk])).content.decode()
    assert shown(html, "available-credit") == ["195.00"]
    assert f"Invoice {credit.number}" in html and ledger.entity.code in html
    assert "Add a product to apply it" in html
    assert f'action="{reverse("cart:apply_credit", args=[cart.pk])}"' not in html  # nothing to apply it to yet

    product = make_product(ledger, "100.00")
    client.post(reverse("cart:add_product", args=[cart.pk]), {"product": product.pk, "quantity": "1"})
    html = client.get(reverse("cart:detail", args=[cart.pk])).content.decode()
    assert shown(html, "available-credit") == ["195.00"]
    assert f'action="{reverse("cart:apply_credit", args=[cart.pk])}"' in html


def test_empty_member_checkout_shows_own_and_company_credit(client, django_user_model, ledger):
    add_opencredit("Public")
    company = CompanyFactory()
    priya = ContactFactory(name="Priya Lopez", company=company)
    make_credit(ledger, priya, "1165.00")
    make_credit(ledger, company, "25.00")
    user = django_user_model.objects.create_user("priya", password="pw-priya-1")
    MemberAccount.objects.create(user=user, contact=priya)
    client.force_login(user)

    html = client.get(reverse("member:home")).content.decode()
    assert Cart.objects.get(user=user).lines.count() == 0
    assert shown(html, "available-credit") == ["1,190.00"]
    assert "1,165.00" in html and "25.00" in html
    assert "Add an item to your order to pay for it with your credit." in html
    assert Invoice.objects.filter(bill_to=priya, balance__lt=0).count() == 1
