"""The ledger tables' references, checked once per statement (finance.references)."""

import importlib
import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, connection, models, transaction

from finance.models import Invoice, InvoiceLine, JournalEntry, JournalLine, Payment, PaymentApplication
from finance.models_ar_import import ARImportRow
from finance.services.payments import payment_receive
from tests.db import conninfo
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

migration = importlib.import_module("finance.migrations.0016_statement_level_references")
MISSING = 987_654_321


def _insert_payment(cur, ledger, batch, payer_id, amount="10.00"):
    cur.execute(
        "INSERT INTO finance_payment (payer_id, method_id, entity_id, cash_account_id, amount, currency, date,"
        " reference, batch_id, status, source, amount_applied, refunded_amount, processor_charge_id,"
        " reversal_reason, created_at)"
        " VALUES (%s, %s, %s, %s, %s, 'USD', '2026-01-01', '', %s, 'posted', 'staff', 0, 0, '', '', now())"
        " RETURNING id",
        [payer_id, ledger.cash_method.pk, ledger.entity.pk, ledger.cash.pk, amount, batch.pk],
    )
    return cur.fetchone()[0]


def test_a_row_naming_a_missing_row_fails_its_statement_with_the_key(ledger):
    batch = BatchFactory()
    with pytest.raises(IntegrityError) as err, transaction.atomic(), connection.cursor() as cur:
        _insert_payment(cur, ledger, batch, MISSING)
    assert 'violates foreign key constraint "payment_payer_ref"' in str(err.value)
    assert err.value.__cause__.diag.message_detail == (
        f'Key (payer_id)=({MISSING}) is not present in table "finance_contact".'
    )
    assert err.value.__cause__.sqlstate == "23503"
    assert not Payment.objects.exists()


def test_one_bad_row_among_many_fails_the_whole_statement(ledger):
    contacts = [ContactFactory() for _ in range(3)]
    batch = BatchFactory()
    with pytest.raises(IntegrityError, match="invoice_bill_to_ref"), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO finance_invoice (number, entity_id, bill_to_id, sold_to_id, date, due_date,"
            " accounting_method, type, source, currency, batch_id, description, total, balance, created_at)"
            " SELECT 'R' || g, %s, b, b, '2026-01-01', '2026-01-01', 'accrual', 'regular', 'staff', 'USD', %s, '',"
            " 0, 0, now() FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(b, g)",
            [ledger.entity.pk, batch.pk, [c.pk for c in contacts] + [MISSING] + [contacts[0].pk] * 100],
        )
    assert not Invoice.objects.filter(number__startswith="R").exists()


def test_null_keys_are_not_checked(ledger):
    invoice = make_invoice(ledger, ContactFactory(), BatchFactory(), "100")
    assert invoice.reversal_of_id is None and invoice.created_by_id is None


