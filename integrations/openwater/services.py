"""Services of the OpenWater pushback: the integration's set-up, program mapping, and
recording one OpenWater invoice (or refund) in the ledger.

Rules kept here:
- Credentials are stored encrypted (``EncryptedTextField``); pages show them masked.
- Initialize creates (or reuses) the payment method (type "other", in no payment
  method set, debiting the entity's cash account), the default product, the discount
  product ``OW_DISCOUNT`` (on the GL account staff choose, else the entity's income
  account) and sets the "do not send invoices dated before" date, which staff must
  give: there is no default. Only an initialized integration can be started.
- A program's own product is ``OW_<program code>`` with an income GL account. The
  mapping holds the product's id, so finance may edit the product freely.
- ``invoice_record`` writes, in one transaction, an accrual invoice (a line per
  OpenWater billing line, ``source=openwater``) and one payment of the OPENWATER
  method applied to its charge lines, in an Open batch of the integration (never
  posted by the pushback), and marks the sync record pushed. Lines of zero or more are
  charges on the program's product; lines below zero (coupons, discounts, manual
  adjustments) are discount lines on the integration's discount product
  (``finance.services.invoices``: handed to the charges, never paid, DR the discount
  product's account). So the invoice total is OpenWater's billed total and the payment
  what was paid; a fully discounted invoice (total 0.00) is recorded with no payment.
  OpenWater's invoice detail lists lines, payments and refunds; totals, when it sends
  them, must be their sums. Amounts are JSON numbers, taken to the cent (half up).
  Only a fully paid invoice is recorded (paid = billed, net of discounts). The sync
  record's unique key (integration, OpenWater invoice id) and the row lock on it make
  a second recording impossible; a pushed record is only looked at for refunds.
- The payer (``contact_for``). OpenWater's invoice detail names the applicant billed
  only by ``userId``, with the invoice's ``thirdPartyCorporateId``; the email, names and
  the person's ``thirdPartyUniqueId`` are the user's (``GET /v2/Users/{id}``). The user
  is fetched (once per run) when the invoice has a ``userId`` and no email of its own;
  an email or names the invoice does carry are read too. The payer is, in this order:
  the contact whose party id, then major key, is the user's ``thirdPartyUniqueId`` (the
  person); the contact whose party id, then major key, is the invoice's
  ``thirdPartyCorporateId`` (who is billed: a company when the association bills the
  company, or the person where OpenWater keeps the person's id there); the contact with
  the email (case-insensitive, oldest first); else a new individual contact with the
  user's name and email, flagged for review. The corporate id never becomes the company
  of a new contact: one is only made when nothing matched, so that id is no contact
  Pay Central knows. The user's unique id is not stored on a new contact either (staff
  review it). The user is only fetched for an invoice that is going to be recorded
  (``UserNeeded``): not for one skipped, pushed already or taken in hand by staff.
- Skipped (dated before the skip date, program disabled, program not mapped while the
  sync mode is None, or nothing billed) and error outcomes are recorded on the sync
  record in their own transaction; nothing of the invoice is written then. Error
  messages are for finance staff; the technical detail is kept beside them.
- Staff act on an invoice in error from the Hub (``sync_retry_requested``,
  ``sync_skip``, ``sync_record_by_hand``): each records who and when (audited). An
  invoice staff skipped or recorded by hand is never recorded by a run; a later
  OpenWater transaction on it is only noted for staff.
- An OpenWater refund becomes a record-only refund in Pay Central: the refunded part
  of the payment is taken off the invoice lines onto a new credit invoice of the payer
  (``move_to_credit``), the same amount is taken off the lines' charges
  (``invoice_lines_write_down``: DR income / CR AR), and ``refund_record`` returns that
  credit (DR
  unapplied cash / CR refund clearing: OpenWater paid it back). A refund of everything
  still kept reverses the invoice instead (``invoice_reverse``). Each OpenWater refund
  id is recorded once (unique on sync + refund id).
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from finance.errors import FinanceError
from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentApplication,
    Product,
)
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.adjustments import invoice_lines_write_down, invoice_reverse
from finance.services.batches import batch_create
from finance.services.contacts import next_party_id
from finance.services.credits import move_to_credit, refund_record
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, lock_invoices, payment_receive
from integrations.openwater.client import OpenWaterBadResponse, parse_time
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping, RefundSync
from paycentral.models import PaymentMethod


class PushbackError(Exception):
    """A rule of the pushback refused the action; the message is for staff."""


class InvoiceDataError(PushbackError):
    """An OpenWater invoice that cannot be recorded as it is (totals, amounts, fields)."""


class UserNeeded(Exception):
    """``invoice_record`` needs the invoice's OpenWater user to find the payer: the
    caller fetches it (outside the transaction, which is rolled back: nothing was
    written) and calls again with it."""

    def __init__(self, user_id: int):
        super().__init__(f"OpenWater user {user_id} is needed to find the payer")
        self.user_id = user_id


SKIP_BEFORE_DATE = "before_date"
SKIP_DISABLED = "disabled"
SKIP_UNMAPPED = "unmapped"
SKIP_NOTHING_PAID = "nothing_paid"
SKIP_BY_STAFF = "staff"

# Invoices staff took out of the runs' hands: skipped with a reason, or recorded by hand.
STAFF_HANDLED = Q(status=InvoiceSync.Status.BY_HAND) | Q(status=InvoiceSync.Status.SKIPPED, skip_code=SKIP_BY_STAFF)


# -- the integration -------------------------------------------------------------------


@transaction.atomic
def integration_create(
    *, name: str, base_url: str, client_key: str, api_key: str, organization_code: str
) -> Integration:
    integration = Integration(
        name=name.strip(),
        base_url=base_url.strip().rstrip("/"),
        client_key=client_key.strip(),
        api_key=api_key.strip(),
        organization_code=organization_code.strip(),
    )
    integration.full_clean()
    integration.save()
    return integration


@transaction.atomic
def integration_update(*, integration: Integration, **fields) -> Integration:
    """Change the name, base URL, credentials (a blank secret keeps the stored one),
    or the advanced options (payment method name, skip date, sync mode, interval)."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    method_name = fields.pop("payment_method_name", None)
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise PushbackError(f"These cannot be changed here: {', '.join(sorted(unknown))}.")
    for key, value in fields.items():
        if key in ("client_key", "api_key") and not value:
            continue
        setattr(integration, key, value.strip() if isinstance(value, str) else value)
    integration.full_clean()
    integration.save()
    # Saved (not .update()) so that the payment method's and product's own audit trails
    # record the renames.
    if method_name and integration.payment_method_id:
        method = PaymentMethod.objects.select_for_update().get(pk=integration.payment_method_id)
        if method.name != method_name.strip()[:100]:
            method.name = method_name.strip()[:100]
            method.save(update_fields=["name"])
    if "default_product_name" in fields and integration.default_product_id:
        product = Product.objects.select_for_update().get(pk=integration.default_product_id)
        if product.name != integration.default_product_name:
            product.name = integration.default_product_name
            product.save(update_fields=["name"])
    return integration


