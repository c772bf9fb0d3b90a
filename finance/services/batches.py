"""Batch control: creating batches and moving them through Open → Ready → Posted.

Rules kept here:
- Every financial transaction belongs to an Open batch.
- A batch's *count* is the number of invoices (not counting the credit invoices that
  payments create for their unapplied rest) plus the number of payments recorded in
  it; its *amount* is the cash total: the sum of those payments.
- Posting is refused while "require balanced batches" is on unless control count and
  control amount are entered and equal the actual count and amount.
- A posted batch is immutable (PostgreSQL refuses new journal entries in it too); a
  batch can be deleted only while it holds nothing: no invoice, payment, payment
  reversal, refund (pending ones included), invoice adjustment or journal entry.
- Each staff user has a current batch (``current_batch_set``): only an Open batch can
  be chosen. Entries and adjustments go into the batch picked in their form, or else
  into the user's current batch (``entry_batch``); with neither, or when the current
  batch no longer takes transactions, they are refused: no batch is ever opened on
  the side for a single transaction.
"""

from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from finance.errors import BatchClosed, BatchOutOfBalance, InvalidTransition, NoCurrentBatch
from finance.models import (
    Batch,
    BatchEvent,
    CurrentBatch,
    FinanceSettings,
    Invoice,
    InvoiceAdjustment,
    JournalEntry,
    Payment,
    Refund,
)
from finance.money import ZERO, quantize


@dataclass(frozen=True)
class BatchTotals:
    invoice_count: int
    payment_count: int
    charges: Decimal
    cash: Decimal

    @property
    def count(self) -> int:
        return self.invoice_count + self.payment_count

    @property
    def amount(self) -> Decimal:
        return self.cash


def batch_totals(batch: Batch) -> BatchTotals:
    inv = (
        Invoice.objects.filter(batch=batch)
        .exclude(type=Invoice.Type.CREDIT)
        .aggregate(n=Count("pk"), total=Sum("total"))
    )
    pay = Payment.objects.filter(batch=batch).aggregate(n=Count("pk"), total=Sum("amount"))
    return BatchTotals(
        invoice_count=inv["n"],
        payment_count=pay["n"],
        charges=inv["total"] or ZERO,
        cash=pay["total"] or ZERO,
    )


def batch_holds_anything(batch: Batch) -> bool:
    """Whether any transaction was recorded in ``batch``: an invoice, a payment, a
    payment reversal, a refund (pending ones too), an invoice adjustment or a journal
    entry. Only an empty batch can be deleted."""
    return (
        Invoice.objects.filter(batch=batch).exists()
        or Payment.objects.filter(batch=batch).exists()
        or Payment.objects.filter(reversal_batch=batch).exists()
        or Refund.objects.filter(batch=batch).exists()
        or InvoiceAdjustment.objects.filter(batch=batch).exists()
        or JournalEntry.objects.filter(batch=batch).exists()
    )


def next_batch_number(day: Date) -> str:
    """iMIS style: yymmdd-n, n counting batches opened that day."""
    prefix = day.strftime("%y%m%d") + "-"
    n = 1
    existing = set(Batch.objects.filter(number__startswith=prefix).values_list("number", flat=True))
    while f"{prefix}{n}" in existing:
        n += 1
    return f"{prefix}{n}"


def batch_create(
    *,
    date: Date,
    description: str = "",
    number: str | None = None,
    control_count: int | None = None,
    control_amount: Decimal | None = None,
    user=None,
) -> Batch:
    """Open a new batch. The number defaults to yymmdd-n."""
    batch = Batch(
        number=(number or next_batch_number(date)).strip().upper(),
        description=description,
        date=date,
        control_count=control_count,
        control_amount=None if control_amount is None else quantize(control_amount),
        created_by=user,
    )
    batch.full_clean()
    batch.save()
    return batch


def lock_batch(batch_id: int) -> Batch:
    """Exclusive lock: status changes (post, delete) wait for writers to finish."""
    return Batch.objects.select_for_update().get(pk=batch_id)


def lock_batch_for_writing(batch: Batch) -> Batch:
    """Shared lock for adding a transaction to an Open batch.

    Many writers may add to the same batch at once (FOR SHARE), while
    posting, which takes the exclusive lock, waits for them and they for it; so no
    transaction lands in a batch after it was posted. Raises BatchClosed unless Open.
    """
    batch = Batch.objects.raw("SELECT * FROM finance_batch WHERE id = %s FOR SHARE", [batch.pk])[0]
    check_batch_open(batch)
    return batch


