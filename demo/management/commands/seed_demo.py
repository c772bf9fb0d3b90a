"""``manage.py seed_demo [--seed N] [--today YYYY-MM-DD]``: a believable demo association.

Two financial entities (ASSN, FDN) with their charts of accounts, ~20 products, the
payment methods and the Staff and Public sets, a sandbox gateway account, ~200 contacts
(companies and people, many people members of a company), about six months of
invoices in billing batches and payments in receipt batches (auto-applied and named,
partial payments, overpayments that leave open credits, prepayments, monthly card
autopay, a bounced check and a chargeback reversed), older batches posted with
matching controls, recent ones ready or open, and three staff users.

Every invoice, payment, reversal and batch move goes through ``finance.services``;
reference data without a service (entities, accounts, products, methods, contacts,
users) is written with the ORM. Everything happens in one transaction: either the
whole demo is there or nothing is. Deterministic for a given ``--seed`` and ``--today``.
Running it again when the demo is present (entity ASSN and the demo's first company,
party id 23456) adds nothing.
"""

import calendar
import datetime
import random
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from core.models import Module, ModuleAuthorization
from demo import gl_export, invoice_sync, member_checkout, membership, openwater, reference_data
from finance.ledger_check import verify_ledger
from finance.models import (
    Batch,
    Contact,
    FinancialEntity,
    GatewayAccount,
    GLAccount,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
    Product,
)
from finance.money import ZERO, quantize
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse

MARKER_ENTITY = "ASSN"
MARKER_PARTY_ID = "23456"  # the first demo company
HISTORY_DAYS = 182
WINDOW_DAYS = 14  # one billing batch and one receipts batch per window
N_COMPANIES = 30
N_PEOPLE = 170
N_INVOICES = 270  # besides the monthly autopay ones
N_AUTOPAY_MEMBERS = 8

USERS = [
    # username, password, superuser, first name, last name, {module: level}
    ("admin", "admin", True, "Ada", "Admin", {}),
    ("clerk", "clerk", False, "Carla", "Clerk", {Module.ORDERS: 2, Module.AR_CASH: 2}),
    (
        "manager",
        "manager",
        False,
        "Morgan",
        "Manager",
        {Module.ORDERS: 4, Module.AR_CASH: 4, Module.FINANCE: 4, Module.MEMBERSHIP: 4, Module.INTEGRATIONS: 4},
    ),
]

D = Decimal

# The demo data of each app above the ledger core, in the order they run: the member
# sign-in (Pay Central), membership billing, the GL export, invoice sync, OpenWater.
APP_SEEDERS = [member_checkout, membership, gl_export, invoice_sync, openwater]


def demo_present() -> bool:
    return (
        FinancialEntity.objects.filter(code=MARKER_ENTITY).exists()
        and Contact.objects.filter(party_id=MARKER_PARTY_ID).exists()
    )


