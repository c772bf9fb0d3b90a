"""A seeded simulation of the finance office: a random sequence of operations through the
services, with every ledger invariant (``verify_ledger``) checked after each step.

Short in CI (SIM_STEPS, default 80); long on demand, e.g.::

    SIM_STEPS=3000 SIM_SEED=42 pytest tests/reliability/test_simulation.py -p no:cacheprovider

A failure names the seed and the step, and the log of the steps before it, so that
``SIM_SEED=<seed> SIM_STEPS=<step>`` replays it. Refusals by the services (a rule said
no: nothing may change) are expected and counted; any other exception fails the run.
Each operation runs in its own transactions, as in production (committed, so the
deferred database checks run at every commit).
"""

import datetime
import io
import os
import random
from collections import Counter
from decimal import Decimal

import pytest

from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.models import Batch, Invoice, InvoiceLine, Payment
from finance.services.adjustments import invoice_reverse
from finance.services.ar_import import ar_import_post, ar_import_validate
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition
from finance.services.credits import credit_apply, credit_available, payment_unapply, refund_record, refundable
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from paycentral.models import Cart
from paycentral.services.cart import cart_add_product, cart_apply_own_credit, cart_start, cart_submit
from tests.factories import CompanyFactory, ContactFactory, ProductFactory
from tests.paycentral.test_cart_services import add_opencredit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = Decimal
START = datetime.date(2026, 1, 5)


def _steps() -> int:
    return int(os.environ.get("SIM_STEPS", "80"))


def _seed() -> int:
    return int(os.environ.get("SIM_SEED", str(random.SystemRandom().randrange(1, 10**6))))


class Office:
    """The state the simulation draws from, and one method per operation."""

    def __init__(self, rng: random.Random, ledger, user):
        self.rng = rng
        self.ledger = ledger
        self.user = user
        self.day = START
        companies = [CompanyFactory() for _ in range(3)]
        self.contacts = companies + [
            ContactFactory(company=rng.choice(companies) if rng.random() < 0.5 else None) for _ in range(9)
        ]
        self.products = [ledger.dues, ledger.event] + [
            ProductFactory(entity=ledger.entity, income_account=ledger.income, price=D(p)) for p in ("19.99", "75.00")
        ]
        add_opencredit("Staff")
        self.batch = batch_create(date=self.day, description="Simulation")

    # --- helpers -------------------------------------------------------------------

    def money(self, low=1, high=600) -> Decimal:
        return (D(self.rng.randrange(low * 100, high * 100)) / 100).quantize(D("0.01"))

    def tick(self):
        if self.rng.random() < 0.3:
            self.day += datetime.timedelta(days=1)
        return self.day

    def pick(self, qs):
        ids = list(qs.values_list("pk", flat=True)[:200])
        if not ids:
            return None
        return qs.model.objects.get(pk=self.rng.choice(ids))

    # --- operations ----------------------------------------------------------------

    def invoice(self):
        lines = [
            LineSpec(product=self.rng.choice(self.products), quantity=self.rng.choice([1, 1, 2]))
            for _ in range(self.rng.randint(1, 3))
        ]
        method = self.rng.choice([Invoice.AccountingMethod.ACCRUAL] * 4 + [Invoice.AccountingMethod.CASH])
        invoice_create(
            bill_to=self.rng.choice(self.contacts),
            entity=self.ledger.entity,
            batch=self.batch,
            lines=lines,
            date=self.tick(),
            accounting_method=method,
        )

    def pay_auto(self):
        payment_receive(
            payer=self.rng.choice(self.contacts),
            method=self.rng.choice([self.ledger.cash_method, self.ledger.check_method]),
            amount=self.money(),
            date=self.tick(),
            batch=self.batch,
        )

    def pay_line(self):
        line = self.pick(InvoiceLine.objects.filter(balance__gt=0, invoice__reversed_at__isnull=True))
        if line is None:
            return "nothing open"
        part = min(line.balance, self.money(1, 300))
        payment_receive(
            payer=line.invoice.bill_to,
            method=self.ledger.check_method,
            amount=part + self.rng.choice([D("0"), D("0"), D("10.00")]),
            date=self.tick(),
            batch=self.batch,
            applications=[ApplicationSpec(line, part)],
            auto_apply=False,
        )

    def reverse_payment(self):
        payment = self.pick(Payment.objects.filter(status=Payment.Status.POSTED).exclude(method__code="OPENCREDIT"))
        if payment is None:
            return "no payment"
        payment_reverse(payment=payment, batch=self.batch, date=max(self.tick(), payment.date), reason="Bounced")

    def unapply(self):
        payment = self.pick(Payment.objects.filter(status=Payment.Status.POSTED).exclude(method__code="OPENCREDIT"))
        if payment is None:
            return "no payment"
        payment_unapply(payment=payment, batch=self.batch, date=max(self.tick(), payment.date))

    def apply_credit(self):
        credit = self.pick(Invoice.objects.filter(balance__lt=0))
        line = self.pick(InvoiceLine.objects.filter(balance__gt=0, invoice__reversed_at__isnull=True))
        if credit is None or line is None:
            return "nothing to apply"
        amount = min(credit_available(credit), line.balance, self.money(1, 200))
        credit_apply(
            credit_invoice=credit,
            applications=[ApplicationSpec(line, amount)],
            batch=self.batch,
            date=max(self.tick(), credit.date, line.invoice.date),
        )

    def refund(self):
        credit = self.pick(Invoice.objects.filter(balance__lt=0, type=Invoice.Type.CREDIT))
        if credit is None:
            return "no credit"
        payment = (
            Payment.objects.filter(applications__invoice=credit, status=Payment.Status.POSTED)
            .exclude(method__code="OPENCREDIT")
            .first()
        )
        if payment is None or refundable(payment, credit) <= 0:
            return "nothing refundable"
        refund_record(
            payment=payment,
            credit_invoice=credit,
            batch=self.batch,
            date=max(self.tick(), credit.date),
            amount=refundable(payment, credit) if self.rng.random() < 0.5 else None,
            reason="Simulated refund",
        )

    def reverse_invoice(self):
        invoice = self.pick(Invoice.objects.filter(type=Invoice.Type.REGULAR, reversed_at__isnull=True))
        if invoice is None:
            return "no invoice"
        invoice_reverse(invoice=invoice, batch=self.batch, date=max(self.tick(), invoice.date), reason="Cancelled")

    def ar_import(self):
        rows = ["customer_id,amount,check_number,payer_name"]
        for i in range(self.rng.randint(1, 4)):
            contact = self.rng.choice(self.contacts)
            rows.append(f"{contact.party_id},{self.money(5, 400)},{self.rng.randrange(10**6)}{i},Sim payer")
        imp = ar_import_validate(
            fileobj=io.BytesIO(("\n".join(rows) + "\n").encode()),
            file_name="sim.csv",
            cash_account_code=self.ledger.cash.code,
            date=self.tick(),
        )
        if imp.status != imp.Status.VALIDATED:
            return f"import refused: {imp.errors[:1]}"
        ar_import_post(ar_import=imp)

    def cart(self):
        contact = self.rng.choice(self.contacts)
        cart = cart_start(user=self.user, contact=contact)
        for _ in range(self.rng.randint(1, 2)):
            cart_add_product(cart=cart, product=self.rng.choice(self.products))
        if self.rng.random() < 0.7:
            try:
                cart_apply_own_credit(user=self.user, cart=cart)
            except FinanceError:
                pass
        cart_submit(user=self.user, cart=cart, method=self.ledger.check_method, date=self.tick())
        assert Cart.objects.get(pk=cart.pk).status == Cart.Status.SUBMITTED

    def post_batch(self):
        totals = batch_totals(self.batch)
        batch_set_controls(
            batch=self.batch,
            control_count=totals.invoice_count + totals.payment_count,
            control_amount=totals.cash,
        )
        batch_transition(batch=self.batch, to_status=Batch.Status.READY)
        batch_transition(batch=self.batch, to_status=Batch.Status.POSTED)
        self.batch = batch_create(date=self.tick(), description="Simulation")


