"""Hypothesis stateful test over the open-credit services: invoices, payments (cash,
check, and card through the sandbox processor), carts that apply, remove and submit
open credit, credit applied to a named line, unapplying a payment, refunds (record only
and through the sandbox processor) and reversals, in any order.

After every step: ``verify_ledger`` is clean; every invoice's balance is its lines less
its applications; no line is below zero except the lines of credit invoices (the only
negative balances this machine can make, DESIGN §4), none above its amount; no credit
is used beyond what it holds; every cart's credit stays within its total; every refund
at the processor is one succeeded refund of the ledger, for its amount. An operation a
rule refuses (a domain error) changes nothing at all.

The sandbox processor is reached through its real HTTP API and adapter, served in this
process by Django's test client (so it shares the test's transaction).

CI runs a small number of examples; set CREDIT_STATEFUL_EXAMPLES (and optionally
CREDIT_STATEFUL_STEPS) to run longer, e.g. ``CREDIT_STATEFUL_EXAMPLES=500``.
"""

import datetime
import itertools
import os
from collections import Counter
from decimal import Decimal

import httpx
import pytest
from django.db import transaction
from django.db.models import Sum
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

import finance.services.processor_refunds as processor_refunds
from checkout.models import Cart, CartCredit, CartLine
from checkout.services.cart import (
    cart_add_product,
    cart_apply_other_credit,
    cart_apply_own_credit,
    cart_remove_credit,
    cart_remove_line,
    cart_start,
    cart_submit,
    cart_totals,
)
from core.models import Module, ModuleAuthorization
from finance.errors import AlreadyReversed, FinanceError
from finance.ledger_check import verify_ledger
from finance.models import (
    Batch,
    GatewayAccount,
    Invoice,
    InvoiceLine,
    JournalLine,
    Payment,
    PaymentApplication,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
    Refund,
)
from finance.services.credits import credit_apply, credit_available, payment_unapply, refund_record, refund_start
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from processors import ChargeRequest, RefundRequest
from processors.sandbox import SandboxProcessor
from sandboxes.processor.models import SandboxRefund
from tests.factories import BatchFactory, CompanyFactory, ContactFactory, LedgerSetup, ProductFactory

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("CREDIT_STATEFUL_EXAMPLES", "25"))
STEPS = int(os.environ.get("CREDIT_STATEFUL_STEPS", "20"))
API_KEY = "sk_sandbox_stateful"
# How often each operation ran and was refused (printed at the end: ``pytest -s``).
OUTCOMES: Counter = Counter()
DAY = datetime.date(2026, 3, 1)
ZERO = Decimal("0.00")
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("300.00"), places=2)
who = st.integers(0, 2)  # 0: a company member, 1: the company, 2: an individual


def _sum(qs, field="amount") -> Decimal:
    return qs.aggregate(s=Sum(field))["s"] or ZERO


def _client_transport() -> httpx.MockTransport:
    """The sandbox processor's views, called in this process (and transaction)."""
    client = Client()

    def handle(request: httpx.Request) -> httpx.Response:
        skip = {"host", "content-length", "content-type"}
        headers = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items() if k.lower() not in skip
        }
        response = client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=request.content,
            content_type=request.headers.get("content-type", "application/octet-stream"),
            **headers,
        )
        return httpx.Response(response.status_code, headers=dict(response.items()), content=response.content)

    return httpx.MockTransport(handle)


def has_open_cart(model):
    """Precondition: an open cart has ``model`` rows (lines or credits)."""
    return lambda self: model.objects.filter(cart__status=Cart.Status.OPEN).exists()


