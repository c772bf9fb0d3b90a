"""A seeded simulation of the finance office: a random sequence of operations through the
services, with every ledger invariant (``verify_ledger``) checked after each step.

Short in CI (SIM_STEPS, default 80); long on demand, e.g.::

    SIM_STEPS=3000 SIM_SEED=42 pytest tests/reliability/test_simulation.py -p no:cacheprovider

A failure names the seed and the step, and the log of the steps before it, so that
``SIM_SEED=<seed> SIM_STEPS=<step>`` replays it. Refusals by the services (a rule said
no: nothing may change) are expected and counted; any other exception fails the run.
Each operation runs in its own transactions, as in production (committed, so the
deferred database checks run at every commit).

Besides the ledger, the office has:

- membership billing: joins, the next term billed by hand, renewal runs (built, then
  posted or deleted, sometimes steps later), membership invoices reversed. Every
  membership invoice billed must take the member's open credit (up to its total), so a
  reversed invoice's money comes back as credit and pays the next term.
- the OpenWater pushback against the sandbox OpenWater over real HTTP. Its invoices are
  paid and refunded as the simulation's clock passes their minutes in the sandbox's data
  file, and applicants pay and ask for refunds as the simulation goes on. No OpenWater
  invoice, payment or refund is ever recorded twice.
- invoice sync to the sandbox processor over real HTTP: contacts save cards (some
  declined, some failing later, a few whose answer is lost), the sync jobs run, the
  processor settles charges, customers pay payment requests, and webhooks arrive twice.
  No invoice gets two processor payments, and every charge that succeeded for an
  invoice is posted once or flagged on its sync record (or is still on its way: an
  attempt waiting for its answer, a webhook the processor has not sent yet).
"""

import datetime
import io
import os
import random
import re
from collections import Counter, defaultdict
from datetime import UTC
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Sum

from checkout.models import Cart
from checkout.services.cart import cart_add_product, cart_apply_own_credit, cart_start, cart_submit
from finance.ar_import.services import ar_import_post, ar_import_validate
from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.membership.models import MembershipSettings, RenewalRun, Subscription, Term
from finance.membership.renewals import renewal_run_build, renewal_run_delete, renewal_run_post, renewal_run_start
from finance.membership.services import membership_join, term_bill
from finance.models import Batch, Invoice, InvoiceLine, Payment, PaymentApplication, Refund
from finance.services.adjustments import invoice_reverse
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition
from finance.services.contacts import next_party_id
from finance.services.credits import credit_apply, credit_available, payment_unapply, refund_record, refundable
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from integrations.models import InvoiceSyncRecord, SavedPaymentMethod, SyncAttempt
from integrations.openwater.models import InvoiceSync, ProgramMapping, PushbackRun, RefundSync
from integrations.openwater.pushback import RunBusy, run_pushback
from integrations.openwater.services.setup import program_initialize
from integrations.services.sync.jobs import run_jobs
from processors import ProcessorError
from sandboxes.processor.models import SandboxCharge
from tests.checkout.helpers import add_opencredit
from tests.factories import CompanyFactory, ContactFactory, ProductFactory
from tests.integrations.sync.helpers import charge_event, deliver_event
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
START = datetime.date(2026, 1, 5)
# Paid-through dates of the members migrated before the simulation starts.
PAID_THROUGH = [datetime.date(2025, 12, 31), datetime.date(2026, 1, 31), datetime.date(2026, 3, 31)]
# Minutes of the sandbox OpenWater's data file that pass per step.
OW_MINUTES_PER_STEP = 1.5
# Cards contacts save for autopay: the sandbox's test tokens, a lost answer now and then.
CARD_TOKENS = {"tok_visa": 6, "tok_visa_declined": 2, "tok_fail_later": 2, "tok_timeout": 0.5}


def _steps() -> int:
    return int(os.environ.get("SIM_STEPS", "80"))


def _seed() -> int:
    return int(os.environ.get("SIM_SEED", str(random.SystemRandom().randrange(1, 10**6))))


