"""Schemas of the JSON API: filters (query parameters) and responses.

Money is a ``Decimal`` rendered as a JSON *string* with exactly two decimals
("125.50", "-30.00"); the OpenAPI schema says ``type: string, format: decimal`` with a
pattern, so clients never parse amounts as floats. Quantities use the same rendering.
"""

import datetime
import re
from decimal import Decimal
from typing import Annotated, Literal

from django.db.models import Q
from ninja import FilterLookup, FilterSchema, Schema
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from finance.models import Batch, Contact, Invoice, Payment
from finance.money import quantize

MONEY_PATTERN = r"^-?\d+\.\d{2}$"


def money_str(value: Decimal) -> str:
    """Two decimals, half up; never "-0.00"."""
    amount = quantize(value)
    if amount == 0:
        amount = abs(amount)
    return f"{amount:.2f}"


Money = Annotated[
    Decimal,
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "decimal",
            "pattern": MONEY_PATTERN,
            "description": "Amount with two decimals, as a string (never a float).",
            "examples": ["125.50"],
        }
    ),
]
Quantity = Annotated[
    Decimal,
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema({"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "examples": ["1.00"]}),
]


def _iso_date(value):
    """Only YYYY-MM-DD: pydantic alone would also read "0" or "1700000000" as a Unix time."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_iso_date)]


def choice(choices, name: str):
    """A TextChoices field rendered as an inline string enum (the models reuse class
    names such as ``Status`` and ``Type``, which would collide as shared components)."""
    return Annotated[
        choices,
        WithJsonSchema({"type": "string", "enum": [str(v) for v in choices.values], "title": name}),
    ]


ContactKind = choice(Contact.Kind, "ContactKind")
ContactStatus = choice(Contact.Status, "ContactStatus")
InvoiceType = choice(Invoice.Type, "InvoiceType")
InvoiceSource = choice(Invoice.Source, "InvoiceSource")
AccountingMethod = choice(Invoice.AccountingMethod, "AccountingMethod")
PaymentStatus = choice(Payment.Status, "PaymentStatus")
PaymentSource = choice(Payment.Source, "PaymentSource")
BatchStatus = choice(Batch.Status, "BatchStatus")


class ErrorOut(Schema):
    detail: str


# --- Contacts -------------------------------------------------------------------------


class ContactRef(Schema):
    party_id: str
    name: str


class ContactOut(Schema):
    party_id: str
    major_key: str | None
    name: str
    sort_name: str
    kind: ContactKind
    status: ContactStatus
    email: str
    company: ContactRef | None
    created_at: datetime.datetime


class CurrencyBalanceOut(Schema):
    currency: str
    balance: Money
    open_credit: Money
    open_invoices: int


class ContactDetailOut(ContactOut):
    balance: Money
    open_credit: Money
    balances: list[CurrencyBalanceOut]


class ContactFilter(FilterSchema):
    q: str | None = None
    party_id: str | None = None
    major_key: str | None = None
    kind: ContactKind | None = None
    status: ContactStatus | None = None

    def filter_q(self, value: str | None) -> Q:
        if not value:
            return Q()
        value = value.strip()
        return (
            Q(party_id=value)
            | Q(major_key=value)
            | Q(name__icontains=value)
            | Q(sort_name__istartswith=value)
            | Q(email__iexact=value)
        )


# --- Invoices -------------------------------------------------------------------------


class InvoiceOut(Schema):
    number: str
    date: datetime.date
    due_date: datetime.date
    bill_to: ContactRef
    sold_to: ContactRef
    entity: str
    type: InvoiceType
    source: InvoiceSource
    accounting_method: AccountingMethod
    currency: str
    total: Money
    balance: Money
    batch: str
    description: str
    created_at: datetime.datetime

    @staticmethod
    def resolve_entity(obj) -> str:
        return obj.entity.code

    @staticmethod
    def resolve_batch(obj) -> str:
        return obj.batch.number


class InvoiceLineOut(Schema):
    line_number: int
    product: str | None
    description: str
    quantity: Quantity
    unit_price: Money
    amount: Money
    balance: Money
    account: str
    billing_begin: datetime.date | None
    billing_end: datetime.date | None

    @staticmethod
    def resolve_product(obj) -> str | None:
        return obj.product.code if obj.product_id else None

    @staticmethod
    def resolve_account(obj) -> str:
        return obj.account.code


class InvoiceApplicationOut(Schema):
    id: int
    payment_id: int
    line_number: int
    amount: Money
    kind: Literal["apply", "credit_draw", "unapply", "refund", "reversal"]
    is_reversal: bool
    created_at: datetime.datetime

    @staticmethod
    def resolve_line_number(obj) -> int:
        return obj.line.line_number


class InvoiceDetailOut(InvoiceOut):
    reversal_of: str | None
    lines: list[InvoiceLineOut]
    applications: list[InvoiceApplicationOut]

    @staticmethod
    def resolve_reversal_of(obj) -> str | None:
        return obj.reversal_of.number if obj.reversal_of_id else None


class InvoiceFilter(FilterSchema):
    contact: Annotated[str | None, FilterLookup("bill_to__party_id")] = None
    number: str | None = None
    open: bool | None = None
    type: InvoiceType | None = None
    source: InvoiceSource | None = None
    date_from: Annotated[IsoDate | None, FilterLookup("date__gte")] = None
    date_to: Annotated[IsoDate | None, FilterLookup("date__lte")] = None
    batch: Annotated[str | None, FilterLookup("batch__number")] = None

    def filter_open(self, value: bool | None) -> Q:
        """open=true: balance ≠ 0 (owing, or holding credit); open=false: balance = 0."""
        if value is None:
            return Q()
        return ~Q(balance=0) if value else Q(balance=0)


# --- Payments -------------------------------------------------------------------------


class PaymentOut(Schema):
    id: int
    date: datetime.date
    payer: ContactRef
    method: str
    entity: str
    amount: Money
    amount_applied: Money
    unapplied: Money
    currency: str
    status: PaymentStatus
    source: PaymentSource
    reference: str
    batch: str
    reversed_at: datetime.datetime | None
    reversal_date: datetime.date | None  # the reversal's accounting date
    reversal_reason: str
    created_at: datetime.datetime

    @staticmethod
    def resolve_method(obj) -> str:
        return obj.method.code

    @staticmethod
    def resolve_entity(obj) -> str:
        return obj.entity.code

    @staticmethod
    def resolve_batch(obj) -> str:
        return obj.batch.number


class PaymentApplicationOut(Schema):
    id: int
    invoice: str
    line_number: int
    amount: Money
    kind: Literal["apply", "credit_draw", "unapply", "refund", "reversal"]
    is_reversal: bool
    created_at: datetime.datetime

    @staticmethod
    def resolve_invoice(obj) -> str:
        return obj.invoice.number

    @staticmethod
    def resolve_line_number(obj) -> int:
        return obj.line.line_number


class PaymentDetailOut(PaymentOut):
    applications: list[PaymentApplicationOut]


class PaymentFilter(FilterSchema):
    payer: Annotated[str | None, FilterLookup("payer__party_id")] = None
    method: Annotated[str | None, FilterLookup("method__code")] = None
    status: PaymentStatus | None = None
    source: PaymentSource | None = None
    reference: str | None = None
    date_from: Annotated[IsoDate | None, FilterLookup("date__gte")] = None
    date_to: Annotated[IsoDate | None, FilterLookup("date__lte")] = None
    batch: Annotated[str | None, FilterLookup("batch__number")] = None


# --- Batches --------------------------------------------------------------------------


class BatchOut(Schema):
    number: str
    date: datetime.date
    description: str
    status: BatchStatus
    control_count: int | None
    control_amount: Money | None
    created_at: datetime.datetime
    posted_at: datetime.datetime | None


class BatchTotalsOut(Schema):
    """What the batch holds: the figures posting compares with the controls."""

    count: int
    amount: Money
    invoice_count: int
    payment_count: int
    charges: Money


class BatchDetailOut(BatchOut):
    actual: BatchTotalsOut
    # Actual minus control; null while the control figure is not entered.
    count_difference: int | None
    amount_difference: Money | None


class BatchFilter(FilterSchema):
    status: BatchStatus | None = None