UPDATABLE = {
    "name",
    "base_url",
    "client_key",
    "api_key",
    "organization_code",
    "default_product_name",
    "skip_before",
    "programs_sync_mode",
    "interval_minutes",
    "page_size",
}


def _income_account(entity: FinancialEntity) -> GLAccount:
    return account_for_role(entity, GLAccount.Role.INCOME)


@transaction.atomic
def integration_initialize(
    *,
    integration: Integration,
    entity: FinancialEntity | None = None,
    method_code: str = "OPENWATER",
    method_name: str = "OpenWater",
    default_product_name: str | None = None,
    skip_before: Date | None = None,
    discount_account: GLAccount | None = None,
) -> Integration:
    """Create the payment method, the default and discount products and set the skip
    date (see module doc). The skip date has no default: it must be given, unless the
    integration has one already."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    skip_before = skip_before or integration.skip_before
    if skip_before is None:
        raise PushbackError(
            "Give the date before which OpenWater invoices are not sent to Pay Central "
            "(“Do not send invoices dated before”); there is no default."
        )
    entity = entity or integration.entity or FinancialEntity.objects.order_by("pk").first()
    if entity is None:
        raise PushbackError("There is no financial entity; create one (with its chart of accounts) first.")
    if discount_account is not None and discount_account.entity_id != entity.pk:
        raise PushbackError(f"Discount account {discount_account.code} belongs to another financial entity.")
    cash = account_for_role(entity, GLAccount.Role.CASH)
    income = _income_account(entity)
    method, _ = PaymentMethod.objects.get_or_create(
        code=method_code.strip().upper(),
        defaults={"name": method_name, "type": PaymentMethod.Type.OTHER, "cash_account": cash},
    )
    if method.type == PaymentMethod.Type.OPEN_CREDIT:
        raise PushbackError(f"Payment method {method.code} is the open credit method; choose another code.")
    name = (default_product_name or integration.default_product_name).strip()
    product = integration.default_product
    if product is None:
        code = (
            "OW_DEFAULT" if not Product.objects.filter(code="OW_DEFAULT").exists() else f"OW_DEFAULT_{integration.pk}"
        )
        product = Product.objects.create(
            code=code,
            name=name,
            entity=entity,
            income_account=income,
            kind=Product.Kind.PROGRAM_FEE,
            description="OpenWater application fees of programs without their own product.",
        )
    elif product.name != name:
        Product.objects.filter(pk=product.pk).update(name=name)
    integration.entity = entity
    integration.payment_method = method
    integration.default_product = product
    integration.default_product_name = name
    integration.skip_before = skip_before
    integration.initialized_at = integration.initialized_at or timezone.now()
    integration.save()
    discount = discount_product_for(integration, account=discount_account)
    if discount_account is not None and discount.income_account_id != discount_account.pk:
        discount.income_account = discount_account  # saved: the product's audit trail records it
        discount.save(update_fields=["income_account"])
    return integration


def discount_product_for(integration: Integration, *, account: GLAccount | None = None) -> Product:
    """The integration's discount product, made when it has none: ``OW_DISCOUNT`` (or
    ``OW_DISCOUNT_<integration id>`` when that code is taken), kind Discount, on
    ``account`` or else the entity's income account. The caller holds the integration's
    row lock (Initialize, or the recording of its first discounted invoice)."""
    if integration.discount_product_id:
        return integration.discount_product
    entity = integration.entity
    code = "OW_DISCOUNT" if not Product.objects.filter(code="OW_DISCOUNT").exists() else f"OW_DISCOUNT_{integration.pk}"
    product = Product.objects.create(
        code=code,
        name="OpenWater discounts and coupons",
        category="OpenWater",
        entity=entity,
        income_account=account or _income_account(entity),
        kind=Product.Kind.DISCOUNT,
        description=(
            "Coupons, discounts and manual reductions of OpenWater invoices (their lines below zero). "
            "Its income account is where they are posted: a contra-income account."
        ),
    )
    integration.discount_product = product
    integration.save(update_fields=["discount_product"])
    return product


@transaction.atomic
def integration_start(*, integration: Integration) -> Integration:
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    if not integration.is_initialized:
        raise PushbackError(f"Integration {integration.name} is not initialized; initialize it before starting.")
    integration.is_started = True
    integration.next_run_at = timezone.now()
    integration.save(update_fields=["is_started", "next_run_at"])
    return integration


@transaction.atomic
def integration_stop(*, integration: Integration) -> Integration:
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    integration.is_started = False
    integration.next_run_at = None
    integration.save(update_fields=["is_started", "next_run_at"])
    return integration


# -- programs --------------------------------------------------------------------------


@transaction.atomic
def programs_refresh(*, integration: Integration, programs: list[dict]) -> int:
    """Record the programs OpenWater lists (new ones as "not mapped")."""
    for p in programs:
        try:
            program_id = int(p["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OpenWaterBadResponse(f"a program without a valid id: {p!r}") from exc
        ProgramMapping.objects.update_or_create(
            integration=integration,
            program_id=program_id,
            defaults={
                "code": str(p.get("code") or "")[:100],
                "name": str(p.get("name") or "")[:300],
                "is_archived": bool(p.get("isArchived")),
            },
        )
    return len(programs)


def _lock_program(program: ProgramMapping) -> ProgramMapping:
    return ProgramMapping.objects.select_for_update().select_related("integration").get(pk=program.pk)


@transaction.atomic
def program_initialize(*, program: ProgramMapping, income_account: GLAccount | None = None) -> ProgramMapping:
    """Map the program to its own product ``OW_<code>`` (created, or reused if it exists)."""
    program = _lock_program(program)
    integration = program.integration
    if not integration.is_initialized:
        raise PushbackError("Initialize the integration before mapping its programs.")
    if not program.code:
        raise PushbackError(f"Program {program.program_id} has no code; it cannot get an OW_<code> product.")
    entity = integration.entity
    income = income_account or _income_account(entity)
    if income.entity_id != entity.pk:
        raise PushbackError(f"Income account {income.code} belongs to another financial entity.")
    code = f"OW_{program.code}".upper()[:40]
    product = program.product if program.product_id and program.product.code == code else None
    if product is None:
        product, _ = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": program.name[:200] or code,
                "entity": entity,
                "income_account": income,
                "kind": Product.Kind.PROGRAM_FEE,
                "category": "OpenWater",
            },
        )
    program.product = product
    program.status = ProgramMapping.Status.INITIALIZED
    program.save(update_fields=["product", "status", "updated_at"])
    return program


@transaction.atomic
def program_set_default(*, program: ProgramMapping) -> ProgramMapping:
    program = _lock_program(program)
    if not program.integration.is_initialized:
        raise PushbackError("Initialize the integration before mapping its programs.")
    program.status = ProgramMapping.Status.DEFAULT
    program.save(update_fields=["status", "updated_at"])
    return program


@transaction.atomic
def program_disable(*, program: ProgramMapping) -> ProgramMapping:
    program = _lock_program(program)
    program.status = ProgramMapping.Status.DISABLED
    program.save(update_fields=["status", "updated_at"])
    return program


def product_for(integration: Integration, program: ProgramMapping | None) -> tuple[Product | None, str]:
    """The product an invoice of ``program`` pushes with, or (None, skip code)."""
    status = program.status if program else ProgramMapping.Status.NEW
    if status == ProgramMapping.Status.DISABLED:
        return None, SKIP_DISABLED
    if status == ProgramMapping.Status.INITIALIZED:
        return program.product, ""
    if status == ProgramMapping.Status.DEFAULT:
        return integration.default_product, ""
    if integration.programs_sync_mode == Integration.SyncMode.DEFAULT_PRODUCT:
        return integration.default_product, ""
    return None, SKIP_UNMAPPED


# -- one OpenWater invoice -------------------------------------------------------------


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
    payments = []
    for n, p in enumerate(pays, start=1):
        amount = _amount(p.get("amount"), f"{label} payment {n}")
        if amount < 0:
            raise InvoiceDataError(f"{label}: payment {n} is {amount}; a payment below zero cannot be recorded")
        if amount > 0:  # a zero payment moves no money
            payments.append((amount, str(p.get("method") or ""), str(p.get("referenceNumber") or "")))
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
    billed = sum((a for a, _ in lines), ZERO)
    paid = sum((a for a, _, _ in payments), ZERO)
    refunded = sum((a for _, a, _ in refunds), ZERO)
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
    user_id = data.get("userId")
    if user_id in (None, ""):
        user_id = None
    else:
        try:
            user_id = int(user_id)
        except (TypeError, ValueError) as exc:
            raise InvoiceDataError(f"{label}: its user id (userId) {user_id!r} is not a number") from exc
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


def _by_third_party_id(value: str) -> Contact | None:
    if not value:
        return None
    return Contact.objects.filter(party_id=value).first() or Contact.objects.filter(major_key=value).first()


def contact_for(payer: Payer) -> tuple[Contact, bool]:
    """The payer's contact (module doc): by the user's thirdPartyUniqueId (party id,
    then major key), then by the invoice's thirdPartyCorporateId (the same), then by
    email; else a new individual contact (the caller flags it for review). The caller
    holds the integration's row lock, so one payer is never created twice."""
    found = _by_third_party_id(payer.unique_id) or _by_third_party_id(payer.corporate_id)
    if found is None and payer.email:
        found = Contact.objects.filter(email__iexact=payer.email).order_by("pk").first()
    if found is not None:
        return found, False
    name = f"{payer.first_name} {payer.last_name}".strip() or payer.email or f"OpenWater payer {payer.invoice_id}"
    contact = Contact.objects.create(
        party_id=next_party_id(),
        name=name[:200],
        sort_name=(f"{payer.last_name}, {payer.first_name}" if payer.last_name else name)[:200],
        kind=Contact.Kind.INDIVIDUAL,
        email=payer.email[:254],
    )
    return contact, True


