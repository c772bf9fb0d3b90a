"""The member checkout: the Public set, own and company credit, card payment, access."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from checkout.models import Cart, CartCredit, MemberAccount
from finance.models import GatewayAccount, Invoice, Payment, PaymentMethod, PaymentMethodSet, PaymentMethodSetEntry
from tests.checkout.helpers import add_opencredit, assert_ledger_ok, make_credit, make_product
from tests.factories import CompanyFactory, ContactFactory

D = Decimal
API_KEY = "sk_sandbox_member"


@pytest.fixture
def public_card(ledger, live_server, settings):
    """The Public set with a card method on a sandbox gateway served over HTTP."""
    settings.SANDBOX_PROCESSOR_ENABLED = True
    settings.SANDBOX_PROCESSOR_API_KEYS = [API_KEY]
    settings.SANDBOX_PROCESSOR_API_KEY = API_KEY
    settings.SANDBOX_PROCESSOR_URL = live_server.url + "/sandbox/processor/v1"
    settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 3600
    gateway = GatewayAccount.objects.create(
        name="Web", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    card = PaymentMethod.objects.create(
        code="WEBCARD",
        name="Card",
        type=PaymentMethod.Type.CREDIT_CARD,
        cash_account=ledger.cash,
        gateway_account=gateway,
    )
    public, _ = PaymentMethodSet.objects.get_or_create(name="Public")
    PaymentMethodSetEntry.objects.create(method_set=public, method=card, position=1, display_name="Credit card")
    return card


@pytest.fixture
def member(django_user_model):
    company = CompanyFactory()
    contact = ContactFactory(company=company)
    user = django_user_model.objects.create_user("member1", password="pw-member-1")
    MemberAccount.objects.create(user=user, contact=contact)
    return user, contact, company


def _cart_of(user) -> Cart:
    return Cart.objects.get(user=user, status=Cart.Status.OPEN)


def _open_with_product(client, user, ledger, price) -> Cart:
    client.force_login(user)
    assert client.get(reverse("member:home")).status_code == 200
    cart = _cart_of(user)
    product = make_product(ledger, price, name="Annual conference")
    response = client.post(reverse("member:add_product", args=[cart.pk]), {"product": product.pk, "quantity": "1"})
    assert response.status_code == 302
    return cart


@pytest.mark.django_db(transaction=True)
def test_member_applies_own_and_company_credit_and_pays_the_rest_by_card(client, ledger, member, public_card):
    user, contact, company = member
    add_opencredit("Public")
    own = make_credit(ledger, contact, "25.00")
    company_credit = make_credit(ledger, company, "15.00")
    cart = _open_with_product(client, user, ledger, "100.00")
    assert cart.method_set.name == "Public" and cart.contact == contact

    page = client.get(reverse("member:home")).content.decode()
    assert "Apply my credit" in page and own.number in page and company_credit.number in page
    client.post(reverse("member:apply_credit", args=[cart.pk]))
    assert sorted(CartCredit.objects.filter(cart=cart).values_list("amount", flat=True)) == [D("15.00"), D("25.00")]

    response = client.post(reverse("member:pay", args=[cart.pk]), {"method": public_card.pk, "card_token": "tok_visa"})

    cart.refresh_from_db()
    assert cart.status == Cart.Status.SUBMITTED
    assert response.status_code == 302 and response.url == reverse("member:receipt", args=[cart.pk])
    assert Payment.objects.get(method=public_card).amount == D("60.00")
    assert Invoice.objects.get(pk=cart.invoice_id).balance == D("0.00")
    receipt = client.get(response.url).content.decode()
    assert "Thank you" in receipt and cart.invoice.number in receipt
    assert_ledger_ok()


@pytest.mark.django_db
def test_member_gets_no_credit_when_opencredit_is_only_in_the_staff_set(client, ledger, member):
    user, contact, _ = member
    add_opencredit("Staff")  # not in the Public set
    PaymentMethodSet.objects.get_or_create(name="Public")
    make_credit(ledger, contact, "25.00")
    cart = _open_with_product(client, user, ledger, "100.00")

    page = client.get(reverse("member:home")).content.decode()
    assert "Apply my credit" not in page and "Your open credit" not in page
    client.post(reverse("member:apply_credit", args=[cart.pk]))
    assert not CartCredit.objects.filter(cart=cart).exists()
    messages = [str(m) for m in client.get(reverse("member:home")).context["messages"]]
    assert any("not in the Public set" in m for m in messages)


@pytest.mark.django_db
def test_credit_covering_the_order_places_it_without_a_card(client, ledger, member):
    user, contact, _ = member
    add_opencredit("Public")
    make_credit(ledger, contact, "80.00")
    cart = _open_with_product(client, user, ledger, "50.00")
    client.post(reverse("member:apply_credit", args=[cart.pk]))
    page = client.get(reverse("member:home")).content.decode()
    assert "Your credit covers the whole order" in page
    client.post(reverse("member:pay", args=[cart.pk]))
    cart.refresh_from_db()
    assert cart.status == Cart.Status.SUBMITTED and cart.payment is None
    assert_ledger_ok()


@pytest.mark.django_db
def test_member_pages_need_a_member_and_staff_pages_refuse_members(client, ledger, member, staff_user):
    user, _, _ = member
    PaymentMethodSet.objects.get_or_create(name="Public")
    client.force_login(user)
    assert client.get(reverse("finance:dashboard")).status_code == 403
    assert client.get(reverse("cart:home")).status_code == 403
    client.get(reverse("member:home"))
    cart = _cart_of(user)
    client.force_login(staff_user)
    assert client.get(reverse("member:home")).status_code == 403
    # Another member cannot touch this member's order.
    other_contact = ContactFactory()
    other = get_user_model().objects.create_user("member2", password="pw-member-2")
    MemberAccount.objects.create(user=other, contact=other_contact)
    client.force_login(other)
    assert client.post(reverse("member:apply_credit", args=[cart.pk])).status_code == 404
    assert client.get(reverse("member:receipt", args=[cart.pk])).status_code == 404


@pytest.mark.django_db
def test_sign_in_lands_members_at_their_checkout_and_staff_at_the_dashboard(client, member, staff_user):
    PaymentMethodSet.objects.get_or_create(name="Public")
    # One redirect: the sign-in itself sends each to their start page.
    response = client.post(reverse("login"), {"username": "member1", "password": "pw-member-1"})
    assert response.status_code == 302 and response.url == reverse("member:home")
    # The start page (the 404 page's way back) agrees.
    assert client.get(reverse("start")).url == reverse("member:home")
    client.logout()
    staff_user.set_password("pw-staff-1")
    staff_user.save()
    response = client.post(reverse("login"), {"username": staff_user.username, "password": "pw-staff-1"})
    assert response.status_code == 302 and response.url == reverse("finance:dashboard")
    assert client.get(reverse("start")).url == reverse("finance:dashboard")


@pytest.mark.django_db
def test_sign_in_keeps_a_safe_next_and_refuses_another_site(client, staff_user):
    staff_user.set_password("pw-staff-1")
    staff_user.save()
    credentials = {"username": staff_user.username, "password": "pw-staff-1"}
    wanted = reverse("finance:invoice_list")
    response = client.post(reverse("login") + f"?next={wanted}", credentials)
    assert response.url == wanted
    client.logout()
    response = client.post(reverse("login") + "?next=https://elsewhere.example/", credentials)
    assert response.url == reverse("finance:dashboard")
