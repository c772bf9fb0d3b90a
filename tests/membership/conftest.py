"""Fixtures of the membership tests: member types on the test ledger."""

import datetime
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from finance.membership.models import MemberType, MemberTypeProduct, Subscription
from finance.models import GLAccount, PaymentMethod, Product
from tests.e2e.conftest import browser_page, screenshot  # noqa: F401 - browser fixtures for the walk-through
from tests.factories import BatchFactory, ContactFactory, GLAccountFactory, ProductFactory

D = Decimal


@pytest.fixture
def open_credit_method(db):
    return PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT)


@pytest.fixture
def member_types(ledger, open_credit_method):
    """REG (dues 250 + chapter 30 + journal 20 = 300) and STU (dues only, 50)."""
    chapter_income = GLAccountFactory(
        entity=ledger.entity, code="4010-10", name="Chapter dues", type=GLAccount.Type.INCOME
    )
    chapter = ProductFactory(
        code="CHAPTER",
        name="Chapter dues",
        entity=ledger.entity,
        income_account=chapter_income,
        price=D("30.00"),
        kind=Product.Kind.DUES,
    )
    journal = ProductFactory(
        code="JOURNAL",
        name="Journal subscription",
        entity=ledger.entity,
        income_account=ledger.income,
        price=D("20.00"),
        kind=Product.Kind.PUBLICATION,
    )
    student_fee = ProductFactory(
        code="STU-DUES",
        name="Student dues",
        entity=ledger.entity,
        income_account=ledger.income,
        price=D("50.00"),
        kind=Product.Kind.DUES,
    )
    reg = MemberType.objects.create(code="REG", name="Regular member", fee_product=ledger.dues)
    MemberTypeProduct.objects.create(member_type=reg, product=chapter, position=1)
    MemberTypeProduct.objects.create(member_type=reg, product=journal, position=2)
    stu = MemberType.objects.create(code="STU", name="Student member", fee_product=student_fee)
    return {"REG": reg, "STU": stu, "chapter": chapter, "journal": journal}


@pytest.fixture
def batch(db):
    return BatchFactory(date=datetime.date(2026, 1, 15))


def make_member(member_type, paid_through, *, status=Subscription.Status.ACTIVE, term_months=12, **contact):
    """A contact with a migrated subscription paid through ``paid_through``."""
    person = ContactFactory(**contact)
    sub = Subscription.objects.create(
        contact=person,
        member_type=member_type,
        status=status,
        term_months=term_months,
        join_date=datetime.date(2020, 1, 1),
        opening_paid_through=paid_through,
        paid_through=paid_through,
        renewed_through=paid_through,
    )
    return person, sub


@pytest.fixture
def eager_celery():
    """Tasks run inline when sent (views send them after commit)."""
    from paycentral.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = saved


@pytest.fixture
def membership_manager(db, django_user_model, grant):
    """Membership 4 (run and post renewals), AR/Cash 2."""
    from core.models import Module

    user = django_user_model.objects.create_user("mm", password="pw-mm-12345", is_staff=True)
    grant(user, Module.MEMBERSHIP, 4)
    grant(user, Module.AR_CASH, 2)
    return user


@pytest.fixture
def worker():
    """An embedded worker of the project's Celery app on the test Redis (tasks run for real)."""
    import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for the start-up check

    from paycentral.celery import app

    saved = (app.conf.result_backend, app._backend_cache, app._local.__dict__.pop("backend", None))
    app.conf.result_backend = settings.TEST_REDIS_URL
    app._backend_cache = None
    try:
        app.control.purge()
        with start_worker(app, perform_ping_check=True, loglevel="WARNING", shutdown_timeout=30) as w:
            yield w
    finally:
        app.conf.result_backend, app._backend_cache = saved[0], saved[1]
        app._local.__dict__.pop("backend", None)
        if saved[2] is not None:
            app._local.backend = saved[2]
