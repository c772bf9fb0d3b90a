"""Services of the OpenWater pushback: the integration's set-up, program mapping, and
recording one OpenWater invoice (or refund) in the ledger.

Rules kept here:
- Credentials are stored encrypted (``EncryptedTextField``); pages show them masked.
- Initialize creates (or reuses) the payment method (type "other", in no payment
  method set, debiting the entity's cash account), the default product and the
  "do not send invoices dated before" date (today unless given). Only an initialized
  integration can be started.
- A program's own product is ``OW_<program code>`` with an income GL account. The
  mapping holds the product's id, so finance may edit the product freely.
- ``invoice_record`` writes, in one transaction, an accrual invoice (a line per
  OpenWater billing line, on the program's product, ``source=openwater``) and one
  payment of the OPENWATER method applied to its lines, in an Open batch of the
  integration (never posted by the pushback), and marks the sync record pushed. The
  sync record's unique key (integration, OpenWater invoice id) and the row lock on it
  make a second recording impossible; a pushed record is only looked at for refunds.
- Skipped (dated before the skip date, program disabled, or program not mapped while
  the sync mode is None) and error outcomes are recorded on the sync record in their
  own transaction; nothing of the invoice is written then.
- An OpenWater refund becomes a record-only refund in Pay Central: the refunded part
  of the payment is taken off the invoice lines onto a new credit invoice of the payer
  (``move_to_credit``), the same amount is taken off the lines' charges (an invoice
  adjustment: DR income / CR AR), and ``refund_record`` returns that credit (DR
  unapplied cash / CR refund clearing: OpenWater paid it back). A refund of everything
  still kept reverses the invoice instead (``invoice_reverse``). Each OpenWater refund
  id is recorded once (unique on sync + refund id).
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.db.models import F, Max
from django.db.models.functions import Cast, Length
from django.utils import timezone

from finance.errors import FinanceError
from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GLAccount,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    NumberSequence,
    Payment,
    PaymentApplication,
    Product,
)
from finance.money import ZERO, quantize
from finance.services.accounts import account_for_role
from finance.services.adjustments import invoice_reverse
from finance.services.batches import batch_create
from finance.services.credits import move_to_credit, refund_record
from finance.services.invoices import LineSpec, invoice_create
from finance.services.journal import Leg, journal_entry_create
from finance.services.payments import ApplicationSpec, lock_invoices, payment_receive
from integrations.openwater.client import OpenWaterBadResponse, parse_time
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping, RefundSync
from paycentral.models import PaymentMethod


class PushbackError(Exception):
    """A rule of the pushback refused the action; the message is for staff."""


class InvoiceDataError(PushbackError):
    """An OpenWater invoice that cannot be recorded as it is (totals, amounts, fields)."""


SKIP_BEFORE_DATE = "before_date"
SKIP_DISABLED = "disabled"
SKIP_UNMAPPED = "unmapped"
SKIP_NOTHING_PAID = "nothing_paid"


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
) -> Integration:
    """Create the payment method, the default product and the skip date (see module doc)."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    entity = entity or integration.entity or FinancialEntity.objects.order_by("pk").first()
    if entity is None:
        raise PushbackError("There is no financial entity; create one (with its chart of accounts) first.")
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
    integration.skip_before = skip_before or integration.skip_before or timezone.localdate()
    integration.initialized_at = integration.initialized_at or timezone.now()
    integration.save()
    return integration


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
    third_party_id: str
    email: str
    first_name: str
    last_name: str
    created_at: datetime
    most_recent: datetime | None
    total_billed: Decimal
    total_paid: Decimal
    total_refunded: Decimal
    lines: list[tuple[Decimal, str]]
    payments: list[tuple[Decimal, str, str]]  # amount, method, reference
    refunds: list[tuple[int, Decimal, str]]


