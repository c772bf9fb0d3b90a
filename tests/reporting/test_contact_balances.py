"""Per-contact open balances kept by PostgreSQL triggers on the invoices: after every
kind of balance change, by the services and by raw SQL, they equal the sums over the
invoices; the AR aging and open credit pages read them and stay exact."""

import datetime
import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse

from core.models import Module
from finance.models import Invoice, PaymentMethod
from finance.reporting import selectors
from finance.reporting.models import ContactBalance
from finance.services.adjustments import invoice_reverse
from finance.services.credits import credit_apply, payment_unapply, refund_record
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import D

JAN = datetime.date(2026, 1, 10)


def assert_kept():
    count, rows = selectors.contact_balance_mismatches()
    assert count == 0, rows


def kept(contact) -> tuple:
    row = ContactBalance.objects.get(contact=contact, currency="USD")
    return row.receivable, row.receivable_count, row.credit, row.credit_count


@pytest.mark.django_db
def test_kept_balances__follow_every_service_that_moves_a_balance(ledger):
    PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT)
    alice, bob = ContactFactory(), ContactFactory()
    batch = BatchFactory()
    first = make_invoice(ledger, alice, batch, "100.00", "50.00")
    second = make_invoice(ledger, alice, batch, "80.00")
    make_invoice(ledger, bob, batch, "30.00")
    assert kept(alice) == (D("230.00"), 2, D("0.00"), 0)
    assert_kept()

    # Paid in part, then overpaid into an open credit.
    part = payment_receive(payer=alice, method=ledger.check_method, amount="60.00", date=JAN, batch=batch)
    assert kept(alice) == (D("170.00"), 2, D("0.00"), 0)
    over = payment_receive(payer=alice, method=ledger.check_method, amount="200.00", date=JAN, batch=batch)
    assert kept(alice) == (D("0.00"), 0, D("-30.00"), 1)
    assert_kept()
    # The overpayment reversed (a returned check): lines reopen, the credit goes.
    payment_reverse(payment=over, batch=batch, date=JAN, reason="Returned")
    assert kept(alice) == (D("170.00"), 2, D("0.00"), 0)
    # Unapplied: the money moves to a credit.
    payment_unapply(payment=part, batch=batch, date=JAN)
    assert kept(alice) == (D("230.00"), 2, D("-60.00"), 1)
    assert_kept()
    # Credit used on an open invoice, then the rest of it refunded.
    (credit,) = Invoice.objects.filter(bill_to=alice, balance__lt=0)
    credit_apply(
        credit_invoice=credit, applications=[ApplicationSpec(line=second.lines.get(), amount=D("20.00"))],
        batch=batch, date=JAN,
    )  # fmt: skip
    assert kept(alice) == (D("210.00"), 2, D("-40.00"), 1)
    refund_record(payment=part, credit_invoice=credit, batch=batch, date=JAN)
    assert kept(alice) == (D("210.00"), 2, D("0.00"), 0)
    # A paid invoice cancelled: what was paid becomes credit, the charge goes.
    payment_receive(payer=bob, method=ledger.cash_method, amount="30.00", date=JAN, batch=batch)
    (bobs,) = Invoice.objects.filter(bill_to=bob, type=Invoice.Type.REGULAR)
    invoice_reverse(invoice=bobs, batch=batch, date=JAN, reason="Cancelled")
    assert kept(bob) == (D("0.00"), 0, D("-30.00"), 1)
    invoice_reverse(invoice=first, batch=batch, date=JAN)
    assert kept(alice) == (D("60.00"), 1, D("0.00"), 0)
    assert_kept()


