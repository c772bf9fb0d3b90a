"""The everyday services path in few statements: an invoice and the payment of it,
each its own transaction (savepoints here, inside the test's transaction)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.context import Actor, acting_as
from audit.models import AuditEvent
from finance.ledger_check import verify_ledger
from finance.models import JournalEntry, PaymentApplication
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 1, 15)


def _pair(ledger, batch, payer, n):
    invoice = invoice_create(
        bill_to=payer, entity=ledger.entity, batch=batch, lines=[LineSpec(product=ledger.event)], date=DAY
    )
    line = invoice.lines.all()[0]
    payment = payment_receive(
        payer=payer,
        method=ledger.check_method,
        amount=line.balance,
        date=DAY,
        batch=batch,
        applications=[ApplicationSpec(line=line, amount=line.balance)],
        reference=f"chk {n}",
    )
    return invoice, payment


def test_invoice_create_and_payment_receive__eight_statements_at_most(ledger):
    batch, payer = BatchFactory(), ContactFactory()
    first, _ = _pair(ledger, batch, payer, 0)  # the number sequence's first row

    with CaptureQueriesContext(connection) as ctx:
        invoice, payment = _pair(ledger, batch, payer, 1)

    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) <= 8, "\n".join(statements)
    # Savepoints and their releases included: 4 of them, 4 statements of work (a lock and a
    # write for each; the invoice's sync record is written by the invoice's statement).
    assert sum(s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) for s in statements) == 4
    # The number is taken in the statement that writes the invoice, and named in its entry.
    number = invoice.number
    assert number.isdigit() and int(number) == int(first.number) + 1
    invoice_entry = JournalEntry.objects.get(invoice=invoice)
    assert invoice_entry.description == f"Invoice {number} – {payer.name}"
    assert sorted((jl.account.code, jl.description) for jl in invoice_entry.lines.all())[0] == (
        "1200-00",
        f"Invoice {number}",
    )
    invoice.refresh_from_db()
    assert invoice.number == number
    assert invoice.balance == D("0.00")
    assert [ln.balance for ln in invoice.lines.all()] == [D("0.00")]
    assert PaymentApplication.objects.get(payment=payment).amount == D("400.00")
    entry = JournalEntry.objects.get(payment=payment)
    assert entry.description == f"Payment {payment.pk} from {payer.name}"
    assert sorted((jl.account.code, jl.debit, jl.credit) for jl in entry.lines.all()) == [
        ("1000-00", D("400.00"), D("0.00")),
        ("1200-00", D("0.00"), D("400.00")),
    ]
    assert invoice.sync_record.invoice_id == invoice.pk
    assert verify_ledger().ok


def test_invoice_create__returns_its_lines_without_reading_them(ledger):
    batch, payer = BatchFactory(), ContactFactory()
    invoice = invoice_create(
        bill_to=payer,
        entity=ledger.entity,
        batch=batch,
        lines=[LineSpec(product=ledger.dues), LineSpec(product=ledger.event, quantity=D("2"))],
        date=DAY,
    )
    with CaptureQueriesContext(connection) as ctx:
        lines = list(invoice.lines.all())
    assert ctx.captured_queries == []
    assert [(ln.line_number, ln.amount, ln.balance) for ln in lines] == [
        (1, D("250.00"), D("250.00")),
        (2, D("800.00"), D("800.00")),
    ]
    invoice.refresh_from_db()
    assert [ln.pk for ln in invoice.lines.all()] == [ln.pk for ln in lines]


def _prepared() -> dict[str, tuple[int, int]]:
    """This connection's prepared statements: (generic plans, custom plans) by text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {text: (generic, custom) for text, generic, custom in cursor.fetchall()}


def test_services_statements__prepared_once_then_not_planned_again(ledger):
    batch, payer = BatchFactory(), ContactFactory()
    for n in range(8):
        _pair(ledger, batch, payer, n)

    with CaptureQueriesContext(connection) as ctx:
        _pair(ledger, batch, payer, 8)
    work = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(work) == 4
    prepared = _prepared()
    for sql in work:
        # Prepared on this connection, and run with the plan made for any parameters
        # (after the server's first five custom plans): no parsing or planning per pair.
        generic, custom = prepared[sql]
        assert generic >= 1 and custom <= 5, sql


def test_services_statements__with_an_actor_set__same_statements_and_the_actor_recorded(ledger):
    batch, payer = BatchFactory(), ContactFactory()
    _pair(ledger, batch, payer, 0)
    with acting_as(Actor(None, "clerk at the desk")), CaptureQueriesContext(connection) as ctx:
        invoice, payment = _pair(ledger, batch, payer, 1)
    assert len(ctx.captured_queries) <= 8
    created = AuditEvent.objects.filter(action="create", content_type__app_label="finance")
    assert [e.actor_name for e in created.filter(content_type__model="invoice", object_id=str(invoice.pk))] == [
        "clerk at the desk"
    ]
    assert [e.actor_name for e in created.filter(content_type__model="payment", object_id=str(payment.pk))] == [
        "clerk at the desk"
    ]
    assert invoice.sync_record.invoice_id == invoice.pk
    assert verify_ledger().ok


def test_services_statements__preparation_off__same_rows(ledger, settings):
    settings.LEDGER_PREPARED_STATEMENTS = False
    batch, payer = BatchFactory(), ContactFactory()
    before = set(_prepared())
    for n in range(3):
        invoice, payment = _pair(ledger, batch, payer, n)
    assert set(_prepared()) == before
    invoice.refresh_from_db()
    assert invoice.balance == D("0.00") and payment.amount_applied == D("400.00")
    assert invoice.sync_record.invoice_id == invoice.pk
    assert verify_ledger().ok
