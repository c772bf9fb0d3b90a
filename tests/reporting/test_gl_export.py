"""GL interface export: posted batches only, each entry once, balanced files, no
formula injection, cash membership transactions left out."""

import datetime
import io
import threading

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection

from finance.models import Invoice, JournalEntry, JournalLine
from finance.reporting.gl_csv import COLUMNS, export_csv, safe_text
from finance.reporting.models import GLExport, GLExportedEntry
from finance.reporting.services import InvalidExport, NothingToExport, gl_export_create, pending_entry_count
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory, LedgerSetup
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import D, post, read_csv

JAN = datetime.date(2026, 1, 10)


def file_of(export) -> str:
    return "".join(export_csv(export))


@pytest.fixture
def books(ledger):
    """A posted batch (two invoices, one payment) and an open batch (one invoice)."""
    alice, bob = ContactFactory(name="Alice Adams"), ContactFactory(name="Bob Brown")
    posted = BatchFactory(number="P1")
    inv1 = make_invoice(ledger, alice, posted, "250.00", "100.00")
    inv2 = make_invoice(ledger, bob, posted, "400.00", date=datetime.date(2026, 1, 12))
    pay = payment_receive(payer=alice, method=ledger.check_method, amount="300.00", date=JAN, batch=posted)
    open_batch = BatchFactory(number="O1")
    make_invoice(ledger, bob, open_batch, "75.00")
    post(posted)
    return {"posted": posted, "open": open_batch, "invoices": [inv1, inv2], "payment": pay}


@pytest.mark.django_db
def test_export__takes_entries_of_posted_batches_only_and_balances(books):
    export = gl_export_create()
    posted_entries = set(JournalEntry.objects.filter(batch=books["posted"]).values_list("pk", flat=True))
    assert set(export.entries.values_list("journal_entry_id", flat=True)) == posted_entries
    assert not JournalEntry.objects.filter(batch=books["open"], gl_export_mark__isnull=False).exists()
    # 750 of charges + 300 received (cash / AR).
    assert export.total_debit == export.total_credit == D("1050.00")
    header, rows, totals = read_csv(file_of(export))
    assert header == COLUMNS
    assert len(rows) == export.line_count == 7  # invoice 1: AR + 2 income, invoice 2: AR + income, payment: 2
    assert sum(D(r["debit"]) for r in rows) == sum(D(r["credit"]) for r in rows) == D("1050.00")
    assert totals == [
        {
            "date": "",
            "batch": "",
            "entity": "",
            "gl_account": "TOTAL",
            "description": "Totals of 7 rows",
            "debit": "1050.00",
            "credit": "1050.00",
            "currency": "USD",
            "reference": f"GLX-{export.pk}",
        }
    ]
    first = rows[0]
    assert first["batch"] == "P1" and first["entity"] == "ASSN" and first["date"] == "2026-01-10"
    assert first["reference"].startswith("JE-") and "INV-" in first["reference"]


@pytest.mark.django_db
def test_export__rerun_exports_nothing_new_and_the_file_downloads_again(books):
    export = gl_export_create()
    first_file = file_of(export)
    with pytest.raises(NothingToExport):
        gl_export_create()
    assert GLExport.objects.count() == 1  # the refused run left no row
    assert file_of(GLExport.objects.get(pk=export.pk)) == first_file
    assert pending_entry_count() == 0

    # The open batch is posted later: its entry goes into the next export, alone.
    post(books["open"])
    assert pending_entry_count() == 1
    second = gl_export_create()
    assert second.entry_count == 1
    assert set(second.entries.values_list("journal_entry__batch__number", flat=True)) == {"O1"}
    assert second.total_debit == second.total_credit == D("75.00")


@pytest.mark.django_db
def test_export__leaves_out_cash_membership_transactions(ledger):
    member = ContactFactory()
    batch = BatchFactory(number="M1")
    dues = make_invoice(
        ledger,
        member,
        batch,
        "180.00",
        accounting_method=Invoice.AccountingMethod.CASH,
        type=Invoice.Type.MEMBERSHIP,
    )
    payment_receive(payer=member, method=ledger.cash_method, amount="180.00", date=JAN, batch=batch)
    regular = make_invoice(ledger, member, batch, "50.00")
    post(batch)
    excluded = JournalEntry.objects.filter(payment__isnull=False, exclude_from_gl_export=True)
    assert excluded.count() == 1  # the membership payment's cash / income entry

    export = gl_export_create()
    exported = set(export.entries.values_list("journal_entry_id", flat=True))
    assert exported == set(JournalEntry.objects.filter(invoice=regular).values_list("pk", flat=True))
    assert not exported & set(excluded.values_list("pk", flat=True))
    assert not JournalEntry.objects.filter(invoice=dues, gl_export_mark__isnull=False).exists()
    _, rows, totals = read_csv(file_of(export))
    assert {r["debit"] for r in rows} == {"50.00", "0.00"}
    assert totals[0]["debit"] == totals[0]["credit"] == "50.00"
    # Nothing else is waiting: the excluded entry never counts as pending.
    assert pending_entry_count() == 0


