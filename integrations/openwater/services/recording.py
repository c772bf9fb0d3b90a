"""Recording one OpenWater invoice in the ledger, or its skip or error.

Rules kept here:
- ``invoice_record`` writes, in one transaction, an accrual invoice (a line per
  OpenWater billing line, ``source=openwater``) and one payment of the OPENWATER
  method applied to its charge lines, in an Open batch of the integration (never
  posted by the pushback), and marks the sync record pushed. Lines of zero or more are
  charges on the program's product; lines below zero (coupons, discounts, manual
  adjustments) are discount lines on the integration's discount product
  (``finance.services.invoices``: handed to the charges, never paid, DR the discount
  product's account). So the invoice total is OpenWater's billed total and the payment
  what was paid; a fully discounted invoice (total 0.00) is recorded with no payment.
  What is read from OpenWater and checked first is in ``mapping``. The sync record's
  unique key (integration, OpenWater invoice id) and the row lock on it make a second
  recording impossible; a pushed record is only looked at for refunds (``refunds``).
- The payer is found by ``contacts.contact_for``. The user is only fetched for an
  invoice that is going to be recorded (``UserNeeded``): not for one skipped, pushed
  already or taken in hand by staff.
- Skipped (dated before the skip date, program disabled, program not mapped while the
  sync mode is None, or nothing billed) and error outcomes are recorded on the sync
  record in their own transaction; nothing of the invoice is written then. Error
  messages are for finance staff; the technical detail is kept beside them.
- An invoice staff skipped or recorded by hand (``staff``) is never recorded by a run.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finance.models import Invoice, Payment, Product
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive
from integrations.openwater.errors import InvoiceDataError, UserNeeded
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping
from integrations.openwater.services.contacts import contact_for
from integrations.openwater.services.mapping import Payer, parse_invoice, payer_of
from integrations.openwater.services.refunds import record_refunds
from integrations.openwater.services.setup import discount_product_for, open_batch_for

SKIP_BEFORE_DATE = "before_date"
SKIP_DISABLED = "disabled"
SKIP_UNMAPPED = "unmapped"
SKIP_NOTHING_PAID = "nothing_paid"
SKIP_BY_STAFF = "staff"

# Invoices staff took out of the runs' hands: skipped with a reason, or recorded by hand.
STAFF_HANDLED = Q(status=InvoiceSync.Status.BY_HAND) | Q(status=InvoiceSync.Status.SKIPPED, skip_code=SKIP_BY_STAFF)


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


def outcome_for(integration: Integration, parsed, program: ProgramMapping | None) -> tuple[Product | None, str]:
    """The product a new OpenWater invoice is recorded with, or (None, why it is skipped):
    dated before the skip date, its program disabled or not mapped, nothing billed."""
    day = timezone.localtime(parsed.created_at).date()
    if integration.skip_before and day < integration.skip_before:
        return None, SKIP_BEFORE_DATE
    product, skip = product_for(integration, program)
    if not skip and parsed.charges <= 0:
        return None, SKIP_NOTHING_PAID
    return product, skip


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


def lock_integration(integration: Integration) -> Integration:
    """The integration row-locked (one recording at a time, see module doc), with what
    a recording reads of it."""
    return (
        Integration.objects.select_for_update(of=("self",))
        .select_related("default_product", "discount_product", "entity", "payment_method__cash_account__entity")
        .get(pk=integration.pk)
    )


def note_seen(sync: InvoiceSync, parsed, payer: Payer) -> list[str]:
    """Record on ``sync`` one more attempt and what OpenWater says of the invoice now;
    returns the fields set."""
    sync.attempts += 1
    sync.program_id = parsed.program_id
    sync.program_code = parsed.program_code[:100]
    sync.ow_created_at = parsed.created_at
    sync.ow_most_recent_transaction_at = parsed.most_recent
    sync.email = payer.email[:254] or sync.email  # a refund check does not fetch the user
    return ["attempts", "program_id", "program_code", "ow_created_at", "ow_most_recent_transaction_at", "email"]


def mark_skipped(integration: Integration, sync: InvoiceSync, parsed, skip: str) -> list[str]:
    """Mark ``sync`` skipped for ``skip`` (a skip code of ``outcome_for``), with the
    reason in plain words; returns the fields set."""
    day = timezone.localtime(parsed.created_at).date()
    sync.status = InvoiceSync.Status.SKIPPED
    sync.skip_reason = {
        SKIP_BEFORE_DATE: f"Dated {day}, before the skip date {integration.skip_before}",
        SKIP_DISABLED: f"Program {parsed.program_code or parsed.program_id} is disabled",
        SKIP_UNMAPPED: f"Program {parsed.program_code or parsed.program_id} is not mapped yet",
        SKIP_NOTHING_PAID: "Nothing was billed or paid",
    }[skip]
    sync.skip_code = skip
    sync.last_error = sync.last_error_detail = ""
    return ["status", "skip_reason", "skip_code", "last_error", "last_error_detail", "updated_at"]


def mark_pushed(sync: InvoiceSync, parsed, *, contact, created: bool, invoice, payment) -> None:
    """Mark ``sync`` pushed with what was written for it."""
    sync.status = InvoiceSync.Status.PUSHED
    sync.skip_reason = sync.skip_code = sync.last_error = sync.last_error_detail = ""
    sync.contact = contact
    sync.contact_created = created
    sync.invoice = invoice
    sync.payment = payment
    sync.total_paid = parsed.total_paid
    sync.pushed_at = timezone.now()


def invoice_date(parsed):
    """The Pay Central date of an OpenWater invoice (and of its payment): its creation day."""
    return timezone.localtime(parsed.created_at).date()


def invoice_description(parsed) -> str:
    return f"OpenWater invoice {parsed.id} ({parsed.program_code or parsed.program_id})"[:200]


def line_specs(parsed, product: Product, discount: Product | None) -> list[LineSpec]:
    """The invoice's lines: a charge on the program's product per line of zero or more, a
    discount line on the discount product per line below zero (module doc)."""
    return [
        LineSpec(product=product, unit_price=amount, description=notes or product.name)
        if amount >= 0
        else LineSpec(product=discount, unit_price=amount, description=notes or discount.name, discount=True)
        for amount, notes in parsed.lines
    ]


def paying_plan(lines) -> list[tuple]:
    """What the payment pays: each charge line what it is owed, net of its discount (the
    lines as written, in line order)."""
    return [(ln, ln.balance) for ln in lines if ln.balance > 0]


def payment_reference(parsed) -> str:
    references = ", ".join(f"{m} {r}".strip() for _, m, r in parsed.payments)
    return f"OW {parsed.id}: {references}"[:100]


@transaction.atomic
def invoice_record(*, integration: Integration, data: dict, user: dict | None = None) -> InvoiceSync:
    """Record one OpenWater invoice (see module doc). ``user``: the invoice's OpenWater
    user (``GET /v2/Users/{userId}``); when it is needed to find the payer and not
    given, raises ``UserNeeded`` with nothing written. Raises InvoiceDataError (and
    leaves nothing written) when the invoice cannot be recorded as it is. An invoice
    staff skipped or recorded by hand is left as it is."""
    parsed = parse_invoice(data)
    payer = payer_of(parsed, user)
    integration = lock_integration(integration)
    sync = _lock_sync(integration, parsed.id)
    if _is_staff_handled(sync):
        return sync
    fields = note_seen(sync, parsed, payer)
    if sync.status == InvoiceSync.Status.PUSHED:
        if parsed.total_paid != sync.total_paid:
            raise InvoiceDataError(
                f"OpenWater invoice {parsed.id}: OpenWater now shows {parsed.total_paid} paid, but {sync.total_paid} "
                "was paid when it was recorded; a change of payments after recording is not followed: "
                "record the difference by hand"
            )
        sync.last_error = sync.last_error_detail = ""
        sync.save(update_fields=fields + ["last_error", "last_error_detail", "updated_at"])
        record_refunds(integration, sync, parsed)
        return sync

    program = None
    if parsed.program_id is not None:
        program, _ = ProgramMapping.objects.get_or_create(
            integration=integration,
            program_id=parsed.program_id,
            defaults={"code": parsed.program_code[:100]},
        )
    product, skip = outcome_for(integration, parsed, program)
    if skip:
        sync.save(update_fields=fields + mark_skipped(integration, sync, parsed, skip))
        return sync

    if parsed.needs_user and user is None:
        raise UserNeeded(parsed.user_id)
    contact, created = contact_for(payer)
    batch = open_batch_for(integration)
    entity = product.entity
    day = invoice_date(parsed)
    discount = discount_product_for(integration) if parsed.discounts else None
    invoice = invoice_create(
        bill_to=contact,
        entity=entity,
        batch=batch,
        lines=line_specs(parsed, product, discount),
        date=day,
        due_date=day,
        source=Invoice.Source.OPENWATER,
        description=invoice_description(parsed),
    )
    payment = None
    if parsed.total_paid > 0:
        plan = paying_plan(invoice.lines.all())
        payment = payment_receive(
            payer=contact,
            method=integration.payment_method,
            amount=parsed.total_paid,
            date=day,
            batch=batch,
            applications=[ApplicationSpec(line=ln, amount=part) for ln, part in plan],
            entity=entity,
            reference=payment_reference(parsed),
            source=Payment.Source.OPENWATER,
        )
    mark_pushed(sync, parsed, contact=contact, created=created, invoice=invoice, payment=payment)
    sync.save()
    record_refunds(integration, sync, parsed)
    return sync


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
