"""Subscription API packages: submit (validated whole), process in a task, report.

Rules kept here:
- A package is a client key and a list of items (member, member type, term begin/end,
  optional amount, optional payment: method, reference). The package is checked as a
  whole when submitted: a malformed package (no items, a term ending before it begins,
  a negative amount, repeated items) is refused with every problem named by item and
  field, and nothing is stored.
- The client's key makes submitting idempotent: the same key and the same content return
  the existing package (nothing billed twice); the same key with other content is refused.
- Processing bills each pending item in its own transaction (``term_bill``, then a payment
  of what is left open when a payment is given) into the package's Open batch; an item
  that breaks a rule (unknown member or member type, two active subscriptions, an
  overlapping term) is marked with the error and nothing of it is written. Items already
  done are skipped, so processing twice bills nothing twice.
"""

import datetime
import hashlib
import json
import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.task_queue import send_task_on_commit
from finance.errors import FinanceError
from finance.jobs import Job
from finance.membership.dues_import import check_term_row, pay_invoice
from finance.membership.models import SubscriptionPackage, SubscriptionPackageItem, Term
from finance.membership.services import term_bill
from finance.models import Payment
from finance.money import DECIMAL_PLACES, MAX_DIGITS, quantize
from finance.services.batches import batch_create

# Amounts must fit a money column (MAX_DIGITS digits, DECIMAL_PLACES of them decimals).
MAX_AMOUNT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)