def add_months(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def first_of_next_month(day: datetime.date) -> datetime.date:
    return add_months(day.replace(day=1), 1)


@dataclass
class PlannedPayment:
    date: datetime.date
    payer: Contact
    entity: FinancialEntity
    method: str
    amount: Decimal
    invoice_key: int | None = None  # apply to this planned invoice's lines by name
    source: str = Payment.Source.STAFF
    reference: str = ""
    reverse_on: datetime.date | None = None
    reverse_reason: str = ""
    description: str = ""


@dataclass
class PlannedInvoice:
    key: int
    date: datetime.date
    entity: FinancialEntity
    bill_to: Contact
    sold_to: Contact
    lines: list[LineSpec]
    accounting_method: str = Invoice.AccountingMethod.ACCRUAL
    type: str = Invoice.Type.REGULAR
    source: str = Invoice.Source.STAFF
    description: str = ""
    due_days: int = 30

    @property
    def total(self) -> Decimal:
        return sum((quantize(D(s.quantity) * s.unit_price) for s in self.lines), ZERO)


@dataclass
class Stats:
    batches: dict[str, int] = field(default_factory=dict)
    reversed: int = 0


class DemoBuilder:
    def __init__(self, *, seed: int, today: datetime.date):
        self.rng = random.Random(seed)
        self.today = today
        self.start = today - datetime.timedelta(days=HISTORY_DAYS)
        self.stats = Stats()
        self.batches: dict[tuple[int, str], Batch] = {}
        self.invoices: dict[int, Invoice] = {}

    # --- reference data ----------------------------------------------------------------

    def build_users(self):
        User = get_user_model()  # noqa: N806
        self.users = {}
        for username, password, superuser, first, last, levels in USERS:
            user = User.objects.filter(username=username).first()
            created = user is None
            if created:
                user = User(username=username, first_name=first, last_name=last, email=f"{username}@lakeshore.example")
                user.is_staff = True
                user.is_superuser = superuser
                user.set_password(password)
                user.save()
            for module, level in levels.items():
                ModuleAuthorization.objects.update_or_create(user=user, module=module, defaults={"level": level})
            self.users[username] = (user, created)
        self.clerk = self.users["clerk"][0]
        self.manager = self.users["manager"][0]

    def build_ledger_setup(self):
        self.entities: dict[str, FinancialEntity] = {}
        self.accounts: dict[tuple[str, str], GLAccount] = {}
        for code, name in reference_data.ENTITIES:
            entity, _ = FinancialEntity.objects.get_or_create(code=code, defaults={"name": name, "currency": "USD"})
            self.entities[code] = entity
            chart = reference_data.COMMON_ACCOUNTS + [
                (c, n, GLAccount.Type.INCOME, GLAccount.Role.INCOME) for c, n in reference_data.INCOME_ACCOUNTS[code]
            ]
            for acct_code, acct_name, type_, role in chart:
                account, _ = GLAccount.objects.get_or_create(
                    entity=entity, code=acct_code, defaults={"name": acct_name, "type": type_, "role": role}
                )
                self.accounts[(code, acct_code)] = account
        self.assn, self.fdn = self.entities["ASSN"], self.entities["FDN"]

        self.products: dict[str, Product] = {}
        for (
            entity_code,
            code,
            name,
            category,
            kind,
            income,
            deferred,
            price,
            recurring,
            desc,
        ) in reference_data.PRODUCTS:
            product, _ = Product.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "category": category,
                    "kind": kind,
                    "description": desc,
                    "entity": self.entities[entity_code],
                    "income_account": self.accounts[(entity_code, income)],
                    "deferred_income_account": self.accounts[(entity_code, "2400-00")] if deferred else None,
                    "price": D(price),
                    "is_recurring": recurring,
                    "post_purchase_info": "Thank you! A receipt has been sent to your email address.",
                },
            )
            self.products[code] = product

        gateway, _ = GatewayAccount.objects.get_or_create(
            name="Sandbox", defaults={"processor": GatewayAccount.Processor.SANDBOX, "entity": self.assn}
        )
        self.methods: dict[str, PaymentMethod] = {}
        for code, name, type_, cash, uses_gateway in reference_data.PAYMENT_METHODS:
            method, _ = PaymentMethod.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "type": type_,
                    "cash_account": self.accounts[("ASSN", cash)] if cash else None,
                    "gateway_account": gateway if uses_gateway else None,
                },
            )
            self.methods[code] = method
        self.method_sets = {}
        for name, description, entries in reference_data.PAYMENT_METHOD_SETS:
            method_set, _ = PaymentMethodSet.objects.get_or_create(name=name, defaults={"description": description})
            for position, (code, display) in enumerate(entries, start=1):
                PaymentMethodSetEntry.objects.get_or_create(
                    method_set=method_set,
                    method=self.methods[code],
                    defaults={"position": position, "display_name": display},
                )
            self.method_sets[name] = method_set

    def build_contacts(self):
        rng = self.rng
        party = int(MARKER_PARTY_ID)
        major_keys: set[str] = set()
        self.companies: list[Contact] = []
        for name in reference_data.COMPANIES:
            slug = re.sub(r"[^a-z]+", "", name.lower().split()[0] + name.lower().split()[1])
            major_key = None
            if rng.random() < 0.45:
                initials = "".join(w[0] for w in re.findall(r"[A-Za-z]+", name))[:4].upper()
                while major_key is None or major_key in major_keys:
                    major_key = f"{initials}{rng.randint(100, 999)}"
                major_keys.add(major_key)
            company = Contact(
                party_id=str(party),
                major_key=major_key,
                name=name,
                sort_name=name,
                kind=Contact.Kind.ORGANIZATION,
                email=f"accounts@{slug}.example",
            )
            company.domain = f"{slug}.example"
            self.companies.append(company)
            party += rng.randint(1, 37)
        Contact.objects.bulk_create(self.companies)  # primary keys set (RETURNING)

        names = rng.sample(
            [(f, last) for f in reference_data.FIRST_NAMES for last in reference_data.LAST_NAMES], N_PEOPLE
        )
        self.people: list[Contact] = []
        for first, last in names:
            company = self.rng.choice(self.companies) if rng.random() < 0.6 else None
            user = re.sub(r"[^a-z]", "", f"{first[0]}{last}".lower())
            email = f"{user}@{company.domain}" if company else f"{user}@{rng.choice(reference_data.MAIL_DOMAINS)}"
            major_key = None
            if rng.random() < 0.08:
                major_key = f"M{party:06d}"
            self.people.append(
                Contact(
                    party_id=str(party),
                    major_key=major_key,
                    name=f"{first} {last}",
                    sort_name=f"{last}, {first}",
                    kind=Contact.Kind.INDIVIDUAL,
                    company=company,
                    email=email,
                    status=Contact.Status.INACTIVE if rng.random() < 0.04 else Contact.Status.ACTIVE,
                )
            )
            party += rng.randint(1, 37)
        Contact.objects.bulk_create(self.people)
        self.active_people = [p for p in self.people if p.status == Contact.Status.ACTIVE]
        self.members_of = {c.pk: [p for p in self.active_people if p.company_id == c.pk] for c in self.companies}

    # --- planning the history ------------------------------------------------------------

    def _line(self, code: str, quantity=1, unit_price=None, **kwargs) -> LineSpec:
        product = self.products[code]
        return LineSpec(
            product=product,
            quantity=D(quantity),
            unit_price=product.price if unit_price is None else D(unit_price),
            **kwargs,
        )

    def _plan_invoice(self, key: int, day: datetime.date) -> PlannedInvoice:
        rng, p = self.rng, self._line
        roll = rng.random()
        person = rng.choice(self.active_people)
        company = rng.choice(self.companies)
        if roll < 0.22:  # Foundation: donations, gala, programs
            kind = rng.random()
            if kind < 0.5:
                code = rng.choice(["FDN-DON-GEN", "FDN-DON-GEN", "FDN-DON-SCH"])
                amount = rng.choice(["25.00", "50.00", "100.00", "150.00", "250.00", "500.00", "1000.00"])
                donor = company if rng.random() < 0.25 else person
                return PlannedInvoice(
                    key, day, self.fdn, donor, donor, [p(code, unit_price=amount)], description="Pledge"
                )
            if kind < 0.75:
                buyer = company if rng.random() < 0.5 else person
                qty = rng.choice([8, 10]) if buyer.kind == Contact.Kind.ORGANIZATION else rng.randint(1, 2)
                return PlannedInvoice(
                    key, day, self.fdn, buyer, buyer, [p("FDN-GALA", qty)], description="Foundation gala"
                )
            code = rng.choice(["FDN-MENTOR", "FDN-YOUTH", "FDN-YOUTH"])
            return PlannedInvoice(key, day, self.fdn, person, person, [p(code, rng.randint(1, 2))])
        if roll < 0.47:  # dues
            if rng.random() < 0.2:
                begin = first_of_next_month(day)
                return PlannedInvoice(
                    key,
                    day,
                    self.assn,
                    company,
                    company,
                    [p("DUES-CORP", billing_begin=begin, billing_end=add_months(begin, 12) - datetime.timedelta(1))],
                    description="Corporate membership renewal",
                    due_days=45,
                )
            code = rng.choices(["DUES-IND", "DUES-STU", "DUES-RET"], weights=[6, 2, 2])[0]
            begin = first_of_next_month(day) if rng.random() < 0.7 else day
            line = p(code, billing_begin=begin, billing_end=add_months(begin, 12) - datetime.timedelta(1))
            if rng.random() < 0.45:  # persisted cash-basis membership invoice from the renewal run
                return PlannedInvoice(
                    key,
                    day,
                    self.assn,
                    person,
                    person,
                    [line],
                    accounting_method=Invoice.AccountingMethod.CASH,
                    type=Invoice.Type.MEMBERSHIP,
                    source=Invoice.Source.MEMBERSHIP_BILLING,
                    description="Membership renewal",
                )
            return PlannedInvoice(key, day, self.assn, person, person, [line], description="Membership dues")
        if roll < 0.72:  # events
            if rng.random() < 0.25 and self.members_of[company.pk]:
                attendee = rng.choice(self.members_of[company.pk])
                qty = rng.randint(2, 5)
                return PlannedInvoice(
                    key,
                    day,
                    self.assn,
                    company,
                    attendee,
                    [p("CONF-MEM", qty)],
                    description=f"Conference registrations ({qty} staff)",
                )
            code = rng.choices(["CONF-MEM", "CONF-NON", "WEB-FIN101", "REG-MEETING"], weights=[3, 1, 4, 3])[0]
            lines = [p(code)]
            if rng.random() < 0.3:
                lines.append(p(rng.choice(["MER-TOTE", "MER-POLO", "MER-MUG"]), rng.randint(1, 2)))
            source = Invoice.Source.CART if code == "WEB-FIN101" else Invoice.Source.STAFF
            bill_to = person.company if person.company_id and rng.random() < 0.3 else person
            return PlannedInvoice(key, day, self.assn, bill_to, person, lines, source=source)
        if roll < 0.87:  # store: merchandise and publications
            codes = rng.sample(["MER-POLO", "MER-MUG", "MER-TOTE", "PUB-HANDBOOK", "PUB-SALARY"], rng.randint(1, 3))
            lines = [p(c, rng.randint(1, 3) if c.startswith("MER") else 1) for c in codes]
            return PlannedInvoice(
                key, day, self.assn, person, person, lines, source=Invoice.Source.CART, description="Web store order"
            )
        code = rng.choice(["CERT-EXAM", "CERT-CE", "CERT-CE"])
        return PlannedInvoice(key, day, self.assn, person, person, [p(code, 1 if code == "CERT-EXAM" else 2)])

    def _plan_payment(self, inv: PlannedInvoice) -> PlannedPayment | None:
        rng = self.rng
        age = (self.today - inv.date).days
        # Older invoices are more often settled.
        if rng.random() > min(0.85, 0.3 + age / 60):
            return None
        if inv.source == Invoice.Source.CART:
            method = rng.choice(["VISA", "VISA", "VISA", "ACH"])
        elif inv.bill_to.kind == Contact.Kind.ORGANIZATION:
            method = rng.choice(["CHECK", "CHECK", "ACH", "VISA"])
        else:
            method = rng.choices(["CHECK", "VISA", "ACH", "CASH"], weights=[4, 4, 1, 1])[0]
        delay = {"VISA": rng.randint(0, 3), "ACH": rng.randint(2, 15), "CASH": rng.randint(0, 10)}.get(
            method, rng.randint(7, 40)
        )
        day = inv.date + datetime.timedelta(days=delay)
        if day > self.today:
            return None
        total = inv.total
        mode = rng.random()
        if mode < 0.12 and total > 60:  # partial payment
            amount = quantize(D(int(total * rng.randint(30, 70) / 100)))
        elif mode < 0.22:  # overpayment: the rest becomes an open credit
            amount = total + D(rng.choice(["5.00", "10.00", "20.00", "25.00", "50.00", "100.00"]))
        else:
            amount = total
        payment = PlannedPayment(day, inv.bill_to, inv.entity, method, amount)
        payment.invoice_key = inv.key if rng.random() < 0.3 else None
        payment.source = {
            "VISA": Payment.Source.CART if inv.source == Invoice.Source.CART else Payment.Source.PROCESSOR,
            "ACH": Payment.Source.PROCESSOR,
            "CHECK": Payment.Source.IMPORT if rng.random() < 0.6 else Payment.Source.STAFF,
        }.get(method, Payment.Source.STAFF)
        payment.reference = self._reference(method)
        return payment

    def _reference(self, method: str) -> str:
        rng = self.rng
        if method == "CHECK":
            return str(rng.randint(1001, 9999))
        if method == "VISA":
            return f"ch_sbx_{rng.getrandbits(48):012x}"
        if method == "ACH":
            return f"ach_sbx_{rng.getrandbits(40):010x}"
        return ""

    def plan(self):
        rng = self.rng
        days = sorted(self.start + datetime.timedelta(days=rng.randint(0, HISTORY_DAYS)) for _ in range(N_INVOICES))
        invoices = [self._plan_invoice(key, day) for key, day in enumerate(days)]
        payments = [pay for inv in invoices if (pay := self._plan_payment(inv))]

        # Monthly card autopay for a few members: invoice and payment the same day.
        key = len(invoices)
        for member in rng.sample(self.active_people, N_AUTOPAY_MEMBERS):
            day = self.start + datetime.timedelta(days=rng.randint(0, 27))
            while day <= self.today:
                end = add_months(day, 1) - datetime.timedelta(days=1)
                line = self._line("DUES-MONTHLY", billing_begin=day, billing_end=end)
                invoices.append(
                    PlannedInvoice(
                        key,
                        day,
                        self.assn,
                        member,
                        member,
                        [line],
                        source=Invoice.Source.CART,
                        description="Monthly membership autopay",
                        due_days=0,
                    )
                )
                payments.append(
                    PlannedPayment(
                        day,
                        member,
                        self.assn,
                        "VISA",
                        line.unit_price,
                        invoice_key=key,
                        source=Payment.Source.PROCESSOR,
                        reference=self._reference("VISA"),
                    )
                )
                key += 1
                day = add_months(day, 1)

        # Prepayments: money received before anything was billed (open credit).
        for _ in range(6):
            payer = rng.choice(self.active_people)
            day = self.start + datetime.timedelta(days=rng.randint(10, HISTORY_DAYS - 5))
            amount = D(rng.choice(["100.00", "195.00", "250.00", "595.00"]))
            payments.append(
                PlannedPayment(
                    day, payer, self.assn, "CHECK", amount, reference=self._reference("CHECK"), description="Prepayment"
                )
            )

        # A bounced check, a returned ACH debit and a card chargeback, each reversed later;
        # the bounced check's payer pays again by card a few days after.
        cutoff = self.today - datetime.timedelta(days=25)
        for method, reason in (
            ("CHECK", "NSF - check returned unpaid"),
            ("ACH", "ACH return R01 - insufficient funds"),
            ("VISA", "Chargeback - cardholder dispute"),
        ):
            candidates = [
                pay
                for pay in payments
                if pay.method == method and pay.date < cutoff and pay.reverse_on is None and pay.invoice_key is None
            ]
            if not candidates:
                continue
            victim = rng.choice(candidates)
            victim.reverse_on = victim.date + datetime.timedelta(days=rng.randint(4, 12))
            victim.reverse_reason = reason
            if method == "CHECK":
                payments.append(
                    PlannedPayment(
                        victim.reverse_on + datetime.timedelta(days=3),
                        victim.payer,
                        victim.entity,
                        "VISA",
                        victim.amount,
                        source=Payment.Source.STAFF,
                        reference=self._reference("VISA"),
                        description="Replacement for returned check",
                    )
                )

        self.planned_invoices = invoices
        # Events in date order: invoices before payments on a day, reversals last.
        events = [(inv.date, 0, inv.key, "invoice", inv) for inv in invoices]
        events += [(pay.date, 1, i, "payment", pay) for i, pay in enumerate(payments)]
        self.events = sorted(events, key=lambda e: e[:3])

    # --- writing through the services ----------------------------------------------------

    def _batch(self, day: datetime.date, stream: str) -> Batch:
        window = (day - self.start).days // WINDOW_DAYS
        batch = self.batches.get((window, stream))
        if batch is None:
            begin = self.start + datetime.timedelta(days=window * WINDOW_DAYS)
            end = begin + datetime.timedelta(days=WINDOW_DAYS - 1)
            label = "Billing" if stream == "billing" else "Cash receipts"
            batch = batch_create(
                date=begin,
                description=f"{label} {begin:%b} {begin.day} - {end:%b} {end.day}, {end.year}",
                user=self.clerk,
            )
            batch.window_end = end
            self.batches[(window, stream)] = batch
        return batch

    def _write_invoice(self, plan: PlannedInvoice):
        self.invoices[plan.key] = invoice_create(
            bill_to=plan.bill_to,
            sold_to=plan.sold_to,
            entity=plan.entity,
            batch=self._batch(plan.date, "billing"),
            lines=plan.lines,
            date=plan.date,
            due_date=plan.date + datetime.timedelta(days=plan.due_days),
            accounting_method=plan.accounting_method,
            type=plan.type,
            source=plan.source,
            description=plan.description,
            user=self.clerk,
        )

    def _write_payment(self, plan: PlannedPayment):
        applications = None
        if plan.invoice_key is not None:
            invoice = self.invoices[plan.invoice_key]
            remaining, applications = plan.amount, []
            for line in invoice.lines.filter(balance__gt=0).order_by("line_number"):
                if remaining <= 0:
                    break
                part = min(line.balance, remaining)
                applications.append(ApplicationSpec(line, part))
                remaining -= part
        payment = payment_receive(
            payer=plan.payer,
            method=self.methods[plan.method],
            amount=plan.amount,
            date=plan.date,
            batch=self._batch(plan.date, "receipts"),
            applications=applications or None,
            entity=plan.entity,
            reference=plan.reference,
            source=plan.source,
            credit_description=f"{plan.description} - open credit" if plan.description else "",
            user=self.clerk,
        )
        if plan.reverse_on and plan.reverse_on <= self.today:
            self.pending_reversals.append((plan.reverse_on, payment, plan.reverse_reason))

    def write(self):
        self.pending_reversals: list[tuple[datetime.date, Payment, str]] = []
        for day, _, _, kind, plan in self.events:
            # Reversals due by this day go first (they were planned after their payment).
            for item in sorted((r for r in self.pending_reversals if r[0] <= day), key=lambda r: r[0]):
                self._reverse(*item)
            if kind == "invoice":
                self._write_invoice(plan)
            else:
                self._write_payment(plan)
        for item in list(self.pending_reversals):
            self._reverse(*item)

    def _reverse(self, day, payment, reason):
        self.pending_reversals.remove((day, payment, reason))
        payment_reverse(payment=payment, batch=self._batch(day, "receipts"), date=day, reason=reason, user=self.manager)
        self.stats.reversed += 1

    def close_batches(self):
        """Batches older than five weeks posted with matching controls, then ready ones, the last
        week's open."""
        counts = {"posted": 0, "ready": 0, "open": 0}
        for batch in sorted(self.batches.values(), key=lambda b: (b.date, b.pk)):
            age = (self.today - batch.window_end).days
            if age < 7:
                counts["open"] += 1
                continue
            totals = batch_totals(batch)
            batch = batch_set_controls(
                batch=batch, control_count=totals.count, control_amount=totals.amount, user=self.clerk
            )
            batch = batch_transition(batch=batch, to_status=Batch.Status.READY, user=self.clerk)
            if age >= 35:
                batch_transition(batch=batch, to_status=Batch.Status.POSTED, user=self.manager)
                counts["posted"] += 1
            else:
                counts["ready"] += 1
        self.stats.batches = counts

    def run(self):
        self.build_users()
        self.build_ledger_setup()
        self.build_contacts()
        self.plan()
        self.write()
        self.close_batches()
        self.run_app_seeders()

    def run_app_seeders(self):
        """The demo data of the apps on top of the ledger core (``APP_SEEDERS``, each a
        module with ``seed(builder)``), in the same transaction, after the ledger core."""
        self.app_reports: list[str] = []
        for module in APP_SEEDERS:
            report = module.seed(self)
            if report:
                self.app_reports.append(str(report))


