"""Join and term billing: the invoice, its lines, paid-through, credit auto-apply."""

import datetime
from decimal import Decimal

import pytest

from finance.ledger_check import verify_ledger
from finance.membership.models import MembershipSettings, Subscription, Term
from finance.membership.services import MembershipError, membership_join, term_bill
from finance.models import Invoice, JournalEntry, Payment, PaymentApplication
from finance.services.adjustments import invoice_reverse
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db
D = Decimal
JAN1 = datetime.date(2026, 1, 1)


def test_join__cash_invoice_with_a_line_per_product_and_billing_dates(member_types, batch):
    person = ContactFactory()
    billed = membership_join(contact=person, member_type=member_types["REG"], batch=batch, join_date=JAN1)

    inv = billed.invoice
    assert inv.number.isdigit()
    assert (inv.type, inv.accounting_method, inv.source) == ("membership", "cash", "membership_billing")
    assert inv.total == inv.balance == D("300.00")
    lines = list(
        inv.lines.order_by("line_number").values_list("product__code", "amount", "billing_begin", "billing_end")
    )
    end = datetime.date(2026, 12, 31)
    assert lines == [
        ("ASSN-DUES", D("250.00"), JAN1, end),
        ("CHAPTER", D("30.00"), JAN1, end),
        ("JOURNAL", D("20.00"), JAN1, end),
    ]
    assert not JournalEntry.objects.filter(invoice=inv).exists()  # cash basis: nothing posted when invoiced
    sub = Subscription.objects.get(contact=person)
    assert sub.renewed_through == end
    assert sub.paid_through == datetime.date(2025, 12, 31)  # not paid yet
    assert billed.term.primary_line.line_number == 1


def test_join__accrual_setting_posts_the_invoice(member_types, batch):
    MembershipSettings.objects.update_or_create(pk=1, defaults={"accounting_method": "accrual"})
    billed = membership_join(contact=ContactFactory(), member_type=member_types["STU"], batch=batch, join_date=JAN1)
    assert billed.invoice.accounting_method == "accrual"
    assert JournalEntry.objects.filter(invoice=billed.invoice, kind="invoice").count() == 1
    assert verify_ledger().ok


def test_paying_the_primary_fee_in_full_advances_paid_through(ledger, member_types, batch):
    person, sub = make_member(member_types["REG"], datetime.date(2025, 12, 31))
    billed = term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    fee = billed.invoice.lines.get(line_number=1)

    payment_receive(
        payer=person,
        method=ledger.check_method,
        amount="200.00",
        date=batch.date,
        batch=batch,
        applications=[ApplicationSpec(fee, D("200.00"))],
    )
    sub.refresh_from_db()
    assert sub.paid_through == datetime.date(2025, 12, 31)  # part of the fee: not yet

    pay = payment_receive(
        payer=person,
        method=ledger.check_method,
        amount="50.00",
        date=batch.date,
        batch=batch,
        applications=[ApplicationSpec(fee, D("50.00"))],
    )
    sub.refresh_from_db()
    assert sub.paid_through == datetime.date(2026, 12, 31)  # fee paid in full; other lines still open
    assert billed.invoice.lines.get(line_number=2).balance == D("30.00")

    payment_reverse(payment=pay, batch=batch, date=batch.date, reason="bounced")
    sub.refresh_from_db()
    assert sub.paid_through == datetime.date(2025, 12, 31)  # bounced: back
    assert verify_ledger().ok


def test_cash_membership_payment_is_excluded_from_the_gl_export(ledger, member_types, batch):
    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    billed = term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    pay = payment_receive(payer=person, method=ledger.cash_method, amount="50.00", date=batch.date, batch=batch)

    (entry,) = JournalEntry.objects.filter(payment=pay)
    assert entry.exclude_from_gl_export is True
    credited = list(entry.lines.filter(credit__gt=0).values_list("account__code", "credit"))
    assert credited == [("4000-10", D("50.00"))]  # cash / income, not AR
    billed.invoice.refresh_from_db()
    assert billed.invoice.balance == 0


def test_each_term_invoice_is_kept_and_paid_on_its_own(ledger, member_types, batch):
    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    first = term_bill(subscription=sub, batch=batch, invoice_date=batch.date).invoice
    second = term_bill(subscription=sub, batch=batch, invoice_date=batch.date).invoice

    assert [t.term_begin for t in Term.objects.filter(subscription=sub)] == [
        datetime.date(2026, 1, 1),
        datetime.date(2027, 1, 1),
    ]
    sub.refresh_from_db()
    assert sub.renewed_through == datetime.date(2027, 12, 31)
    payment_receive(
        payer=person,
        method=ledger.cash_method,
        amount="50.00",
        date=batch.date,
        batch=batch,
        applications=[ApplicationSpec(second.lines.get(), D("50.00"))],
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.balance, second.balance) == (D("50.00"), D("0.00"))

    invoice_reverse(invoice=first, batch=batch, date=batch.date, reason="waived")
    sub.refresh_from_db()
    second.refresh_from_db()
    assert second.reversed_at is None and second.balance == 0
    assert sub.paid_through == datetime.date(2027, 12, 31)
    assert verify_ledger().ok


