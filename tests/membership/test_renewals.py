"""Renewal runs: who is billed and who is skipped, preview, delete, post."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from audit.context import Actor, acting_as
from audit.models import AuditEvent
from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.membership.models import RenewalItem, RenewalRun, Subscription, Term
from finance.membership.renewals import renewal_run_build, renewal_run_delete, renewal_run_post, renewal_run_start
from finance.membership.services import term_bill
from finance.models import Batch, Invoice, InvoiceLine
from finance.services.payments import payment_receive
from finance.signals import invoices_created
from tests.factories import BatchFactory
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db
D = Decimal
DEC31 = datetime.date(2025, 12, 31)


@pytest.fixture
def members(ledger, member_types):
    reg, stu = member_types["REG"], member_types["STU"]
    m = {
        "ann": make_member(reg, DEC31, name="Ann Able", sort_name="Able, Ann"),
        "bob": make_member(stu, datetime.date(2025, 11, 30), name="Bob Baker", sort_name="Baker, Bob", term_months=6),
        "lapsed": make_member(reg, DEC31, status=Subscription.Status.LAPSED, name="Lee Lapsed", sort_name="Lapsed"),
        "two": make_member(reg, DEC31, name="Tia Two", sort_name="Two, Tia"),
        "renewed": make_member(reg, DEC31, name="Ray Renewed", sort_name="Renewed, Ray"),
        "later": make_member(reg, datetime.date(2026, 3, 31), name="Out Of Range", sort_name="Range"),
    }
    Subscription.objects.create(
        contact=m["two"][0], member_type=stu, join_date=datetime.date(2020, 1, 1), paid_through=DEC31
    )
    Subscription.objects.filter(pk=m["renewed"][1].pk).update(renewed_through=datetime.date(2026, 12, 31))
    return m


def start(member_type=None, **kw):
    run = renewal_run_start(
        effective_date=datetime.date(2026, 1, 1),
        invoice_date=datetime.date(2025, 12, 1),
        paid_through_from=datetime.date(2025, 11, 1),
        paid_through_to=datetime.date(2025, 12, 31),
        member_type=member_type,
    )
    return renewal_run_build(run=run, **kw)


def test_build__billed_and_skipped_with_reasons(members):
    run = start()

    assert run.status == RenewalRun.Status.READY
    billed = {i.contact.name: (i.term_begin, i.term_end, i.amount) for i in run.items.filter(skipped=False)}
    assert billed == {
        "Ann Able": (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31), D("300.00")),
        "Bob Baker": (datetime.date(2025, 12, 1), datetime.date(2026, 5, 31), D("50.00")),
    }
    skipped = {i.contact.name: i.reason for i in run.items.filter(skipped=True)}
    assert skipped == {
        "Lee Lapsed": "Subscription is lapsed",
        "Tia Two": "2 active subscriptions; expected exactly one",  # listed once per subscription
        "Ray Renewed": "Already renewed through 2026-12-31",
    }
    assert run.items.filter(contact__name="Tia Two").count() == 2
    assert (run.member_count, run.skipped_count, run.line_count, run.total) == (2, 4, 4, D("350.00"))
    ann_lines = list(
        run.items.get(contact__name="Ann Able").lines.values_list(
            "line_number", "product__code", "amount", "account__code"
        )
    )
    # The term begins after the invoice date: the dues go to deferred income.
    assert ann_lines == [
        (1, "ASSN-DUES", D("250.00"), "2400-00"),
        (2, "CHAPTER", D("30.00"), "4010-10"),
        (3, "JOURNAL", D("20.00"), "4000-10"),
    ]
    assert run.batch.status == Batch.Status.OPEN
    assert not Invoice.objects.exists()  # a preview: nothing invoiced yet


def test_build__member_type_filter_and_inactive_type(members, member_types):
    member_types["STU"].is_active = False
    member_types["STU"].save()
    run = start(member_type=member_types["STU"])
    assert {(i.contact.name, i.reason) for i in run.items.all()} == {
        ("Bob Baker", "Member type STU is inactive"),
        ("Tia Two", "Member type STU is inactive"),
    }


def test_a_member_in_an_open_run_is_not_billed_by_another(members):
    start()
    second = start()
    assert second.member_count == 0
    assert set(second.items.filter(contact__name="Ann Able").values_list("reason", flat=True)) == {
        "In another open renewal run"
    }


def _snapshot():
    return sorted(
        (
            inv.bill_to.name,
            inv.total,
            inv.balance,
            inv.type,
            inv.accounting_method,
            inv.description,
            tuple(
                inv.lines.order_by("line_number").values_list(
                    "line_number",
                    "product__code",
                    "amount",
                    "account__code",
                    "billing_begin",
                    "billing_end",
                    "description",
                )
            ),
        )
        for inv in Invoice.objects.exclude(type="credit")
    )


def test_post__writes_exactly_these_invoices(members):
    renewal_run_post(run=start())
    jan1, dec31, dec1, may31 = (
        datetime.date(2026, 1, 1),
        datetime.date(2026, 12, 31),
        datetime.date(2025, 12, 1),
        datetime.date(2026, 5, 31),
    )
    assert _snapshot() == [
        (
            "Ann Able",
            D("300.00"),
            D("300.00"),
            "membership",
            "cash",
            "Regular member 2026-01-01–2026-12-31",
            (
                (1, "ASSN-DUES", D("250.00"), "2400-00", jan1, dec31, "Annual dues 2026-01-01–2026-12-31"),
                (2, "CHAPTER", D("30.00"), "4010-10", jan1, dec31, "Chapter dues"),
                (3, "JOURNAL", D("20.00"), "4000-10", jan1, dec31, "Journal subscription"),
            ),
        ),
        (
            "Bob Baker",
            D("50.00"),
            D("50.00"),
            "membership",
            "cash",
            "Student member 2025-12-01–2026-05-31",
            ((1, "STU-DUES", D("50.00"), "4000-10", dec1, may31, "Student dues 2025-12-01–2026-05-31"),),
        ),
    ]


def test_post__audited_on_the_run_not_per_invoice(members):
    run = start()
    last = AuditEvent.objects.order_by("pk").last().pk

    with acting_as(Actor(None, "membership clerk")):
        run = renewal_run_post(run=run)

    events = AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(RenewalRun), object_id=str(run.pk), pk__gt=last
    ).order_by("pk")
    assert [(e.actor_name, e.changes) for e in events] == [
        ("membership clerk", {"status": ["ready", "posting"]}),
        ("membership clerk", {"status": ["posting", "posted"]}),
    ]
    # The invoices the run wrote in one statement are not events of their own.
    invoice_type = ContentType.objects.get_for_model(Invoice)
    assert not AuditEvent.objects.filter(content_type=invoice_type, pk__gt=last).exists()


def test_post__invoices_terms_dates_batch_posted_ledger_ok(ledger, members):
    ann, ann_sub = members["ann"]
    # Ann has 120.00 of open credit from an overpayment; it is applied to her renewal.
    payment_receive(
        payer=ann, method=ledger.check_method, amount="120.00", date=datetime.date(2025, 11, 1), batch=BatchFactory()
    )
    sent = []

    def receiver(sender, invoices, **kw):
        sent.append([i.pk for i in invoices])
        assert connection.in_atomic_block

    invoices_created.connect(receiver)
    try:
        run = renewal_run_post(run=start())
    finally:
        invoices_created.disconnect(receiver)

    assert run.status == RenewalRun.Status.POSTED and run.progress == 100
    assert run.batch.status == Batch.Status.POSTED
    invoices = Invoice.objects.filter(batch=run.batch, type="membership").order_by("pk")
    assert invoices.count() == 2
    assert all(n.isdigit() for n in invoices.values_list("number", flat=True))
    assert sorted(i for s in sent for i in s) == list(invoices.values_list("pk", flat=True))
    assert len(sent) == 1  # one signal for the whole run
    item = run.items.get(contact=ann)
    inv = item.invoice
    assert (inv.total, inv.balance, inv.accounting_method) == (D("300.00"), D("180.00"), "cash")
    assert inv.lines.get(line_number=1).balance == D("130.00")  # credit applied in line order
    assert run.credit_applied == D("120.00")
    assert Term.objects.get(invoice=inv).term_end == datetime.date(2026, 12, 31)
    ann_sub.refresh_from_db()
    assert ann_sub.renewed_through == datetime.date(2026, 12, 31)
    assert ann_sub.paid_through == DEC31  # the fee is not paid in full yet
    bob_sub = members["bob"][1]
    bob_sub.refresh_from_db()
    assert bob_sub.renewed_through == datetime.date(2026, 5, 31)
    # Skipped members got nothing.
    assert not Invoice.objects.filter(bill_to__name__in=["Lee Lapsed", "Tia Two", "Ray Renewed"]).exists()
    report = verify_ledger()
    assert report.ok, report.format()
    # Posting again changes nothing.
    assert renewal_run_post(run=run).status == RenewalRun.Status.POSTED
    assert Invoice.objects.filter(type="membership").count() == 2


def test_post__a_changed_price_is_refused_and_nothing_is_written(ledger, members):
    run = start()
    ledger.dues.price = D("260.00")
    ledger.dues.save()
    with pytest.raises(FinanceError, match="Annual|is no longer the price"):
        renewal_run_post(run=run)
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.READY and run.message.startswith("Not posted:")
    assert not Invoice.objects.exists() and not Term.objects.exists()
    assert run.batch.status == Batch.Status.OPEN


def test_post__a_member_billed_since_the_preview_is_refused_and_nothing_is_written(members):
    run = start()
    ann, sub = members["ann"]
    by_hand = term_bill(subscription=sub, batch=BatchFactory(), invoice_date=datetime.date(2025, 12, 2))
    with pytest.raises(FinanceError, match=rf"Member {ann.party_id}: .* overlaps the term .* {by_hand.invoice.number}"):
        renewal_run_post(run=run)
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.READY and run.message.startswith("Not posted:")
    assert list(Invoice.objects.filter(type="membership")) == [by_hand.invoice]
    assert Term.objects.count() == 1 and run.batch.status == Batch.Status.OPEN


def test_post__a_subscription_lapsed_since_the_preview_is_refused(members):
    run = start()
    bob, sub = members["bob"]
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.LAPSED)
    with pytest.raises(FinanceError, match=rf"Member {bob.party_id}: .*[Ll]apsed"):
        renewal_run_post(run=run)
    assert not Invoice.objects.exists() and not Term.objects.exists()


def test_delete__the_run_and_its_empty_batch(members):
    run = start()
    renewal_run_delete(run=run)
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.DELETED
    assert run.batch.status == Batch.Status.DELETED
    with pytest.raises(FinanceError, match="deleted; it cannot be posted"):
        renewal_run_post(run=run)
    # Members of a deleted run can be billed by a new one.
    assert start().member_count == 2


def test_posted_run_cannot_be_deleted(members):
    run = renewal_run_post(run=start())
    with pytest.raises(FinanceError, match="posted; it cannot be deleted"):
        renewal_run_delete(run=run)


def test_range_from_after_to_is_refused():
    with pytest.raises(FinanceError, match=r"Paid-through to \(2025-01-01\) is before paid-through from"):
        renewal_run_start(
            effective_date=datetime.date(2026, 1, 1),
            paid_through_from=datetime.date(2025, 12, 1),
            paid_through_to=datetime.date(2025, 1, 1),
        )
    assert not RenewalRun.objects.exists()


def test_paying_a_run_invoice_advances_paid_through(ledger, members):
    run = renewal_run_post(run=start())
    ann, sub = members["ann"]
    payment_receive(
        payer=ann, method=ledger.check_method, amount="300.00", date=datetime.date(2026, 1, 5), batch=BatchFactory()
    )
    sub.refresh_from_db()
    assert sub.paid_through == datetime.date(2026, 12, 31)
    assert InvoiceLine.objects.filter(invoice__in=Invoice.objects.filter(batch=run.batch), balance__gt=0).count() == 1
    assert Invoice.objects.get(batch=run.batch, bill_to=ann).balance == D("0.00")
    assert RenewalItem.objects.filter(run=run, invoice__isnull=False).count() == 2


def test_post__accrual_setting_posts_each_invoice(members):
    from finance.membership.models import MembershipSettings
    from finance.models import JournalEntry

    MembershipSettings.objects.update_or_create(pk=1, defaults={"accounting_method": "accrual"})
    run = renewal_run_post(run=start())
    ann_inv = run.items.get(contact__name="Ann Able").invoice
    entry = JournalEntry.objects.get(invoice=ann_inv, kind="invoice")
    legs = sorted(entry.lines.values_list("account__code", "debit", "credit"))
    assert legs == [
        ("1200-00", D("300.00"), D("0.00")),
        ("2400-00", D("0.00"), D("250.00")),
        ("4000-10", D("0.00"), D("20.00")),
        ("4010-10", D("0.00"), D("30.00")),
    ]
    assert entry.exclude_from_gl_export is False
    assert JournalEntry.objects.filter(kind="invoice", batch=run.batch).count() == 2
    report = verify_ledger()
    assert report.ok, report.format()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_of_one_run_post_it_once(members):
    import threading

    from django.db import connections

    run = start()
    outcomes = []
    barrier = threading.Barrier(2)

    def post():
        try:
            barrier.wait()
            outcomes.append(renewal_run_post(run=RenewalRun.objects.get(pk=run.pk)).status)
        except FinanceError as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("posted") >= 1
    assert all(o == "posted" or "is posting; it cannot be posted" in o for o in outcomes), outcomes
    assert Invoice.objects.filter(type="membership").count() == 2
    assert Term.objects.count() == 2