class OpenWaterSide:
    """The applicants' side of OpenWater: the sandbox store, fed from its data file as
    the simulation's clock passes each invoice's and refund's minute."""

    def __init__(self, store, data: dict):
        self.store = store
        now = datetime.datetime.now(UTC)
        self.events = []  # (minute, order, kind, payload), released in order
        for inv in data["invoices"]:
            paid = inv["paidAtMinutes"]
            if paid <= 0:  # paid before the simulation starts
                self._invoice(inv, now + datetime.timedelta(minutes=paid))
            else:
                self.events.append((paid, len(self.events), "invoice", inv))
            for r in inv.get("refunds", []):
                if paid <= 0 and r["atMinutes"] <= 0:
                    at = now + datetime.timedelta(minutes=r["atMinutes"])
                    store.add_refund(inv["id"], r["amount"], at=at, notes=r.get("notes", ""))
                else:
                    self.events.append((max(paid, r["atMinutes"]), len(self.events), "refund", (inv["id"], r)))
        self.events.sort(key=lambda e: (e[0], e[1]))
        self.released = 0

    def _invoice(self, inv: dict, paid_at):
        created = inv.get("createdAtMinutes", inv["paidAtMinutes"] - 60)
        self.store.add_invoice(
            program_id=inv["programId"],
            user_id=inv["userId"],
            lines=inv["lines"],
            paid_at=paid_at,
            created_at=paid_at - datetime.timedelta(minutes=inv["paidAtMinutes"] - created),
            invoice_id=inv["id"],
            method=inv.get("method", "CreditCard"),
        )

    def time_passes(self, step: int) -> int:
        """Release what the data file says happens by this step's minute."""
        minute = step * OW_MINUTES_PER_STEP
        n = 0
        while self.released < len(self.events) and self.events[self.released][0] <= minute:
            _, _, kind, payload = self.events[self.released]
            now = datetime.datetime.now(UTC)
            if kind == "invoice":
                self._invoice(payload, now)
            else:
                invoice_id, r = payload
                self.store.add_refund(invoice_id, r["amount"], at=now, notes=r.get("notes", ""))
            self.released += 1
            n += 1
        return n

    def still_kept(self, inv) -> Decimal:
        """What the applicant has paid and not had back, counting refunds the data file
        has not released yet."""
        paid = sum((p["amount"] for p in inv.payments), D("0.00"))
        refunded = sum((r.amount for r in inv.refunds), D("0.00"))
        coming = sum(
            (D(e[3][1]["amount"]) for e in self.events[self.released :] if e[2] == "refund" and e[3][0] == inv.id),
            D("0.00"),
        )
        return paid - refunded - coming