def open_batch_for(integration: Integration) -> Batch:
    """The integration's open batch (a new one when staff moved the last one on).
    The caller holds the integration's row lock."""
    batch = integration.current_batch
    if batch is None or Batch.objects.filter(pk=batch.pk).values_list("status", flat=True)[0] != Batch.Status.OPEN:
        batch = batch_create(date=timezone.localdate(), description=f"OpenWater pushback – {integration.name}"[:200])
        Integration.objects.filter(pk=integration.pk).update(current_batch=batch)
        integration.current_batch = batch
    return batch


def _lock_sync(integration: Integration, ow_id: int) -> InvoiceSync:
    sync = InvoiceSync.objects.select_for_update().filter(integration=integration, ow_invoice_id=ow_id).first()
    if sync is None:
        InvoiceSync.objects.bulk_create(
            [InvoiceSync(integration=integration, ow_invoice_id=ow_id, status=InvoiceSync.Status.ERROR)],
            ignore_conflicts=True,
        )
        sync = InvoiceSync.objects.select_for_update().get(integration=integration, ow_invoice_id=ow_id)
    return sync


def _is_staff_handled(sync: InvoiceSync) -> bool:
    return sync.status == InvoiceSync.Status.BY_HAND or (
        sync.status == InvoiceSync.Status.SKIPPED and sync.skip_code == SKIP_BY_STAFF
    )


