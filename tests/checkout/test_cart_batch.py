"""Which batch a submitted cart goes into: the batch picked on submit, else the staff
user's current batch while it is open, else the day's "Cart orders" batch."""

import pytest
from django.urls import reverse
from django.utils import timezone

from checkout.services.cart import CART_BATCH_DESCRIPTION, cart_submit
from finance.errors import BatchClosed
from finance.models import Batch, Payment
from finance.services.batches import current_batch_set
from tests.checkout.helpers import assert_ledger_ok, cart_with
from tests.factories import BatchFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_submit__into_the_users_current_batch(ledger, staff_user):
    current = BatchFactory(number="CUR-1")
    current_batch_set(user=staff_user, batch=current)
    before = Batch.objects.count()
    cart = cart_submit(
        user=staff_user, cart=cart_with(staff_user, ContactFactory(), ledger, "10"), method=ledger.cash_method
    )
    assert cart.batch == current and cart.invoice.batch == current
    assert Payment.objects.get(pk=cart.payment_id).batch == current
    assert Batch.objects.count() == before
    assert_ledger_ok()


def test_submit__a_picked_batch_wins_and_a_closed_one_is_refused(ledger, staff_user):
    current_batch_set(user=staff_user, batch=BatchFactory())
    picked = BatchFactory(number="PICK-1")
    cart = cart_submit(
        user=staff_user,
        cart=cart_with(staff_user, ContactFactory(), ledger, "10"),
        method=ledger.cash_method,
        batch=picked,
    )
    assert cart.invoice.batch == picked
    ready = BatchFactory(status=Batch.Status.READY)
    other = cart_with(staff_user, ContactFactory(), ledger, "20")
    with pytest.raises(BatchClosed):
        cart_submit(user=staff_user, cart=other, method=ledger.cash_method, batch=ready)
    other.refresh_from_db()
    assert other.invoice_id is None


def test_submit__without_an_open_current_batch_into_the_days_cart_batch(ledger, staff_user):
    current = BatchFactory()
    current_batch_set(user=staff_user, batch=current)
    Batch.objects.filter(pk=current.pk).update(status=Batch.Status.POSTED, posted_at=timezone.now())
    cart = cart_submit(
        user=staff_user, cart=cart_with(staff_user, ContactFactory(), ledger, "10"), method=ledger.cash_method
    )
    assert cart.batch.description == CART_BATCH_DESCRIPTION and cart.batch != current


def test_submit_page__offers_the_current_batch_and_the_open_ones(client, ledger, staff_user):
    current, other = BatchFactory(number="CUR-2"), BatchFactory(number="OTHER-2")
    current_batch_set(user=staff_user, batch=current)
    cart = cart_with(staff_user, ContactFactory(), ledger, "10")
    client.force_login(staff_user)
    html = client.get(reverse("cart:detail", args=[cart.pk])).content.decode()
    assert "My current batch: CUR-2" in html and f'<option value="{other.pk}">' in html
    client.post(reverse("cart:submit", args=[cart.pk]), {"method": ledger.cash_method.pk, "batch": other.pk})
    cart.refresh_from_db()
    assert cart.invoice.batch == other