class PackageError(FinanceError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class PackageConflict(FinanceError):
    pass


def _canonical(invoice_date, items: list[dict]) -> str:
    """The content a package key stands for: its invoice date and its items."""
    payload = {"invoice_date": invoice_date, "items": items}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def package_submit(*, key: str, invoice_date, items: list[dict], user=None) -> tuple[SubscriptionPackage, bool]:
    """Store a package and queue its processing after commit. Returns (package, created).

    ``items`` are dicts: party_id, member_type, term_begin, term_end (dates), amount
    (Decimal or None), payment (None or a dict: method, reference)."""
    key = (key or "").strip()
    problems = []
    if not key:
        problems.append("key: required.")
    if not items:
        problems.append("items: at least one item is required.")
    seen = {}
    for i, item in enumerate(items):
        label = f"items[{i}]"
        if item["term_end"] < item["term_begin"]:
            problems.append(
                f"{label}.term_end: the term ends ({item['term_end']}) before it begins ({item['term_begin']})."
            )
        if item.get("amount") is not None and item["amount"] < 0:
            problems.append(f"{label}.amount: cannot be negative ({item['amount']}).")
        elif item.get("amount") is not None and item["amount"] >= MAX_AMOUNT:
            problems.append(f"{label}.amount: {item['amount']} is more than a money column holds.")
        pay = item.get("payment")
        if pay is not None and not (pay.get("method") or "").strip():
            problems.append(f"{label}.payment.method: required when a payment is given.")
        ident = (str(item["party_id"]).strip(), item["term_begin"], item["term_end"])
        if ident in seen:
            problems.append(f"{label}: repeats items[{seen[ident]}] (same member and term).")
        seen.setdefault(ident, i)
    if problems:
        raise PackageError(problems)
    digest = _canonical(invoice_date, items)
    existing = SubscriptionPackage.objects.filter(key=key).first()
    if existing is not None:
        if existing.payload_sha256 != digest:
            raise PackageConflict(f"Package key {key!r} was used for other content (package {existing.pk}).")
        if existing.status != SubscriptionPackage.Status.DONE:
            # Sent again while not done: its processing may have stopped (a worker killed,
            # a message lost). Queue it again; items already billed are skipped, and two
            # runs at once bill each item once (item row locks).
            _queue_processing(existing.pk)
        return existing, False
    try:
        with transaction.atomic():
            package = SubscriptionPackage.objects.create(
                key=key, payload_sha256=digest, invoice_date=invoice_date, item_count=len(items), submitted_by=user
            )
            SubscriptionPackageItem.objects.bulk_create(
                SubscriptionPackageItem(
                    package=package,
                    position=i,
                    party_id=str(item["party_id"]).strip()[:40],
                    member_type_code=str(item["member_type"]).strip()[:40],
                    term_begin=item["term_begin"],
                    term_end=item["term_end"],
                    amount=None if item.get("amount") is None else quantize(item["amount"]),
                    payment_method=((item.get("payment") or {}).get("method") or "").strip()[:20],
                    payment_reference=((item.get("payment") or {}).get("reference") or "").strip()[:100],
                )
                for i, item in enumerate(items)
            )
            _queue_processing(package.pk)
    except IntegrityError:  # the same key submitted at the same moment
        existing = SubscriptionPackage.objects.get(key=key)
        if existing.payload_sha256 != digest:
            raise PackageConflict(f"Package key {key!r} was used for other content (package {existing.pk}).") from None
        return existing, False
    return package, True


logger = logging.getLogger(__name__)
# Held by a processing run for as long as it runs (PostgreSQL session advisory lock): a
# package not done whose lock is free has no run; a killed worker's lock goes with it.
LOCK_PACKAGE = 0x4D50
PROCESSING = Job(
    "Subscription API package",
    LOCK_PACKAGE,
    SubscriptionPackage,
    SubscriptionPackage.Status.PROCESSING,
    progress_field=None,
)
LOCK_WAIT_SECONDS = 10.0
# A package queued or processing for longer than this with no run is queued again.
STALE_AFTER = datetime.timedelta(minutes=15)


def _queue_processing(package_id: int) -> None:
    send_task_on_commit("membership.process_subscription_package", package_id)


def package_process(*, package_id: int, wait: float = LOCK_WAIT_SECONDS) -> SubscriptionPackage:
    """Bill the pending items (see module doc). Safe to run twice. While another run
    holds the package's lock this waits up to ``wait`` seconds for it (a killed worker's
    session may take a moment to end), then leaves the package to that run."""
    return PROCESSING.run(
        package_id,
        lambda: _process_holding_lock(package_id),
        wait=wait,
        busy=lambda: SubscriptionPackage.objects.get(pk=package_id),
    )


def packages_recover(*, stale_after: datetime.timedelta = STALE_AFTER, now=None) -> list[int]:
    """Queue again the packages left not done by a run that stopped (a worker killed, a
    message lost): submitted more than ``stale_after`` ago and, on PostgreSQL, with no run
    holding their lock. Returns their ids. Safe to run twice: a package queued twice is
    billed once (the lock, and each item's row lock)."""
    cutoff = (now or timezone.now()) - stale_after
    stuck = SubscriptionPackage.objects.exclude(status=SubscriptionPackage.Status.DONE).filter(created_at__lt=cutoff)
    queued = []
    for package_id in stuck.order_by("pk").values_list("pk", flat=True):
        with PROCESSING.lock(package_id) as free:
            if not free:
                continue
        with transaction.atomic():
            _queue_processing(package_id)
        queued.append(package_id)
    if queued:
        logger.warning("Subscription API packages %s had stopped before they were done; queued again", queued)
    return queued


def _process_holding_lock(package_id: int) -> SubscriptionPackage:
    with transaction.atomic():
        package = SubscriptionPackage.objects.select_for_update().get(pk=package_id)
        if package.status == SubscriptionPackage.Status.DONE:
            return package
        if package.batch_id is None:
            package.batch = batch_create(
                date=package.invoice_date, description=f"Subscription API package {package.key}"[:200]
            )
        package.status = SubscriptionPackage.Status.PROCESSING
        package.save(update_fields=["batch", "status"])
    for item in package.items.filter(status=SubscriptionPackageItem.Status.PENDING).order_by("position"):
        _process_item(package, item)
    counts = {s: package.items.filter(status=s).count() for s in SubscriptionPackageItem.Status.values}
    SubscriptionPackage.objects.filter(pk=package.pk).update(
        status=SubscriptionPackage.Status.DONE,
        created_count=counts["created"],
        error_count=counts["error"],
        finished_at=timezone.now(),
    )
    package.refresh_from_db()
    return package


def _process_item(package: SubscriptionPackage, item: SubscriptionPackageItem) -> None:
    label = f"items[{item.position}]"
    try:
        with transaction.atomic():
            item = SubscriptionPackageItem.objects.select_for_update().get(pk=item.pk)
            if item.status != SubscriptionPackageItem.Status.PENDING:
                return
            problems, resolved = check_term_row(
                party_id=item.party_id,
                member_type_code=item.member_type_code,
                term_begin=item.term_begin,
                term_end=item.term_end,
                amount=item.amount,
                payment_method=item.payment_method,
                label=label,
            )
            if problems:
                raise PackageError(problems)
            billed = term_bill(
                subscription=resolved["subscription"],
                batch=package.batch,
                invoice_date=package.invoice_date,
                term_begin=item.term_begin,
                term_end=item.term_end,
                fee_amount=item.amount,
                source=Term.Source.API,
            )
            numbers = [billed.invoice.number]
            if item.payment_method and billed.invoice.balance > 0:
                pay_invoice(
                    invoice=billed.invoice,
                    method=resolved["method"],
                    reference=item.payment_reference,
                    batch=package.batch,
                    date=package.invoice_date,
                    source=Payment.Source.API,
                )
            item.status = SubscriptionPackageItem.Status.CREATED
            item.invoice_numbers = ",".join(numbers)
            item.error = ""
            item.save(update_fields=["status", "invoice_numbers", "error"])
    except FinanceError as exc:
        message = str(exc)
        if not message.startswith(label):
            message = f"{label}: {message}"
        SubscriptionPackageItem.objects.filter(pk=item.pk, status=SubscriptionPackageItem.Status.PENDING).update(
            status=SubscriptionPackageItem.Status.ERROR, error=message[:2000]
        )