@transaction.atomic
def invoice_record(*, integration: Integration, data: dict, user: dict | None = None) -> InvoiceSync:
    """Record one OpenWater invoice (see module doc). ``user``: the invoice's OpenWater
    user (``GET /v2/Users/{userId}``); when it is needed to find the payer and not
    given, raises ``UserNeeded`` with nothing written. Raises InvoiceDataError (and
    leaves nothing written) when the invoice cannot be recorded as it is. An invoice
    staff skipped or recorded by hand is left as it is."""
    parsed = parse_invoice(data)
    payer = payer_of(parsed, user)
    integration = (
        Integration.objects.select_for_update(of=("self",))
        .select_related("default_product", "discount_product", "entity")
        .get(pk=integration.pk)
    )
    sync = _lock_sync(integration, parsed.id)
    if _is_staff_handled(sync):
        return sync
    sync.attempts += 1
    sync.program_id = parsed.program_id
    sync.program_code = parsed.program_code[:100]
    sync.ow_created_at = parsed.created_at
    sync.ow_most_recent_transaction_at = parsed.most_recent
    sync.email = payer.email[:254] or sync.email  # a refund check does not fetch the user
    fields = ["attempts", "program_id", "program_code", "ow_created_at", "ow_most_recent_transaction_at", "email"]
    if sync.status == InvoiceSync.Status.PUSHED:
        if parsed.total_paid != sync.total_paid:
            raise InvoiceDataError(
                f"OpenWater invoice {parsed.id}: OpenWater now shows {parsed.total_paid} paid, but {sync.total_paid} "
                "was paid when it was recorded; a change of payments after recording is not followed: "
                "record the difference by hand"
            )
        sync.last_error = sync.last_error_detail = ""
        sync.save(update_fields=fields + ["last_error", "last_error_detail", "updated_at"])
        _record_refunds(integration, sync, parsed)
        return sync

    program = None
    if parsed.program_id is not None:
        program, _ = ProgramMapping.objects.get_or_create(
            integration=integration,
            program_id=parsed.program_id,
            defaults={"code": parsed.program_code[:100]},
        )
    day = timezone.localtime(parsed.created_at).date()
    product, skip = (
        (None, SKIP_BEFORE_DATE) if integration.skip_before and day < integration.skip_before else (None, "")
    )
    if not skip:
        product, skip = product_for(integration, program)
    if not skip and parsed.charges <= 0:
        skip = SKIP_NOTHING_PAID
    if skip:
        sync.status = InvoiceSync.Status.SKIPPED
        sync.skip_reason = {
            SKIP_BEFORE_DATE: f"Dated {day}, before the skip date {integration.skip_before}",
            SKIP_DISABLED: f"Program {parsed.program_code or parsed.program_id} is disabled",
            SKIP_UNMAPPED: f"Program {parsed.program_code or parsed.program_id} is not mapped yet",
            SKIP_NOTHING_PAID: "Nothing was billed or paid",
        }[skip]
        sync.skip_code = skip
        sync.last_error = sync.last_error_detail = ""
        fields += ["status", "skip_reason", "skip_code", "last_error", "last_error_detail", "updated_at"]
        sync.save(update_fields=fields)
        return sync

    if parsed.needs_user and user is None:
        raise UserNeeded(parsed.user_id)
    contact, created = contact_for(payer)
    batch = open_batch_for(integration)
    entity = product.entity
    discount = discount_product_for(integration) if parsed.discounts else None
    specs = [
        LineSpec(product=product, unit_price=amount, description=notes or product.name)
        if amount >= 0
        else LineSpec(product=discount, unit_price=amount, description=notes or discount.name, discount=True)
        for amount, notes in parsed.lines
    ]
    invoice = invoice_create(
        bill_to=contact,
        entity=entity,
        batch=batch,
        lines=specs,
        date=day,
        due_date=day,
        source=Invoice.Source.OPENWATER,
        description=f"OpenWater invoice {parsed.id} ({parsed.program_code or parsed.program_id})"[:200],
    )
    payment = None
    if parsed.total_paid > 0:
        # The charge lines carry the payment: each is paid what it is owed, net of its discount.
        open_lines = list(invoice.lines.filter(balance__gt=0).order_by("line_number"))
        references = ", ".join(f"{m} {r}".strip() for _, m, r in parsed.payments)
        payment = payment_receive(
            payer=contact,
            method=integration.payment_method,
            amount=parsed.total_paid,
            date=day,
            batch=batch,
            applications=[ApplicationSpec(line=ln, amount=ln.balance) for ln in open_lines],
            entity=entity,
            reference=f"OW {parsed.id}: {references}"[:100],
            source=Payment.Source.OPENWATER,
        )
    sync.status = InvoiceSync.Status.PUSHED
    sync.skip_reason = sync.skip_code = sync.last_error = sync.last_error_detail = ""
    sync.contact = contact
    sync.contact_created = created
    sync.invoice = invoice
    sync.payment = payment
    sync.total_paid = parsed.total_paid
    sync.pushed_at = timezone.now()
    sync.save()
    _record_refunds(integration, sync, parsed)
    return sync