class Office:
    """The state the simulation draws from, and one method per operation."""

    def __init__(
        self,
        rng: random.Random,
        ledger,
        user,
        *,
        member_types,
        sync,
        processor,
        client,
        ow_integration,
        ow_store,
        ow_data,
    ):
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
        # Membership: cash or accrual for the whole run, and members migrated with their
        # paid-through dates.
        self.member_types = [member_types["REG"], member_types["STU"]]
        method = rng.choice([Invoice.AccountingMethod.CASH] * 2 + [Invoice.AccountingMethod.ACCRUAL])
        MembershipSettings.objects.update_or_create(pk=1, defaults={"accounting_method": method})
        for _ in range(5):
            person, _ = make_member(
                rng.choice(self.member_types), rng.choice(PAID_THROUGH), term_months=rng.choice([12, 12, 6])
            )
            self.contacts.append(person)
        # Invoice sync: the processor account, an adapter to play the customer and the
        # processor's side with, the test client that receives webhooks.
        self.sync = sync
        self.processor = processor
        self.client = client
        self.unsent_events: set[str] = set()  # charges whose webhook the processor has not sent yet
        self.events_sent = 0
        # OpenWater: the integration (started by the fixture) and the applicants' side.
        self.ow = ow_integration
        self.openwater = OpenWaterSide(ow_store, ow_data)
        self.pushback_totals: Counter = Counter()

    # --- helpers -------------------------------------------------------------------

    def money(self, low=1, high=600) -> Decimal:
        return (D(self.rng.randrange(low * 100, high * 100)) / 100).quantize(D("0.01"))

    def tick(self):
        if self.rng.random() < 0.3:
            self.day += datetime.timedelta(days=1)
        return self.day

    def pick(self, qs):
        ids = list(qs.order_by("pk").values_list("pk", flat=True)[:200])
        if not ids:
            return None
        return qs.model.objects.get(pk=self.rng.choice(ids))

    def world(self, step: int) -> None:
        """What happens outside the office between steps: OpenWater's data file moves on."""
        self.openwater.time_passes(step)

    def credit_of(self, contact=None) -> Decimal:
        """The contact's open credit in the ledger's entity (everyone's when None)."""
        credits = Invoice.objects.filter(entity=self.ledger.entity, balance__lt=0)
        if contact is not None:
            credits = credits.filter(bill_to=contact)
        return -(credits.aggregate(s=Sum("balance"))["s"] or D("0.00"))

    def refusable(self, action) -> str:
        """A follow-up action inside an operation: a refusal must change nothing."""
        before = _books()
        try:
            return action()
        except FinanceError as exc:
            after = _books()
            assert after == before, f"refused ({exc}) but changed the books: {before} -> {after}"
            return f"refused: {exc}"

    def check_credit_taken(self, billed, available: Decimal) -> str:
        """A membership invoice takes the member's open credit, up to its total."""
        expected = min(available, billed.invoice.total)
        assert billed.credit_applied == expected, (
            f"invoice {billed.invoice.number} ({billed.invoice.total}) took {billed.credit_applied} of the "
            f"member's {available} open credit; expected {expected}"
        )
        return f"invoice {billed.invoice.number} {billed.invoice.total}, {billed.credit_applied} credit taken"

    def deliver(self, charge_id: str, times: int = 1) -> list:
        """The processor's ``charge.updated`` event for the charge, delivered ``times``."""
        self.events_sent += 1
        body = charge_event(f"evt_sim_{self.events_sent}", self.processor._request("GET", f"/charges/{charge_id}"))
        answers = []
        for n in range(times):
            if n:
                before = _books()
            response = deliver_event(self.client, self.sync.account, body)
            assert response.status_code == 200, f"webhook {n + 1} of {charge_id}: {response.status_code}"
            answers.append(response.json())
            if n:
                after = _books()
                assert after == before, f"webhook {n + 1} of {charge_id} changed the books: {before} -> {after}"
        self.unsent_events.discard(charge_id)
        return answers

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

    # --- membership -----------------------------------------------------------------

    def join(self):
        active = set(
            Subscription.objects.filter(status=Subscription.Status.ACTIVE).values_list("contact_id", flat=True)
        )
        free = [c for c in self.contacts if c.pk not in active]
        members = [c for c in self.contacts if c.pk in active]
        if members and self.rng.random() < 0.1:  # one who is a member already: refused
            contact = self.rng.choice(members)
        elif free and self.rng.random() < 0.8:
            contact = self.rng.choice(free)
        else:
            with transaction.atomic():  # the next party id, as contacts made by the services get it
                contact = ContactFactory(party_id=next_party_id())
            self.contacts.append(contact)
        available = self.credit_of(contact)
        billed = membership_join(
            contact=contact,
            member_type=self.rng.choice(self.member_types),
            batch=self.batch,
            join_date=self.tick(),
            term_months=self.rng.choice([None, None, 6]),
            user=self.user,
        )
        return "joined: " + self.check_credit_taken(billed, available)

    def bill_term(self):
        """Staff bill a member's next term by hand (the member page's button)."""
        sub = self.pick(Subscription.objects.filter(status=Subscription.Status.ACTIVE))
        if sub is None:
            return "no member"
        return self._bill_next(sub)

    def _bill_next(self, sub):
        available = self.credit_of(sub.contact)
        billed = term_bill(
            subscription=sub, batch=self.batch, invoice_date=self.tick(), source=Term.Source.RENEWAL, user=self.user
        )
        return "next term: " + self.check_credit_taken(billed, available)

    def renewal_start(self):
        """A renewal run over a paid-through range: the preview, then (sometimes at once)
        posted or deleted."""
        sub = self.pick(Subscription.objects.filter(status=Subscription.Status.ACTIVE))
        if sub is None:
            return "no member"
        low = sub.paid_through - datetime.timedelta(days=self.rng.randint(0, 90))
        high = sub.paid_through + datetime.timedelta(days=self.rng.randint(0, 90))
        run = renewal_run_start(
            effective_date=high + datetime.timedelta(days=1),
            invoice_date=self.tick(),
            paid_through_from=low,
            paid_through_to=high,
            member_type=self.rng.choice([None, None, *self.member_types]),
            user=self.user,
        )
        run = renewal_run_build(run=run)
        outcome = f"run {run.pk}: {run.member_count} to bill, {run.skipped_count} skipped"
        if self.rng.random() < 0.5:
            return outcome + "; " + self._finish_run(run)
        return outcome

    def renewal_finish(self):
        run = self.pick(RenewalRun.objects.filter(status=RenewalRun.Status.READY))
        if run is None:
            return "no run ready"
        return self._finish_run(run)

    def _finish_run(self, run):
        if self.rng.random() < 0.25:
            renewal_run_delete(run=run, user=self.user)
            return f"run {run.pk} deleted"
        items = list(run.items.filter(skipped=False).select_related("contact"))
        available = {item.contact_id: self.credit_of(item.contact) for item in items}
        run = renewal_run_post(run=run, user=self.user)
        for item in run.items.filter(skipped=False).select_related("invoice"):
            invoice = item.invoice
            taken = invoice.total - invoice.balance
            expected = min(available[item.contact_id], invoice.total)
            assert taken == expected, (
                f"run {run.pk}: invoice {invoice.number} ({invoice.total}) took {taken} of the member's "
                f"{available[item.contact_id]} open credit; expected {expected}"
            )
        return f"run {run.pk} posted: {run.member_count} invoices, {run.credit_applied} credit taken"

    def reverse_membership(self):
        """A membership invoice reversed: what was paid on it comes back as open credit,
        and the term billed again takes it."""
        invoice = self.pick(Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP, reversed_at__isnull=True))
        if invoice is None:
            return "no membership invoice"
        paid = invoice.total - invoice.balance
        before = self.credit_of()
        invoice_reverse(
            invoice=invoice, batch=self.batch, date=max(self.tick(), invoice.date), reason="Membership cancelled"
        )
        after = self.credit_of()
        # Back to whoever paid: the payer's credit, or the credit it was paid from.
        assert after - before == paid, (
            f"invoice {invoice.number} reversed with {paid} paid on it, but the open credit went from "
            f"{before} to {after}"
        )
        outcome = f"invoice {invoice.number} reversed, {paid} back as credit"
        sub = Term.objects.select_related("subscription__contact").get(invoice=invoice).subscription
        if sub.status == Subscription.Status.ACTIVE and self.rng.random() < 0.7:
            outcome += "; " + self.refusable(lambda: self._bill_next(sub))
        return outcome

    # --- OpenWater ------------------------------------------------------------------

    def pushback(self):
        """One pushback run, as the beat's task runs it; sometimes a second one at once,
        which has nothing new to push."""
        run = run_pushback(self.ow.pk)
        assert not isinstance(run, RunBusy), run
        assert run.status == PushbackRun.Status.SUCCEEDED, f"pushback run {run.pk} {run.status}: {run.message}"
        self.pushback_totals.update(runs=1, pushed=run.pushed, refunds=run.refunds, errors=run.errors)
        outcome = f"pushed {run.pushed}, refunds {run.refunds}, skipped {run.skipped}, errors {run.errors}"
        if self.rng.random() < 0.3:
            again = run_pushback(self.ow.pk)
            assert again.status == PushbackRun.Status.SUCCEEDED, f"second run {again.pk}: {again.message}"
            assert (again.pushed, again.refunds) == (0, 0), (
                f"a second run at once pushed {again.pushed} invoices and {again.refunds} refunds again"
            )
            self.pushback_totals.update(runs=1, errors=again.errors)
            outcome += "; again: nothing new"
        return outcome

    def ow_activity(self):
        """An applicant pays an OpenWater invoice, or gets (part of) a payment back."""
        store = self.openwater.store
        now = datetime.datetime.now(UTC)
        with store.lock:
            paid = [inv for _, inv in sorted(store.invoices.items()) if inv.paid_at <= now]
            kept = [(inv, self.openwater.still_kept(inv)) for inv in paid]
            kept = [(inv, left) for inv, left in kept if left > 0]
        if kept and self.rng.random() < 0.35:
            inv, left = self.rng.choice(kept)
            cents = int(left * 100)
            amount = left if self.rng.random() < 0.4 else D(self.rng.randrange(1, cents + 1)) / 100
            store.add_refund(inv.id, amount, notes="Withdrawn")
            return f"OpenWater refund of {amount} on invoice {inv.id}"
        lines = [self.rng.choice(["25.00", "50.00", "75.00", "120.00", "10.50"]) for _ in range(self.rng.randint(1, 2))]
        inv = store.add_invoice(
            program_id=self.rng.choice([101, 101, 102, 103, 99]),
            user_id=self.rng.choice(sorted(store.users)),
            lines=lines,
        )
        return f"OpenWater invoice {inv.id} paid ({', '.join(lines)})"

    def ow_map_program(self):
        program = (
            ProgramMapping.objects.filter(integration=self.ow, status=ProgramMapping.Status.NEW, is_archived=False)
            .order_by("pk")
            .first()
        )
        if program is None:
            return "every program mapped"
        program_initialize(program=program)
        return f"program {program.code} mapped"

    # --- invoice sync ---------------------------------------------------------------

    def save_card(self):
        """A contact saves a card for autopay (replacing the one saved before)."""
        contact = self.rng.choice(self.contacts)
        token = self.rng.choices(list(CARD_TOKENS), weights=list(CARD_TOKENS.values()))[0]
        with transaction.atomic():
            SavedPaymentMethod.objects.filter(
                contact=contact, gateway_account=self.sync.account, autopay=True, is_active=True
            ).update(is_active=False)
            SavedPaymentMethod.objects.create(
                contact=contact, gateway_account=self.sync.account, token=token, method="card", label=f"Card {token}"
            )
        return f"{contact.party_id} saved {token}"

    def sync_requests(self):
        """The payment-request task sent after an invoice transaction, or the beat's run."""
        if self.sync.queued and self.rng.random() < 0.7:
            (ids,) = self.sync.queued.pop(0)
            return f"task for {len(ids)}: {run_jobs('requests', ids)}"
        return f"beat: {run_jobs('requests')}"

    def sync_autopay(self):
        return str(run_jobs("autopay"))

    def sync_poll(self):
        return str(run_jobs("poll"))

    def sync_reconcile(self):
        return str(run_jobs("reconcile"))

    def settle_charge(self):
        """At the processor, time passes for a charge in progress: it settles now."""
        charge = self.pick(SandboxCharge.objects.filter(status__in=["processing", "requires_action"]))
        if charge is None:
            return "nothing settling"
        settled = self.processor.advance(charge.public_id)
        return f"{charge.public_id} {settled.status}"

    def pay_request(self):
        """A customer pays an invoice's payment request on its hosted page (sometimes one
        that autopay or staff have paid already). The processor's webhook comes at once
        or later."""
        records = InvoiceSyncRecord.objects.exclude(payment_request_id="")
        if self.rng.random() < 0.7:
            records = records.filter(paid_in_ledger=False)
        record = self.pick(records)
        if record is None:
            return "no payment request"
        token = self.rng.choice(["tok_visa", "tok_visa", "tok_visa", "tok_visa_declined", "tok_fail_later"])
        try:
            request = self.processor.pay_payment_request(record.payment_request_id, token)
        except ProcessorError as exc:
            return f"the customer's payment was refused: {exc.code or exc}"
        if self.rng.random() < 0.5:
            self.deliver(request.charge_id)
            return f"{record.payment_request_id} paid with {token}, webhook delivered"
        self.unsent_events.add(request.charge_id)
        return f"{record.payment_request_id} paid with {token}, webhook later"

    def webhook_twice(self):
        """A charge's webhook delivered twice: the second is a duplicate and changes nothing."""
        if self.unsent_events and self.rng.random() < 0.7:
            charge_id = self.rng.choice(sorted(self.unsent_events))
        else:
            charge = self.pick(SandboxCharge.objects.filter(metadata__has_key="sync_record"))
            if charge is None:
                return "no charge"
            charge_id = charge.public_id
        first, second = self.deliver(charge_id, times=2)
        assert (first["duplicate"], second["duplicate"]) == (False, True), (first, second)
        return f"{charge_id}: {first['result']}"

    def drain(self):
        """The end of the day: every webhook still due arrives, the reconciler and the
        poller run."""
        for charge_id in sorted(self.unsent_events):
            self.deliver(charge_id)
        run_jobs("reconcile")
        run_jobs("poll")


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
    # membership
    "join": 2,
    "bill_term": 1,
    "renewal_start": 1,
    "renewal_finish": 1,
    "reverse_membership": 1,
    # OpenWater
    "ow_activity": 2,
    "pushback": 2,
    "ow_map_program": 0.2,
    # invoice sync
    "save_card": 3,
    "sync_requests": 1,
    "sync_autopay": 1,
    "sync_poll": 1,
    "sync_reconcile": 0.5,
    "settle_charge": 1,
    "pay_request": 1,
    "webhook_twice": 1,
}


