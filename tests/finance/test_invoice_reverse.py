"""Cancelling a posted invoice: payments become open credit, charges are reversed."""

import pytest
from django.db.models import Sum

from finance.errors import AlreadyReversed, FinanceError
from finance.ledger_check import verify_ledger
from finance.models import Invoice, InvoiceAdjustment, JournalEntry, JournalLine, PaymentMethod
from finance.services.adjustments import invoice_reverse
from finance.services.credits import credit_apply, refund_record
from finance.services.payments import ApplicationSpec, payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db


def gl(account):
    agg = JournalLine.objects.filter(account=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (agg["d"] or D(0)) - (agg["c"] or D(0))


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def test_invoice_reverse__paid_registration_becomes_credit_of_the_payer(ledger):
    registrant, batch = ContactFactory(), BatchFactory()
    registration = make_invoice(ledger, registrant, batch, "400")
    payment = payment_receive(payer=registrant, method=ledger.check_method, amount="400", date=batch.date, batch=batch)
    invoice_reverse(invoice=registration, batch=batch, date=batch.date, reason="Cancelled registration")
    registration.refresh_from_db()
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT, bill_to=registrant)
    assert registration.reversed_at is not None and registration.balance == D("0.00")
    assert registration.total == D("400.00")  # the charge stays; an adjustment takes it off
    assert InvoiceAdjustment.objects.get(invoice=registration).amount == D("-400.00")
    assert credit.balance == D("-400.00")
    assert gl(ledger.ar) == D("0.00") and gl(ledger.income) == D("0.00") and gl(ledger.unapplied) == D("-400.00")
    assert JournalEntry.objects.filter(invoice=registration, kind=JournalEntry.Kind.INVOICE_REVERSAL).count() == 1
    assert_ledger_ok()
    # The credit can be refunded for exactly the payment's amount.
    refund = refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    assert refund.amount == D("400.00")
    assert_ledger_ok()
    with pytest.raises(AlreadyReversed):
        invoice_reverse(invoice=registration, batch=batch, date=batch.date)


def test_invoice_reverse__partly_paid_invoice(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100", "50")
    payment_receive(payer=contact, method=ledger.cash_method, amount="120", date=batch.date, batch=batch)
    invoice_reverse(invoice=inv, batch=batch, date=batch.date)
    inv.refresh_from_db()
    assert inv.balance == D("0.00")
    assert sum(c.balance for c in Invoice.objects.filter(type=Invoice.Type.CREDIT)) == D("-120.00")
    assert gl(ledger.ar) == D("0.00")
    assert_ledger_ok()


def test_invoice_reverse__credit_used_on_it_goes_back_to_its_credit(ledger):
    PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT)
    holder, batch = ContactFactory(), BatchFactory()
    payment_receive(payer=holder, method=ledger.check_method, amount="60", date=batch.date, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    inv = make_invoice(ledger, holder, batch, "60")
    credit_apply(
        credit_invoice=credit, applications=[ApplicationSpec(inv.lines.get(), D("60"))], batch=batch, date=batch.date
    )
    invoice_reverse(invoice=inv, batch=batch, date=batch.date)
    credit.refresh_from_db()
    assert credit.balance == D("-60.00")
    assert Invoice.objects.filter(type=Invoice.Type.CREDIT).count() == 1
    assert_ledger_ok()


def test_invoice_reverse__cash_basis_membership_invoice(ledger):
    member, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(
        ledger, member, batch, "90", accounting_method=Invoice.AccountingMethod.CASH, type=Invoice.Type.MEMBERSHIP
    )
    payment_receive(payer=member, method=ledger.cash_method, amount="90", date=batch.date, batch=batch)
    invoice_reverse(invoice=inv, batch=batch, date=batch.date)
    assert gl(ledger.income) == D("0.00") and gl(ledger.ar) == D("0.00")
    assert Invoice.objects.get(type=Invoice.Type.CREDIT).balance == D("-90.00")
    assert_ledger_ok()


def test_invoice_reverse__credit_invoice_refused(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    payment_receive(payer=contact, method=ledger.cash_method, amount="10", date=batch.date, batch=batch)
    with pytest.raises(FinanceError, match="is a credit invoice"):
        invoice_reverse(invoice=Invoice.objects.get(type=Invoice.Type.CREDIT), batch=batch, date=batch.date)