def _amount(value, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise InvoiceDataError(f"{where}: amount {value!r} is not a number")
    try:
        amount = Decimal(value)
        if amount != amount.quantize(Decimal("0.01")):
            raise InvoiceDataError(f"{where}: amount {value} has more than two decimal places")
        return quantize(amount)
    except InvalidOperation as exc:
        raise InvoiceDataError(f"{where}: amount {value!r} is not a number") from exc


def parse_invoice(data: dict) -> ParsedInvoice:
    """Check an OpenWater invoice (GET /v2/Invoices/{id}) and convert it; every total
    must be the sum of its parts and the invoice fully paid."""
    try:
        inv_id = int(data["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvoiceDataError(f"invoice without a valid id: {str(data)[:100]}") from exc
    label = f"OpenWater invoice {inv_id}"
    try:
        created = parse_time(data.get("createdAtUtc"))
        recent = parse_time(data.get("mostRecentTransactionDateUtc"))
    except (ValueError, OpenWaterBadResponse) as exc:
        raise InvoiceDataError(f"{label}: {exc}") from exc
    if created is None:
        raise InvoiceDataError(f"{label}: createdAtUtc is missing")
    items = data.get("billingLineItems") or []
    pays = data.get("payments") or []
    refs = data.get("refunds") or []
    if not all(isinstance(x, list) for x in (items, pays, refs)):
        raise InvoiceDataError(f"{label}: billingLineItems, payments and refunds must be lists")
    lines = [
        (
            _amount(li.get("amount"), f"{label} billing line {n}"),
            str(li.get("notes") or li.get("details") or "").strip(),
        )
        for n, li in enumerate(items, start=1)
    ]
    payments = [
        (
            _amount(p.get("amount"), f"{label} payment {n}"),
            str(p.get("method") or ""),
            str(p.get("referenceNumber") or ""),
        )
        for n, p in enumerate(pays, start=1)
    ]
    refunds = []
    for n, r in enumerate(refs, start=1):
        try:
            rid = int(r["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvoiceDataError(f"{label} refund {n}: no valid id") from exc
        refunds.append((rid, _amount(r.get("amount"), f"{label} refund {rid}"), str(r.get("notes") or "")))
    billed = _amount(data.get("totalBilled"), f"{label} totalBilled")
    paid = _amount(data.get("totalPaid"), f"{label} totalPaid")
    refunded = _amount(data.get("totalRefunded", 0), f"{label} totalRefunded")
    for what, total, parts in (
        ("totalBilled", billed, [a for a, _ in lines]),
        ("totalPaid", paid, [a for a, _, _ in payments]),
        ("totalRefunded", refunded, [a for _, a, _ in refunds]),
    ):
        if sum(parts, ZERO) != total:
            raise InvoiceDataError(f"{label}: {what} {total} is not the sum of its items ({sum(parts, ZERO)})")
    if any(a < 0 for a, _ in lines) or any(a <= 0 for a, _, _ in payments) or any(a <= 0 for _, a, _ in refunds):
        raise InvoiceDataError(f"{label}: negative line amounts, or payments/refunds not above zero")
    if paid != billed:
        raise InvoiceDataError(f"{label}: totalPaid {paid} differs from totalBilled {billed}; it is not fully paid")
    if refunded > paid:
        raise InvoiceDataError(f"{label}: totalRefunded {refunded} is more than totalPaid {paid}")
    if len({rid for rid, _, _ in refunds}) != len(refunds):
        raise InvoiceDataError(f"{label}: a refund id appears twice")
    program_id = data.get("programId")
    return ParsedInvoice(
        id=inv_id,
        program_id=int(program_id) if program_id not in (None, "") else None,
        program_code=str(data.get("programCode") or ""),
        third_party_id=str(data.get("thirdPartyCorporateId") or "").strip(),
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


def next_party_id() -> str:
    """The next free numeric party id, from a row-locked sequence (gap-free in a transaction)."""
    seq = NumberSequence.objects.filter(name="party_id").first()
    if seq is None:
        top = (
            Contact.objects.annotate(n=Length("party_id"))
            .filter(n__lte=18)
            .aggregate(m=Max(Cast("party_id", output_field=_bigint())))["m"]
        )
        seq, _ = NumberSequence.objects.get_or_create(name="party_id", defaults={"next_value": (top or 10000) + 1})
    seq = NumberSequence.objects.select_for_update().get(pk=seq.pk)
    value = seq.next_value
    while Contact.objects.filter(party_id=str(value)).exists():
        value += 1
    seq.next_value = value + 1
    seq.save(update_fields=["next_value"])
    return str(value)


def _bigint():
    from django.db.models import BigIntegerField

    return BigIntegerField()


def contact_for(parsed: ParsedInvoice) -> tuple[Contact, bool]:
    """The payer: by third-party id (party id or major key), then by email; else a new
    contact (the caller flags it for review)."""
    if parsed.third_party_id:
        found = (
            Contact.objects.filter(party_id=parsed.third_party_id).first()
            or Contact.objects.filter(major_key=parsed.third_party_id).first()
        )
        if found:
            return found, False
    if parsed.email:
        found = Contact.objects.filter(email__iexact=parsed.email).order_by("pk").first()
        if found:
            return found, False
    name = f"{parsed.first_name} {parsed.last_name}".strip() or parsed.email or f"OpenWater payer {parsed.id}"
    contact = Contact.objects.create(
        party_id=next_party_id(),
        name=name[:200],
        sort_name=(f"{parsed.last_name}, {parsed.first_name}" if parsed.last_name else name)[:200],
        email=parsed.email[:254],
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


@transaction.atomic
def invoice_record(*, integration: Integration, data: dict) -> InvoiceSync:
    """Record one OpenWater invoice (see module doc). Raises InvoiceDataError (and
    leaves nothing written) when the invoice cannot be recorded as it is."""
    parsed = parse_invoice(data)
    integration = (
        Integration.objects.select_for_update(of=("self",)).select_related("default_product").get(pk=integration.pk)
    )
    sync = _lock_sync(integration, parsed.id)
    sync.attempts += 1
    sync.program_id = parsed.program_id
    sync.program_code = parsed.program_code[:100]
    sync.ow_created_at = parsed.created_at
    sync.ow_most_recent_transaction_at = parsed.most_recent
    sync.email = parsed.email[:254]
    fields = ["attempts", "program_id", "program_code", "ow_created_at", "ow_most_recent_transaction_at", "email"]
    if sync.status == InvoiceSync.Status.PUSHED:
        if parsed.total_paid != sync.total_paid:
            raise InvoiceDataError(
                f"OpenWater invoice {parsed.id}: totalPaid changed from {sync.total_paid} to {parsed.total_paid} "
                "after it was pushed"
            )
        sync.save(update_fields=fields + ["updated_at"])
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
    if not skip and parsed.total_paid <= 0:
        skip = SKIP_NOTHING_PAID
    if skip:
        sync.status = InvoiceSync.Status.SKIPPED
        sync.skip_reason = {
            SKIP_BEFORE_DATE: f"Dated {day}, before the skip date {integration.skip_before}",
            SKIP_DISABLED: f"Program {parsed.program_code or parsed.program_id} is disabled",
            SKIP_UNMAPPED: f"Program {parsed.program_code or parsed.program_id} is not mapped yet",
            SKIP_NOTHING_PAID: "Nothing was paid",
        }[skip]
        sync.skip_code = skip
        sync.last_error = ""
        sync.save(update_fields=fields + ["status", "skip_reason", "skip_code", "last_error", "updated_at"])
        return sync

    contact, created = contact_for(parsed)
    batch = open_batch_for(integration)
    entity = product.entity
    specs = [
        LineSpec(product=product, unit_price=amount, description=notes or product.name)
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
    lines = list(invoice.lines.filter(amount__gt=0).order_by("line_number"))
    references = ", ".join(f"{m} {r}".strip() for _, m, r in parsed.payments)
    payment = payment_receive(
        payer=contact,
        method=integration.payment_method,
        amount=parsed.total_paid,
        date=day,
        batch=batch,
        applications=[ApplicationSpec(line=ln, amount=ln.amount) for ln in lines],
        entity=entity,
        reference=f"OW {parsed.id}: {references}"[:100],
        source=Payment.Source.OPENWATER,
    )
    sync.status = InvoiceSync.Status.PUSHED
    sync.skip_reason = sync.skip_code = sync.last_error = ""
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
                f"OpenWater invoice {parsed.id} refund {refund_id}: {amount} is more than the {kept} still kept"
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
        raise InvoiceDataError(f"Invoice {invoice.number}: payment {payment.pk} holds less than {amount} on it")
    chosen = [ln for ln in lines if ln.pk in amounts]
    credit = move_to_credit(
        payment=payment,
        lines=chosen,
        amounts=amounts,
        batch=batch,
        date=date,
        description=f"Invoice {invoice.number}: {reason}"[:200],
    )
    _write_down(invoice, chosen, amounts, batch=batch, date=date, reason=reason)
    return refund_record(payment=payment, credit_invoice=credit, batch=batch, date=date, amount=amount, reason=reason)


def _write_down(invoice: Invoice, lines, amounts: dict, *, batch: Batch, date: Date, reason: str) -> None:
    """Take ``amounts`` off the lines' charges: adjustment rows, DR each line's account /
    CR accounts receivable (the invoice is accrual). The caller holds the locks."""
    legs = []
    for line in lines:
        part = amounts[line.pk]
        InvoiceAdjustment.objects.create(
            invoice=invoice, line=line, amount=-part, date=date, batch=batch, reason=reason[:200]
        )
        InvoiceLine.objects.filter(pk=line.pk).update(balance=F("balance") - part)
        legs.append(Leg(line.account, debit=part, contact=invoice.bill_to, currency=invoice.currency))
    total = sum(amounts.values(), ZERO)
    Invoice.objects.filter(pk=invoice.pk).update(balance=F("balance") - total)
    if invoice.accounting_method == Invoice.AccountingMethod.ACCRUAL:
        ar = account_for_role(invoice.entity, GLAccount.Role.AR)
        legs.append(Leg(ar, credit=total, contact=invoice.bill_to, currency=invoice.currency))
        journal_entry_create(
            batch=batch,
            date=date,
            kind=JournalEntry.Kind.ADJUSTMENT,
            legs=legs,
            description=f"Invoice {invoice.number}: {reason}"[:200],
            invoice=invoice,
        )


@transaction.atomic
def invoice_error(*, integration: Integration, ow_invoice_id: int, message: str, program_id=None) -> InvoiceSync:
    """Record that an OpenWater invoice could not be recorded (kept for the next run)."""
    sync = _lock_sync(integration, int(ow_invoice_id))
    sync.attempts += 1
    sync.last_error = message[:2000]
    update = ["attempts", "last_error", "updated_at"]
    if sync.status != InvoiceSync.Status.PUSHED:
        sync.status = InvoiceSync.Status.ERROR
        update.append("status")
    if program_id is not None and sync.program_id is None:
        sync.program_id = program_id
        update.append("program_id")
    sync.save(update_fields=update)
    return sync


def uses_postgres() -> bool:
    return connection.vendor == "postgresql"
