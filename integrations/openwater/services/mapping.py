"""OpenWater's JSON read into plain data: an invoice's lines (discounts below zero),
payments and refunds, and the payer's details.

Rules kept here:
- OpenWater's invoice detail lists lines, payments and refunds; totals, when it sends
  them, must be their sums. Amounts are JSON numbers, taken to the cent (half up).
  Only a fully paid invoice is recorded (paid = billed, net of discounts), never one
  with more discount than charges nor more refunded than paid.
- The payer's details. OpenWater's invoice detail names the applicant billed only by
  ``userId``, with the invoice's ``thirdPartyCorporateId``; the email, names and the
  person's ``thirdPartyUniqueId`` are the user's (``GET /v2/Users/{id}``). The user is
  fetched (once per run) when the invoice has a ``userId`` and no email of its own; an
  email or names the invoice does carry are read too.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from finance.money import ZERO, quantize
from integrations.openwater.client import OpenWaterBadResponse, parse_time
from integrations.openwater.errors import InvoiceDataError


@dataclass
class ParsedInvoice:
    id: int
    program_id: int | None
    program_code: str
    user_id: int | None  # the OpenWater user billed (GET /v2/Users/{id})
    corporate_id: str  # thirdPartyCorporateId
    # Not in OpenWater's documented invoice detail (they are the user's); read when sent.
    email: str
    first_name: str
    last_name: str
    created_at: datetime
    most_recent: datetime | None
    total_billed: Decimal  # net: charges less discounts
    total_paid: Decimal
    total_refunded: Decimal
    lines: list[tuple[Decimal, str]]  # amount (below zero: a discount line), description
    payments: list[tuple[Decimal, str, str]]  # amount, method, reference
    refunds: list[tuple[int, Decimal, str]]

    @property
    def needs_user(self) -> bool:
        """The payer's details are the user's: the invoice names a user and has no email."""
        return self.user_id is not None and not self.email

    @property
    def charges(self) -> Decimal:
        return sum((a for a, _ in self.lines if a > 0), ZERO)

    @property
    def discounts(self) -> Decimal:
        return -sum((a for a, _ in self.lines if a < 0), ZERO)


def _amount(value, where: str) -> Decimal:
    """An amount of OpenWater's (a JSON number: an int, a Decimal from the client, or a
    float when read without it), to the cent, half up. A float goes through its
    shortest text (10.1 → "10.1"), never through its binary value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InvoiceDataError(f"{where}: the amount {value!r} is not a number")
    try:
        amount = quantize(Decimal(str(value)) if isinstance(value, float) else value)
    except ValueError as exc:
        raise InvoiceDataError(f"{where}: the amount {value!r} is not a number") from exc
    if not amount.is_finite():
        raise InvoiceDataError(f"{where}: the amount {value!r} is not a number")
    return amount


def _line_description(item: dict) -> str:
    text = str(item.get("notes") or item.get("details") or "").strip()
    if text:
        return text
    if str(item.get("targetType") or "").lower() == "coupon":
        return "Coupon"
    if item.get("isManualAdjustment"):
        return "Manual adjustment"
    return ""