def _record_refunds(integration: Integration, sync: InvoiceSync, parsed: ParsedInvoice) -> None:
    done = set(RefundSync.objects.filter(sync=sync).values_list("ow_refund_id", flat=True))
    new = [r for r in parsed.refunds if r[0] not in done]
    if not new:
        return
    batch = open_batch_for(integration)
    for refund_id, amount, notes in new:
        kept = sync.total_paid - sync.total_refunded
        if amount > kept:
            raise InvoiceDataError(
                f"OpenWater invoice {parsed.id}: its refund {refund_id} of {amount} is more than the {kept} "
                "still kept in Pay Central; record it by hand"
            )
        refund = _refund(sync, amount, batch=batch, reason=f"OpenWater refund {refund_id}: {notes}"[:200])
        RefundSync.objects.create(sync=sync, ow_refund_id=refund_id, amount=amount, refund=refund)
        sync.total_refunded += amount
        InvoiceSync.objects.filter(pk=sync.pk).update(total_refunded=F("total_refunded") + amount)


def _refund(sync: InvoiceSync, amount: Decimal, *, batch: Batch, reason: str):
    """Take ``amount`` of the sync's payment off its invoice and refund it (module doc)."""
    today = timezone.localdate()
    date = max(today, sync.invoice.date)
    payment = Payment.objects.select_for_update().get(pk=sync.payment_id)
    invoice = lock_invoices([sync.invoice_id])[sync.invoice_id]
    kept = sync.total_paid - sync.total_refunded
    if amount == kept:
        before = set(
            Invoice.objects.filter(bill_to=payment.payer, type=Invoice.Type.CREDIT).values_list("pk", flat=True)
        )
        invoice_reverse(invoice=invoice, batch=batch, date=date, reason=reason)
        # The reversal gives each payment still on the invoice a credit of its own: the
        # refund comes off this payment's. None when staff moved its money off the
        # invoice in Pay Central (unapplied, reversed): the refund is then theirs to settle.
        credits = list(
            Invoice.objects.filter(
                bill_to=payment.payer, type=Invoice.Type.CREDIT, balance__lt=0, applications__payment=payment
            )
            .exclude(pk__in=before)
            .distinct()
        )
        if len(credits) != 1:
            raise FinanceError(
                f"Invoice {invoice.number}: payment {payment.pk} no longer holds its {amount} on the invoice "
                "(moved off it in Pay Central); record the OpenWater refund by hand"
            )
        credit = credits[0]
        return refund_record(
            payment=payment, credit_invoice=credit, batch=batch, date=date, amount=amount, reason=reason
        )
    # Part of it: from the last line backwards, what the payment still holds on each line.
    held: dict[int, Decimal] = {}
    for line_id, amt in PaymentApplication.objects.filter(payment=payment, invoice=invoice).values_list(
        "line_id", "amount"
    ):
        held[line_id] = held.get(line_id, ZERO) + amt
    lines = list(
        InvoiceLine.objects.select_for_update(of=("self",))
        .select_related("invoice")
        .filter(invoice=invoice)
        .order_by("-line_number")
    )
    amounts, rest = {}, amount
    for line in lines:
        part = min(held.get(line.pk, ZERO), rest)
        if part > 0:
            amounts[line.pk] = part
            rest -= part
    if rest != 0:
        raise InvoiceDataError(
            f"Invoice {invoice.number}: payment {payment.pk} holds less than {amount} on it; "
            "record the OpenWater refund by hand"
        )
    chosen = [ln for ln in lines if ln.pk in amounts]
    credit = move_to_credit(
        payment=payment,
        lines=chosen,
        amounts=amounts,
        batch=batch,
        date=date,
        description=f"Invoice {invoice.number}: {reason}"[:200],
    )
    invoice_lines_write_down(invoice=invoice, amounts=amounts, batch=batch, date=date, reason=reason)
    return refund_record(payment=payment, credit_invoice=credit, batch=batch, date=date, amount=amount, reason=reason)


