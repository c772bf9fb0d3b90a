"""Hypothesis stateful test: any sequence of invoices, payments (auto-applied or to
named lines) and reversals keeps every balance equal to what the applications and
the journal say."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from finance.models import Invoice, InvoiceLine, JournalLine, Payment, PaymentApplication
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory, LedgerSetup

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2)
DAY = datetime.date(2026, 2, 1)


def _sum(qs, field="amount"):
    return qs.aggregate(s=Sum(field))["s"] or Decimal("0")


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.ledger = LedgerSetup.build()
        self.contacts = [ContactFactory() for _ in range(3)]
        self.batch = BatchFactory()
        self.day = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _date(self):
        self.day += 1
        return DAY + datetime.timedelta(days=self.day)

    @rule(who=st.integers(0, 2), parts=st.lists(amounts, min_size=1, max_size=3))
    def invoice(self, who, parts):
        invoice_create(
            bill_to=self.contacts[who],
            entity=self.ledger.entity,
            batch=self.batch,
            date=self._date(),
            lines=[LineSpec(product=self.ledger.dues, unit_price=p) for p in parts],
        )

    @rule(who=st.integers(0, 2), amount=amounts)
    def pay_auto(self, who, amount):
        payment_receive(
            payer=self.contacts[who],
            method=self.ledger.check_method,
            amount=amount,
            date=self._date(),
            batch=self.batch,
        )

    @precondition(lambda self: InvoiceLine.objects.filter(balance__gt=0).exists())
    @rule(data=st.data())
    def pay_named_line(self, data):
        line = data.draw(st.sampled_from(list(InvoiceLine.objects.filter(balance__gt=0).order_by("pk"))))
        part = data.draw(st.decimals(min_value=Decimal("0.01"), max_value=line.balance, places=2))
        extra = data.draw(st.sampled_from([Decimal("0"), Decimal("5.00")]))
        payment_receive(
            payer=line.invoice.bill_to,
            method=self.ledger.cash_method,
            amount=part + extra,
            date=self._date(),
            batch=self.batch,
            applications=[ApplicationSpec(line, part)],
        )

    @precondition(lambda self: Payment.objects.filter(status=Payment.Status.POSTED).exists())
    @rule(data=st.data())
    def reverse(self, data):
        payment = data.draw(st.sampled_from(list(Payment.objects.filter(status=Payment.Status.POSTED).order_by("pk"))))
        payment_reverse(payment=payment, batch=self.batch, date=self._date(), reason="bounced")

    @invariant()
    def balances_match_applications_and_journal(self):
        for line in InvoiceLine.objects.all():
            assert line.balance == line.amount - _sum(PaymentApplication.objects.filter(line=line))
        for inv in Invoice.objects.all():
            assert inv.balance == _sum(inv.lines.all(), "balance")
        for p in Payment.objects.all():
            expected = p.amount if p.status == Payment.Status.POSTED else Decimal("0")
            assert _sum(p.applications.all()) == expected == p.amount_applied
        led = self.ledger

        def gl(account):
            return _sum(JournalLine.objects.filter(account=account), "debit") - _sum(
                JournalLine.objects.filter(account=account), "credit"
            )

        ar_lines = InvoiceLine.objects.filter(invoice__type=Invoice.Type.REGULAR)
        assert gl(led.ar) == _sum(ar_lines, "balance")
        assert gl(led.unapplied) == _sum(InvoiceLine.objects.filter(invoice__type=Invoice.Type.CREDIT), "balance")
        assert gl(led.cash) == _sum(Payment.objects.filter(status=Payment.Status.POSTED))
        assert _sum(JournalLine.objects.all(), "debit") == _sum(JournalLine.objects.all(), "credit")


@pytest.mark.django_db
def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=15, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
