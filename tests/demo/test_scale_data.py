"""generate_scale_data: a large ledger written with COPY that keeps every invariant."""

import datetime

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from finance.ledger_check import verify_ledger
from finance.models import (
    Batch,
    Contact,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    JournalEntry,
    Payment,
    PaymentApplication,
    Refund,
)

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 11, 30)


def test_generate_scale_data__counts_shape_and_a_clean_ledger(capsys):
    call_command("generate_scale_data", "--invoices", "3000", "--today", TODAY.isoformat(), "--seed", "3")
    out = capsys.readouterr().out
    assert "Scale data written" in out

    regular = Invoice.objects.exclude(type=Invoice.Type.CREDIT)
    assert regular.count() == 3000
    assert 500 <= Contact.objects.count() <= 700
    assert Contact.objects.filter(kind=Contact.Kind.ORGANIZATION).exists()
    lines = InvoiceLine.objects.filter(invoice__in=regular).count()
    assert 1.85 * 3000 <= lines <= 2.15 * 3000
    assert 0.75 * 3000 <= Payment.objects.count() <= 0.95 * 3000
    assert regular.filter(balance__gt=0).exists() and regular.filter(balance=0).exists()

    # Open credits from every source, in small proportions.
    credits = Invoice.objects.filter(type=Invoice.Type.CREDIT, balance__lt=0)
    for prefix in ("Unapplied rest of payment", "Prepayment", "Payment ", "Invoice "):
        assert credits.filter(description__startswith=prefix).exists(), prefix
    assert credits.count() <= 0.06 * 3000
    # Bounced payments: reversed, their lines reopened, their entry reversed.
    bounced = Payment.objects.filter(status=Payment.Status.REVERSED)
    assert 0.005 * 3000 <= bounced.count() <= 0.03 * 3000
    assert not bounced.exclude(amount_applied=0).exists()
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.PAYMENT_REVERSAL, reversal_of__isnull=False).count() == (
        bounced.count()
    )
    assert PaymentApplication.objects.filter(kind=PaymentApplication.Kind.REVERSAL, payment__in=bounced).exists()
    # Cancelled invoices (credit memos): adjusted to zero, with a reversal entry each.
    cancelled = regular.filter(reversed_at__isnull=False)
    assert cancelled.exists() and not cancelled.exclude(balance=0).exists()
    assert InvoiceAdjustment.objects.filter(invoice__in=cancelled).count() == (
        InvoiceLine.objects.filter(invoice__in=cancelled).count()
    )
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.INVOICE_REVERSAL).count() == cancelled.count()
    # Refunds return the whole credit a payment holds, recorded only.
    refunds = Refund.objects.all()
    assert refunds.exists()
    assert not refunds.exclude(mode=Refund.Mode.RECORD_ONLY, status=Refund.Status.SUCCEEDED).exists()
    assert not Invoice.objects.filter(refunds__isnull=False).exclude(balance=0).exists()
    assert Payment.objects.filter(refunded_amount__gt=0).count() == refunds.count()
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.REFUND).count() == refunds.count()
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.UNAPPLY).exists()

    # Old batches are posted with controls that match what they hold; recent ones stay open.
    cutoff = TODAY - datetime.timedelta(days=14)
    assert not Batch.objects.filter(date__lt=cutoff).exclude(status=Batch.Status.POSTED).exists()
    assert Batch.objects.filter(date__gte=cutoff, status=Batch.Status.OPEN).exists()
    posted = (
        Batch.objects.filter(status=Batch.Status.POSTED)
        .annotate(
            n_inv=Count("invoices", filter=~Q(invoices__type=Invoice.Type.CREDIT), distinct=True),
            n_pay=Count("payments", distinct=True),
        )
        .order_by("pk")[:50]
    )
    for batch in posted:
        assert batch.control_count == batch.n_inv + batch.n_pay, batch.number

    report = verify_ledger()
    assert report.ok, report.format()


def test_generate_scale_data__refused_off_postgresql_or_for_nothing():
    from django.core.management.base import CommandError

    with pytest.raises((CommandError, ValueError), match="at least 1"):
        call_command("generate_scale_data", "--invoices", "0")
