"""Subscription API (mounted at /api/v1/subscriptions/, bearer token auth of the API).

- ``POST /packages`` submits an import package (a client key, the invoice date and the
  items) and answers 202 with the package id; processing runs in a Celery task.
  Re-submitting the same key and content answers 200 with the same package (never billed
  twice); the same key with other content answers 409; a malformed package answers 422
  (schema) or 400 (rules) naming each item and field, and nothing is stored.
- ``GET /packages/{id}`` is the status; ``GET /packages/{id}/results`` the result per item
  (created invoice numbers or the error).
- Submitting needs Membership level 4; reading, Membership level 2.
"""

import datetime
import re
from decimal import Decimal
from typing import Annotated

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.errors import AuthorizationError
from pydantic import BeforeValidator, WithJsonSchema

from core.authorization import has_level
from core.models import Module
from finance.membership.models import SubscriptionPackage
from finance.membership.packages import PackageConflict, PackageError, package_submit
from finance.money import DECIMAL_PLACES, MAX_DIGITS

router = Router(tags=["subscriptions"])

SUBMIT_LEVEL = (Module.MEMBERSHIP, 4)
READ_LEVEL = (Module.MEMBERSHIP, 2)


# At most the digits a money column holds (MAX_DIGITS, two of them decimals).
AMOUNT_IN_PATTERN = rf"^\d{{1,{MAX_DIGITS - DECIMAL_PLACES}}}\.\d{{2}}$"


def _date_in(value):
    """Dates come as "YYYY-MM-DD" strings only (not a Unix time, not a number)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


DateIn = Annotated[datetime.date, BeforeValidator(_date_in)]


def _money_in(value):
    """Amounts come as strings with two decimals ("250.00"), never as JSON numbers."""
    if not isinstance(value, str) or not re.fullmatch(AMOUNT_IN_PATTERN, value):
        raise ValueError('an amount as a string with two decimals, e.g. "250.00"')
    return Decimal(value)


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money_in),
    WithJsonSchema(
        {
            "type": "string",
            "format": "decimal",
            "pattern": AMOUNT_IN_PATTERN,
            "description": "Amount, not negative, with two decimals, as a string (never a float).",
            "examples": ["250.00"],
        }
    ),
]


class PaymentIn(Schema):
    method: str = Field(..., description="Payment method code, e.g. CHECK or VISA.", min_length=1, max_length=20)
    reference: str = Field("", description="Check number or gateway transaction id.", max_length=100)


class ItemIn(Schema):
    party_id: str = Field(..., description="The member's party id.", min_length=1, max_length=40)
    member_type: str = Field(..., description="Member type code.", min_length=1, max_length=40)
    term_begin: DateIn
    term_end: DateIn
    amount: MoneyIn | None = Field(None, description="Fee line amount; default: the fee product's price.")
    payment: PaymentIn | None = Field(None, description="Pays what is left open on the invoice.")


class PackageIn(Schema):
    key: str = Field(..., min_length=1, max_length=100, description="Client key: resubmitting it bills nothing twice.")
    invoice_date: DateIn
    items: list[ItemIn] = Field(..., max_length=5000)


class PackageOut(Schema):
    id: int
    key: str
    status: str
    invoice_date: datetime.date
    batch: str | None
    item_count: int
    created_count: int
    error_count: int
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


class ItemResultOut(Schema):
    position: int
    party_id: str
    member_type: str
    term_begin: datetime.date
    term_end: datetime.date
    status: str
    invoice_numbers: list[str]
    error: str


class ProblemsOut(Schema):
    detail: str
    problems: list[str]


class DetailOut(Schema):
    detail: str


def _require(request, level):
    if not has_level(request.user, *level):
        raise AuthorizationError(message=f"This needs Membership authorization level {level[1]} or higher.")


def _out(p: SubscriptionPackage) -> dict:
    return {
        "id": p.pk,
        "key": p.key,
        "status": p.status,
        "invoice_date": p.invoice_date,
        "batch": p.batch.number if p.batch_id else None,
        "item_count": p.item_count,
        "created_count": p.created_count,
        "error_count": p.error_count,
        "created_at": p.created_at,
        "finished_at": p.finished_at,
    }


@router.post("/packages", response={200: PackageOut, 202: PackageOut, 400: ProblemsOut, 409: DetailOut})
def submit_package(request, payload: PackageIn):
    """Submit an import package of subscription terms (with optional payments)."""
    _require(request, SUBMIT_LEVEL)
    items = [
        {
            "party_id": i.party_id,
            "member_type": i.member_type,
            "term_begin": i.term_begin,
            "term_end": i.term_end,
            "amount": i.amount,
            "payment": None if i.payment is None else {"method": i.payment.method, "reference": i.payment.reference},
        }
        for i in payload.items
    ]
    try:
        package, created = package_submit(
            key=payload.key, invoice_date=payload.invoice_date, items=items, user=request.user
        )
    except PackageError as exc:
        return Status(400, {"detail": "The package is malformed; nothing was stored.", "problems": exc.problems})
    except PackageConflict as exc:
        return Status(409, {"detail": str(exc)})
    return Status(202 if created else 200, _out(package))


@router.get("/packages/{package_id}", response={200: PackageOut, 404: DetailOut})
def package_status(request, package_id: int):
    """The package's status and counts."""
    _require(request, READ_LEVEL)
    return Status(200, _out(get_object_or_404(SubscriptionPackage.objects.select_related("batch"), pk=package_id)))


@router.get("/packages/{package_id}/results", response={200: list[ItemResultOut], 404: DetailOut})
def package_results(request, package_id: int):
    """The result of each item: the invoice numbers it created, or its error."""
    _require(request, READ_LEVEL)
    package = get_object_or_404(SubscriptionPackage, pk=package_id)
    results = [
        {
            "position": i.position,
            "party_id": i.party_id,
            "member_type": i.member_type_code,
            "term_begin": i.term_begin,
            "term_end": i.term_end,
            "status": i.status,
            "invoice_numbers": [n for n in i.invoice_numbers.split(",") if n],
            "error": i.error,
        }
        for i in package.items.order_by("position")
    ]
    return Status(200, results)