def _books() -> tuple:
    """What a refused operation must leave as it was: the financial rows and balances."""
    from finance.models import JournalEntry, JournalLine

    models = (Invoice, InvoiceLine, Payment, PaymentApplication, JournalEntry, Refund, Term)
    counts = tuple(m.objects.count() for m in models)
    return (
        *counts,
        Invoice.objects.aggregate(s=Sum("balance"))["s"],
        InvoiceLine.objects.aggregate(s=Sum("balance"))["s"],
        JournalLine.objects.aggregate(d=Sum("debit"))["d"],
        Payment.objects.filter(status=Payment.Status.REVERSED).count(),
    )


def _twice(counter: Counter, what: str) -> list[str]:
    return [f"{what} {key} recorded {n} times" for key, n in sorted(counter.items()) if n > 1]


def _openwater_problems() -> list[str]:
    """No OpenWater invoice, payment or refund is recorded twice."""
    problems = _twice(Counter(InvoiceSync.objects.values_list("ow_invoice_id", flat=True)), "OpenWater invoice")
    problems += _twice(
        Counter(InvoiceSync.objects.exclude(invoice=None).values_list("invoice_id", flat=True)), "sync of invoice"
    )
    ids = Counter()
    for description in Invoice.objects.filter(source=Invoice.Source.OPENWATER).values_list("description", flat=True):
        match = re.match(r"OpenWater invoice (\d+) ", description)
        ids[match.group(1) if match else description] += 1
    problems += _twice(ids, "invoice of OpenWater invoice")
    ids = Counter()
    for reference in Payment.objects.filter(source=Payment.Source.OPENWATER).values_list("reference", flat=True):
        match = re.match(r"OW (\d+):", reference)
        ids[match.group(1) if match else reference] += 1
    problems += _twice(ids, "payment of OpenWater invoice")
    problems += _twice(Counter(RefundSync.objects.values_list("sync_id", "ow_refund_id")), "OpenWater refund")
    ids = Counter()
    for reason in Refund.objects.filter(reason__startswith="OpenWater refund ").values_list("reason", flat=True):
        ids[re.match(r"OpenWater refund (\d+)", reason).group(1)] += 1
    problems += _twice(ids, "refund of OpenWater refund")
    return problems