@transaction.atomic
def invoice_error(
    *, integration: Integration, ow_invoice_id: int, message: str, detail: str = "", program_id=None
) -> InvoiceSync:
    """Record that an OpenWater invoice could not be recorded (kept for the next run):
    ``message`` for finance staff, ``detail`` the technical detail. A pushed invoice
    keeps its status (its refund is what failed); one staff took in hand is left alone."""
    sync = _lock_sync(integration, int(ow_invoice_id))
    if _is_staff_handled(sync):
        return sync
    sync.attempts += 1
    sync.last_error = message[:2000]
    sync.last_error_detail = detail[:2000]
    update = ["attempts", "last_error", "last_error_detail", "updated_at"]
    if sync.status != InvoiceSync.Status.PUSHED:
        sync.status = InvoiceSync.Status.ERROR
        update.append("status")
    if program_id is not None and sync.program_id is None:
        sync.program_id = program_id
        update.append("program_id")
    sync.save(update_fields=update)
    return sync


# -- what staff do about an invoice in error --------------------------------------------


def _lock_sync_for_staff(sync: InvoiceSync) -> InvoiceSync:
    sync = InvoiceSync.objects.select_for_update().get(pk=sync.pk)
    if sync.status != InvoiceSync.Status.ERROR:
        raise PushbackError(
            f"OpenWater invoice {sync.ow_invoice_id} is no longer in error ({sync.get_status_display().lower()}); "
            "nothing was changed."
        )
    return sync


