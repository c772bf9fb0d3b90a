import datetime
from decimal import Decimal

from finance.models import GatewayAccount, PaymentMethod
from finance.services.invoices import LineSpec, invoice_create

D = Decimal


def make_invoice(ledger, contact, batch, *amounts, date=datetime.date(2026, 1, 10), **kwargs):
    """An accrual invoice with one dues line per amount."""
    lines = [LineSpec(product=ledger.dues, unit_price=D(a)) for a in amounts]
    return invoice_create(bill_to=contact, entity=ledger.entity, batch=batch, lines=lines, date=date, **kwargs)


def card_method(ledger) -> PaymentMethod:
    """VISA, a card method taken through the sandbox processor (its refunds may go
    through the processor)."""
    gateway, _ = GatewayAccount.objects.get_or_create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    method, _ = PaymentMethod.objects.get_or_create(
        code="VISA",
        defaults={
            "name": "Visa",
            "type": PaymentMethod.Type.CREDIT_CARD,
            "cash_account": ledger.cash,
            "gateway_account": gateway,
        },
    )
    return method
