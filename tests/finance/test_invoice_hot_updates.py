"""An invoice balance change is a heap-only (HOT) update on PostgreSQL: no index of the
invoice table names the balance (finance migration 0015), so the payments, credits and
the AR import's posting change balances without writing any index entry. An index that
names the balance (a key or included column, or a partial index's condition) would make
every balance change write every index again: these tests fail then."""

import pytest
from django.db import connection
from django.db.models import F

from finance.models import Invoice
from finance.services.payments import ApplicationSpec, payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = pytest.mark.django_db


def invoice_updates() -> tuple[int, int]:
    """(rows updated, of which heap-only) in the invoice table by this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            [Invoice._meta.db_table] * 2,
        )
        return cursor.fetchone()


def test_invoice_indexes__none_names_the_balance():
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = %s::regclass
                  AND (pg_get_indexdef(i.indexrelid) ~* '\\mbalance\\M')""",
            [Invoice._meta.db_table],
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [Invoice._meta.db_table])
        assert cursor.fetchone()[0] == ["fillfactor=70"]


def test_invoice_balance_update__is_heap_only(ledger):
    contact = ContactFactory()
    invoice = make_invoice(ledger, contact, BatchFactory(), "100.00")
    updated, hot = invoice_updates()
    Invoice.objects.filter(pk=invoice.pk).update(balance=F("balance") - D("40.00"))
    assert invoice_updates() == (updated + 1, hot + 1)
    invoice.refresh_from_db()
    assert invoice.balance == D("60.00")


def test_payment_applied_to_an_invoice__changes_its_balance_heap_only(ledger):
    contact = ContactFactory()
    batch = BatchFactory()
    invoice = make_invoice(ledger, contact, batch, "100.00")
    updated, hot = invoice_updates()
    payment_receive(
        payer=contact, method=ledger.cash_method, amount="25.00", date=invoice.date, batch=batch,
        applications=[ApplicationSpec(line=invoice.lines.get(), amount=D("25.00"))],
    )  # fmt: skip
    after_updated, after_hot = invoice_updates()
    assert after_updated > updated
    assert after_hot - hot == after_updated - updated
