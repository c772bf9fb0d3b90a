"""The database itself keeps the ledger rules (PostgreSQL triggers)."""

import pytest
from django.db import IntegrityError, connection, transaction

from finance.models import Batch, FinanceSettings, JournalEntry, JournalLine
from finance.services.batches import batch_transition
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db(transaction=True)


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


# --- The balance check runs once per transaction over the entries its statements touched
# (statement-level triggers with transition tables feed a queue; one deferred check).


def _raw_entry(cur, batch, description="raw", is_posted=True) -> int:
    cur.execute(
        "INSERT INTO finance_journalentry (batch_id, date, kind, description, is_posted, exclude_from_gl_export, "
        "created_at) VALUES (%s, '2026-01-01', 'adjustment', %s, %s, false, now()) RETURNING id",
        [batch.pk, description, is_posted],
    )
    return cur.fetchone()[0]


def _raw_line(cur, entry_id, account, debit, credit):
    cur.execute(
        "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, description) "
        "VALUES (%s, %s, %s, %s, 'USD', '')",
        [entry_id, account.pk, debit, credit],
    )


def _queued(cur) -> tuple[int, int]:
    cur.execute("SELECT count(*) FROM finance_journal_check_queue WHERE xact = txid_current()")
    queued = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM finance_journal_check_pending WHERE xact = txid_current()")
    return queued, cur.fetchone()[0]


def test_balance_check__legs_written_by_separate_statements_commit_once_balanced(ledger):
    batch = BatchFactory()
    with transaction.atomic(), connection.cursor() as cur:
        entry_id = _raw_entry(cur, batch)
        _raw_line(cur, entry_id, ledger.cash, "25.00", "0")
        _raw_line(cur, entry_id, ledger.income, "0", "20.00")
        _raw_line(cur, entry_id, ledger.income, "0", "5.00")
        # Three statements queued the entry three times, the transaction's check once.
        assert _queued(cur) == (3, 1)
    assert JournalLine.objects.filter(entry_id=entry_id).count() == 3
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM finance_journal_check_queue) + "
            "(SELECT count(*) FROM finance_journal_check_pending)"
        )
        assert cur.fetchone()[0] == 0  # emptied by the check at commit


def test_balance_check__one_statement_for_many_entries_names_the_unbalanced_one(ledger):
    batch = BatchFactory()
    with connection.cursor() as cur:
        with pytest.raises(
            IntegrityError, match=r"journal entry (\d+) does not balance in USD: debits 7.00, credits 6.00"
        ) as info:
            with transaction.atomic():
                ids = [_raw_entry(cur, batch, f"bulk {n}") for n in range(3)]
                cur.execute(
                    "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, description) "
                    "SELECT e, a, d, c, 'USD', '' FROM (VALUES (%s, %s, 5.00, 0), (%s, %s, 0, 5.00), "
                    "(%s, %s, 7.00, 0), (%s, %s, 0, 6.00), (%s, %s, 1.00, 0), (%s, %s, 0, 1.00)) v(e, a, d, c)",
                    [
                        ids[0],
                        ledger.cash.pk,
                        ids[0],
                        ledger.income.pk,
                        ids[1],
                        ledger.cash.pk,
                        ids[1],
                        ledger.income.pk,
                        ids[2],
                        ledger.cash.pk,
                        ids[2],
                        ledger.income.pk,
                    ],
                )
                assert _queued(cur) == (3, 1)
    assert str(ids[1]) in str(info.value)
    assert not JournalEntry.objects.filter(description__startswith="bulk").exists()


def test_balance_check__rolled_back_savepoint_takes_its_lines_and_queue_away(ledger):
    batch = BatchFactory()
    with transaction.atomic(), connection.cursor() as cur:
        entry_id = _raw_entry(cur, batch, "kept")
        _raw_line(cur, entry_id, ledger.cash, "10.00", "0")
        _raw_line(cur, entry_id, ledger.income, "0", "10.00")
        try:
            with transaction.atomic():
                _raw_line(cur, entry_id, ledger.cash, "3.00", "0")  # would unbalance the entry
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        assert _queued(cur) == (2, 1)
    assert JournalLine.objects.filter(entry_id=entry_id).count() == 2


def test_balance_check__first_write_in_a_rolled_back_savepoint_then_unbalanced_write_still_fails(ledger):
    """The pending row (and its deferred check) inserted in a savepoint that is rolled
    back goes with it; the next statement queues the check again."""
    batch = BatchFactory()
    with connection.cursor() as cur:
        entry_id = None
        with pytest.raises(IntegrityError, match="does not balance in USD: debits 4.00, credits 0"):
            with transaction.atomic():
                entry_id = _raw_entry(cur, batch, "twice")
                try:
                    with transaction.atomic():
                        _raw_line(cur, entry_id, ledger.cash, "1.00", "0")
                        raise RuntimeError("undo")
                except RuntimeError:
                    pass
                assert _queued(cur) == (0, 0)
                _raw_line(cur, entry_id, ledger.cash, "4.00", "0")
    assert not JournalEntry.objects.filter(description="twice").exists()