def _processor_problems(unsent: set[str]) -> list[str]:
    """No invoice has two processor payments; every charge that succeeded for a sync
    record is posted once or flagged on the record, unless it is still on its way (its
    attempt waits for the answer, or the processor has not sent its webhook yet)."""
    posted = Counter(
        Payment.objects.filter(source=Payment.Source.PROCESSOR).values_list("processor_charge_id", flat=True)
    )
    problems = _twice(posted, "processor charge posted as a payment:")
    per_invoice = (
        PaymentApplication.objects.filter(payment__source=Payment.Source.PROCESSOR, kind=PaymentApplication.Kind.APPLY)
        .exclude(invoice__type=Invoice.Type.CREDIT)
        .values("invoice_id")
        .annotate(n=Count("payment", distinct=True))
        .filter(n__gt=1)
    )
    problems += [f"invoice {row['invoice_id']} has {row['n']} processor payments" for row in per_invoice]
    waiting = set(SyncAttempt.objects.filter(outcome__in=SyncAttempt.OPEN).values_list("idempotency_key", flat=True))
    flags = defaultdict(list)
    for pk, message in InvoiceSyncRecord.objects.filter(has_error=True).values_list("pk", "error_message"):
        flags[pk].append(message)
    for pk, message in SyncAttempt.objects.filter(failure_code="late_success").values_list(
        "record_id", "failure_message"
    ):
        flags[pk].append(message)
    per_record = Counter()
    charges = SandboxCharge.objects.filter(status=SandboxCharge.Status.SUCCEEDED, metadata__has_key="sync_record")
    for charge_id, key, metadata in charges.order_by("pk").values_list("public_id", "idempotency_key", "metadata"):
        record = int(metadata["sync_record"])
        per_record[record] += posted.get(charge_id, 0)
        if posted.get(charge_id) == 1 or any(charge_id in m for m in flags[record]):
            continue
        if key in waiting or charge_id in unsent:
            continue
        problems.append(f"charge {charge_id} of sync record {record} succeeded but is neither posted nor flagged")
    problems += [f"sync record {pk} has {n} processor payments" for pk, n in sorted(per_record.items()) if n > 1]
    return problems