def _staff_did(sync: InvoiceSync, action: str, note: str, user) -> list[str]:
    sync.staff_action = action
    sync.staff_note = note.strip()[:200]
    sync.staff_by = user
    sync.staff_at = timezone.now()
    return ["staff_action", "staff_note", "staff_by", "staff_at", "updated_at"]


@transaction.atomic
def sync_retry_requested(*, sync: InvoiceSync, user) -> InvoiceSync:
    """Staff ask for an invoice in error to be tried again now: recorded (audited); the
    caller then fetches and records it (``pushback.record_invoice``)."""
    sync = _lock_sync_for_staff(sync)
    sync.save(update_fields=_staff_did(sync, InvoiceSync.StaffAction.RETRIED, "", user))
    return sync


@transaction.atomic
def sync_skip(*, sync: InvoiceSync, reason: str, user) -> InvoiceSync:
    """Skip an invoice in error for good, with the reason staff give (required); the
    runs never record it."""
    reason = (reason or "").strip()
    if not reason:
        raise PushbackError("Give the reason for skipping the invoice.")
    sync = _lock_sync_for_staff(sync)
    fields = _staff_did(sync, InvoiceSync.StaffAction.SKIPPED, reason, user)
    sync.status = InvoiceSync.Status.SKIPPED
    sync.skip_code = SKIP_BY_STAFF
    sync.skip_reason = f"Skipped by {user.get_username()}: {reason}"[:200]
    sync.save(update_fields=fields + ["status", "skip_code", "skip_reason"])
    return sync


