"""Balances change under row locks: concurrent payments never over-apply a line."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from finance.models import Invoice, InvoiceLine
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_auto_applied_payments__each_cent_applied_once(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, contact, batch, "100")
    barrier = threading.Barrier(4)
    errors = []

    def pay():
        try:
            barrier.wait(timeout=10)
            payment_receive(payer=contact, method=ledger.cash_method, amount="60", date=invoice.date, batch=batch)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    invoice.refresh_from_db()
    line = InvoiceLine.objects.get(invoice=invoice)
    # 4 × 60 = 240 received: 100 closes the invoice, 140 becomes open credit.
    assert invoice.balance == line.balance == Decimal("0.00")
    credits = Invoice.objects.filter(type=Invoice.Type.CREDIT)
    assert sum(c.balance for c in credits) == Decimal("-140.00")
    assert sorted(a.amount for a in line.applications.all()) == [Decimal("40.00"), Decimal("60.00")]