OPERATIONS = {
    "invoice": 6,
    "pay_auto": 4,
    "pay_line": 4,
    "reverse_payment": 1,
    "unapply": 1,
    "apply_credit": 2,
    "refund": 1,
    "reverse_invoice": 1,
    "ar_import": 2,
    "cart": 2,
    "post_batch": 1,
}


def _books() -> tuple:
    """What a refused operation must leave as it was: the financial rows and balances."""
    from django.db.models import Sum

    from finance.models import JournalEntry, JournalLine, PaymentApplication

    counts = tuple(m.objects.count() for m in (Invoice, InvoiceLine, Payment, PaymentApplication, JournalEntry))
    return (
        *counts,
        Invoice.objects.aggregate(s=Sum("balance"))["s"],
        InvoiceLine.objects.aggregate(s=Sum("balance"))["s"],
        JournalLine.objects.aggregate(d=Sum("debit"))["d"],
        Payment.objects.filter(status=Payment.Status.REVERSED).count(),
    )


def test_random_operations_keep_every_ledger_invariant(ledger, manager_user):
    seed, steps = _seed(), _steps()
    rng = random.Random(seed)
    office = Office(rng, ledger, manager_user)
    names, weights = zip(*OPERATIONS.items(), strict=True)
    done, refused = Counter(), Counter()
    log = []
    for step in range(1, steps + 1):
        name = rng.choices(names, weights=weights)[0]
        before = _books()
        try:
            outcome = getattr(office, name)()
        except FinanceError as exc:  # a rule refused it: nothing may have changed
            refused[name] += 1
            outcome = f"refused: {exc}"
            after = _books()
            if after != before:
                pytest.fail(
                    f"step {step} ({name}) was refused ({exc}) but changed the books: {before} -> {after}\n"
                    f"replay: SIM_SEED={seed} SIM_STEPS={step}\nlast steps:\n" + "\n".join(log[-15:])
                )
        except Exception as exc:
            pytest.fail(
                f"step {step} ({name}) raised {type(exc).__name__}: {exc}\n"
                f"replay: SIM_SEED={seed} SIM_STEPS={step}\nlast steps:\n" + "\n".join(log[-15:])
            )
        else:
            done[name] += 1
        log.append(f"{step:5} {name}: {outcome or 'ok'}")
        report = verify_ledger()
        if not report.ok:
            pytest.fail(
                f"ledger invariant broken after step {step} ({name})\nreplay: SIM_SEED={seed} SIM_STEPS={step}\n"
                + report.format()
                + "\nlast steps:\n"
                + "\n".join(log[-15:])
            )
    print(
        f"simulation seed {seed}: {steps} steps clean; done {dict(done)}; refused {dict(refused)}; "
        f"{Invoice.objects.count()} invoices, {Payment.objects.count()} payments"
    )
    assert sum(done.values()) > steps // 2, f"most operations were refused: {dict(refused)}"
