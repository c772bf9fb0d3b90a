"""Adjusting payments (unapply, refund) and reversing invoices from the staff UI."""

import datetime

import pytest
from django.urls import reverse

from finance.models import Batch, Invoice, Payment, Refund
from finance.services.batches import current_batch_set
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 1, 10)


def test_unapply_then_refund_from_the_payment_page(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, payer, batch, "100")
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="100", date=DAY, batch=batch)
    current = BatchFactory(number="ADJ-1")
    current_batch_set(user=manager_user, batch=current)
    before = Batch.objects.count()
    page = client.get(reverse("finance:payment_detail", args=[payment.pk])).content.decode()
    assert 'data-testid="unapply-form"' in page and 'data-testid="refund-form"' not in page
    resp = client.post(
        reverse("finance:payment_unapply", args=[payment.pk]), {"date": DAY.isoformat(), "batch": ""}, follow=True
    )
    assert "is unapplied in batch ADJ-1: 100.00 is open credit on invoice" in resp.content.decode()
    inv.refresh_from_db()
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert credit.batch == current
    assert inv.balance == D("100.00") and credit.balance == D("-100.00")
    page = client.get(reverse("finance:payment_detail", args=[payment.pk])).content.decode()
    assert 'data-testid="refund-form"' in page and 'data-testid="refundable">100.00<' in page
    resp = client.post(
        reverse("finance:payment_refund", args=[payment.pk]),
        {"credit_invoice": credit.pk, "mode": "record_only", "date": DAY.isoformat(), "batch": "", "reason": "Left"},
        follow=True,
    )
    assert "Refund of 100.00 recorded in batch ADJ-1" in resp.content.decode()
    credit.refresh_from_db()
    assert credit.balance == D("0.00") and Refund.objects.get().mode == Refund.Mode.RECORD_ONLY
    assert Refund.objects.get().batch == current and Batch.objects.count() == before


def test_adjustments_without_a_batch_are_refused_and_open_none(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, payer, batch, "100")
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="100", date=DAY, batch=batch)
    data = {"date": DAY.isoformat(), "batch": ""}
    resp = client.post(reverse("finance:payment_unapply", args=[payment.pk]), data, follow=True)
    assert "you have no current batch" in resp.content.decode()
    resp = client.post(reverse("finance:invoice_reverse", args=[inv.pk]), {**data, "reason": "x"}, follow=True)
    assert "you have no current batch" in resp.content.decode()
    inv.refresh_from_db()
    assert inv.balance == D("0.00") and inv.reversed_at is None
    assert Batch.objects.count() == 1 and not Invoice.objects.filter(type=Invoice.Type.CREDIT).exists()


def test_refund_through_processor_refused_for_a_check(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    current_batch_set(user=manager_user, batch=batch)
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="30", date=DAY, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    resp = client.post(
        reverse("finance:payment_refund", args=[payment.pk]),
        {"credit_invoice": credit.pk, "mode": "processor", "date": DAY.isoformat(), "batch": ""},
        follow=True,
    )
    assert "not a card payment taken through a processor" in resp.content.decode()
    credit.refresh_from_db()
    assert credit.balance == D("-30.00") and not Refund.objects.exists()


def test_reverse_invoice_from_the_invoice_page(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, payer, batch, "400")
    payment_receive(payer=payer, method=ledger.check_method, amount="400", date=DAY, batch=batch)
    assert (
        'data-testid="invoice-reverse"' in client.get(reverse("finance:invoice_detail", args=[inv.pk])).content.decode()
    )
    resp = client.post(
        reverse("finance:invoice_reverse", args=[inv.pk]),
        {"date": DAY.isoformat(), "batch": str(batch.pk), "reason": "Cancelled"},
        follow=True,
    )
    assert f"Invoice {inv.number} is reversed" in resp.content.decode()
    assert Invoice.objects.get(type=Invoice.Type.CREDIT).balance == D("-400.00")
    again = client.post(
        reverse("finance:invoice_reverse", args=[inv.pk]),
        {"date": DAY.isoformat(), "batch": str(batch.pk), "reason": "Twice"},
        follow=True,
    )
    assert "already reversed" in again.content.decode()


def test_adjustments_need_finance_level_4(client, staff_user, ledger):
    client.force_login(staff_user)
    payer, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, payer, batch, "50")
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="50", date=DAY, batch=batch)
    data = {"date": DAY.isoformat(), "batch": ""}
    assert client.post(reverse("finance:payment_unapply", args=[payment.pk]), data).status_code == 403
    assert client.post(reverse("finance:payment_refund", args=[payment.pk]), data).status_code == 403
    assert client.post(reverse("finance:invoice_reverse", args=[inv.pk]), data).status_code == 403
    assert (
        'data-testid="invoice-reverse"'
        not in client.get(reverse("finance:invoice_detail", args=[inv.pk])).content.decode()
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.POSTED