@pytest.mark.django_db
def test_export__date_range_and_entity_filter(books):
    other = LedgerSetup.build(code="FDN")
    batch = BatchFactory(number="F1")
    make_invoice(other, ContactFactory(), batch, "900.00", date=datetime.date(2026, 2, 3))
    post(batch)

    only_fdn = gl_export_create(entity=other.entity)
    assert only_fdn.total_debit == D("900.00")
    assert set(only_fdn.entries.values_list("journal_entry__batch__number", flat=True)) == {"F1"}

    jan_12 = gl_export_create(date_from=datetime.date(2026, 1, 12), date_to=datetime.date(2026, 1, 31))
    assert jan_12.total_debit == D("400.00")  # invoice 2 only
    rest = gl_export_create()
    assert rest.total_debit == D("650.00")  # invoice 1 and the payment
    with pytest.raises(InvalidExport, match="ends"):
        gl_export_create(date_from=datetime.date(2026, 2, 1), date_to=datetime.date(2026, 1, 1))


@pytest.mark.django_db
def test_export__summary_per_day_and_month_balance(books):
    export = gl_export_create(mode=GLExport.Mode.SUMMARY_DAY)
    _, rows, totals = read_csv(file_of(export))
    # Jan 10: AR, dues income, cash (payment) and AR again grouped: one row per account.
    assert [(r["date"], r["gl_account"]) for r in rows] == [
        ("2026-01-10", "1000-00"),
        ("2026-01-10", "1200-00"),
        ("2026-01-10", "4000-10"),
        ("2026-01-12", "1200-00"),
        ("2026-01-12", "4000-10"),
    ]
    ar_jan_10 = rows[1]
    assert (ar_jan_10["debit"], ar_jan_10["credit"]) == ("350.00", "300.00")  # gross, not netted
    assert totals[0]["debit"] == totals[0]["credit"] == "1050.00"

    export.mode = GLExport.Mode.SUMMARY_MONTH  # same entries, month layout
    _, rows, totals = read_csv(file_of(export))
    assert [(r["date"], r["gl_account"], r["debit"], r["credit"]) for r in rows] == [
        ("2026-01-31", "1000-00", "300.00", "0.00"),
        ("2026-01-31", "1200-00", "750.00", "300.00"),
        ("2026-01-31", "4000-10", "0.00", "750.00"),
    ]
    assert rows[0]["description"] == "Operating cash 2026-01"
    assert totals[0]["debit"] == totals[0]["credit"] == "1050.00"


@pytest.mark.parametrize(
    "text, expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Dues 2026", "Dues 2026"),
        ("", ""),
    ],
)
def test_safe_text__escapes_formula_starts(text, expected):
    assert safe_text(text) == expected


@pytest.mark.django_db
def test_export__formula_text_escaped_amounts_stay_numbers(ledger):
    from finance.services.invoices import LineSpec, invoice_create

    contact = ContactFactory(name="=cmd|' /C calc'!A0")
    batch = BatchFactory(number="X1")
    invoice_create(
        bill_to=contact,
        entity=ledger.entity,
        batch=batch,
        date=JAN,
        lines=[LineSpec(product=ledger.dues, unit_price=D("10.00"), description="@SUM(1+1)*cmd")],
        description="-2+3 rebate",
    )
    post(batch)
    export = gl_export_create()
    _, rows, totals = read_csv(file_of(export))
    descriptions = {r["description"] for r in rows}
    assert "'@SUM(1+1)*cmd" in descriptions
    assert all(not d.startswith(("=", "+", "-", "@", "\t", "\r")) for d in descriptions)
    for row in rows + totals:
        for column in ("debit", "credit"):
            assert row[column] == f"{D(row[column]):.2f}"  # a plain number, no apostrophe


@pytest.mark.django_db
def test_exported_entry__unique_per_journal_entry(books):
    export = gl_export_create()
    mark = export.entries.first()
    other = GLExport.objects.create()
    with pytest.raises(IntegrityError):
        GLExportedEntry.objects.create(export=other, journal_entry_id=mark.journal_entry_id)


@pytest.mark.django_db
def test_export_gl_command__writes_file_and_reruns_write_nothing(books, tmp_path):
    out = tmp_path / "gl.csv"
    err = io.StringIO()
    call_command("export_gl", "--since", "2026-01-01", "--output", str(out), stderr=err)
    assert "debits 1050.00 = credits 1050.00" in err.getvalue()
    _, rows, totals = read_csv(out.read_text())
    assert len(rows) == 7 and totals[0]["debit"] == "1050.00"

    err = io.StringIO()
    call_command("export_gl", "--output", str(tmp_path / "again.csv"), stderr=err)
    assert "Nothing new to export" in err.getvalue()
    assert not (tmp_path / "again.csv").exists()

    stdout = io.StringIO()
    call_command("export_gl", "--again", str(GLExport.objects.get().pk), stdout=stdout, stderr=io.StringIO())
    assert stdout.getvalue() == out.read_bytes().decode()