def check_batch_open(batch: Batch) -> None:
    """Raises BatchClosed unless ``batch`` (as just locked for writing) is Open."""
    if batch.status != Batch.Status.OPEN:
        raise BatchClosed(f"Batch {batch.number} is {batch.get_status_display()}; it takes no transactions.")


@transaction.atomic
def batch_set_controls(*, batch: Batch, control_count: int | None, control_amount, user=None) -> Batch:
    """Change the control figures of a batch that is not posted."""
    batch = lock_batch(batch.pk)
    if batch.status in (Batch.Status.POSTED, Batch.Status.DELETED):
        raise InvalidTransition(f"Batch {batch.number} is {batch.get_status_display()}; its controls are fixed.")
    if control_count is not None and control_count < 0:
        raise InvalidTransition("Control count cannot be negative.")
    batch.control_count = control_count
    batch.control_amount = None if control_amount in (None, "") else quantize(control_amount)
    batch.save(update_fields=["control_count", "control_amount"])
    BatchEvent.objects.create(
        batch=batch, from_status=batch.status, to_status=batch.status, user=user, note="controls changed"
    )
    return batch


@transaction.atomic
def batch_transition(*, batch: Batch, to_status: str, user=None, note: str = "") -> Batch:
    """Move a batch to ``to_status`` under its row lock, checking the allowed moves,
    the controls (when posting) and emptiness (when deleting)."""
    batch = lock_batch(batch.pk)
    to_status = Batch.Status(to_status)
    if to_status not in Batch.TRANSITIONS[Batch.Status(batch.status)]:
        raise InvalidTransition(
            f"Batch {batch.number} cannot go from {batch.get_status_display()} to {to_status.label}."
        )
    if to_status == Batch.Status.POSTED:
        totals = batch_totals(batch)
        if FinanceSettings.load().require_balanced_batches:
            if batch.control_count is None or batch.control_amount is None:
                raise BatchOutOfBalance(
                    f"Batch {batch.number} has no control count and amount; enter them before posting."
                )
            problems = []
            if batch.control_count != totals.count:
                problems.append(f"count {totals.count} ≠ control {batch.control_count}")
            if quantize(batch.control_amount) != totals.amount:
                problems.append(f"amount {totals.amount} ≠ control {batch.control_amount}")
            if problems:
                raise BatchOutOfBalance(f"Batch {batch.number} is out of balance: " + "; ".join(problems) + ".")
        batch.posted_at = timezone.now()
        batch.posted_by = user
    if to_status == Batch.Status.DELETED and batch_holds_anything(batch):
        raise InvalidTransition(f"Batch {batch.number} holds transactions; reverse them instead of deleting the batch.")
    BatchEvent.objects.create(batch=batch, from_status=batch.status, to_status=to_status, user=user, note=note)
    batch.status = to_status
    batch.save(update_fields=["status", "posted_at", "posted_by"])
    return batch


def batch_post(*, batch: Batch, user=None) -> Batch:
    return batch_transition(batch=batch, to_status=Batch.Status.POSTED, user=user)


# --- The current batch of a staff user ----------------------------------------------


@transaction.atomic
def current_batch_set(*, user, batch: Batch) -> Batch:
    """Make ``batch`` the current batch of ``user``. Only an Open batch can be chosen
    (``BatchClosed`` otherwise); the batch is share-locked while it is chosen, so it
    cannot be posted in between."""
    batch = lock_batch_for_writing(batch)
    CurrentBatch.objects.update_or_create(user=user, defaults={"batch": batch})
    return batch


def entry_batch(*, user, batch: Batch | None = None) -> Batch:
    """The batch an entry or adjustment of ``user`` goes into: ``batch`` when one was
    picked in the form, otherwise the user's current batch.

    Raises ``NoCurrentBatch`` when nothing was picked and the user has no current batch,
    or when it no longer takes transactions (ready, posted or deleted). Nothing is
    locked here: the service that writes into the batch locks it (and refuses a batch
    that is not Open)."""
    if batch is not None:
        return batch
    chosen = CurrentBatch.objects.select_related("batch").filter(user=user).first() if user else None
    if chosen is None:
        raise NoCurrentBatch("Choose a batch: you have no current batch (choose one in the header, or pick one here).")
    if not chosen.batch.accepts_transactions:
        raise NoCurrentBatch(
            f"Your current batch {chosen.batch.number} is {chosen.batch.get_status_display().lower()} and takes no "
            "more transactions: choose another current batch, or pick an open batch here."
        )
    return chosen.batch