def test_balance_check__unbalanced_lines_in_a_released_savepoint_fail_at_commit(ledger):
    batch = BatchFactory()
    with connection.cursor() as cur:
        with pytest.raises(IntegrityError, match="does not balance in USD: debits 9.00, credits 0"):
            with transaction.atomic():
                entry_id = _raw_entry(cur, batch, "released")
                with transaction.atomic():
                    _raw_line(cur, entry_id, ledger.cash, "9.00", "0")
    assert not JournalEntry.objects.filter(description="released").exists()


def test_balance_check__set_constraints_immediate_checks_at_once(ledger):
    batch = BatchFactory()
    with connection.cursor() as cur:
        with transaction.atomic():
            entry_id = _raw_entry(cur, batch, "immediate")
            _raw_line(cur, entry_id, ledger.cash, "2.00", "0")
            with pytest.raises(IntegrityError, match="debits 2.00, credits 0"), transaction.atomic():
                cur.execute("SET CONSTRAINTS journal_entry_balanced IMMEDIATE")
            _raw_line(cur, entry_id, ledger.income, "0", "2.00")
            cur.execute("SET CONSTRAINTS journal_entry_balanced IMMEDIATE")  # balanced now: passes
            assert _queued(cur) == (0, 0)  # checked and emptied
            # Still immediate: the next unbalancing statement fails at its end.
            with pytest.raises(IntegrityError, match="debits 3.00, credits 2.00"), transaction.atomic():
                _raw_line(cur, entry_id, ledger.cash, "1.00", "0")
    assert JournalLine.objects.filter(entry_id=entry_id).count() == 2


def test_balance_check__update_and_delete_of_draft_lines_are_checked(ledger):
    batch = BatchFactory()
    with transaction.atomic(), connection.cursor() as cur:
        first = _raw_entry(cur, batch, "draft 1", is_posted=False)
        second = _raw_entry(cur, batch, "draft 2", is_posted=False)
        for entry_id in (first, second):
            _raw_line(cur, entry_id, ledger.cash, "5.00", "0")
            _raw_line(cur, entry_id, ledger.income, "0", "5.00")
    with connection.cursor() as cur:
        # Moving a line to another entry unbalances both: the old entry is checked too.
        with pytest.raises(IntegrityError, match=f"journal entry {first} does not balance"), transaction.atomic():
            cur.execute(
                "UPDATE finance_journalline SET entry_id = %s WHERE entry_id = %s AND debit > 0", [second, first]
            )
        with pytest.raises(IntegrityError, match=f"journal entry {second} does not balance"), transaction.atomic():
            cur.execute("UPDATE finance_journalline SET credit = 4.00 WHERE entry_id = %s AND credit > 0", [second])
        with pytest.raises(IntegrityError, match=f"journal entry {first} does not balance"), transaction.atomic():
            cur.execute("DELETE FROM finance_journalline WHERE entry_id = %s AND credit > 0", [first])
        with transaction.atomic():  # both legs go: nothing left to balance
            cur.execute("DELETE FROM finance_journalline WHERE entry_id = %s", [first])
    assert JournalLine.objects.filter(entry_id=second).count() == 2
    assert not JournalLine.objects.filter(entry_id=first).exists()


def test_batch_guard__one_statement_with_a_row_in_a_posted_batch_is_refused(ledger):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    open_batch, posted = BatchFactory(), BatchFactory()
    batch_transition(batch=posted, to_status=Batch.Status.READY)
    batch_transition(batch=posted, to_status=Batch.Status.POSTED)
    with connection.cursor() as cur:
        with pytest.raises(IntegrityError, match=f"batch {posted.number} is posted; it takes no new transactions"):
            with transaction.atomic():
                cur.execute(
                    "INSERT INTO finance_journalentry (batch_id, date, kind, description, is_posted, "
                    "exclude_from_gl_export, created_at) VALUES (%s, '2026-01-01', 'adjustment', 'mixed', false, "
                    "false, now()), (%s, '2026-01-01', 'adjustment', 'mixed', false, false, now())",
                    [open_batch.pk, posted.pk],
                )
        with transaction.atomic():
            _raw_entry(cur, open_batch, "mixed", is_posted=False)
    assert JournalEntry.objects.filter(description="mixed").count() == 1
