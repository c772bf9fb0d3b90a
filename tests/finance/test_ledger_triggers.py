"""The database itself keeps the ledger rules (PostgreSQL triggers)."""

import pytest
from django.db import IntegrityError, connection, transaction

from finance.models import Batch, FinanceSettings, JournalEntry, JournalLine
from finance.services.batches import batch_transition
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_unbalanced_entry_inserted_with_raw_sql_fails_at_commit(ledger):
    batch = BatchFactory()
    with connection.cursor() as cur:
        with pytest.raises(IntegrityError, match="does not balance in USD: debits 10.00, credits 9.99"):
            with transaction.atomic():
                cur.execute(
                    "INSERT INTO finance_journalentry (batch_id, date, kind, description, is_posted, "
                    "exclude_from_gl_export, created_at) VALUES (%s, '2026-01-01', 'adjustment', 'raw', true, false, "
                    "now()) RETURNING id",
                    [batch.pk],
                )
                entry_id = cur.fetchone()[0]
                cur.execute(
                    "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, description) "
                    "VALUES (%s, %s, 10.00, 0, 'USD', ''), (%s, %s, 0, 9.99, 'USD', '')",
                    [entry_id, ledger.cash.pk, entry_id, ledger.income.pk],
                )
                # Still inside the transaction: the deferred check has not run yet.
                cur.execute("SELECT count(*) FROM finance_journalline WHERE entry_id = %s", [entry_id])
                assert cur.fetchone()[0] == 2
    assert not JournalEntry.objects.filter(description="raw").exists()


def test_balanced_entry_inserted_with_raw_sql_commits(ledger):
    batch = BatchFactory()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO finance_journalentry (batch_id, date, kind, description, is_posted, exclude_from_gl_export, "
            "created_at) VALUES (%s, '2026-01-01', 'adjustment', 'raw ok', true, false, now()) RETURNING id",
            [batch.pk],
        )
        entry_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, description) "
            "VALUES (%s, %s, 10.00, 0, 'USD', ''), (%s, %s, 0, 10.00, 'USD', '')",
            [entry_id, ledger.cash.pk, entry_id, ledger.income.pk],
        )
    assert JournalLine.objects.filter(entry_id=entry_id).count() == 2


def test_posted_journal_line_refuses_update_and_delete(ledger):
    make_invoice(ledger, ContactFactory(), BatchFactory(), "100")
    line = JournalLine.objects.first()
    with pytest.raises(IntegrityError, match="cannot be changed"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).update(debit=line.debit + 1 if line.debit else 0)
    with pytest.raises(IntegrityError, match="cannot be changed"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM finance_journalline WHERE id = %s", [line.pk])
    with pytest.raises(IntegrityError, match="cannot be deleted"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM finance_journalentry WHERE id = %s", [line.entry_id])
    line.refresh_from_db()
    assert JournalLine.objects.filter(pk=line.pk).exists()


def test_posted_batch_refuses_new_rows_and_changes_in_the_database(ledger):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    batch = BatchFactory()
    make_invoice(ledger, ContactFactory(), batch, "100")
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    batch_transition(batch=batch, to_status=Batch.Status.POSTED)
    with pytest.raises(IntegrityError, match="takes no new transactions"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO finance_journalentry (batch_id, date, kind, description, is_posted, "
                "exclude_from_gl_export, created_at) VALUES (%s, '2026-01-01', 'adjustment', '', true, false, now())",
                [batch.pk],
            )
    with pytest.raises(IntegrityError, match="is posted and cannot be changed"), transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.OPEN)
