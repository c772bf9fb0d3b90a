"""The ledger's references are PostgreSQL foreign keys (migration 0022), with a foreign
key's guarantees, and the triggers left on the ledger tables run whatever the session's
search_path (migration 0023)."""

import datetime
from decimal import Decimal

import psycopg
import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.db import connection, models
from django.utils import timezone
from psycopg import sql

from finance.ledger_check import ledger_references, verify_ledger
from finance.models import (
    Contact,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
)
from finance.reporting.models import ContactBalance
from tests.db import conninfo
from tests.factories import BatchFactory, ContactFactory

DAY = datetime.date(2026, 1, 10)

LINE_OF_INVOICE = ("finance_paymentapplication", ("line_id", "invoice_id"), "finance_invoiceline", ("id", "invoice_id"))
CASH_ACCOUNT_OF_ENTITY = ("finance_payment", ("cash_account_id", "entity_id"), "finance_glaccount", ("id", "entity_id"))
# Foreign key fields without a key of their own: a composite key covers each (one check
# per row instead of two, and the pair must match). The invoice of an application and
# the entity of a payment exist because the line's and the account's own keys name them.
UNCONSTRAINED = {
    ("finance_paymentapplication", "line_id"): LINE_OF_INVOICE,
    ("finance_paymentapplication", "invoice_id"): LINE_OF_INVOICE,
    ("finance_payment", "cash_account_id"): CASH_ACCOUNT_OF_ENTITY,
    ("finance_payment", "entity_id"): CASH_ACCOUNT_OF_ENTITY,
}


def insert_row(cur, obj, schema=None):
    """Write a model instance with one plain INSERT (no ORM), its table named with
    ``schema`` when given; set its primary key."""
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    table = sql.Identifier(schema, meta.db_table) if schema else sql.Identifier(meta.db_table)
    cur.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            table,
            sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
            sql.SQL(", ").join(sql.Placeholder() * len(fields)),
            sql.Identifier(meta.pk.column),
        ),
        values,
    )
    obj.pk = cur.fetchone()[0]
    return obj