def test_credit_auto_apply__reverse__credit_back__new_invoice_gets_it_again(ledger, member_types, batch):
    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    # An overpayment leaves 80.00 of open credit.
    payment_receive(payer=person, method=ledger.check_method, amount="80.00", date=batch.date, batch=batch)
    credit = Invoice.objects.get(bill_to=person, type="credit")
    assert credit.balance == D("-80.00")

    first = term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    assert first.credit_applied == D("50.00")
    first.invoice.refresh_from_db()
    credit.refresh_from_db()
    assert first.invoice.balance == 0 and credit.balance == D("-30.00")
    sub.refresh_from_db()
    assert sub.paid_through == datetime.date(2026, 12, 31)  # paid by credit
    use = Payment.objects.get(method__code="OPENCREDIT")
    assert JournalEntry.objects.get(payment=use).exclude_from_gl_export is True

    invoice_reverse(invoice=first.invoice, batch=batch, date=batch.date, reason="wrong type")
    credit.refresh_from_db()
    use.refresh_from_db()
    sub.refresh_from_db()
    assert credit.balance == D("-80.00")  # the credit is back
    assert use.status == Payment.Status.REVERSED
    assert sub.paid_through == sub.renewed_through == datetime.date(2025, 12, 31)

    again = term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    assert again.invoice.pk != first.invoice.pk
    assert again.term.term_begin == datetime.date(2026, 1, 1)  # the reversed term is billed again
    assert again.credit_applied == D("50.00")
    assert again.invoice.balance == 0
    credit.refresh_from_db()
    assert credit.balance == D("-30.00")
    assert PaymentApplication.objects.filter(invoice=again.invoice, kind="apply").count() == 1
    assert verify_ledger().ok


def test_member_with_two_active_subscriptions__clear_error_nothing_written(member_types, batch):
    person, sub = make_member(member_types["REG"], datetime.date(2025, 12, 31))
    Subscription.objects.create(
        contact=person, member_type=member_types["STU"], join_date=JAN1, paid_through=datetime.date(2025, 12, 31)
    )
    with pytest.raises(MembershipError, match=rf"Member {person.party_id} has 2 active subscriptions \(REG, STU\)"):
        term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    assert not Invoice.objects.exists() and not Term.objects.exists()


def test_term_end_before_begin__clear_error_nothing_written(member_types, batch):
    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    with pytest.raises(MembershipError, match=r"the term ends \(2025-06-30\) before it begins \(2026-01-01\)"):
        term_bill(
            subscription=sub,
            batch=batch,
            invoice_date=batch.date,
            term_begin=datetime.date(2026, 1, 1),
            term_end=datetime.date(2025, 6, 30),
        )
    assert not Invoice.objects.exists()


def test_overlapping_term_is_refused(member_types, batch):
    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    first = term_bill(subscription=sub, batch=batch, invoice_date=batch.date).invoice
    with pytest.raises(
        MembershipError, match=f"overlaps the term 2026-01-01–2026-12-31 billed on invoice {first.number}"
    ):
        term_bill(
            subscription=sub,
            batch=batch,
            invoice_date=batch.date,
            term_begin=datetime.date(2026, 6, 1),
            term_end=datetime.date(2027, 5, 31),
        )


def test_join_refused_for_a_contact_already_a_member(member_types, batch):
    person, _ = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    with pytest.raises(MembershipError, match="already has an active STU subscription"):
        membership_join(contact=person, member_type=member_types["REG"], batch=batch, join_date=JAN1)
    assert Subscription.objects.filter(contact=person).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_joins_of_one_contact_at_once_make_one_member(member_types):
    import threading

    from django.db import connections

    person = ContactFactory()
    batch = BatchFactory(date=JAN1)
    barrier = threading.Barrier(2)
    outcomes = []

    def join(code):
        try:
            barrier.wait()
            membership_join(contact=person, member_type=member_types[code], batch=batch, join_date=JAN1)
            outcomes.append("joined")
        except MembershipError as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=join, args=(code,)) for code in ("REG", "STU")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o if o == "joined" else "refused" for o in outcomes) == ["joined", "refused"], outcomes
    assert Subscription.objects.filter(contact=person, status=Subscription.Status.ACTIVE).count() == 1
    assert Invoice.objects.filter(bill_to=person).count() == 1


def test_other_batch_open_credit_from_a_company_is_not_taken(ledger, member_types, batch):
    """Only the member's own credit is applied automatically."""
    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    other = ContactFactory()
    payment_receive(payer=other, method=ledger.check_method, amount="80.00", date=batch.date, batch=BatchFactory())
    billed = term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    assert billed.credit_applied == 0 and billed.invoice.balance == D("50.00")


def test_unapply_and_refund_work_on_membership_invoices(ledger, member_types, batch):
    from finance.services.credits import payment_unapply, refund_record

    person, sub = make_member(member_types["STU"], datetime.date(2025, 12, 31))
    billed = term_bill(subscription=sub, batch=batch, invoice_date=batch.date)
    pay = payment_receive(payer=person, method=ledger.check_method, amount="50.00", date=batch.date, batch=batch)
    sub.refresh_from_db()
    assert sub.paid_through == datetime.date(2026, 12, 31)

    credit = payment_unapply(payment=pay, batch=batch, date=batch.date)
    billed.invoice.refresh_from_db()
    sub.refresh_from_db()
    assert billed.invoice.balance == D("50.00") and credit.balance == D("-50.00")
    assert sub.paid_through == datetime.date(2025, 12, 31)  # the fee is no longer paid
    unapply = JournalEntry.objects.get(payment=pay, kind="unapply")
    assert unapply.exclude_from_gl_export is True  # it moves cash-basis membership income

    refund_record(payment=pay, credit_invoice=credit, batch=batch, date=batch.date, reason="member left")
    credit.refresh_from_db()
    assert credit.balance == 0
    assert verify_ledger().ok