@pytest.mark.django_db(transaction=True)
def test_two_exports_at_once__each_entry_exported_once(ledger):
    contacts = [ContactFactory() for _ in range(5)]
    for n in range(4):
        batch = BatchFactory(number=f"C{n}")
        for c in contacts:
            make_invoice(ledger, c, batch, "10.00", "5.00")
            payment_receive(payer=c, method=ledger.cash_method, amount="7.50", date=JAN, batch=batch)
        post(batch)
    total_entries = JournalEntry.objects.count()
    barrier = threading.Barrier(4)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(gl_export_create())
        except NothingToExport:
            results.append(None)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 4
    exports = [r for r in results if r is not None]
    assert exports, "one export must take the entries"
    assert GLExportedEntry.objects.count() == total_entries
    assert sum(e.entry_count for e in exports) == total_entries
    assert sum(e.total_debit for e in exports) == D("300.00") + D("150.00")  # 40 invoices × 15 + 20 × 7.50
    for e in exports:
        _, rows, totals = read_csv(file_of(e))
        assert totals[0]["debit"] == totals[0]["credit"] == f"{e.total_debit:.2f}"


@pytest.mark.django_db
def _detailed_rows_read_through_the_orm(export):
    """The detailed file's rows read the plain way, line by line through the ORM."""
    from finance.reporting.gl_csv import _reference

    lines = (
        JournalLine.objects.filter(entry__gl_export_mark__export=export)
        .order_by("entry__date", "entry_id", "pk")
        .values_list(
            "entry__date",
            "entry__batch__number",
            "account__entity__code",
            "account__code",
            "description",
            "entry__description",
            "debit",
            "credit",
            "currency",
            "entry_id",
            "entry__invoice__number",
            "entry__payment_id",
        )
    )
    for day, batch, entity, account, desc, entry_desc, debit, credit, currency, entry_id, inv, pay in lines:
        reference = _reference(entry_id, inv, pay)
        yield day.isoformat(), batch, entity, account, desc or entry_desc, debit, credit, currency, reference


def test_detailed_rows__the_sql_statement_gives_the_rows_of_the_journal(books):
    """The file is read with one SQL statement; it gives the rows the ORM reads."""
    from finance.reporting.gl_csv import _detailed_rows

    export = gl_export_create()
    assert list(_detailed_rows(export)) == list(_detailed_rows_read_through_the_orm(export))
    assert len(list(_detailed_rows(export))) == export.line_count


def _pending_by_scan() -> int:
    """The waiting entries counted over the journal (the definition)."""
    from finance.models import Batch

    return (
        JournalEntry.objects.filter(batch__status=Batch.Status.POSTED, is_posted=True, exclude_from_gl_export=False)
        .filter(gl_export_mark__isnull=True)
        .count()
    )


@pytest.mark.django_db
def test_pending_count__from_batch_counts_equals_the_journal_scan(books, ledger):
    from finance.reporting.models import GLBatchEntryCount
    from finance.reporting.services import gl_batch_counts_refresh

    alice = ContactFactory()
    assert pending_entry_count() == _pending_by_scan() == 3
    # The posted batch is counted once; the open one is not counted at all.
    assert list(GLBatchEntryCount.objects.values_list("batch_id", "exportable_entries")) == [(books["posted"].pk, 3)]
    assert gl_batch_counts_refresh() == 0

    # An export limited by date takes part of a batch.
    gl_export_create(date_to=JAN)
    assert pending_entry_count() == _pending_by_scan() == 1
    # More batches posted, one holding an entry left out of the export (cash membership).
    later = BatchFactory(number="P2")
    make_invoice(ledger, alice, later, "20.00")
    member = ContactFactory()
    make_invoice(
        ledger, member, later, "180.00", accounting_method=Invoice.AccountingMethod.CASH, type=Invoice.Type.MEMBERSHIP
    )
    payment_receive(payer=member, method=ledger.cash_method, amount="180.00", date=JAN, batch=later)
    assert JournalEntry.objects.filter(batch=later, exclude_from_gl_export=True).count() == 1
    post(later)
    post(books["open"])
    assert pending_entry_count() == _pending_by_scan() == 3  # 1 left + invoice of P2 + invoice of O1
    gl_export_create()
    assert pending_entry_count() == _pending_by_scan() == 0
    assert GLBatchEntryCount.objects.get(batch=later).exportable_entries == 1


@pytest.mark.django_db
def test_pending_count__queries_do_not_grow_with_batches_or_exports(ledger, django_assert_max_num_queries):
    contact = ContactFactory()
    for n in range(3):
        batch = BatchFactory(number=f"Q{n}")
        make_invoice(ledger, contact, batch, "10.00")
        post(batch)
    pending_entry_count()  # counts the posted batches
    with django_assert_max_num_queries(2):
        assert pending_entry_count() == 3
    for n in range(3, 13):
        batch = BatchFactory(number=f"Q{n}")
        make_invoice(ledger, contact, batch, "10.00")
        post(batch)
        gl_export_create()
    # Ten new batches: still one statement to count them, one insert (in a savepoint), one to add up.
    with django_assert_max_num_queries(5):
        assert pending_entry_count() == 0 == _pending_by_scan()
