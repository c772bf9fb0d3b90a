"""seed_demo builds a believable association through the services, once."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, F
from django.urls import reverse

from checkout.models import MemberAccount
from core.authorization import user_level
from core.models import Module, ModuleAuthorization
from finance.ledger_check import verify_ledger
from finance.models import (
    Batch,
    BatchEvent,
    Contact,
    FinancialEntity,
    GatewayAccount,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
    Product,
)
from finance.services.batches import batch_totals
from finance.services.credits import credit_holders_for

TODAY = datetime.date(2026, 3, 15)

ALL_MODELS = [
    FinancialEntity,
    GLAccount,
    Product,
    Contact,
    Batch,
    BatchEvent,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentApplication,
    JournalEntry,
    JournalLine,
    PaymentMethod,
    PaymentMethodSet,
    GatewayAccount,
    ModuleAuthorization,
    get_user_model(),
]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo, loaded once for the module inside a transaction rolled back at the end
    (each test runs in its own savepoint within it)."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = StringIO()
        call_command("seed_demo", "--today", TODAY.isoformat(), "--seed", "7", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def counts():
    return {model.__name__: model.objects.count() for model in ALL_MODELS}


@pytest.mark.django_db
def test_seed_demo__entities_charts_and_products(seeded):
    assert set(FinancialEntity.objects.values_list("code", "currency")) == {("ASSN", "USD"), ("FDN", "USD")}
    for entity in FinancialEntity.objects.all():
        roles = dict(GLAccount.objects.filter(entity=entity).values_list("code", "role"))
        assert roles["1000-00"] == GLAccount.Role.CASH
        assert roles["1200-00"] == GLAccount.Role.AR
        assert roles["2100-00"] == GLAccount.Role.UNAPPLIED_CASH
        assert roles["2150-00"] == GLAccount.Role.REFUND_CLEARING
        assert roles["2400-00"] == GLAccount.Role.DEFERRED_INCOME
        income = [code for code, role in roles.items() if role == GLAccount.Role.INCOME]
        assert len(income) >= 3 and all(code.startswith("4") for code in income)

    products = Product.objects.select_related("income_account", "entity")
    # ~20 products, among them the OpenWater integration's OW_DEFAULT and OW_DISCOUNT.
    assert 18 <= products.count() <= 25
    assert products.filter(code__in=["OW_DEFAULT", "OW_DISCOUNT"]).count() == 2
    assert {p.entity.code for p in products} == {"ASSN", "FDN"}
    assert {p.kind for p in products} >= {"dues", "event", "merchandise", "donation", "program_fee", "publication"}
    assert products.filter(is_recurring=True).count() == 1
    for product in products:
        assert product.income_account.entity_id == product.entity_id
        assert product.income_account.role == GLAccount.Role.INCOME


@pytest.mark.django_db
def test_seed_demo__payment_methods_and_sets(seeded):
    methods = {m.code: m for m in PaymentMethod.objects.select_related("cash_account", "gateway_account")}
    # OPENWATER is the demo OpenWater integration's pushback method (in no set).
    assert set(methods) == {"CASH", "CHECK", "VISA", "ACH", "OPENCREDIT", "OPENWATER"}
    for code in ("CASH", "CHECK", "VISA", "ACH"):
        assert methods[code].cash_account.role == GLAccount.Role.CASH
    assert methods["OPENCREDIT"].type == PaymentMethod.Type.OPEN_CREDIT
    assert methods["OPENCREDIT"].cash_account is None
    for code in ("VISA", "ACH"):
        gateway = methods[code].gateway_account
        assert (gateway.name, gateway.processor) == ("Sandbox", GatewayAccount.Processor.SANDBOX)

    staff = PaymentMethodSet.objects.get(name="Staff")
    public = PaymentMethodSet.objects.get(name="Public")
    assert [e.method.code for e in staff.ordered_entries()] == ["CASH", "CHECK", "VISA", "ACH", "OPENCREDIT"]
    # Members use their own open credit at the checkout (the Public set).
    assert [e.method.code for e in public.ordered_entries()] == ["VISA", "ACH", "OPENCREDIT"]
    assert all(e.display_name for e in [*staff.ordered_entries(), *public.ordered_entries()])
    assert not PaymentMethodSetEntry.objects.filter(method__code="OPENWATER").exists()


@pytest.mark.django_db
def test_seed_demo__contacts_companies_and_members(seeded):
    contacts = Contact.objects.all()
    assert 180 <= contacts.count() <= 220
    companies = contacts.filter(kind=Contact.Kind.ORGANIZATION)
    assert 25 <= companies.count() <= 35
    members = contacts.filter(kind=Contact.Kind.INDIVIDUAL, company__isnull=False)
    assert members.count() >= 60
    assert not members.exclude(company__kind=Contact.Kind.ORGANIZATION).exists()
    assert all(pid.isdigit() and len(pid) == 5 for pid in contacts.values_list("party_id", flat=True))
    assert contacts.filter(party_id="23456", kind=Contact.Kind.ORGANIZATION).exists()
    assert 5 <= contacts.filter(major_key__isnull=False).count() <= 60


@pytest.mark.django_db
def test_seed_demo__six_months_of_invoices_payments_and_batches(seeded):
    regular = Invoice.objects.exclude(type=Invoice.Type.CREDIT)
    assert 200 <= regular.count() <= 500
    first, last = regular.order_by("date").first().date, regular.order_by("date").last().date
    assert TODAY - datetime.timedelta(days=190) <= first < TODAY - datetime.timedelta(days=150)
    assert last <= TODAY
    assert set(regular.values_list("entity__code", flat=True)) == {"ASSN", "FDN"}
    cash_basis = regular.filter(accounting_method=Invoice.AccountingMethod.CASH, type=Invoice.Type.MEMBERSHIP)
    assert cash_basis.exists()
    assert not JournalEntry.objects.filter(invoice__in=cash_basis).exists()
    assert regular.filter(balance=0).count() > regular.count() // 3  # many paid
    assert regular.filter(balance__gt=0, balance__lt=F("total")).exists()  # some partly paid
    assert regular.filter(balance=F("total")).exists()  # some open
    assert InvoiceLine.objects.filter(account__role=GLAccount.Role.DEFERRED_INCOME).exists()

    payments = Payment.objects.all()
    assert 150 <= payments.count() <= 450
    by_method = dict(payments.values_list("method__code").annotate(n=Count("pk")))
    assert set(by_method) == {"CASH", "CHECK", "VISA", "ACH"} and min(by_method.values()) >= 3
    reversed_ = payments.filter(status=Payment.Status.REVERSED)
    assert 2 <= reversed_.count() <= 4
    assert all(p.amount_applied == 0 and p.reversal_batch_id for p in reversed_)
    open_credits = Invoice.objects.filter(type=Invoice.Type.CREDIT, balance__lt=0)
    assert open_credits.count() >= 5  # overpayments and prepayments
    assert payments.filter(source=Payment.Source.IMPORT).exists()

    statuses = dict(Batch.objects.values_list("status").annotate(n=Count("pk")))
    assert statuses.get("posted", 0) >= 10 and statuses.get("ready", 0) >= 1 and statuses.get("open", 0) >= 1
    for batch in Batch.objects.filter(status=Batch.Status.POSTED):
        totals = batch_totals(batch)
        assert (batch.control_count, batch.control_amount) == (totals.count, totals.amount)
        assert batch.posted_by.username == "manager"
    assert not Invoice.objects.filter(date__gt=TODAY).exists()
    assert Decimal(0) < sum(p.amount for p in payments)


@pytest.mark.django_db
def test_seed_demo__the_member_sees_their_open_credit_at_checkout(seeded, client):
    """The demo's member holds open credit; the Public set offers it from the start."""
    account = MemberAccount.objects.select_related("contact__company", "user").get(user__username="member")
    holders = credit_holders_for(account.contact)
    total = -sum(Invoice.objects.filter(bill_to__in=holders, balance__lt=0).values_list("balance", flat=True))
    assert total > 0
    client.force_login(account.user)
    html = client.get(reverse("member:home")).content.decode()
    assert f'data-testid="available-credit">{total:,.2f}<' in html


