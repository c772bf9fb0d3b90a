"""The detailed GL file written by PostgreSQL (COPY with the cells formatted and escaped
in SQL) is byte for byte the file of the csv module's rule (``safe_text`` per text
cell, ``csv.writer`` quoting), hostile descriptions included."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.models import Invoice
from finance.reporting.gl_csv import FORMULA_STARTS, detailed_csv_python, export_csv, safe_text, safe_text_sql
from finance.reporting.models import GLExport
from finance.reporting.services import gl_export_create
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.reporting.helpers import post, read_csv

D = Decimal
DAY = datetime.date(2026, 1, 10)

HOSTILE = [
    "=1+2",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\tcmd",
    "\rcmd",
    "\r\n",
    "\n=first after a line break",
    'say "hi", then =go',
    '"',
    '""',
    ",",
    "comma, inside",
    "line\nbreak",
    "cr\rinside",
    "'=already quoted",
    " =space first",
    "é=accent",
    "＝full-width equals",
    "\u2212minus sign",
    "😀 emoji",
    "\\.",
    "\\",
    "back\\slash\\n",
    "NULL",
    "\x0bvertical tab",
    "\x1funit separator",
    "trailing space ",
    "=",
    "-",
]


def _file_both_ways(export: GLExport) -> tuple[str, str]:
    return "".join(export_csv(export)), "".join(detailed_csv_python(export))


def _invoice(ledger, contact, batch, descriptions, *, description="", date=DAY):
    lines = [
        LineSpec(product=ledger.dues, unit_price=D(10 + n), description=text) for n, text in enumerate(descriptions)
    ]
    return invoice_create(
        bill_to=contact, entity=ledger.entity, batch=batch, lines=lines, date=date, description=description
    )


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", *HOSTILE, *FORMULA_STARTS])
def test_safe_text_sql__matches_the_python_rule(text):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {safe_text_sql('%s::text')}", [text, text, text])
        (cell,) = cursor.fetchone()
    assert (cell or "") == safe_text(text)
    assert cell is None if text == "" else cell == safe_text(text)  # empty → NULL → an empty CSV cell


@pytest.mark.django_db
def test_detailed_file__hostile_descriptions__same_bytes_as_the_csv_module(ledger):
    batch = BatchFactory(number='=B1,"x"')
    contact = ContactFactory(name="=cmd|' /C calc'!A0")
    _invoice(ledger, contact, batch, HOSTILE[:15], description="-entry fallback")
    _invoice(ledger, contact, batch, ["", ""], description='@entry, "quoted"\r\n')
    _invoice(ledger, contact, batch, HOSTILE[15:], description="")
    payment_receive(payer=contact, method=ledger.check_method, amount="25.00", date=DAY, batch=batch)
    post(batch)
    export = gl_export_create()
    by_sql, by_python = _file_both_ways(export)
    assert by_sql == by_python
    header, rows, totals = read_csv(by_sql)
    assert len(rows) == export.line_count
    assert totals[0]["debit"] == totals[0]["credit"] == f"{export.total_debit:.2f}"
    assert by_sql.endswith("\r\n") and by_sql.count("\r\n") >= export.line_count + 2
    assert {r["batch"] for r in rows} == {'\'=B1,"x"'}
    descriptions = {r["description"] for r in rows}
    assert "line\nbreak" in descriptions and "'-2+3" in descriptions
    assert all(not d.startswith(FORMULA_STARTS) for d in descriptions)


@pytest.mark.django_db
def test_detailed_file__several_currencies_and_chunks(ledger, monkeypatch):
    """Totals per currency in code order; the rows cross many chunks."""
    import finance.reporting.gl_csv as gl_csv

    monkeypatch.setattr(gl_csv, "CHUNK_ROWS", 3)
    batch = BatchFactory(number="P1")
    for n in range(4):
        _invoice(ledger, ContactFactory(), batch, [f"Dues {n}", f"=Fee {n}"], date=DAY + datetime.timedelta(days=n))
    post(batch)
    export = gl_export_create()
    chunks = list(export_csv(export))
    assert len(chunks) > 3
    by_python = "".join(detailed_csv_python(export))
    assert "".join(chunks) == by_python
    rows = list(csv.reader(io.StringIO(by_python)))
    assert rows[-1][3] == "TOTAL" and rows[-1][4] == f"Totals of {export.line_count} rows"


@pytest.mark.django_db
def test_detailed_file__references(ledger):
    """References name the invoice or the payment."""
    batch = BatchFactory(number="R1")
    contact = ContactFactory()
    inv = _invoice(ledger, contact, batch, [""], description="Entry text")
    pay = payment_receive(payer=contact, method=ledger.check_method, amount="5.00", date=DAY, batch=batch)
    post(batch)
    export = gl_export_create()
    by_sql, by_python = _file_both_ways(export)
    assert by_sql == by_python
    _, rows, _ = read_csv(by_sql)
    references = {r["reference"].split(" ", 1)[1] for r in rows}
    assert references == {f"INV-{inv.number}", f"PAY-{pay.pk}"}


text_cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=0, max_size=12
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(descriptions=st.lists(text_cells, min_size=1, max_size=4), entry=text_cells)
@pytest.mark.django_db
def test_detailed_file__random_text__same_bytes_as_the_csv_module(ledger, descriptions, entry):
    with transaction.atomic():
        batch = BatchFactory()
        _invoice(ledger, ContactFactory(), batch, descriptions, description=entry[:200])
        post(batch)
        export = gl_export_create()
        by_sql, by_python = _file_both_ways(export)
        assert by_sql == by_python
        assert Invoice.objects.filter(batch=batch).count() == 1
        transaction.set_rollback(True)