def a_payment(ledger, payer, batch, amount="10.00", **fields):
    return Payment(
        payer=payer,
        method=ledger.cash_method,
        entity=ledger.entity,
        cash_account=ledger.cash,
        amount=Decimal(amount),
        currency="USD",
        date=DAY,
        batch=batch,
        **fields,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_row_referenced_since_the_deleters_snapshot_cannot_be_deleted(ledger, isolation):
    """A transaction whose snapshot predates a payment that another session committed
    deletes the payer: PostgreSQL's key checks the rows committed since, and the commit
    fails instead of leaving the payment naming a contact that is not there."""
    contact, batch = ContactFactory(), BatchFactory()
    with psycopg.connect(conninfo()) as deleter:
        deleter.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        taken = deleter.execute("SELECT count(*) FROM finance_payment WHERE payer_id = %s", [contact.pk])
        assert taken.fetchone() == (0,)  # the deleter's snapshot: no payment yet
        with connection.cursor() as cur:  # Django's session, autocommit: committed now
            payment = insert_row(cur, a_payment(ledger, contact, batch))
        deleter.execute("DELETE FROM finance_contact WHERE id = %s", [contact.pk])
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
            deleter.commit()
    assert err.value.diag.table_name == "finance_payment"
    assert Payment.objects.get(pk=payment.pk).payer_id == contact.pk
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_table_the_ledger_refers_to_cannot_be_truncated_on_its_own(ledger):
    """TRUNCATE fires no row trigger: only a foreign key refuses it (CASCADE, which
    empties the referencing tables too, has to be asked for)."""
    contact, batch = ContactFactory(), BatchFactory()
    with connection.cursor() as cur:
        insert_row(cur, a_payment(ledger, contact, batch))
    parents = sorted({fk.target_field.model._meta.db_table for fk in ledger_references()})
    assert {"finance_contact", "finance_invoice", "finance_journalentry", "finance_payment"} <= set(parents)
    truncated = []
    with psycopg.connect(conninfo(), autocommit=True) as other:
        for table in parents:
            try:
                with other.transaction(force_rollback=True):  # undone, should it succeed
                    other.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
                truncated.append(table)
            except psycopg.errors.FeatureNotSupported as exc:
                assert "cannot truncate a table referenced in a foreign key constraint" in str(exc)
    assert truncated == []
    assert Payment.objects.filter(payer=contact).count() == 1


@pytest.mark.django_db(transaction=True)
def test_postings_are_written_and_checked_with_an_empty_search_path(ledger):
    """A session that names every table with its schema and has an empty search_path
    (as pg_dump and pg_restore scripts set it) writes an invoice, a payment applied to
    it and their journal: the triggers on those tables (posted batch, kept contact
    balances, membership dates, journal balance at commit) run, and the books hold."""
    contact, batch = ContactFactory(), BatchFactory()
    with connection.cursor() as cur:
        cur.execute("SELECT current_schema()")
        (schema,) = cur.fetchone()
    with psycopg.connect(conninfo()) as session, session.cursor() as cur:
        cur.execute("SELECT pg_catalog.set_config('search_path', '', false)")
        cur.execute("SHOW search_path")
        assert cur.fetchone() == ("",)

        def insert(obj):
            return insert_row(cur, obj, schema)

        invoice = insert(
            Invoice(
                number="SP-1",
                entity=ledger.entity,
                bill_to=contact,
                sold_to=contact,
                date=DAY,
                due_date=DAY,
                currency="USD",
                batch=batch,
                total=Decimal("100.00"),
                balance=Decimal("100.00"),
            )
        )
        line = insert(
            InvoiceLine(
                invoice=invoice,
                line_number=1,
                product=ledger.dues,
                description="Dues",
                unit_price=Decimal("100.00"),
                amount=Decimal("100.00"),
                account=ledger.income,
                balance=Decimal("100.00"),
            )
        )
        entry = insert(JournalEntry(batch=batch, date=DAY, kind=JournalEntry.Kind.INVOICE, invoice=invoice))
        insert(JournalLine(entry=entry, account=ledger.ar, debit=Decimal("100.00"), currency="USD", contact=contact))
        insert(JournalLine(entry=entry, account=ledger.income, credit=Decimal("100.00"), currency="USD"))

        payment = insert(a_payment(ledger, contact, batch, "40.00", amount_applied=Decimal("40.00")))
        insert(PaymentApplication(payment=payment, line=line, invoice=invoice, amount=Decimal("40.00")))
        cur.execute(
            sql.SQL("UPDATE {} SET balance = balance - 40 WHERE id = %s").format(
                sql.Identifier(schema, "finance_invoiceline")
            ),
            [line.pk],
        )
        cur.execute(
            sql.SQL("UPDATE {} SET balance = balance - 40 WHERE id = %s").format(
                sql.Identifier(schema, "finance_invoice")
            ),
            [invoice.pk],
        )
        entry = insert(JournalEntry(batch=batch, date=DAY, kind=JournalEntry.Kind.PAYMENT, payment=payment))
        insert(JournalLine(entry=entry, account=ledger.cash, debit=Decimal("40.00"), currency="USD"))
        insert(JournalLine(entry=entry, account=ledger.ar, credit=Decimal("40.00"), currency="USD", contact=contact))
        session.commit()

        # The balance check still refuses an unbalanced entry at commit, with its message.
        entry = insert(JournalEntry(batch=batch, date=DAY, kind=JournalEntry.Kind.ADJUSTMENT))
        insert(JournalLine(entry=entry, account=ledger.cash, debit=Decimal("5.00"), currency="USD"))
        with pytest.raises(psycopg.errors.CheckViolation, match=f"journal entry {entry.pk} does not balance in USD"):
            session.commit()

    assert Invoice.objects.get(pk=invoice.pk).balance == Decimal("60.00")
    kept = ContactBalance.objects.get(contact=contact, currency="USD")
    assert (kept.receivable, kept.receivable_count) == (Decimal("60.00"), 1)
    assert not JournalEntry.objects.filter(kind=JournalEntry.Kind.ADJUSTMENT).exists()
    report = verify_ledger()
    assert report.ok, report.format()


@pytest.mark.django_db
def test_every_function_a_trigger_calls_sets_its_search_path():
    """A function that names its tables without a schema runs with the caller's
    search_path unless it sets its own: a new trigger function must too (and CREATE OR
    REPLACE FUNCTION without SET drops it)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT DISTINCT p.oid::regprocedure::text, p.proconfig
              FROM pg_trigger t
              JOIN pg_proc p ON p.oid = t.tgfoid
              JOIN pg_class c ON c.oid = t.tgrelid
             WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
            """
        )
        functions = cur.fetchall()
    assert len(functions) >= 10
    unset = [name for name, config in functions if not any(c.startswith("search_path=") for c in config or [])]
    assert unset == []


def _app_foreign_keys():
    """Every foreign key field (one-to-one included) of the models of the core, finance,
    checkout, API, integrations and audit apps, many-to-many tables included."""
    product_apps = {"core", "finance", "checkout", "api", "integrations", "audit"}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_config.name.split(".")[0] not in product_apps:
            continue
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.local_concrete_fields:
            if isinstance(field, models.ForeignKey):
                yield field