def test_an_application_must_name_a_line_of_its_own_invoice(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    first, second = make_invoice(ledger, contact, batch, "100"), make_invoice(ledger, contact, batch, "50")
    payment = payment_receive(payer=contact, method=ledger.cash_method, amount="10", date=first.date, batch=batch)
    line = InvoiceLine.objects.get(invoice=first)
    with pytest.raises(IntegrityError) as err, transaction.atomic():
        PaymentApplication.objects.create(payment=payment, line=line, invoice=second, amount=Decimal("1.00"))
    assert "application_line_of_invoice" in str(err.value)
    assert f"Key (line_id, invoice_id)=({line.pk}, {second.pk})" in err.value.__cause__.diag.message_detail


def test_changing_a_reference_is_checked_and_other_updates_are_not_refused(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    payment = payment_receive(payer=contact, method=ledger.cash_method, amount="10", date="2026-01-01", batch=batch)
    with pytest.raises(IntegrityError, match="payment_payer_ref"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(payer_id=MISSING)
    other = ContactFactory()
    Payment.objects.filter(pk=payment.pk).update(payer_id=other.pk)
    Payment.objects.filter(pk=payment.pk).update(reversal_reason="checked")
    payment.refresh_from_db()
    assert (payment.payer_id, payment.reversal_reason) == (other.pk, "checked")


def test_a_referenced_row_cannot_be_deleted_or_rekeyed_and_an_unreferenced_one_can(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    payment_receive(payer=contact, method=ledger.cash_method, amount="10", date="2026-01-01", batch=batch)
    with connection.cursor() as cur:
        with pytest.raises(IntegrityError) as err, transaction.atomic():
            cur.execute("DELETE FROM finance_contact WHERE id = %s", [contact.pk])
        assert 'violates foreign key constraint "payment_payer_ref" on table "finance_payment"' in str(err.value)
        assert err.value.__cause__.diag.message_detail == (
            f'Key (id)=({contact.pk}) is still referenced from table "finance_payment".'
        )
        with pytest.raises(IntegrityError, match="payment_payer_ref"), transaction.atomic():
            cur.execute("UPDATE finance_contact SET id = %s WHERE id = %s", [MISSING, contact.pk])
        unused = ContactFactory()
        cur.execute("DELETE FROM finance_contact WHERE id = %s", [unused.pk])
        assert cur.rowcount == 1
    assert Payment.objects.filter(payer=contact).count() == 1


def test_a_delete_waits_for_the_writer_holding_the_referenced_row_then_fails(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    outcome = {}
    with psycopg.connect(conninfo()) as writer:
        with writer.cursor() as cur:
            _insert_payment(cur, ledger, batch, contact.pk)  # not committed yet

        def delete():
            with psycopg.connect(conninfo(), autocommit=True) as deleter:
                try:
                    deleter.execute("DELETE FROM finance_contact WHERE id = %s", [contact.pk])
                    outcome["deleted"] = True
                except psycopg.errors.ForeignKeyViolation as exc:
                    outcome["refused"] = exc.diag.constraint_name

        thread = threading.Thread(target=delete)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the delete must wait for the payment's transaction"
        writer.commit()
        thread.join(timeout=10)
    assert outcome == {"refused": "payment_payer_ref"}
    assert Payment.objects.filter(payer_id=contact.pk).count() == 1


def test_a_writer_waits_for_an_uncommitted_delete_of_its_referenced_row_then_fails(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    outcome = {}
    with psycopg.connect(conninfo()) as deleter:
        deleter.execute("DELETE FROM finance_contact WHERE id = %s", [contact.pk])  # not committed yet

        def write():
            with psycopg.connect(conninfo()) as writer, writer.cursor() as cur:
                try:
                    _insert_payment(cur, ledger, batch, contact.pk)
                    writer.commit()
                    outcome["written"] = True
                except psycopg.errors.ForeignKeyViolation as exc:
                    outcome["refused"] = exc.diag.constraint_name

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the payment must wait for the delete's transaction"
        deleter.commit()
        thread.join(timeout=10)
    assert outcome == {"refused": "payment_payer_ref"}
    assert not Payment.objects.exists()


LEDGER_MODELS = [Invoice, InvoiceLine, Payment, PaymentApplication, JournalEntry, JournalLine, ARImportRow]


def test_every_reference_of_the_ledger_tables_is_checked_by_the_database(ledger):
    """Each foreign key field of these models is either a PostgreSQL foreign key or
    one of the references the triggers check: a field added with db_constraint=False
    and no reference fails here."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT conrelid::regclass::text, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.contype = 'f'"
        )
        constrained = set(cur.fetchall())
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE '%%_refs_%%'")
        triggers = {r[0] for r in cur.fetchall()}
    checked = {(r.table, c) for r in migration.references("auth_user") for c in r.columns}
    for model in LEDGER_MODELS:
        table = model._meta.db_table
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey):
                key = (table, field.column)
                assert key in constrained or key in checked, f"{table}.{field.column} is not checked"
    for ref in migration.references("auth_user"):
        assert {f"{ref.table}_refs_written", f"{ref.table}_refs_changed"} <= triggers
        assert {f"{ref.parent}_refs_deleted", f"{ref.parent}_refs_rekeyed"} <= triggers
