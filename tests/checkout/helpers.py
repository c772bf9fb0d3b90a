"""Helpers shared by the cart and checkout tests: open credit, products and carts."""

import datetime
from decimal import Decimal

from checkout.models import Cart
from checkout.services.cart import cart_add_product, cart_start
from finance.ledger_check import verify_ledger
from finance.models import Invoice, PaymentMethod, PaymentMethodSet, PaymentMethodSetEntry
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ProductFactory

D = Decimal


def add_opencredit(set_name="Staff") -> PaymentMethod:
    """OPENCREDIT (type open credit) as an entry of ``set_name``."""
    method, _ = PaymentMethod.objects.get_or_create(
        code="OPENCREDIT", defaults={"name": "Open credit", "type": PaymentMethod.Type.OPEN_CREDIT}
    )
    method_set, _ = PaymentMethodSet.objects.get_or_create(name=set_name)
    PaymentMethodSetEntry.objects.get_or_create(
        method_set=method_set, method=method, defaults={"position": 9, "display_name": "Apply open credit"}
    )
    return method


def make_credit(ledger, contact, amount, date=datetime.date(2026, 1, 10)) -> Invoice:
    """An open credit for ``contact``: a prepayment by check with nothing to pay."""
    batch = BatchFactory(date=date)
    payment = payment_receive(
        payer=contact, method=ledger.check_method, amount=amount, date=date, batch=batch, auto_apply=False
    )
    return Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=payment)


def make_product(ledger, price, *, recurring=False, name=None):
    extra = {"name": name} if name else {}
    return ProductFactory(
        entity=ledger.entity, income_account=ledger.income, price=D(price), is_recurring=recurring, **extra
    )


def cart_with(user, contact, ledger, *prices, method_set_name="Staff") -> Cart:
    cart = cart_start(user=user, contact=contact, method_set_name=method_set_name)
    for price in prices:
        cart_add_product(cart=cart, product=make_product(ledger, price))
    return cart


def applied(cart) -> list[tuple[str, Decimal]]:
    return [(cc.credit_invoice.number, cc.amount) for cc in cart.credits.select_related("credit_invoice")]


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()
