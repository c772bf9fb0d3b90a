"""Partial refunds: several parts up to what the payment holds, the modes a method
allows, what the payment page offers after them, and the reversed invoice's links."""

import datetime
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse

from finance.errors import FinanceError, OverApplication
from finance.ledger_check import verify_ledger
from finance.models import Invoice, Payment, Refund
from finance.services.adjustments import invoice_reverse
from finance.services.credits import (
    refund_modes,
    refund_record,
    refund_start,
    refundable_now,
    unapply_refusal,
)
from finance.services.payments import payment_receive, reverse_refusal
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, card_method, make_invoice

DAY = datetime.date(2026, 1, 10)


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def overpay(ledger, amount="100", invoice="60"):
    """A check of ``amount`` paying an invoice of ``invoice``: the rest is open credit."""
    payer, batch = ContactFactory(), BatchFactory()
    make_invoice(ledger, payer, batch, invoice)
    payment = payment_receive(payer=payer, method=ledger.check_method, amount=amount, date=DAY, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=payment)
    return payment, credit, batch


@pytest.mark.django_db
def test_refund_record__several_parts_never_above_the_credit_held(ledger):
    payment, credit, batch = overpay(ledger)
    assert refundable_now(payment, credit) == D("40.00")
    refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="15")
    assert refundable_now(payment, credit) == D("25.00")
    with pytest.raises(OverApplication, match="more than the 25.00"):
        refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="25.01")
    refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="25.00")
    payment.refresh_from_db()
    credit.refresh_from_db()
    assert payment.refunded_amount == D("40.00") and payment.amount_applied == D("60.00")
    assert credit.balance == D("0.00") and refundable_now(payment, credit) == D("0.00")
    assert list(Refund.objects.order_by("pk").values_list("amount", flat=True)) == [D("15.00"), D("25.00")]
    # The part paid on the invoice can still be unapplied; a refunded payment is not reversed.
    assert unapply_refusal(payment) == ""
    assert "has refunds (40.00)" in reverse_refusal(payment)
    assert_ledger_ok()


@pytest.mark.django_db
def test_refund_of_a_prepayment_in_full__neither_unapply_nor_reverse_is_left(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="50", date=DAY, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="20")
    refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY)  # the rest: 30.00
    payment.refresh_from_db()
    assert payment.refunded_amount == payment.amount == D("50.00")
    assert "not applied to any invoice" in unapply_refusal(payment)
    assert "has refunds" in reverse_refusal(payment)


@pytest.mark.django_db
def test_refund_modes__processor_only_for_a_card_taken_through_one(ledger):
    payment, _credit, _batch = overpay(ledger)
    assert refund_modes(payment) == [Refund.Mode.RECORD_ONLY]
    Payment.objects.filter(pk=payment.pk).update(processor_charge_id="ch_1")  # a check with an id: still no
    payment.refresh_from_db()
    assert refund_modes(payment) == [Refund.Mode.RECORD_ONLY]
    visa = card_method(ledger)
    card = payment_receive(payer=payment.payer, method=visa, amount="10", date=DAY, batch=payment.batch)
    assert refund_modes(card) == [Refund.Mode.RECORD_ONLY]  # keyed in, no processor charge
    card = payment_receive(
        payer=payment.payer, method=visa, amount="10", date=DAY, batch=payment.batch, processor_charge_id="ch_2"
    )
    assert refund_modes(card) == [Refund.Mode.PROCESSOR, Refund.Mode.RECORD_ONLY]


@pytest.mark.django_db
def test_pending_processor_refund_holds_its_part(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(
        payer=payer, method=card_method(ledger), amount="80", date=DAY, batch=batch, processor_charge_id="ch_3"
    )
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    refund_start(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="30")
    assert refundable_now(payment, credit) == D("50.00")
    with pytest.raises(OverApplication, match="more than the 50.00"):
        refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="60")
    with pytest.raises(FinanceError, match="has refunds"):
        from finance.services.payments import payment_reverse  # noqa: PLC0415 - the refusal under test

        payment_reverse(payment=payment, batch=batch, date=DAY)