@pytest.mark.django_db
def test_kept_balances__follow_raw_sql_moves_and_deletes(ledger):
    alice, bob = ContactFactory(), ContactFactory()
    batch = BatchFactory()
    inv = make_invoice(ledger, alice, batch, "75.00")
    make_invoice(ledger, alice, batch, "25.00")
    with connection.cursor() as cursor:
        # Billed to someone else, then a balance change and a currency change in one statement.
        cursor.execute("UPDATE finance_invoice SET bill_to_id = %s WHERE id = %s", [bob.pk, inv.pk])
        assert kept(bob) == (D("75.00"), 1, D("0.00"), 0) and kept(alice) == (D("25.00"), 1, D("0.00"), 0)
        cursor.execute("UPDATE finance_invoice SET description = 'no balance change'")
        assert_kept()
    loose = Invoice.objects.create(
        number="X-1", entity=ledger.entity, bill_to=bob, sold_to=bob, date=JAN, due_date=JAN, currency="USD",
        batch=batch, total=D("0.00"), balance=D("-5.00"), type=Invoice.Type.CREDIT,
    )  # fmt: skip
    assert kept(bob) == (D("75.00"), 1, D("-5.00"), 1)
    loose.delete()
    assert kept(bob) == (D("75.00"), 1, D("0.00"), 0)
    assert_kept()


@pytest.mark.django_db(transaction=True)
def test_kept_balances__exact_when_payments_of_one_contact_commit_side_by_side(ledger):
    alice = ContactFactory()
    batch = BatchFactory()
    invoices = [make_invoice(ledger, alice, batch, "10.00") for _ in range(8)]
    errors = []

    def pay(invoice):
        try:
            with transaction.atomic():
                payment_receive(
                    payer=alice, method=ledger.cash_method, amount="10.00", date=JAN, batch=batch,
                    applications=[ApplicationSpec(line=invoice.lines.get(), amount=D("10.00"))],
                )  # fmt: skip
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(inv,)) for inv in invoices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert kept(alice) == (D("0.00"), 0, D("0.00"), 0)
    assert_kept()


@pytest.fixture
def reader(django_user_model, grant):
    user = django_user_model.objects.create_user("reader", password="pw-reader-123", is_staff=True)
    return grant(user, Module.FINANCE, 2)


@pytest.mark.django_db
def test_report_pages__read_the_kept_balances_exactly_and_in_order(ledger, client, reader):
    batch = BatchFactory()
    contacts = [ContactFactory(name=f"Member {n:02d}") for n in range(60)]
    for n, contact in enumerate(contacts):
        make_invoice(ledger, contact, batch, str(10 + n % 7), date=JAN - datetime.timedelta(days=n * 3))
        if n % 4 == 0:
            payment_receive(payer=contact, method=ledger.cash_method, amount="40.00", date=JAN, batch=batch)
    client.force_login(reader)
    as_of = datetime.date.today()
    grouped = list(selectors.ar_aging_by_contact(as_of))
    pages = [client.get(reverse("reporting:report_ar_aging")).context]
    shown = list(pages[0]["page"].object_list)
    keys = ["bill_to_id", "total", "invoice_count", "oldest"] + [k for k, *_ in selectors.AGING_BUCKETS]
    # Same rows and figures as grouping every invoice; ties on the total by contact id.
    assert [tuple(r[k] for k in keys) for r in shown] == [
        tuple(r[k] for k in keys) for r in sorted(grouped, key=lambda r: (-r["total"], r["bill_to_id"]))
    ]
    (totals,) = pages[0]["totals"]
    assert totals["contact_count"] == 45 and totals["total"] == sum(r["total"] for r in grouped)
    credits = client.get(reverse("reporting:report_open_credits")).context
    held = sorted(selectors.open_credits_by_contact(), key=lambda r: (-r["held"], r["bill_to_id"]))
    assert [(r["bill_to_id"], r["held"], r["since"]) for r in credits["page"].object_list] == [
        (r["bill_to_id"], r["held"], r["since"]) for r in held
    ]
    (credit_totals,) = credits["totals"]
    assert credit_totals["contact_count"] == 15 and credit_totals["held"] == sum(r["held"] for r in held)
    assert credit_totals["credit_count"] == 15