@pytest.mark.django_db
def test_information_schema_lists_every_reference_as_a_validated_deferred_foreign_key():
    """What BI tools, ERD and dbt read, and what ``inspectdb`` reads: every foreign key
    field of the product's models is a foreign key there (DEFERRABLE INITIALLY DEFERRED,
    as Django declares them), and validated, unless it is one of the few that
    deliberately have none."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT k.table_name, array_agg(k.column_name::text ORDER BY k.ordinal_position),
                   r.table_name, array_agg(r.column_name::text ORDER BY k.ordinal_position),
                   t.is_deferrable, t.initially_deferred, bool_and(c.convalidated), rc.constraint_name
              FROM information_schema.referential_constraints rc
              JOIN information_schema.table_constraints t
                ON t.constraint_schema = rc.constraint_schema AND t.constraint_name = rc.constraint_name
              JOIN information_schema.key_column_usage k
                ON k.constraint_schema = rc.constraint_schema AND k.constraint_name = rc.constraint_name
              JOIN information_schema.key_column_usage r
                ON r.constraint_schema = rc.unique_constraint_schema
               AND r.constraint_name = rc.unique_constraint_name
               AND r.ordinal_position = k.position_in_unique_constraint
              JOIN pg_constraint c
                ON c.conname = rc.constraint_name AND c.connamespace = current_schema()::regnamespace
             WHERE rc.constraint_schema = current_schema()
             GROUP BY k.table_name, r.table_name, t.is_deferrable, t.initially_deferred, rc.constraint_name
            """
        )
        keys = {
            (table, tuple(cols), parent, tuple(pcols)): rest for table, cols, parent, pcols, *rest in cur.fetchall()
        }
    missing, not_deferred, not_validated, fields = [], [], [], 0
    for field in _app_foreign_keys():
        fields += 1
        table, parent = field.model._meta.db_table, field.target_field.model._meta.db_table
        key = (table, (field.column,), parent, (field.target_field.column,))
        if not field.db_constraint:
            assert (table, field.column) in UNCONSTRAINED, f"{table}.{field.column} has db_constraint=False"
            continue
        if key not in keys:
            missing.append(f"{table}.{field.column} → {parent}")
            continue
        deferrable, deferred, validated, name = keys[key]
        if (deferrable, deferred) != ("YES", "YES"):
            not_deferred.append(name)
        if not validated:
            not_validated.append(name)
    assert fields > 60
    assert missing == []
    assert not_deferred == []
    assert not_validated == []
    for composite in set(UNCONSTRAINED.values()):
        assert composite in keys, composite
        assert tuple(keys[composite][:3]) == ("YES", "YES", True), composite


@pytest.mark.django_db
def test_a_fixture_listing_rows_before_the_rows_they_name_loads(ledger, tmp_path):
    """Django declares its keys DEFERRABLE INITIALLY DEFERRED: loaddata checks them once
    the whole fixture is in, so a fixture may list an invoice line before its invoice
    and the invoice before its contact and batch."""
    now = timezone.now()
    contact = ContactFactory.build(pk=900_001)
    batch = BatchFactory.build(pk=900_002)
    invoice = Invoice(
        pk=900_003,
        number="FX-1",
        entity=ledger.entity,
        bill_to=contact,
        sold_to=contact,
        date=DAY,
        due_date=DAY,
        currency="USD",
        batch=batch,
        total=Decimal("100.00"),
        balance=Decimal("100.00"),
        created_at=now,
    )
    line = InvoiceLine(
        pk=900_004,
        invoice=invoice,
        line_number=1,
        product=ledger.dues,
        description="Dues",
        unit_price=Decimal("100.00"),
        amount=Decimal("100.00"),
        account=ledger.income,
        balance=Decimal("100.00"),
    )
    for obj in (contact, batch):
        for field in obj._meta.concrete_fields:
            if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
                setattr(obj, field.attname, now)
    fixture = tmp_path / "children_first.json"
    fixture.write_text(serializers.serialize("json", [line, invoice, contact, batch]))

    call_command("loaddata", str(fixture), verbosity=0)

    loaded = InvoiceLine.objects.select_related("invoice__bill_to", "invoice__batch").get(pk=line.pk)
    assert (loaded.invoice.number, loaded.invoice.bill_to.name, loaded.invoice.batch.number) == (
        "FX-1",
        contact.name,
        batch.number,
    )