def snapshot() -> tuple:
    """Everything a refused operation must leave as it was."""
    return (
        list(Invoice.objects.order_by("pk").values_list("pk", "balance")),
        list(InvoiceLine.objects.order_by("pk").values_list("pk", "balance")),
        list(Payment.objects.order_by("pk").values_list("pk", "status", "amount_applied", "refunded_amount")),
        PaymentApplication.objects.count(),
        JournalLine.objects.count(),
        list(Refund.objects.order_by("pk").values_list("pk", "status")),
        SandboxRefund.objects.count(),
        list(Cart.objects.order_by("pk").values_list("pk", "status")),
        list(CartLine.objects.order_by("pk").values_list("pk", "quantity", "amount")),
        list(CartCredit.objects.order_by("pk").values_list("pk", "credit_invoice_id", "amount")),
        Batch.objects.count(),
    )


class CreditMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        from django.contrib.auth import get_user_model

        self.ledger = led = LedgerSetup.build()
        company = CompanyFactory(name="Acme Corp")
        self.contacts = [ContactFactory(name="Mia Member", company=company), company, ContactFactory(name="Ian Indie")]
        self.batch = BatchFactory(date=DAY)
        self.user = get_user_model().objects.create_user("stateful-manager", is_staff=True)
        ModuleAuthorization.objects.create(user=self.user, module=Module.ORDERS, level=4)
        opencredit = PaymentMethod.objects.create(
            code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT
        )
        PaymentMethodSetEntry.objects.create(
            method_set=PaymentMethodSet.objects.get(name="Staff"), method=opencredit, position=9
        )
        gateway = GatewayAccount.objects.create(
            name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=led.entity
        )
        self.visa = PaymentMethod.objects.create(
            code="VISA",
            name="Visa",
            type=PaymentMethod.Type.CREDIT_CARD,
            cash_account=led.cash,
            gateway_account=gateway,
        )
        self.processor = SandboxProcessor(
            "http://testserver/sandbox/processor/v1", API_KEY, transport=_client_transport()
        )
        self.products = [
            ProductFactory(entity=led.entity, income_account=led.income, price=Decimal(p)) for p in ("45.00", "120.00")
        ] + [led.dues]
        self.recurring = ProductFactory(
            entity=led.entity, income_account=led.income, price=Decimal("30.00"), is_recurring=True
        )
        self.day = 0
        self.keys = itertools.count(1)

    def teardown(self):
        self.processor.close()
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _date(self):
        self.day += 1
        return DAY + datetime.timedelta(days=self.day)

    def refused(self, operation, name: str = "") -> bool:
        """Run ``operation``; True when a rule refused it, and then nothing changed."""
        name = name or operation.__qualname__.split(".")[1]  # the rule's name
        before = snapshot()
        try:
            operation()
        except FinanceError as exc:
            assert snapshot() == before, f"{name}: refused ({exc}) but something changed"
            OUTCOMES[f"{name}: refused ({type(exc).__name__})"] += 1
            return True
        OUTCOMES[f"{name}: done"] += 1
        return False

    def _cart(self, n):
        return cart_start(user=self.user, contact=self.contacts[n])

    # --- invoices and payments ---------------------------------------------------------

    @rule(n=who, parts=st.lists(amounts, min_size=1, max_size=3))
    def invoice(self, n, parts):
        invoice_create(
            bill_to=self.contacts[n],
            entity=self.ledger.entity,
            batch=self.batch,
            date=self._date(),
            lines=[LineSpec(product=self.ledger.dues, unit_price=p) for p in parts],
        )

    @rule(n=who, amount=amounts, auto=st.booleans(), by_check=st.booleans())
    def pay(self, n, amount, auto, by_check):
        """Auto applied (the rest is open credit) or a prepayment (all open credit)."""
        payment_receive(
            payer=self.contacts[n],
            method=self.ledger.check_method if by_check else self.ledger.cash_method,
            amount=amount,
            date=self._date(),
            batch=self.batch,
            auto_apply=auto,
        )

    @rule(n=who, amount=amounts, auto=st.booleans())
    def pay_by_card(self, n, amount, auto):
        """A card charged at the sandbox processor, then received (refundable through it)."""
        charge = self.processor.charge(
            ChargeRequest(
                amount=amount, currency="USD", payment_method_token="tok_visa", idempotency_key=f"c{next(self.keys)}"
            )
        )
        payment_receive(
            payer=self.contacts[n],
            method=self.visa,
            amount=amount,
            date=self._date(),
            batch=self.batch,
            auto_apply=auto,
            processor_charge_id=charge.processor_id,
        )

    # --- open credit on a named line ----------------------------------------------------

    @precondition(lambda self: Invoice.objects.filter(balance__lt=0).exists())
    @rule(data=st.data())
    def apply_credit_to_line(self, data):
        credit = data.draw(st.sampled_from(list(Invoice.objects.filter(balance__lt=0).order_by("pk"))))
        lines = list(InvoiceLine.objects.exclude(invoice__type=Invoice.Type.CREDIT).order_by("pk"))
        if not lines:
            return
        line = data.draw(st.sampled_from(lines))
        available = credit_available(credit)
        amount = data.draw(st.sampled_from([min(available, line.balance), available + 1, line.balance + 1, amounts]))
        if not isinstance(amount, Decimal):
            amount = data.draw(amount)
        valid = line.balance > 0 and ZERO < amount <= min(available, line.balance)
        spec = [ApplicationSpec(line, amount)]
        refused = self.refused(
            lambda: credit_apply(credit_invoice=credit, applications=spec, batch=self.batch, date=self._date())
        )
        assert refused is not valid, (amount, available, line.balance)

    # --- the cart -----------------------------------------------------------------------

    @rule(n=who, k=st.integers(0, 2), recurring=st.booleans())
    def cart_add(self, n, k, recurring):
        product = self.recurring if recurring and k == 0 else self.products[k]
        cart = self._cart(n)
        had_credit = CartCredit.objects.filter(cart=cart).exists()
        refused = self.refused(lambda: cart_add_product(cart=cart, product=product))
        assert refused is (product.is_recurring and had_credit)

    def _with_cart(self, data, model=CartLine) -> Cart:
        """An open cart (of this user) that has ``model`` rows (lines or credits)."""
        carts = Cart.objects.filter(status=Cart.Status.OPEN, pk__in=model.objects.values("cart_id")).order_by("pk")
        return data.draw(st.sampled_from(list(carts)))

    @rule(n=who, k=st.integers(0, 2), other=st.booleans(), remove=st.sampled_from(["none", "one", "all"]))
    def cart_order(self, n, k, other, remove):
        """A whole order at once: a product, own (or any contact's) credit applied, maybe
        one or all of it removed, submitted with the rest paid in cash."""
        cart = self._cart(n)
        self.refused(lambda: cart_add_product(cart=cart, product=self.products[k]), "cart_order add")
        if other:
            credits = list(Invoice.objects.filter(balance__lt=0).order_by("date", "pk")[:3])
            self.refused(
                lambda: cart_apply_other_credit(user=self.user, cart=cart, credit_invoices=credits),
                "cart_order apply other",
            )
        else:
            self.refused(lambda: cart_apply_own_credit(user=self.user, cart=cart), "cart_order apply own")
        applied = list(CartCredit.objects.filter(cart=cart).order_by("pk"))
        if applied and remove != "none":
            credit = applied[0] if remove == "one" else None
            assert not self.refused(lambda: cart_remove_credit(cart=cart, credit=credit), "cart_order remove")
        self._submit(cart)

    @precondition(has_open_cart(CartLine))
    @rule(data=st.data())
    def cart_apply_own(self, data):
        cart = self._with_cart(data)
        self.refused(lambda: cart_apply_own_credit(user=self.user, cart=cart))

    @precondition(lambda self: Invoice.objects.filter(balance__lt=0).exists())
    @precondition(has_open_cart(CartLine))
    @rule(data=st.data())
    def cart_apply_other(self, data):
        cart = self._with_cart(data)
        credits = list(Invoice.objects.filter(balance__lt=0).order_by("pk"))
        ticked = data.draw(st.lists(st.sampled_from(credits), min_size=1, max_size=3, unique_by=lambda i: i.pk))
        self.refused(lambda: cart_apply_other_credit(user=self.user, cart=cart, credit_invoices=ticked))

    @precondition(has_open_cart(CartCredit))
    @rule(data=st.data())
    def cart_remove(self, data):
        """Remove one applied credit (the rest recalculated) or all of them."""
        cart = self._with_cart(data, CartCredit)
        credits = list(CartCredit.objects.filter(cart=cart).order_by("pk"))
        credit = data.draw(st.sampled_from([None, *credits]))
        assert not self.refused(lambda: cart_remove_credit(cart=cart, credit=credit))

    @precondition(has_open_cart(CartLine))
    @rule(data=st.data())
    def cart_drop_line(self, data):
        cart = self._with_cart(data)
        line = data.draw(st.sampled_from(list(CartLine.objects.filter(cart=cart).order_by("pk"))))
        assert not self.refused(lambda: cart_remove_line(cart=cart, line=line))

    @precondition(has_open_cart(CartLine))
    @rule(data=st.data())
    def cart_submit(self, data):
        self._submit(self._with_cart(data))

    def _submit(self, cart):
        totals = cart_totals(cart)
        credits = list(CartCredit.objects.filter(cart=cart).select_related("credit_invoice"))
        stale = any(credit_available(cc.credit_invoice) < cc.amount for cc in credits)
        payments_before = set(Payment.objects.values_list("pk", flat=True))
        refused = self.refused(
            lambda: cart_submit(
                user=self.user, cart=cart, method=self.ledger.cash_method, reference="stateful", date=self._date()
            ),
            "cart submit",
        )
        has_recurring = CartLine.objects.filter(cart=cart, product__is_recurring=True).exists()
        assert refused is (stale or (has_recurring and bool(credits))), (stale, has_recurring)
        if refused:
            return
        cart.refresh_from_db()
        assert cart.status == Cart.Status.SUBMITTED and cart.invoice.total == totals.total
        assert cart.invoice.balance == ZERO  # credits and the remainder pay it in full
        new = Payment.objects.exclude(pk__in=payments_before)
        assert _sum(new.filter(method__type=PaymentMethod.Type.OPEN_CREDIT)) == totals.credit
        assert _sum(new.exclude(method__type=PaymentMethod.Type.OPEN_CREDIT)) == totals.balance

    # --- adjust payment: unapply, refund, reverse ------------------------------------

    @precondition(lambda self: Payment.objects.exists())
    @rule(data=st.data())
    def unapply(self, data):
        """Mostly a posted payment that paid an invoice line; now and then any payment."""
        paid_lines = Payment.objects.filter(
            status=Payment.Status.POSTED, applications__kind="apply", applications__invoice__type=Invoice.Type.REGULAR
        ).exclude(method__type=PaymentMethod.Type.OPEN_CREDIT)
        candidates = list(paid_lines.distinct().order_by("pk")) or list(Payment.objects.order_by("pk"))
        if data.draw(st.integers(0, 4)) == 0:
            candidates = list(Payment.objects.order_by("pk"))
        payment = data.draw(st.sampled_from(candidates))
        self.refused(lambda: payment_unapply(payment=payment, batch=self.batch, date=self._date()))

    def _holdings(self, data, **payment_filter):
        """(payment, credit invoice) pairs where the payment has put credit: mostly those
        where it still holds some, now and then any."""
        pairs = list(
            PaymentApplication.objects.filter(
                invoice__type=Invoice.Type.CREDIT,
                amount__gt=0,
                **{f"payment__{k}": v for k, v in payment_filter.items()},
            )
            .values_list("payment_id", "invoice_id")
            .distinct()
            .order_by("payment_id", "invoice_id")
        )
        holding = [
            (p, c)
            for p, c in pairs
            if Payment.objects.filter(pk=p, status=Payment.Status.POSTED).exists()
            and Invoice.objects.filter(pk=c, balance__lt=0).exists()
            and _sum(PaymentApplication.objects.filter(payment_id=p, invoice_id=c)) > 0
        ]
        if holding and data.draw(st.integers(0, 4)) > 0:
            pairs = holding
        return data.draw(st.sampled_from(pairs)) if pairs else None

    @precondition(lambda self: Invoice.objects.filter(type=Invoice.Type.CREDIT).exists())
    @rule(data=st.data(), exact=st.booleans())
    def refund_by_check(self, data, exact):
        """A record-only refund of the credit a payment holds (all of it, or a wrong amount)."""
        pair = self._holdings(data)
        if pair is None:
            return
        payment, credit = Payment.objects.get(pk=pair[0]), Invoice.objects.get(pk=pair[1])
        held = min(_sum(PaymentApplication.objects.filter(payment=payment, invoice=credit)), credit_available(credit))
        amount = None if exact else held + Decimal("0.01")
        refused = self.refused(
            lambda: refund_record(
                payment=payment, credit_invoice=credit, batch=self.batch, date=self._date(), amount=amount
            )
        )
        valid = exact and payment.status == Payment.Status.POSTED and held > 0
        assert refused is not valid, (exact, payment.status, held)

    @precondition(lambda self: Payment.objects.filter(method__code="VISA").exists())
    @rule(data=st.data(), lose_first_answer=st.booleans())
    def refund_by_card(self, data, lose_first_answer):
        """Through the processor: PENDING with its key, then the processor, then the
        answer. When the first answer is lost, the refund is asked again with the key."""
        pair = self._holdings(data, method=self.visa)
        if pair is None:
            return
        payment, credit = Payment.objects.get(pk=pair[0]), Invoice.objects.get(pk=pair[1])
        started = []
        if self.refused(
            lambda: started.append(
                refund_start(payment=payment, credit_invoice=credit, batch=self.batch, date=self._date())
            )
        ):
            return
        (refund,) = started
        if lose_first_answer:
            self.processor.refund(
                RefundRequest(
                    charge_id=payment.processor_charge_id,
                    amount=refund.amount,
                    currency=refund.currency,
                    idempotency_key=refund.idempotency_key,
                    metadata={"refund": str(refund.pk), "payment": str(payment.pk)},
                )
            )
        refund = processor_refunds.reconcile_refund(refund)
        assert refund.status == Refund.Status.SUCCEEDED, refund.failure_message
        assert processor_refunds.reconcile_refund(refund).status == Refund.Status.SUCCEEDED  # again: nothing
        (at_processor,) = SandboxRefund.objects.filter(idempotency_key=refund.idempotency_key)
        assert at_processor.amount == int(refund.amount * 100) and at_processor.public_id == refund.processor_refund_id

    @precondition(lambda self: Payment.objects.exists())
    @rule(data=st.data())
    def reverse(self, data):
        payment = data.draw(st.sampled_from(list(Payment.objects.order_by("pk"))))
        net: dict = {}
        for line_id, amount in payment.applications.values_list("line_id", "amount"):
            net[line_id] = net.get(line_id, ZERO) + amount
        credit_used = any(
            back > 0 and line.balance + back > line.amount
            for line in InvoiceLine.objects.filter(pk__in=net)
            for back in [net[line.pk]]
        )
        expect_refusal = payment.status == Payment.Status.REVERSED or payment.refunded_amount > 0 or credit_used
        try:
            refused = self.refused(
                lambda: payment_reverse(payment=payment, batch=self.batch, date=self._date(), reason="bounced")
            )
        except AlreadyReversed:  # pragma: no cover - AlreadyReversed is a FinanceError
            refused = True
        assert refused is expect_refusal, (payment.status, payment.refunded_amount, credit_used)

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def ledger_verifies(self):
        report = verify_ledger()
        assert report.ok, report.format()

    @invariant()
    def balances_are_lines_less_applications(self):
        by_line = dict(
            PaymentApplication.objects.values("line_id").annotate(s=Sum("amount")).values_list("line_id", "s")
        )
        by_invoice = dict(
            PaymentApplication.objects.values("invoice_id").annotate(s=Sum("amount")).values_list("invoice_id", "s")
        )
        lines_of: dict = {}
        for pk, invoice_id, kind, amount, balance in InvoiceLine.objects.values_list(
            "pk", "invoice_id", "invoice__type", "amount", "balance"
        ):
            assert balance == amount - by_line.get(pk, ZERO), f"line {pk}"
            # Only the lines of credit invoices (open credit) go below zero; none above its amount.
            assert balance <= amount and (balance >= 0 or kind == Invoice.Type.CREDIT), f"line {pk}: {balance}"
            lines_of.setdefault(invoice_id, []).append((amount, balance))
        for pk, kind, total, balance in Invoice.objects.values_list("pk", "type", "total", "balance"):
            lines = lines_of.get(pk, [])
            assert total == sum((a for a, _ in lines), ZERO), f"invoice {pk}"
            assert balance == total - by_invoice.get(pk, ZERO) == sum((b for _, b in lines), ZERO), f"invoice {pk}"
            assert kind != Invoice.Type.CREDIT or balance <= 0, f"credit invoice {pk}: {balance}"

    @invariant()
    def credit_never_over_used(self):
        rows = dict(
            (tuple(k), v)
            for *k, v in PaymentApplication.objects.values("payment_id", "kind")
            .annotate(s=Sum("amount"))
            .values_list("payment_id", "kind", "s")
        )
        refunds = dict(
            Refund.objects.filter(status=Refund.Status.SUCCEEDED)
            .values("payment_id")
            .annotate(s=Sum("amount"))
            .values_list("payment_id", "s")
        )
        for pk, kind, status, amount, refunded in Payment.objects.values_list(
            "pk", "method__type", "status", "amount", "refunded_amount"
        ):
            if kind == PaymentMethod.Type.OPEN_CREDIT:
                # What an open-credit payment drew from the credit is what it paid, never more.
                drawn = -rows.get((pk, PaymentApplication.Kind.CREDIT_DRAW), ZERO)
                assert drawn == rows.get((pk, PaymentApplication.Kind.APPLY), ZERO) == amount, f"payment {pk}"
            if status == Payment.Status.REVERSED:
                assert sum((v for (p, _), v in rows.items() if p == pk), ZERO) == ZERO, f"payment {pk}"
            assert ZERO <= refunded <= amount and refunds.get(pk, ZERO) == refunded, f"payment {pk}"
        for cart in Cart.objects.filter(status=Cart.Status.OPEN):
            totals = cart_totals(cart)
            assert ZERO <= totals.credit <= totals.total

    @invariant()
    def processor_refunds_match_the_ledger(self):
        succeeded = Refund.objects.filter(mode=Refund.Mode.PROCESSOR, status=Refund.Status.SUCCEEDED)
        assert SandboxRefund.objects.count() == succeeded.count()
        assert _sum(SandboxRefund.objects.all()) == int(_sum(succeeded) * 100)
        assert not Refund.objects.filter(status=Refund.Status.PENDING).exists()


@pytest.fixture
def sandbox_in_process(settings, monkeypatch):
    settings.SANDBOX_PROCESSOR_ENABLED = True
    settings.SANDBOX_PROCESSOR_API_KEYS = [API_KEY]
    settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 3600
    monkeypatch.setattr(
        processor_refunds,
        "get_processor",
        lambda gateway: SandboxProcessor(
            "http://testserver/sandbox/processor/v1", API_KEY, transport=_client_transport()
        ),
    )


def test_credit_services_state_machine(sandbox_in_process):
    OUTCOMES.clear()
    run_state_machine_as_test(
        CreditMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\n".join(f"{n:6d}  {what}" for what, n in sorted(OUTCOMES.items())))