@pytest.mark.django_db
def test_payment_refunds_above_the_amount__refused_by_the_database(ledger):
    payment, _credit, _batch = overpay(ledger)
    with pytest.raises(IntegrityError, match="payment_refund_within_amount"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded_amount=F("amount") + D("0.01"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds__never_exceed_the_payment(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="100", date=DAY, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    barrier = threading.Barrier(5)
    done, refused, errors = [], [], []

    def refund():
        try:
            barrier.wait(timeout=10)
            done.append(refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY, amount="30"))
        except OverApplication as exc:
            refused.append(exc)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    # 3 × 30 fit in 100; the other two see only 10.00 left.
    assert len(done) == 3 and len(refused) == 2
    assert all("more than the 10.00" in str(exc) for exc in refused)
    payment.refresh_from_db()
    credit.refresh_from_db()
    assert payment.refunded_amount == D("90.00") and credit.balance == D("-10.00")
    assert_ledger_ok()


@pytest.mark.django_db
def test_invoice_reverse__the_credit_invoices_name_it(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, payer, batch, "120")
    payment_receive(payer=payer, method=ledger.check_method, amount="120", date=DAY, batch=batch)
    invoice_reverse(invoice=invoice, batch=batch, date=DAY, reason="cancelled")
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert credit.reversal_of == invoice and list(invoice.reversal_credits.all()) == [credit]


# --- the pages ---------------------------------------------------------------------


@pytest.mark.django_db
def test_payment_page__partial_refund_then_the_rest(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="125", date=DAY, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    url = reverse("finance:payment_detail", args=[payment.pk])
    page = client.get(url).content.decode()
    assert 'data-testid="reverse-form"' in page and 'data-testid="refund-form"' in page
    assert 'value="processor"' not in page  # a check is refunded by recording it only
    form = {"credit_invoice": credit.pk, "date": DAY.isoformat(), "batch": str(batch.pk)}
    resp = client.post(reverse("finance:payment_refund", args=[payment.pk]), {**form, "mode": "processor"}, follow=True)
    assert "not a card payment taken through a processor" in resp.content.decode() and not Refund.objects.exists()
    resp = client.post(
        reverse("finance:payment_refund", args=[payment.pk]),
        {**form, "mode": "record_only", "amount": "100"},
        follow=True,
    )
    page = resp.content.decode()
    assert f"Refund of 100.00 recorded in batch {batch.number} (credit invoice {credit.number}); 25.00" in page
    assert 'data-testid="refundable">25.00<' in page
    assert 'data-testid="reverse-form"' not in page  # refunded in part: no reversal
    resp = client.post(
        reverse("finance:payment_refund", args=[payment.pk]), {**form, "mode": "record_only"}, follow=True
    )
    page = resp.content.decode()
    assert "Refund of 25.00 recorded" in page
    for gone in ('data-testid="reverse-form"', 'data-testid="unapply-form"', 'data-testid="refund-form"'):
        assert gone not in page
    assert "the payment is refunded in full" in page
    assert page.count('data-testid="refund-row"') == 2
    # The History lists the refunds beside the payment's own events.
    assert page.count('data-testid="audit-about"') == 2 and f"of payment {payment.pk}: 25.00" in page
    contact_page = client.get(reverse("finance:contact_transactions", args=[payer.pk])).content.decode()
    assert contact_page.count('data-testid="refund-row"') == 2


@pytest.mark.django_db
def test_invoice_page__links_both_ways_to_the_reversal_credit(client, manager_user, ledger):
    client.force_login(manager_user)
    payer, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, payer, batch, "120")
    payment_receive(payer=payer, method=ledger.check_method, amount="120", date=DAY, batch=batch)
    resp = client.post(
        reverse("finance:invoice_reverse", args=[invoice.pk]),
        {"date": DAY.isoformat(), "batch": str(batch.pk), "reason": "cancelled"},
        follow=True,
    )
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    page = resp.content.decode()
    assert f"now open credit on invoice {credit.number}." in page
    assert reverse("finance:invoice_detail", args=[credit.pk]) in page
    credit_page = client.get(reverse("finance:invoice_detail", args=[credit.pk])).content.decode()
    assert 'data-testid="reversal-of"' in credit_page
    assert reverse("finance:invoice_detail", args=[invoice.pk]) in credit_page