class Command(BaseCommand):
    help = "Load a believable demo association (entities, products, contacts, batches, invoices, payments, users)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2011, help="Random seed (default 2011).")
        parser.add_argument(
            "--today",
            type=datetime.date.fromisoformat,
            default=None,
            metavar="YYYY-MM-DD",
            help="The day the history ends (default: today). Invoices cover the six months before it.",
        )

    def handle(self, *args, seed: int, today: datetime.date | None, **options):
        today = today or timezone.localdate()
        if demo_present():
            self.stdout.write(
                f"Demo data already present (entity {MARKER_ENTITY} with the demo contacts); nothing added."
            )
            return
        started = time.monotonic()
        builder = DemoBuilder(seed=seed, today=today)
        try:
            with transaction.atomic():
                builder.run()
        except Exception as exc:
            raise CommandError(f"Demo data not loaded (nothing was written): {exc}") from exc
        elapsed = time.monotonic() - started

        entities = list(builder.entities.values())
        invoices = Invoice.objects.filter(entity__in=entities)
        credit_invoices = invoices.filter(type=Invoice.Type.CREDIT)
        payments = Payment.objects.filter(entity__in=entities)
        open_credits = credit_invoices.filter(balance__lt=0).count()
        b = builder.stats.batches
        w = self.stdout.write
        w(self.style.SUCCESS(f"Demo data loaded in {elapsed:.1f} s (seed {seed}, history to {today})."))
        w(
            f"  {len(entities)} financial entities, "
            f"{GLAccount.objects.filter(entity__in=entities).count()} GL accounts, "
            f"{len(builder.products)} products, {len(builder.methods)} payment methods, "
            f"{len(builder.method_sets)} payment method sets"
        )
        w(
            f"  {len(builder.companies) + len(builder.people)} contacts "
            f"({len(builder.companies)} companies, {len(builder.people)} people)"
        )
        w(
            f"  {invoices.count() - credit_invoices.count()} invoices and {credit_invoices.count()} credit invoices "
            f"({open_credits} open credits), {payments.count()} payments ({builder.stats.reversed} reversed)"
        )
        w(f"  {sum(b.values())} batches: {b['posted']} posted, {b['ready']} ready, {b['open']} open")
        for report in builder.app_reports:
            w(f"  {report}")
        w(verify_ledger().summary())
        w("Staff users (username / password):")
        for username, password, superuser, _, _, levels in USERS:
            user, created = builder.users[username]
            rights = "superuser" if superuser else ", ".join(f"{Module(m).label} {lvl}" for m, lvl in levels.items())
            shown = password if created else "(existing user, password unchanged)"
            w(f"  {username} / {shown}  - {rights}")