def test_random_operations_keep_every_ledger_invariant(
    ledger, manager_user, member_types, sim_settings, sync, processor, client, ow_store, ow_integration, ow_data
):
    seed, steps = _seed(), _steps()
    rng = random.Random(seed)
    office = Office(
        rng,
        ledger,
        manager_user,
        member_types=member_types,
        sync=sync,
        processor=processor,
        client=client,
        ow_integration=ow_integration,
        ow_store=ow_store,
        ow_data=ow_data,
    )
    names, weights = zip(*OPERATIONS.items(), strict=True)
    done, refused = Counter(), Counter()
    log = []

    def fail(message: str, step: int):
        pytest.fail(f"{message}\nreplay: SIM_SEED={seed} SIM_STEPS={step}\nlast steps:\n" + "\n".join(log[-15:]))

    def check(step: int, name: str, unsent: set[str]):
        report = verify_ledger()
        if not report.ok:
            fail(f"ledger invariant broken after step {step} ({name})\n" + report.format(), step)
        problems = _openwater_problems() + _processor_problems(unsent)
        if problems:
            fail(f"after step {step} ({name}):\n" + "\n".join(problems[:20]), step)

    for step in range(1, steps + 1):
        office.world(step)
        name = rng.choices(names, weights=weights)[0]
        before = _books()
        try:
            outcome = getattr(office, name)()
        except FinanceError as exc:  # a rule refused it: nothing may have changed
            refused[name] += 1
            outcome = f"refused: {exc}"
            after = _books()
            if after != before:
                fail(f"step {step} ({name}) was refused ({exc}) but changed the books: {before} -> {after}", step)
        except Exception as exc:
            fail(f"step {step} ({name}) raised {type(exc).__name__}: {exc}", step)
        else:
            done[name] += 1
        log.append(f"{step:5} {name}: {outcome or 'ok'}")
        check(step, name, office.unsent_events)

    try:
        office.drain()
    except Exception as exc:
        fail(f"the final webhooks and jobs raised {type(exc).__name__}: {exc}", steps)
    log.append(f"{steps:5} drain: ok")
    check(steps, "drain", set())

    charges = Counter(SandboxCharge.objects.filter(metadata__has_key="sync_record").values_list("status", flat=True))
    ow_errors = Counter(
        InvoiceSync.objects.exclude(last_error="").values_list("last_error", flat=True).order_by("last_error")
    )
    print(
        f"simulation seed {seed}: {steps} steps clean; done {dict(sorted(done.items()))}; "
        f"refused {dict(sorted(refused.items()))}; "
        f"{Invoice.objects.count()} invoices, {Payment.objects.count()} payments; "
        f"membership: {Term.objects.count()} terms, "
        f"{RenewalRun.objects.filter(status=RenewalRun.Status.POSTED).count()} runs posted; "
        f"OpenWater: {dict(office.pushback_totals)}, {InvoiceSync.objects.count()} invoices seen, "
        f"{RefundSync.objects.count()} refunds; "
        f"processor: charges {dict(charges)} "
        f"({SandboxCharge.objects.filter(source='tok_timeout').count()} with the answer lost), "
        f"{Payment.objects.filter(source=Payment.Source.PROCESSOR).count()} payments posted, "
        f"{InvoiceSyncRecord.objects.filter(has_error=True).count()} records flagged"
    )
    for message, n in ow_errors.most_common(5):
        print(f"  OpenWater error x{n}: {message[:200]}")
    assert sum(done.values()) > steps // 2, f"most operations were refused: {dict(refused)}"
