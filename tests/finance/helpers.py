import datetime
from decimal import Decimal

from finance.services.invoices import LineSpec, invoice_create

D = Decimal


def make_invoice(ledger, contact, batch, *amounts, date=datetime.date(2026, 1, 10), **kwargs):
    """An accrual invoice with one dues line per amount."""
    lines = [LineSpec(product=ledger.dues, unit_price=D(a)) for a in amounts]
    return invoice_create(bill_to=contact, entity=ledger.entity, batch=batch, lines=lines, date=date, **kwargs)
