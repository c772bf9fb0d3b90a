import datetime

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from finance.errors import (
    AlreadyReversed,
    BatchClosed,
    BatchOutOfBalance,
    InvalidAmount,
    InvalidTransition,
    OverApplication,
)
from finance.models import Batch, FinanceSettings, Invoice, InvoiceLine, JournalEntry, JournalLine, Payment
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db


def journal_balance(account):
    agg = JournalLine.objects.filter(account=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (agg["d"] or D(0)) - (agg["c"] or D(0))


def test_invoice_create__numbers_lines_and_posts_ar_against_income(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100.00", "50.50")
    assert inv.total == inv.balance == D("150.50")
    assert inv.number.isdigit() and inv.number != str(inv.pk)
    assert [ln.balance for ln in inv.lines.all()] == [D("100.00"), D("50.50")]
    assert journal_balance(ledger.ar) == D("150.50")
    assert journal_balance(ledger.income) == D("-150.50")
    second = make_invoice(ledger, contact, batch, "10")
    assert int(second.number) == int(inv.number) + 1


def test_invoice_create__number_skips_numbers_already_used(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    first = make_invoice(ledger, contact, batch, "10")
    # Numbers kept by another writer (an import keeping its own): the next free one is taken.
    taken = [str(int(first.number) + k) for k in (1, 2, 4)]
    for number in taken:
        make_invoice(ledger, contact, batch, "10", number=number)
    assert make_invoice(ledger, contact, batch, "10").number == str(int(first.number) + 3)
    assert make_invoice(ledger, contact, batch, "10").number == str(int(first.number) + 5)
    # More than the window searched in one statement: the search goes on past it.
    start = int(first.number) + 6
    for k in range(150):
        make_invoice(ledger, contact, batch, "10", number=str(start + k))
    assert make_invoice(ledger, contact, batch, "10").number == str(start + 150)


def test_invoice_create__entry_description_names_the_number_cut_to_its_column(ledger):
    contact, batch = ContactFactory(name="N" * 190, sort_name="N"), BatchFactory()
    make_invoice(ledger, contact, batch, "10")  # the number sequence's first row
    inv = make_invoice(ledger, contact, batch, "10")
    entry = JournalEntry.objects.get(invoice=inv)
    assert entry.description == f"Invoice {inv.number} – {contact.name}"[:200]
    assert entry.lines.get(debit__gt=0).description == f"Invoice {inv.number}"


def test_invoice_create__line_billed_ahead_credits_deferred_income(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    invoice_create(
        bill_to=contact,
        entity=ledger.entity,
        batch=batch,
        date=datetime.date(2026, 1, 1),
        lines=[
            LineSpec(
                product=ledger.dues, billing_begin=datetime.date(2026, 7, 1), billing_end=datetime.date(2027, 6, 30)
            )
        ],
    )
    assert journal_balance(ledger.deferred) == D("-250.00")
    assert journal_balance(ledger.income) == D("0")


def test_invoice_create__cash_basis_posts_nothing_until_paid(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(
        ledger, contact, batch, "80", accounting_method=Invoice.AccountingMethod.CASH, type=Invoice.Type.MEMBERSHIP
    )
    assert not JournalEntry.objects.filter(invoice=inv).exists()
    payment_receive(payer=contact, method=ledger.cash_method, amount="80", date=inv.date, batch=batch)
    entry = JournalEntry.objects.get(kind=JournalEntry.Kind.PAYMENT)
    assert entry.exclude_from_gl_export
    assert journal_balance(ledger.income) == D("-80.00")
    assert journal_balance(ledger.ar) == D("0")


def test_payment_receive__auto_apply_oldest_invoice_first_and_closes_each_line(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    newer = make_invoice(ledger, contact, batch, "100", date=datetime.date(2026, 3, 1))
    older = make_invoice(ledger, contact, batch, "60", "40", date=datetime.date(2026, 1, 1))
    payment = payment_receive(payer=contact, method=ledger.check_method, amount="130", date=newer.date, batch=batch)
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.balance == D("0.00")
    assert newer.balance == D("70.00")
    assert list(payment.applications.values_list("invoice_id", "amount")) == [
        (older.pk, D("60.00")),
        (older.pk, D("40.00")),
        (newer.pk, D("30.00")),
    ]
    assert journal_balance(ledger.cash) == D("130.00")
    assert journal_balance(ledger.ar) == D("70.00")


def test_payment_receive__residual_becomes_open_credit_invoice(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100")
    payment = payment_receive(payer=contact, method=ledger.cash_method, amount="125.55", date=inv.date, batch=batch)
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert credit.bill_to == contact and credit.balance == D("-25.55") and credit.is_open_credit
    assert payment.amount_applied == payment.amount
    assert payment.applications.aggregate(s=Sum("amount"))["s"] == D("125.55")
    assert journal_balance(ledger.unapplied) == D("-25.55")


def test_payment_receive__applies_to_named_lines_only(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    older = make_invoice(ledger, contact, batch, "100", date=datetime.date(2026, 1, 1))
    chosen = make_invoice(ledger, contact, batch, "100", date=datetime.date(2026, 2, 1))
    payment_receive(
        payer=contact,
        method=ledger.cash_method,
        amount="100",
        date=chosen.date,
        batch=batch,
        applications=[ApplicationSpec(chosen.lines.get(), D("100"))],
    )
    older.refresh_from_db()
    chosen.refresh_from_db()
    assert (older.balance, chosen.balance) == (D("100.00"), D("0.00"))


@pytest.mark.parametrize("amount", ["0", "-5.00", "0.001"])
def test_payment_receive__refuses_zero_or_negative_and_writes_nothing(ledger, amount):
    contact, batch = ContactFactory(), BatchFactory()
    make_invoice(ledger, contact, batch, "100")
    with pytest.raises(InvalidAmount, match="greater than zero"):
        payment_receive(payer=contact, method=ledger.cash_method, amount=amount, date=batch.date, batch=batch)
    assert Payment.objects.count() == 0


def test_payment_receive__more_than_line_balance_refused_and_nothing_written(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100")
    entries_before = JournalEntry.objects.count()
    with pytest.raises(OverApplication, match=r"Invoice \d+ line 1: 100.01 is more than its open balance 100.00"):
        payment_receive(
            payer=contact,
            method=ledger.cash_method,
            amount="150",
            date=inv.date,
            batch=batch,
            applications=[ApplicationSpec(inv.lines.get(), D("100.01"))],
        )
    inv.refresh_from_db()
    assert inv.balance == D("100.00")
    assert Payment.objects.count() == 0 and JournalEntry.objects.count() == entries_before


def test_payment_receive__never_applies_to_zero_or_negative_lines(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100")
    payment_receive(payer=contact, method=ledger.cash_method, amount="100", date=inv.date, batch=batch)
    with pytest.raises(OverApplication, match="no open balance"):
        payment_receive(
            payer=contact,
            method=ledger.cash_method,
            amount="10",
            date=inv.date,
            batch=batch,
            applications=[ApplicationSpec(inv.lines.get(), D("10"))],
        )
    # Auto apply skips the closed line: all of it becomes credit.
    payment_receive(payer=contact, method=ledger.cash_method, amount="10", date=inv.date, batch=batch)
    assert Invoice.objects.get(type=Invoice.Type.CREDIT).balance == D("-10.00")


def test_payment_reverse__reopens_lines_and_reverses_postings(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100")
    payment = payment_receive(payer=contact, method=ledger.check_method, amount="120", date=inv.date, batch=batch)
    reversal_batch = BatchFactory()
    payment_reverse(payment=payment, batch=reversal_batch, date=inv.date, reason="Bounced check")
    inv.refresh_from_db()
    payment.refresh_from_db()
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert inv.balance == D("100.00") and inv.lines.get().balance == D("100.00")
    assert credit.balance == D("0.00")
    assert payment.status == Payment.Status.REVERSED and payment.amount_applied == D("0")
    assert journal_balance(ledger.cash) == D("0") and journal_balance(ledger.ar) == D("100.00")
    assert JournalEntry.objects.filter(batch=reversal_batch, kind=JournalEntry.Kind.PAYMENT_REVERSAL).count() == 1
    with pytest.raises(AlreadyReversed):
        payment_reverse(payment=payment, batch=reversal_batch, date=inv.date)


def test_batch_post__requires_controls_matching_actuals(ledger):
    contact = ContactFactory()
    batch = batch_create(
        date=datetime.date(2026, 1, 10), description="Checks", control_count=2, control_amount=D("100.00")
    )
    inv = make_invoice(ledger, contact, batch, "100")
    payment_receive(payer=contact, method=ledger.check_method, amount="90", date=inv.date, batch=batch)
    totals = batch_totals(batch)
    assert (totals.count, totals.amount) == (2, D("90.00"))
    with pytest.raises(InvalidTransition, match="cannot go from Open to Posted"):
        batch_transition(batch=batch, to_status=Batch.Status.POSTED)
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    with pytest.raises(BatchOutOfBalance, match=r"amount 90.00 ≠ control 100.00"):
        batch_transition(batch=batch, to_status=Batch.Status.POSTED)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.READY
    with pytest.raises(BatchClosed):
        make_invoice(ledger, contact, batch, "5")
    batch_set_controls(batch=batch, control_count=2, control_amount="90.00")
    posted = batch_transition(batch=batch, to_status=Batch.Status.POSTED)
    assert posted.status == Batch.Status.POSTED and posted.posted_at


def test_batch_post__controls_not_required_when_setting_off(ledger):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    batch = BatchFactory()
    make_invoice(ledger, ContactFactory(), batch, "100")
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    assert batch_transition(batch=batch, to_status=Batch.Status.POSTED).status == Batch.Status.POSTED


def test_posted_batch__takes_no_transactions_and_cannot_move(ledger):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    contact, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, contact, batch, "100")
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    batch_transition(batch=batch, to_status=Batch.Status.POSTED)
    with pytest.raises(BatchClosed):
        make_invoice(ledger, contact, batch, "5")
    with pytest.raises(BatchClosed):
        payment_receive(payer=contact, method=ledger.cash_method, amount="5", date=inv.date, batch=batch)
    for status in (Batch.Status.OPEN, Batch.Status.DELETED, Batch.Status.READY):
        with pytest.raises(InvalidTransition):
            batch_transition(batch=batch, to_status=status)


def test_batch_delete__only_while_empty(ledger):
    empty, used, cash_basis = BatchFactory(), BatchFactory(), BatchFactory()
    make_invoice(ledger, ContactFactory(), used, "100")
    # A cash-basis invoice writes no journal entry, yet its batch is not empty.
    make_invoice(ledger, ContactFactory(), cash_basis, "100", accounting_method=Invoice.AccountingMethod.CASH)
    assert batch_transition(batch=empty, to_status=Batch.Status.DELETED).status == Batch.Status.DELETED
    for batch in (used, cash_basis):
        with pytest.raises(InvalidTransition, match="holds transactions"):
            batch_transition(batch=batch, to_status=Batch.Status.DELETED)


def test_constraints__line_balance_cannot_exceed_amount(ledger):
    inv = make_invoice(ledger, ContactFactory(), BatchFactory(), "100")
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=inv).update(balance=D("100.01"))


def test_constraints__payment_amount_positive(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(payer=contact, method=ledger.cash_method, amount="5", date=batch.date, batch=batch)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(amount=D("0"))