@pytest.mark.django_db
def test_seed_demo__staff_users_with_their_levels(seeded):
    User = get_user_model()  # noqa: N806
    admin, clerk, manager = (User.objects.get(username=u) for u in ("admin", "clerk", "manager"))
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin")
    assert clerk.is_staff and not clerk.is_superuser and clerk.check_password("clerk")
    assert manager.is_staff and not manager.is_superuser and manager.check_password("manager")
    assert {m: user_level(clerk, m) for m in Module} == {
        Module.ORDERS: 2,
        Module.AR_CASH: 2,
        Module.FINANCE: 0,
        Module.MEMBERSHIP: 0,
        Module.INTEGRATIONS: 0,
    }
    assert {m: user_level(manager, m) for m in Module} == dict.fromkeys(Module, 4)
    assert "admin / admin" in seeded and "clerk / clerk" in seeded and "manager / manager" in seeded


@pytest.mark.django_db
def test_seed_demo__ledger_verifies(seeded):
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().strip().endswith("ledger OK")
    report = verify_ledger()
    assert report.ok and report.invoices == Invoice.objects.count() and report.payments == Payment.objects.count()
    assert report.summary() in seeded


@pytest.mark.django_db
def test_seed_demo__second_run_adds_nothing(seeded):
    before = counts()
    out = StringIO()
    call_command("seed_demo", "--today", TODAY.isoformat(), stdout=out)
    assert "demo data already present" in out.getvalue().lower()
    assert counts() == before