def parse_invoice(data: dict) -> ParsedInvoice:
    """Check an OpenWater invoice (GET /v2/Invoices/{id}) and convert it (module doc):
    lines (discounts below zero), payments above zero, refunds above zero with ids
    once each; totals, when sent, the sums of their parts; fully paid; never more
    discount than charges nor more refunded than paid."""
    try:
        inv_id = int(data["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvoiceDataError(f"OpenWater sent an invoice without a valid id: {str(data)[:100]}") from exc
    label = f"OpenWater invoice {inv_id}"
    try:
        created = parse_time(data.get("createdAtUtc"))
        recent = parse_time(data.get("mostRecentTransactionDateUtc"))
    except (ValueError, OpenWaterBadResponse) as exc:
        raise InvoiceDataError(f"{label}: its dates could not be read ({exc})") from exc
    if created is None:
        raise InvoiceDataError(f"{label}: OpenWater gives no creation date (createdAtUtc)")
    items = data.get("billingLineItems") or []
    pays = data.get("payments") or []
    refs = data.get("refunds") or []
    if not all(isinstance(x, list) for x in (items, pays, refs)):
        raise InvoiceDataError(f"{label}: the billing lines, payments or refunds OpenWater sent are not lists")
    lines = [
        (_amount(li.get("amount"), f"{label} billing line {n}"), _line_description(li))
        for n, li in enumerate(items, start=1)
    ]
    payments = _payments(pays, label)
    refunds = _refunds(refs, label)
    billed = sum((a for a, _ in lines), ZERO)
    paid = sum((a for a, _, _ in payments), ZERO)
    refunded = sum((a for _, a, _ in refunds), ZERO)
    _check_totals(data, label, billed=billed, paid=paid, refunded=refunded)
    charges = sum((a for a, _ in lines if a > 0), ZERO)
    if billed < 0:
        raise InvoiceDataError(
            f"{label}: its discounts ({charges - billed}) are more than its charges ({charges}); "
            "check the invoice in OpenWater"
        )
    if paid != billed:
        raise InvoiceDataError(
            f"{label}: {paid} was paid of the {billed} billed; only fully paid invoices are recorded. "
            "Check the invoice in OpenWater"
        )
    if refunded > paid:
        raise InvoiceDataError(f"{label}: {refunded} was refunded, more than the {paid} paid")
    if len({rid for rid, _, _ in refunds}) != len(refunds):
        raise InvoiceDataError(f"{label}: OpenWater lists the same refund twice")
    program_id = data.get("programId")
    user_id = _user_id(data, label)
    return ParsedInvoice(
        id=inv_id,
        program_id=int(program_id) if program_id not in (None, "") else None,
        program_code=str(data.get("programCode") or ""),
        user_id=user_id,
        corporate_id=str(data.get("thirdPartyCorporateId") or "").strip(),
        email=str(data.get("email") or "").strip(),
        first_name=str(data.get("firstName") or "").strip(),
        last_name=str(data.get("lastName") or "").strip(),
        created_at=created,
        most_recent=recent,
        total_billed=billed,
        total_paid=paid,
        total_refunded=refunded,
        lines=lines,
        payments=payments,
        refunds=refunds,
    )


def _payments(pays: list, label: str) -> list[tuple[Decimal, str, str]]:
    """The invoice's payments above zero (a zero payment moves no money; one below zero
    is refused): amount, method, reference."""
    payments = []
    for n, p in enumerate(pays, start=1):
        amount = _amount(p.get("amount"), f"{label} payment {n}")
        if amount < 0:
            raise InvoiceDataError(f"{label}: payment {n} is {amount}; a payment below zero cannot be recorded")
        if amount > 0:  # a zero payment moves no money
            payments.append((amount, str(p.get("method") or ""), str(p.get("referenceNumber") or "")))
    return payments


def _refunds(refs: list, label: str) -> list[tuple[int, Decimal, str]]:
    """The invoice's refunds, each with its id and above zero: id, amount, notes."""
    refunds = []
    for n, r in enumerate(refs, start=1):
        try:
            rid = int(r["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvoiceDataError(f"{label}: refund {n} has no valid id") from exc
        amount = _amount(r.get("amount"), f"{label} refund {rid}")
        if amount <= 0:
            raise InvoiceDataError(f"{label}: refund {rid} is {amount}; a refund must be above zero")
        refunds.append((rid, amount, str(r.get("notes") or r.get("details") or "")))
    return refunds


def _check_totals(data: dict, label: str, *, billed: Decimal, paid: Decimal, refunded: Decimal) -> None:
    """The totals OpenWater sends (when it sends them) must be the sums of their parts."""
    for field, what, parts, total in (
        ("totalBilled", "billed total", "lines", billed),
        ("totalPaid", "paid total", "payments", paid),
        ("totalRefunded", "refunded total", "refunds", refunded),
    ):
        if data.get(field) is not None:
            given = _amount(data[field], f"{label} {field}")
            if given != total:
                raise InvoiceDataError(
                    f"{label}: the {what} in OpenWater ({given}) is not the sum of its {parts} ({total}); "
                    "check the invoice in OpenWater"
                )


def _user_id(data: dict, label: str) -> int | None:
    """The OpenWater user billed (``userId``), None when the invoice names none."""
    user_id = data.get("userId")
    if user_id in (None, ""):
        return None
    try:
        return int(user_id)
    except (TypeError, ValueError) as exc:
        raise InvoiceDataError(f"{label}: its user id (userId) {user_id!r} is not a number") from exc


@dataclass
class Payer:
    """Who paid an OpenWater invoice, as OpenWater knows them (module doc)."""

    invoice_id: int
    user_id: int | None
    unique_id: str  # the user's thirdPartyUniqueId: the person
    corporate_id: str  # the invoice's thirdPartyCorporateId: who is billed
    email: str
    first_name: str
    last_name: str


def _text(value) -> str:
    return str(value).strip() if value is not None else ""


def payer_of(parsed: ParsedInvoice, user: dict | None) -> Payer:
    """The payer's details: the user's (``GET /v2/Users/{id}``), with what the invoice
    itself carries where the user has nothing."""
    user = user or {}
    if user and parsed.user_id is not None and _text(user.get("id")) != str(parsed.user_id):
        raise InvoiceDataError(
            f"OpenWater invoice {parsed.id}: billed to user {parsed.user_id}, but OpenWater answered "
            f"with user {user.get('id')!r}; it is tried again at the next run"
        )
    return Payer(
        invoice_id=parsed.id,
        user_id=parsed.user_id,
        unique_id=_text(user.get("thirdPartyUniqueId")),
        corporate_id=parsed.corporate_id,
        email=_text(user.get("email")) or parsed.email,
        first_name=_text(user.get("firstName")) or parsed.first_name,
        last_name=_text(user.get("lastName")) or parsed.last_name,
    )
