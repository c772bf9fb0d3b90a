"""verify_ledger recomputes every stored balance and checks the posting invariants."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from finance.ledger_check import verify_ledger
from finance.models import (
    Batch,
    FinanceSettings,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
)
from finance.services.batches import batch_transition
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 1, 10)


@pytest.fixture
def books(ledger):
    """A small ledger written by the services: paid, partly paid, overpaid, reversed,
    cash-basis and deferred invoices, a credit invoice, and a posted batch."""
    alice, bob, carol = ContactFactory(), ContactFactory(), ContactFactory()
    batch = BatchFactory()
    paid = make_invoice(ledger, alice, batch, "100.00", "50.50")
    partly = make_invoice(ledger, bob, batch, "300.00", date=DAY + datetime.timedelta(days=1))
    membership = make_invoice(
        ledger, carol, batch, "80", accounting_method=Invoice.AccountingMethod.CASH, type=Invoice.Type.MEMBERSHIP
    )
    invoice_create(
        bill_to=carol,
        entity=ledger.entity,
        batch=batch,
        date=DAY,
        lines=[LineSpec(product=ledger.dues, billing_begin=datetime.date(2026, 7, 1))],
    )
    payment_receive(payer=alice, method=ledger.check_method, amount="175.75", date=DAY, batch=batch, reference="1001")
    payment_receive(
        payer=bob,
        method=ledger.cash_method,
        amount="120",
        date=DAY,
        batch=batch,
        applications=[ApplicationSpec(partly.lines.get(), D("120"))],
    )
    bounced = payment_receive(payer=carol, method=ledger.check_method, amount="500", date=DAY, batch=batch)
    payment_reverse(payment=bounced, batch=BatchFactory(), date=DAY, reason="NSF")
    payment_receive(payer=carol, method=ledger.cash_method, amount="80", date=DAY, batch=batch)

    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": True})
    posted = batch_create_posted(ledger, alice)
    return {"paid": paid, "partly": partly, "membership": membership, "bounced": bounced, "posted": posted}


def batch_create_posted(ledger, contact):
    from finance.services.batches import batch_create, batch_set_controls

    batch = batch_create(date=DAY, description="Posted")
    make_invoice(ledger, contact, batch, "40")
    payment_receive(payer=contact, method=ledger.cash_method, amount="40", date=DAY, batch=batch)
    batch_set_controls(batch=batch, control_count=2, control_amount="40.00")
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    return batch_transition(batch=batch, to_status=Batch.Status.POSTED)


def run_command(*args):
    out = StringIO()
    call_command("verify_ledger", *args, stdout=out)
    return out.getvalue()


def run_failing(*args):
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("verify_ledger", *args, stdout=out)
    assert exc.value.returncode == 1
    return out.getvalue()


def failed(report):
    return {c.name: c for c in report.checks if not c.ok}


def test_verify_ledger__clean_books_exit_0_with_summary(books):
    output = run_command()
    counts = (
        Invoice.objects.count(),
        InvoiceLine.objects.count(),
        Payment.objects.count(),
        JournalEntry.objects.count(),
    )
    assert output.strip() == (
        f"Checked {counts[0]} invoices, {counts[1]} lines, {counts[2]} payments, {counts[3]} journal entries: ledger OK"
    )
    report = verify_ledger()
    assert report.ok and report.mismatch_count == 0
    assert Invoice.objects.filter(type=Invoice.Type.CREDIT).exists()  # the books hold an open credit
    assert Payment.objects.filter(status=Payment.Status.REVERSED).count() == 1


def test_verify_ledger__verbose_lists_every_check(books):
    output = StringIO()
    call_command("verify_ledger", verbosity=2, stdout=output)
    text = output.getvalue()
    assert "[ ok ] Invoice line balances" in text
    assert "[ ok ] Posted batches' actual count and amount" in text
    assert "[FAIL]" not in text


def test_verify_ledger__tampered_line_balance_names_the_invoice_line(books):
    line = books["partly"].lines.get()
    InvoiceLine.objects.filter(pk=line.pk).update(balance=D("170.00"))
    output = run_failing()
    assert f"Invoice {books['partly'].number} line 1 (line id {line.pk}): balance stored 170.00, recomputed 180.00" in (
        output
    )
    assert "[FAIL] Invoice line balances = amount - applications: 1 mismatch" in output
    # The stored invoice balance still agrees with its applications: only the line is named.
    assert set(failed(verify_ledger())) == {"line_balances"}
    assert output.strip().splitlines()[-1].endswith(": 1 mismatch in 1 check")


def test_verify_ledger__tampered_invoice_balance_names_the_invoice(books):
    inv = books["paid"]
    Invoice.objects.filter(pk=inv.pk).update(balance=D("10.00"))
    output = run_failing()
    assert f"Invoice {inv.number} (id {inv.pk}): balance stored 10.00, recomputed 0.00" in output
    assert set(failed(verify_ledger())) == {"invoice_totals"}


def test_verify_ledger__tampered_invoice_total_is_reported(books):
    inv = books["membership"]
    Invoice.objects.filter(pk=inv.pk).update(total=D("90.00"))
    output = run_failing()
    assert f"Invoice {inv.number} (id {inv.pk}): total stored 90.00, recomputed 80.00" in output


def test_verify_ledger__tampered_amount_applied_names_the_payment(books):
    payment = Payment.objects.get(amount=D("175.75"))
    Payment.objects.filter(pk=payment.pk).update(amount_applied=D("150.00"))
    output = run_failing()
    assert f"Payment {payment.pk} (posted, 175.75): amount_applied stored 150.00, recomputed 175.75" in output
    assert set(failed(verify_ledger())) == {"payments"}


def test_verify_ledger__posted_payment_not_fully_applied_is_reported(books):
    payment = Payment.objects.get(amount=D("120.00"))
    Payment.objects.filter(pk=payment.pk).update(amount=D("130.00"))
    report = verify_ledger()
    assert set(failed(report)) == {"payments", "payment_postings"}
    details = [m.detail for m in failed(report)["payments"].mismatches]
    assert details == ["posted payment of 130.00 has applications adding up to 120.00"]
    assert failed(report)["payment_postings"].mismatches[0].detail == (
        "cash account debited 120.00 net by its entries, expected 130.00"
    )


def test_verify_ledger__reversed_payment_must_net_to_zero(books):
    bounced = books["bounced"]
    Payment.objects.filter(pk=bounced.pk).update(status=Payment.Status.POSTED, reversed_at=None, reversal_date=None)
    report = verify_ledger()
    assert "payments" in failed(report)
    assert failed(report)["payments"].mismatches[0].subject == f"Payment {bounced.pk} (posted, 500.00)"


def test_verify_ledger__unbalanced_journal_entry_is_reported(books, ledger):
    # The entry is written and checked inside a savepoint that is then rolled back, so
    # the deferred balance trigger (which would refuse it at commit) never runs: what a
    # restore with triggers off could leave, which is what verify_ledger is for.
    with transaction.atomic():
        entry = JournalEntry.objects.create(batch=BatchFactory(), date=DAY, kind=JournalEntry.Kind.ADJUSTMENT)
        JournalLine.objects.create(entry=entry, account=ledger.cash, debit=D("10.00"))
        JournalLine.objects.create(entry=entry, account=ledger.income, credit=D("9.99"))
        empty = JournalEntry.objects.create(batch=entry.batch, date=DAY, kind=JournalEntry.Kind.ADJUSTMENT)
        output = run_failing()
        report = verify_ledger()
        transaction.set_rollback(True)
    assert f"Journal entry {entry.pk} (adjustment, 2026-01-10): USD debits 10.00, credits 9.99, difference 0.01" in (
        output
    )
    assert f"Journal entry {empty.pk} (adjustment, 2026-01-10): has no lines" in output
    assert set(failed(report)) == {"journal_balanced", "journal_has_lines"}
    assert verify_ledger().ok


def test_verify_ledger__ar_posting_without_invoice_breaks_ar_invariant(books, ledger):
    entry = JournalEntry.objects.create(batch=BatchFactory(), date=DAY, kind=JournalEntry.Kind.ADJUSTMENT)
    JournalLine.objects.bulk_create(
        [
            JournalLine(entry=entry, account=ledger.ar, debit=D("25.00")),
            JournalLine(entry=entry, account=ledger.income, credit=D("25.00")),
        ]
    )
    report = verify_ledger()
    assert set(failed(report)) == {"ar_balance"}
    (mismatch,) = failed(report)["ar_balance"].mismatches
    assert mismatch.subject == f"Entity {ledger.entity.code}"
    assert "difference 25.00" in mismatch.detail


def test_verify_ledger__unapplied_cash_must_match_open_credits(books, ledger):
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT, balance__lt=0)
    assert credit.balance == D("-25.25")
    entry = JournalEntry.objects.create(batch=BatchFactory(), date=DAY, kind=JournalEntry.Kind.ADJUSTMENT)
    JournalLine.objects.bulk_create(
        [
            JournalLine(entry=entry, account=ledger.unapplied, debit=D("5.00")),
            JournalLine(entry=entry, account=ledger.cash, credit=D("5.00")),
        ]
    )
    report = verify_ledger()
    assert set(failed(report)) == {"unapplied_cash"}
    assert failed(report)["unapplied_cash"].mismatches[0].detail == (
        "unapplied cash accounts hold 20.25 (CR - DR), credit invoices' balances sum to -25.25 (expected 25.25 held)"
    )


def test_verify_ledger__accrual_invoice_without_entry_and_cash_invoice_with_one(books):
    membership = books["membership"]
    paid = books["paid"]
    Invoice.objects.filter(pk=membership.pk).update(accounting_method=Invoice.AccountingMethod.ACCRUAL)
    Invoice.objects.filter(pk=paid.pk).update(accounting_method=Invoice.AccountingMethod.CASH)
    report = verify_ledger()
    details = {m.subject.split(" (")[0]: m.detail for m in failed(report)["invoice_postings"].mismatches}
    assert details == {
        f"Invoice {membership.number}": "has no invoice journal entry",
        f"Invoice {paid.number}": "has 1 invoice journal entry, expected none",
    }


def test_verify_ledger__posted_batch_without_controls_reported_only_when_required(books, ledger):
    FinanceSettings.objects.filter(pk=1).update(require_balanced_batches=False)
    batch = BatchFactory(description="Posted without controls")
    make_invoice(ledger, ContactFactory(), batch, "10")
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    batch_transition(batch=batch, to_status=Batch.Status.POSTED)
    report = verify_ledger()
    assert report.ok
    assert next(c for c in report.checks if c.name == "batch_controls").skipped

    FinanceSettings.objects.filter(pk=1).update(require_balanced_batches=True)
    output = run_failing()
    assert f"Batch {batch.number} (posted): count 1 vs control none; amount 0.00 vs control none" in output
    assert books["posted"].number not in output  # the balanced posted batch passes


def test_verify_ledger__limit_caps_the_listing_not_the_count(books):
    lines = InvoiceLine.objects.exclude(invoice__type=Invoice.Type.CREDIT).order_by("pk")
    assert lines.count() >= 5
    for line in lines:
        InvoiceLine.objects.filter(pk=line.pk).update(balance=line.balance - D("1.00"))
    n = lines.count()
    output = run_failing("--limit", "2")
    assert f"[FAIL] Invoice line balances = amount - applications: {n} mismatches" in output
    assert output.count("balance stored") == 2
    assert f"... and {n - 2} more (raise --limit to list them)" in output


def test_verify_ledger__limit_must_be_positive():
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--limit", "0")


def test_verify_ledger__kept_contact_balance_out_of_step_names_the_contact(books):
    from django.db import connection

    bob = books["partly"].bill_to
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reporting_contactbalance SET receivable = receivable + 1 WHERE contact_id = %s", [bob.pk]
        )
    report = verify_ledger()
    assert set(failed(report)) == {"contact_balances"}
    (check,) = [c for c in report.checks if c.name == "contact_balances"]
    assert check.count == 1
    assert check.mismatches[0].subject == f"Contact id {bob.pk} in USD"
    assert check.mismatches[0].detail == (
        "kept receivable 181.00 (1), credit 0.00 (0); invoices receivable 180.00 (1), credit 0.00 (0)"
    )


def test_verify_ledger__kept_balance_of_a_day_out_of_step_names_the_currency_and_date(books):
    from django.db import connection

    from finance.reporting.models import OpenBalanceByDate

    day = books["partly"].date
    row = OpenBalanceByDate.objects.get(currency="USD", date=day)
    assert (row.receivable, row.receivable_count, row.credit, row.credit_count) == (D("180.00"), 1, D("0.00"), 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reporting_openbalancebydate SET credit = credit - 2, credit_count = credit_count + 1 "
            "WHERE currency = 'USD' AND date = %s",
            [day],
        )
    report = verify_ledger()
    assert set(failed(report)) == {"contact_balances"}
    (check,) = [c for c in report.checks if c.name == "contact_balances"]
    assert check.count == 1
    assert check.mismatches[0].subject == f"USD invoices dated {day.isoformat()}"
    assert check.mismatches[0].detail == (
        "kept receivable 180.00 (1), credit -2.00 (1); invoices receivable 180.00 (1), credit 0.00 (0)"
    )
    # A day missing from the kept rows is a mismatch too, and the command lists it.
    OpenBalanceByDate.objects.filter(currency="USD", date=day).delete()
    (check,) = [c for c in verify_ledger().checks if c.name == "contact_balances"]
    assert [m.detail for m in check.mismatches] == ["kept none; invoices receivable 180.00 (1), credit 0.00 (0)"]
    output = run_failing()
    assert f"USD invoices dated {day.isoformat()}: kept none;" in output


def test_verify_ledger__rows_naming_rows_that_are_not_there_are_listed_and_exit_1(books):
    """The foreign keys refuse such rows, but a restore or a bulk load that turns their
    triggers off (session_replication_role = replica) does not go through them."""
    from django.db import connection

    payment = Payment.objects.filter(status=Payment.Status.POSTED).order_by("pk").first()
    line = InvoiceLine.objects.filter(product__isnull=False).order_by("pk").first()
    missing = 987_654_321
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE finance_payment SET payer_id = %s WHERE id = %s", [missing, payment.pk])
        cursor.execute("UPDATE finance_invoiceline SET product_id = %s WHERE id = %s", [missing + 1, line.pk])
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    report = verify_ledger()
    assert set(failed(report)) == {"orphans"}
    (check,) = [c for c in report.checks if c.name == "orphans"]
    assert check.count == 2
    assert [(m.subject, m.detail) for m in check.mismatches] == [
        (
            f"Invoice line {line.pk}",
            f"product names product id {missing + 1}, which does not exist "
            "(finance_invoiceline.product_id → finance_product.id)",
        ),
        (
            f"Payment {payment.pk}",
            f"payer names contact id {missing}, which does not exist (finance_payment.payer_id → finance_contact.id)",
        ),
    ]
    (capped,) = [c for c in verify_ledger(limit=1).checks if c.name == "orphans"]
    assert (capped.count, [m.subject for m in capped.mismatches]) == (2, [f"Invoice line {line.pk}"])
    output = run_failing()
    assert "[FAIL] References name rows that exist (no orphan rows): 2 mismatches" in output
    assert f"Payment {payment.pk}: payer names contact id {missing}, which does not exist" in output