@transaction.atomic
def sync_record_by_hand(*, sync: InvoiceSync, note: str = "", user) -> InvoiceSync:
    """Mark an invoice in error as recorded by hand in Pay Central (``note``: where,
    e.g. the invoice number); the runs never record it."""
    sync = _lock_sync_for_staff(sync)
    fields = _staff_did(sync, InvoiceSync.StaffAction.BY_HAND, note, user)
    sync.status = InvoiceSync.Status.BY_HAND
    sync.save(update_fields=fields + ["status"])
    return sync


@transaction.atomic
def staff_handled_seen_again(*, integration: Integration, ow_invoice_id: int, recent: datetime) -> bool:
    """A run meets an invoice staff took in hand. Returns False when it is not one.
    Nothing is recorded; an OpenWater transaction newer than what staff saw (a refund,
    say) is noted for staff on the record, once."""
    sync = (
        InvoiceSync.objects.select_for_update()
        .filter(STAFF_HANDLED, integration=integration, ow_invoice_id=ow_invoice_id)
        .first()
    )
    if sync is None:
        return False
    seen = max(d for d in (sync.staff_at, sync.ow_most_recent_transaction_at) if d is not None)
    if recent is not None and recent > seen:
        sync.ow_most_recent_transaction_at = recent
        sync.last_error = (
            f"OpenWater shows a newer transaction on this invoice ({timezone.localtime(recent):%Y-%m-%d %H:%M}) "
            f"than when it was {'skipped' if sync.status == InvoiceSync.Status.SKIPPED else 'recorded by hand'}; "
            "check it in OpenWater and record any change by hand."
        )
        sync.save(update_fields=["ow_most_recent_transaction_at", "last_error", "updated_at"])
    return True
