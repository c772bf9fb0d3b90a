"""What a batch holds: every kind of transaction recorded in it, listed on its page with
the rows its control count takes and those it leaves out, in figures that agree with
the batch list and the controls (``batch_totals``)."""

import datetime
import re

import pytest
from django.urls import reverse

from finance.errors import InvalidTransition
from finance.models import Batch, Invoice, Payment, PaymentMethod
from finance.selectors import batch_contents, batch_with_figures
from finance.services.adjustments import invoice_reverse
from finance.services.batches import batch_holds_anything, batch_totals, batch_transition, current_batch_set
from finance.services.credits import credit_apply, refund_record, refund_start
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, card_method, make_invoice

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 1, 15)


@pytest.fixture
def clerk(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def opencredit(ledger):
    return PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT)


@pytest.fixture
def full_batch(ledger, opencredit):
    """One batch holding every kind of transaction, as a day of staff work does."""
    batch = BatchFactory(number="260115-1", date=DAY)
    other = BatchFactory(number="260101-1", date=datetime.date(2026, 1, 1))
    ann, bob, cy = ContactFactory(name="Ann"), ContactFactory(name="Bob"), ContactFactory(name="Cy")
    inv = make_invoice(ledger, ann, batch, "250.00", date=DAY)  # an invoice: 250.00 charged
    paid = payment_receive(payer=ann, method=ledger.check_method, amount="300.00", date=DAY, batch=batch)
    # 250.00 applied, 50.00 held on a credit invoice (not in the count)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=paid)
    target = make_invoice(ledger, bob, other, "40.00", date=DAY)
    bob_credit_payment = payment_receive(
        payer=bob, method=ledger.check_method, amount="60.00", date=DAY, batch=other, auto_apply=False
    )
    bob_credit = Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=bob_credit_payment)
    credit_apply(  # open credit used: 40.00, a payment of the batch
        credit_invoice=bob_credit, applications=[ApplicationSpec(target.lines.get(), D("40.00"))], batch=batch, date=DAY
    )
    bounced = payment_receive(payer=cy, method=ledger.check_method, amount="75.00", date=DAY, batch=other)
    payment_reverse(payment=bounced, batch=batch, date=DAY, reason="NSF")  # a reversal: -75.00
    refund_record(payment=paid, credit_invoice=credit, batch=batch, date=DAY)  # a refund: -50.00
    cancelled = make_invoice(ledger, cy, other, "120.00", date=DAY)
    invoice_reverse(invoice=cancelled, batch=batch, date=DAY, reason="Cancelled")  # an adjustment: -120.00
    return batch, inv


def test_batch_contents__every_kind_and_the_counted_ones_agree_with_batch_totals(full_batch):
    batch, _ = full_batch
    contents = {row.key: (row.count, row.amount, row.counted) for row in batch_contents(batch).rows}
    assert contents == {
        "invoices": (1, D("250.00"), "count"),
        "credit_invoices": (1, D("50.00"), ""),
        "payments": (1, D("300.00"), "count and amount"),
        "credit_used": (1, D("40.00"), "count and amount"),
        "reversals": (1, D("-75.00"), ""),
        "refunds": (1, D("-50.00"), ""),
        "adjustments": (1, D("-120.00"), ""),
    }
    totals = batch_totals(batch)
    summary = batch_contents(batch)
    assert summary.counted == totals.count == 3
    assert summary.listed == 7 and summary.not_counted == 4
    assert contents["payments"][1] + contents["credit_used"][1] == totals.amount
    assert contents["invoices"][1] == totals.charges
    [row] = batch_with_figures([Batch.objects.get(pk=batch.pk)])
    assert (row.actual_count, row.cash_total, row.charges, row.other_count) == (
        totals.count,
        totals.amount,
        totals.charges,
        summary.not_counted,
    )


def test_batch_holds_anything__a_refund_or_a_reversal_alone_keeps_a_batch(ledger, manager_user):
    payer = ContactFactory()
    other = BatchFactory()
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="30", date=DAY, batch=other)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    refunds_only = BatchFactory()
    refund_record(payment=payment, credit_invoice=credit, batch=refunds_only, date=DAY)
    empty = BatchFactory()
    assert batch_holds_anything(refunds_only) and not batch_holds_anything(empty)
    with pytest.raises(InvalidTransition, match="holds transactions"):
        batch_transition(batch=refunds_only, to_status=Batch.Status.DELETED)
    # A pending processor refund posts nothing yet, but it is held by its batch.
    second = payment_receive(payer=payer, method=card_method(ledger), amount="20", date=DAY, batch=other)
    Payment.objects.filter(pk=second.pk).update(processor_charge_id="ch_1")
    second.refresh_from_db()
    pending_only = BatchFactory()
    second_credit = Invoice.objects.filter(type=Invoice.Type.CREDIT).exclude(pk=credit.pk).get()
    refund_start(payment=second, credit_invoice=second_credit, batch=pending_only, date=DAY)
    with pytest.raises(InvalidTransition, match="holds transactions"):
        batch_transition(batch=pending_only, to_status=Batch.Status.DELETED)
    assert batch_transition(batch=empty, to_status=Batch.Status.DELETED).status == Batch.Status.DELETED


def test_batch_page__lists_everything_it_holds_with_both_counts(clerk, full_batch, staff_user):
    batch, inv = full_batch
    html = clerk.get(reverse("finance:batch_detail", args=[batch.pk])).content.decode()
    for testid in ("batch-invoices", "batch-payments", "batch-reversals", "batch-refunds", "batch-adjustments"):
        assert f'data-testid="{testid}"' in html
    assert 'data-testid="batch-actual-count">3<' in html
    assert 'data-testid="batch-rows-listed">7<' in html and 'data-testid="batch-rows-counted">3<' in html
    assert ">-75.00<" in html and ">-50.00<" in html and ">-120.00<" in html
    # Staff may add transactions into it, or make it their current batch.
    assert f"{reverse('finance:invoice_new')}?batch={batch.pk}" in html
    assert f"{reverse('finance:payment_new')}?batch={batch.pk}" in html
    assert "Make it my current batch" in html
    current_batch_set(user=staff_user, batch=batch)
    html = clerk.get(reverse("finance:batch_detail", args=[batch.pk])).content.decode()
    assert 'data-testid="batch-is-current"' in html and "Make it my current batch" not in html
    # The batch list says the same: 3 counted, 4 more rows not counted.
    listing = clerk.get(reverse("finance:batch_list")).content.decode().split("<tbody", 1)[1]
    row = listing.split(f">{batch.number}</a>", 1)[1].split("</tr>", 1)[0]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    # Control count, actual count, control amount, actual amount (cash), charges, not counted.
    assert cells[-6:] == ["", "3", "", "340.00", "250.00", "4"]
