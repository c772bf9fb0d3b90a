"""Twenty carts holding the same $100 credit, submitted at once, never use more than $100."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from checkout.models import Cart
from checkout.services.cart import StaleCart, cart_add_product, cart_apply_own_credit, cart_start, cart_submit
from finance.ledger_check import verify_ledger
from finance.models import Batch, Invoice, PaymentApplication
from tests.checkout.helpers import add_opencredit, make_credit, make_product
from tests.factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

CARTS = 20


def test_concurrent_submits_of_one_credit__never_above_the_credit_no_deadlock(ledger, staff_user):
    add_opencredit("Staff")
    company = CompanyFactory()
    credit = make_credit(ledger, company, "100")
    product = make_product(ledger, "30")
    carts = []
    for _ in range(CARTS):
        cart = cart_start(user=staff_user, contact=ContactFactory(company=company))
        cart_add_product(cart=cart, product=product)
        cart_apply_own_credit(user=staff_user, cart=cart)  # each applies 30 of the company's 100
        carts.append(cart)
    assert all(c.credits.get().amount == Decimal("30.00") for c in carts)

    barrier = threading.Barrier(CARTS)
    submitted, stale, errors = [], [], []

    def submit(cart):
        try:
            barrier.wait(timeout=30)
            cart_submit(user=staff_user, cart=cart, method=ledger.cash_method)
            submitted.append(cart.pk)
        except StaleCart as exc:
            stale.append(str(exc))
        except Exception as exc:  # a deadlock or anything else fails the test below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(c,)) for c in carts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(submitted) + len(stale) == CARTS
    used = -(
        PaymentApplication.objects.filter(invoice=credit, kind=PaymentApplication.Kind.CREDIT_DRAW).aggregate(
            s=Sum("amount")
        )["s"]
        or 0
    )
    assert used <= Decimal("100.00")
    assert used == Decimal("30.00") * len(submitted) == Decimal("90.00")
    assert all(f"Credit invoice {credit.number}" in message for message in stale)
    credit.refresh_from_db()
    assert credit.balance == Decimal("-10.00")
    assert Cart.objects.filter(status=Cart.Status.SUBMITTED).count() == 3
    assert Invoice.objects.filter(source=Invoice.Source.CART).count() == 3
    # All submitted orders went into the day's one cart batch.
    assert Batch.objects.filter(description="Cart orders").count() == 1
    report = verify_ledger()
    assert report.ok, report.format()
