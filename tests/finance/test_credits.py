"""Open credits: using them, unapplying payments into them, refunding them."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from finance.errors import FinanceError, LedgerMisconfigured, OverApplication
from finance.ledger_check import verify_ledger
from finance.models import GatewayAccount, Invoice, JournalLine, Payment, PaymentMethod, Refund
from finance.services.credits import (
    InsufficientCredit,
    credit_apply,
    payment_unapply,
    refund_finish,
    refund_record,
    refund_start,
)
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice


def gl(account):
    agg = JournalLine.objects.filter(account=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (agg["d"] or D(0)) - (agg["c"] or D(0))


@pytest.fixture
def opencredit(ledger):
    return PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT)


def prepay(ledger, contact, batch, amount):
    """A prepayment: a payment with nothing open becomes a credit invoice."""
    payment = payment_receive(payer=contact, method=ledger.check_method, amount=amount, date=batch.date, batch=batch)
    return payment, Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=payment)


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


@pytest.mark.django_db
def test_credit_apply__pays_the_line_draws_the_credit_and_posts_unapplied_to_ar(ledger, opencredit):
    holder, buyer, batch = ContactFactory(), ContactFactory(), BatchFactory()
    _, credit = prepay(ledger, holder, batch, "100")
    target = make_invoice(ledger, buyer, batch, "30")
    payment = credit_apply(
        credit_invoice=credit,
        applications=[ApplicationSpec(target.lines.get(), D("30"))],
        batch=batch,
        date=batch.date,
    )
    credit.refresh_from_db()
    target.refresh_from_db()
    assert (credit.balance, target.balance) == (D("-70.00"), D("0.00"))
    assert payment.method == opencredit and payment.payer == holder and payment.amount == D("30.00")
    assert gl(ledger.unapplied) == D("-70.00") and gl(ledger.ar) == D("0.00")
    assert_ledger_ok()


@pytest.mark.django_db
def test_credit_apply__more_than_available_refused_and_nothing_written(ledger, opencredit):
    holder, batch = ContactFactory(), BatchFactory()
    _, credit = prepay(ledger, holder, batch, "20")
    target = make_invoice(ledger, holder, batch, "30")
    payments = Payment.objects.count()
    with pytest.raises(InsufficientCredit, match=f"Credit invoice {credit.number} holds 20.00 of open credit; 30.00"):
        credit_apply(
            credit_invoice=credit,
            applications=[ApplicationSpec(target.lines.get(), D("30"))],
            batch=batch,
            date=batch.date,
        )
    with pytest.raises(OverApplication, match="more than its open balance"):
        credit_apply(
            credit_invoice=credit,
            applications=[ApplicationSpec(target.lines.get(), D("31"))],
            batch=batch,
            date=batch.date,
        )
    credit.refresh_from_db()
    assert credit.balance == D("-20.00") and Payment.objects.count() == payments


@pytest.mark.django_db
def test_credit_apply__refused_without_opencredit_method(ledger):
    holder, batch = ContactFactory(), BatchFactory()
    _, credit = prepay(ledger, holder, batch, "20")
    target = make_invoice(ledger, holder, batch, "10")
    with pytest.raises(LedgerMisconfigured, match="open credit"):
        credit_apply(
            credit_invoice=credit,
            applications=[ApplicationSpec(target.lines.get(), D("10"))],
            batch=batch,
            date=batch.date,
        )


@pytest.mark.django_db
def test_reversing_credit_use_restores_the_credit_and_source_payment_cannot_be_reversed_while_used(ledger, opencredit):
    holder, batch = ContactFactory(), BatchFactory()
    source, credit = prepay(ledger, holder, batch, "50")
    target = make_invoice(ledger, holder, batch, "40")
    use = credit_apply(
        credit_invoice=credit, applications=[ApplicationSpec(target.lines.get(), D("40"))], batch=batch, date=batch.date
    )
    with pytest.raises(FinanceError, match="has been used"):
        payment_reverse(payment=source, batch=batch, date=batch.date)
    payment_reverse(payment=use, batch=batch, date=batch.date, reason="wrong credit")
    credit.refresh_from_db()
    target.refresh_from_db()
    assert (credit.balance, target.balance) == (D("-50.00"), D("40.00"))
    assert_ledger_ok()
    payment_reverse(payment=source, batch=batch, date=batch.date, reason="bounced")
    credit.refresh_from_db()
    assert credit.balance == D("0.00")
    assert_ledger_ok()


@pytest.mark.django_db
def test_payment_unapply__reopens_lines_and_holds_the_money_as_credit(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    first, second = make_invoice(ledger, payer, batch, "60"), make_invoice(ledger, payer, batch, "40")
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="100", date=batch.date, batch=batch)
    credit = payment_unapply(payment=payment, batch=batch, date=batch.date)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.balance, second.balance, credit.balance) == (D("60.00"), D("40.00"), D("-100.00"))
    assert gl(ledger.ar) == D("100.00") and gl(ledger.unapplied) == D("-100.00")
    with pytest.raises(FinanceError, match="already open credit"):
        payment_unapply(payment=payment, batch=batch, date=batch.date)
    assert_ledger_ok()


@pytest.mark.django_db
def test_refund_record__in_parts_up_to_the_payment_then_zeroes_the_credit(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    payment, credit = prepay(ledger, payer, batch, "75")
    with pytest.raises(OverApplication, match="more than the 75.00"):
        refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date, amount="80")
    first = refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date, amount="70")
    assert first.amount == D("70.00")
    with pytest.raises(OverApplication, match="more than the 5.00"):
        refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date, amount="5.01")
    refund = refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date, reason="moved")
    credit.refresh_from_db()
    payment.refresh_from_db()
    assert refund.amount == D("5.00") and credit.balance == D("0.00")
    assert payment.refunded_amount == D("75.00") and payment.amount_applied == D("0.00")
    assert gl(ledger.unapplied) == D("0.00") and gl(ledger.refund_clearing) == D("-75.00")
    with pytest.raises(FinanceError, match="holds no open credit"):
        refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    with pytest.raises(FinanceError, match="has refunds"):
        payment_reverse(payment=payment, batch=batch, date=batch.date)
    assert_ledger_ok()


def card_prepay(ledger, contact, batch, amount, charge_id):
    """A card prepayment taken through a processor (its charge id recorded)."""
    gateway = GatewayAccount.objects.create(
        name=f"Sandbox {charge_id}", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity
    )
    visa = PaymentMethod.objects.create(
        code=f"V{charge_id[-6:]}",
        name="Visa",
        type=PaymentMethod.Type.CREDIT_CARD,
        cash_account=ledger.cash,
        gateway_account=gateway,
    )
    payment = payment_receive(
        payer=contact, method=visa, amount=amount, date=batch.date, batch=batch, processor_charge_id=charge_id
    )
    return payment, Invoice.objects.get(type=Invoice.Type.CREDIT, applications__payment=payment)


@pytest.mark.django_db
def test_refund_through_processor__two_phase_posts_once(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    check, check_credit = prepay(ledger, payer, batch, "40")
    Payment.objects.filter(pk=check.pk).update(processor_charge_id="ch_123")
    with pytest.raises(FinanceError, match="not a card payment taken through a processor"):
        refund_start(payment=check, credit_invoice=check_credit, batch=batch, date=batch.date)
    payment, credit = card_prepay(ledger, ContactFactory(), batch, "40", "ch_000123")
    refund = refund_start(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    assert refund.status == Refund.Status.PENDING and refund.idempotency_key and refund.amount == D("40.00")
    credit.refresh_from_db()
    assert credit.balance == D("-40.00")  # nothing moves until the processor answers
    with pytest.raises(FinanceError, match="being refunded already"):
        refund_start(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    with pytest.raises(FinanceError, match="being refunded already"):
        refund_record(payment=payment, credit_invoice=credit, batch=batch, date=batch.date, amount="1")
    refund_finish(refund=refund, succeeded=True, processor_refund_id="re_1")
    refund_finish(refund=refund, succeeded=True, processor_refund_id="re_1")  # a retry changes nothing
    credit.refresh_from_db()
    assert credit.balance == D("0.00")
    assert gl(ledger.cash) == D("40.00")  # the check's 40 stays; the card's 40 went back out
    assert_ledger_ok()


@pytest.mark.django_db
def test_refund_through_processor__failure_leaves_the_credit(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    payment, credit = card_prepay(ledger, payer, batch, "40", "ch_000009")
    refund = refund_start(payment=payment, credit_invoice=credit, batch=batch, date=batch.date)
    refund = refund_finish(refund=refund, succeeded=False, failure="card closed")
    credit.refresh_from_db()
    assert refund.status == Refund.Status.FAILED and credit.balance == D("-40.00")
    # A failed refund may be tried again.
    assert refund_start(payment=payment, credit_invoice=credit, batch=batch, date=batch.date).pk != refund.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_use__20_carts_never_use_more_than_the_credit(ledger, opencredit):
    holder, batch = ContactFactory(), BatchFactory()
    _, credit = prepay(ledger, holder, batch, "100")
    targets = [make_invoice(ledger, ContactFactory(), batch, "30").lines.get() for _ in range(20)]
    barrier = threading.Barrier(20)
    outcomes = []

    def use(line):
        try:
            barrier.wait(timeout=20)
            credit_apply(
                credit_invoice=credit, applications=[ApplicationSpec(line, D("30"))], batch=batch, date=batch.date
            )
            outcomes.append("ok")
        except InsufficientCredit:
            outcomes.append("refused")
        except Exception as exc:  # reported by the assertion below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=use, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 17
    credit.refresh_from_db()
    assert credit.balance == D("-10.00")
    used = Payment.objects.filter(method=opencredit).aggregate(s=Sum("amount"))["s"]
    assert used == Decimal("90.00")
    assert_ledger_ok()
