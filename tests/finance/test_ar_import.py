"""AR payment import: parsing, validation (every bad-input case), applying and posting."""

import datetime
import io
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import F, Sum

from finance.ar_import.services import ARImportError, ar_import_post, ar_import_validate, problems
from finance.ledger_check import verify_ledger
from finance.models import Batch, FinanceSettings, Invoice, InvoiceLine, JournalEntry, Payment
from finance.models_ar_import import ARImport, ARImportRow
from finance.services.payments import ApplicationSpec, payment_receive
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db
D = Decimal
DAY = datetime.date(2026, 1, 10)


def bh(count="", amount="0.00", batch="LB0115", cash="1000-00", date="01/15/26", desc="Lockbox", sep=","):
    return sep.join(["BH", batch, date, desc, str(count), amount, cash])


def pay(customer, amount, invoice="", check="1001", name="Payer", desc="AR Payment", date="", batch="", sep=","):
    return sep.join(["PAY", batch, "AR", str(customer), date, invoice, amount, check, name, desc])


def imis(*pays, count=None, amount=None, sep=",", **header) -> bytes:
    total = sum((D(p.split(sep)[6]) for p in pays if len(p.split(sep)) > 6 and _is_amount(p.split(sep)[6])), D("0.00"))
    head = bh(
        count=len(pays) if count is None else count,
        amount=str(total) if amount is None else amount,
        sep=sep,
        **header,
    )
    return ("\n".join([head, *pays]) + "\n").encode()


def _is_amount(s):
    try:
        return D(s) > 0
    except Exception:
        return False


def validate(data: bytes, **kwargs) -> ARImport:
    return ar_import_validate(fileobj=io.BytesIO(data), file_name="lockbox.txt", **kwargs)


def error_texts(imp) -> list[str]:
    return problems(imp)


@pytest.fixture
def books(ledger):
    """Two payers with open invoices of different dates; a third with a Major Key."""
    batch = BatchFactory()
    ann = ContactFactory(party_id="105", name="Ann Payer")
    bob = ContactFactory(party_id="106", name="Bob Payer")
    key = ContactFactory(party_id="107", name="Key Corp", major_key="KEYCORP")
    old = make_invoice(ledger, ann, batch, "100.00", "50.00", date=DAY - datetime.timedelta(days=10))
    new = make_invoice(ledger, ann, batch, "80.00", date=DAY)
    bob_inv = make_invoice(ledger, bob, batch, "200.00", date=DAY)
    return {"ann": ann, "bob": bob, "key": key, "old": old, "new": new, "bob_inv": bob_inv, "batch": batch}


def balances(*invoices):
    out = []
    for inv in invoices:
        inv.refresh_from_db()
        out.append(inv.balance)
    return out


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


# --- applying and posting -------------------------------------------------------------------


def test_auto_apply__oldest_line_first_residual_becomes_credit(books):
    imp = validate(imis(pay(105, "200.00", check="501")))
    assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
    row = imp.rows.get()
    assert row.contact == books["ann"]
    old_no, new_no = books["old"].number, books["new"].number
    assert row.plan_text == f"{old_no}/1 100.00, {old_no}/2 50.00, {new_no}/1 50.00"
    assert (row.plan_applied, row.plan_credit) == (D("200.00"), D("0.00"))
    imp = ar_import_post(ar_import=imp)
    assert imp.status == ARImport.Status.POSTED
    assert balances(books["old"], books["new"]) == [D("0.00"), D("30.00")]
    payment = Payment.objects.get(source=Payment.Source.IMPORT)
    assert (payment.amount, payment.amount_applied, payment.reference) == (D("200.00"), D("200.00"), "501")
    assert payment.batch.number == "LB0115"
    assert payment.cash_account.code == "1000-00"
    assert_ledger_ok()


def test_auto_apply__overpayment_leaves_open_credit_invoice(books):
    imp = validate(imis(pay(106, "250.00")))
    assert imp.credit_amount == D("50.00") and imp.credit_count == 1
    ar_import_post(ar_import=imp)
    assert balances(books["bob_inv"]) == [D("0.00")]
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT, bill_to=books["bob"])
    assert credit.balance == D("-50.00")
    assert credit.lines.get().account.role == "unapplied_cash"
    assert_ledger_ok()


def test_auto_apply__rows_of_same_customer_apply_in_file_order(books):
    imp = validate(imis(pay(105, "120.00", check="1"), pay(105, "100.00", check="2")))
    first, second = imp.rows.order_by("line_number")
    old_no, new_no = books["old"].number, books["new"].number
    assert first.plan_text == f"{old_no}/1 100.00, {old_no}/2 20.00"
    assert second.plan_text == f"{old_no}/2 30.00, {new_no}/1 70.00"
    ar_import_post(ar_import=imp)
    assert balances(books["old"], books["new"]) == [D("0.00"), D("10.00")]
    assert_ledger_ok()


def test_auto_apply__no_open_lines_whole_amount_is_credit(books):
    imp = validate(imis(pay("*KEYCORP", "75.00")))
    row = imp.rows.get()
    assert row.contact == books["key"]
    assert (row.plan_applied, row.plan_credit) == (D("0.00"), D("75.00"))
    ar_import_post(ar_import=imp)
    assert Invoice.objects.get(bill_to=books["key"], type=Invoice.Type.CREDIT).balance == D("-75.00")
    assert_ledger_ok()


def test_never_applies_to_zero_or_negative_lines(books, ledger):
    # Ann's old invoice line 1 is overpaid (negative) through a prior import with auto apply off.
    imp = validate(imis(pay(105, "130.00", invoice=books["old"].number, check="9")), auto_apply=False)
    ar_import_post(ar_import=imp)
    lines = list(InvoiceLine.objects.filter(invoice=books["old"]).order_by("line_number"))
    assert [ln.balance for ln in lines] == [D("0.00"), D("20.00")]
    imp = validate(imis(pay(105, "300.00", check="10"), batch="LB2"))
    row = imp.rows.get()
    assert row.plan_text == f"{books['old'].number}/2 20.00, {books['new'].number}/1 80.00"
    assert row.plan_credit == D("200.00")
    ar_import_post(ar_import=imp)
    assert_ledger_ok()


def test_auto_apply_off__overpayment_goes_negative_on_named_invoice(books):
    imp = validate(imis(pay(106, "260.00", invoice=books["bob_inv"].number)), auto_apply=False)
    assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
    ar_import_post(ar_import=imp)
    assert balances(books["bob_inv"]) == [D("-60.00")]
    assert not Invoice.objects.filter(type=Invoice.Type.CREDIT).exists()
    assert_ledger_ok()


def test_auto_apply_off__pays_named_invoice_not_oldest(books):
    imp = validate(imis(pay(105, "50.00", invoice=books["new"].number)), auto_apply=False)
    ar_import_post(ar_import=imp)
    assert balances(books["old"], books["new"]) == [D("150.00"), D("30.00")]
    assert_ledger_ok()


def test_auto_apply_off__unknown_invoice_number_creates_open_credit(books):
    imp = validate(imis(pay(105, "40.00", invoice="999999")), auto_apply=False)
    assert imp.status == ARImport.Status.VALIDATED
    assert "invoice 999999 does not exist" in imp.rows.get().warnings
    ar_import_post(ar_import=imp)
    assert Invoice.objects.get(type=Invoice.Type.CREDIT).balance == D("-40.00")
    assert balances(books["old"], books["new"]) == [D("150.00"), D("80.00")]
    assert_ledger_ok()


def test_auto_apply_off__second_row_after_overpayment_becomes_credit(books):
    number = books["bob_inv"].number
    imp = validate(
        imis(pay(106, "250.00", invoice=number, check="1"), pay(106, "30.00", invoice=number, check="2")),
        auto_apply=False,
    )
    first, second = imp.rows.order_by("line_number")
    assert (first.plan_applied, first.plan_credit) == (D("250.00"), D("0.00"))
    assert (second.plan_applied, second.plan_credit) == (D("0.00"), D("30.00"))
    ar_import_post(ar_import=imp)
    assert balances(books["bob_inv"]) == [D("-50.00")]
    assert_ledger_ok()


def test_auto_apply_setting_is_the_default_and_can_be_overridden(books):
    FinanceSettings.objects.update_or_create(pk=1, defaults={"auto_apply_cash": False})
    imp = validate(imis(pay(105, "10.00")))
    assert not imp.auto_apply
    assert "invoice number: is required when auto apply is off" in error_texts(imp)[0]
    assert validate(imis(pay(105, "10.00")), auto_apply=True).status == ARImport.Status.VALIDATED


def test_post__journal_debits_cash_credits_ar_and_unapplied(books, ledger):
    imp = validate(imis(pay(106, "250.00")))
    ar_import_post(ar_import=imp)
    entry = JournalEntry.objects.get(kind=JournalEntry.Kind.PAYMENT)
    legs = {(ln.account.code, ln.debit, ln.credit) for ln in entry.lines.select_related("account")}
    assert legs == {
        ("1000-00", D("250.00"), D("0.00")),
        ("1200-00", D("0"), D("200.00")),
        ("2100-00", D("0"), D("50.00")),
    }


def test_post__new_batch_takes_header_controls_and_balances(books):
    imp = validate(imis(pay(105, "10.00", check="1"), pay(106, "20.00", check="2"), batch="LOCK7"))
    ar_import_post(ar_import=imp)
    batch = Batch.objects.get(number="LOCK7")
    assert (batch.control_count, batch.control_amount, batch.status) == (2, D("30.00"), Batch.Status.OPEN)
    imp.refresh_from_db()
    assert imp.batch == batch


def test_post__existing_open_batch_is_used(books):
    BatchFactory(number="LB0115")
    imp = validate(imis(pay(105, "10.00")))
    assert imp.status == ARImport.Status.VALIDATED
    assert any("open already" in w for w in problems(imp, "warning"))
    ar_import_post(ar_import=imp)
    assert Payment.objects.get(source="import").batch.number == "LB0115"


def test_post__twice_is_a_noop(books):
    imp = validate(imis(pay(105, "10.00")))
    ar_import_post(ar_import=imp)
    again = ar_import_post(ar_import=imp)
    assert again.status == ARImport.Status.POSTED
    assert Payment.objects.count() == 1


def test_post__invalid_import_refused(books):
    imp = validate(imis(pay(999, "10.00")))
    with pytest.raises(ARImportError):
        ar_import_post(ar_import=imp)
    assert not Payment.objects.exists()


def test_post__failure_in_the_middle_leaves_nothing(books, monkeypatch):
    imp = validate(imis(pay(105, "10.00", check="1"), pay(106, "20.00", check="2"), pay(105, "5.00", check="3")))
    import finance.ar_import.services as svc

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(svc.posting, "_post_journal_sql", boom)
    with pytest.raises(RuntimeError):
        ar_import_post(ar_import=imp)
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.FAILED and "disk on fire" in imp.message
    assert not Payment.objects.exists() and not Batch.objects.filter(number="LB0115").exists()
    assert not ARImportRow.objects.filter(posted=True).exists()
    assert balances(books["old"]) == [D("150.00")]
    monkeypatch.undo()
    ar_import_post(ar_import=imp)  # a failed import can be posted again
    assert Payment.objects.count() == 3
    assert_ledger_ok()


def test_duplicate_file_refused(books):
    data = imis(pay(105, "10.00"))
    ar_import_post(ar_import=validate(data))
    again = validate(data)
    assert again.status == ARImport.Status.INVALID
    assert any("this file was already posted" in e for e in error_texts(again))


def test_duplicate_row_from_another_file_refused(books):
    ar_import_post(ar_import=validate(imis(pay(105, "10.00", check="77"))))
    other = validate(imis(pay(105, "10.00", check="77", desc="resent")))
    assert other.status == ARImport.Status.INVALID
    assert "Line 2, row: already posted by AR import" in error_texts(other)[0]


def test_duplicate_row_posted_between_validate_and_post_refused(books):
    first = validate(imis(pay(105, "10.00", check="77")))
    second = validate(imis(pay(105, "10.00", check="77", desc="resent")))
    ar_import_post(ar_import=first)
    with pytest.raises(ARImportError, match="was posted by another import"):
        ar_import_post(ar_import=second)
    assert Payment.objects.count() == 1


def test_unique_constraint_on_posted_rows(books):
    from django.db import IntegrityError

    ar_import_post(ar_import=validate(imis(pay(105, "10.00", check="77"))))
    other = ARImport.objects.create(file_name="x", sha256="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        ARImportRow.objects.create(
            ar_import=other,
            line_number=2,
            batch_number="LB0115",
            contact=books["ann"],
            check_number="77",
            amount=D("10.00"),
            posted=True,
        )


# --- formats ------------------------------------------------------------------------------


def test_tab_delimited_file(books):
    imp = validate(imis(pay(105, "10.00", sep="\t"), sep="\t"))
    assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)


def test_utf8_bom_is_accepted(books):
    imp = validate(b"\xef\xbb\xbf" + imis(pay(105, "10.00", name="Zoë")))
    assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
    assert imp.rows.get().payer_name == "Zoë"


def test_trailing_blank_lines_are_ignored(books):
    imp = validate(imis(pay(105, "10.00")) + b"\n\n  \n")
    assert imp.status == ARImport.Status.VALIDATED and imp.row_count == 1


def test_plain_csv_with_header_row(books):
    data = (
        b"customer_id,major_key,amount,invoice_number,check_number,date,payer_name,description\n"
        b"105,,12.50,,300,01/20/26,Ann,lockbox\n"
        b",KEYCORP,7.00,,301,2026-01-21,Key,\n"
    )
    imp = validate(data, batch_number="CSV1")
    assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
    assert imp.format == "csv" and imp.batch_number == "CSV1" and imp.cash_account_code == "1000-00"
    rows = list(imp.rows.order_by("line_number"))
    assert [r.contact for r in rows] == [books["ann"], books["key"]]
    assert rows[1].date == datetime.date(2026, 1, 21)
    ar_import_post(ar_import=imp)
    assert Batch.objects.get(number="CSV1").control_count == 2
    assert_ledger_ok()


def imis_doc_pay(customer, amount, check="1001", name="Payer", desc="AR Payment", card=("", "", "", "")):
    """A PAY line in the 14 fields of the iMIS AR Importer documentation (card fields 9-12)."""
    return ",".join(["PAY", "", "AR", str(customer), "", "", amount, check, *card, name, desc])


def test_imis_documented_layout__14_fields_with_blank_card_fields(books):
    imp = validate(imis(imis_doc_pay(105, "10.00", check="1234", name="Carol Hamilton"), pay(106, "5.00", check="9")))
    assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
    first = imp.rows.get(line_number=2)
    assert (first.check_number, first.payer_name, first.description) == ("1234", "Carol Hamilton", "AR Payment")
    ar_import_post(ar_import=imp)
    assert Payment.objects.get(reference="1234").amount == D("10.00")
    assert_ledger_ok()


def test_imis_documented_layout__a_card_payment_is_refused_without_echoing_the_number(books):
    card = ("4111111111111111", "09/27", "Carol Hamilton", "A1B2C3")
    imp = validate(imis(imis_doc_pay(105, "10.00", card=card)))
    assert imp.status == ARImport.Status.INVALID
    assert error_texts(imp)[0] == (
        "Line 2, card number: card payments are not imported (this importer records checks); leave it blank"
    )
    assert {e["field"] for e in imp.errors} == {"card number", "card expiry", "name on card", "card authorization"}
    stored = str(imp.errors) + str(list(imp.rows.values()))
    assert "4111111111111111" not in stored and "A1B2C3" not in stored


# --- bad input: each names the line and field, nothing is posted -------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"BH;LB1;01/15/26;x;1;10.00;1000-00\nPAY;;AR;105;;;10.00;1;a;b\n",
            "Line 1, delimiter: fields are separated by semicolons",
        ),
        ((b"PAY,,AR,105,,,10.00,1,a,b\n"), "Line 1, record type: the BH header line is missing"),
        (
            ("PAY,,AR,105,,,10.00,1,a,b\n" + bh(1, "10.00") + "\n").encode(),
            "Line 2, record type: the BH header must be the first line",
        ),
        (
            imis(pay(105, "10.00"), cash="9999-99"),
            "Line 1, cash account: no active cash account (GL account code or payment method code) "
            "has the code '9999-99'",
        ),
        (imis(pay(105, "10.00"), cash="1200-00"), "Line 1, cash account: GL account 1200-00 is not a cash account"),
        (imis(pay(105, "10.00", date="13/45/26")), "Line 2, date: '13/45/26' is not a date (mm/dd/yy)"),
        (imis(pay(105, "10.00"), date="2026/01/15"), "Line 1, date: '2026/01/15' is not a date"),
        (imis(pay(105, '"1,234.50"'), amount="0"), "Line 2, amount: '1,234.50' has a thousands separator"),
        (imis(pay(105, "1,234.50"), amount="0"), "Line 2, fields: 11 fields found, expected 10"),
        (imis(pay(105, "12.345"), amount="0"), "Line 2, amount: '12.345' has more than two decimal places"),
        (imis(pay(105, "-5.00"), amount="0"), "Line 2, amount: '-5.00' is negative"),
        (imis(pay(105, ""), amount="0"), "Line 2, amount: is required"),
        (imis(pay(105, "0.00"), amount="0"), "Line 2, amount: '0.00' must be greater than zero"),
        (imis(pay(999, "10.00")), "Line 2, customer: no contact has party id 999"),
        (imis(pay("*NOSUCH", "10.00")), "Line 2, customer: no contact has Major Key NOSUCH"),
        (imis(pay("abc", "10.00")), "Line 2, customer: 'abc' is not a party id"),
        (imis(pay(105, "10.00"), pay(105, "10.00")), "Line 3, row: repeats line 2"),
        (imis(pay(105, "10.00", name='=HYPERLINK("x")')), "Line 2, payer name: starts with '='"),
        (imis(pay(105, "10.00", desc="@SUM(A1)")), "Line 2, description: starts with '@'"),
        (imis(pay(105, "10.00"), count=3), "Line 1, control count: the header says 3; the file has 1 rows"),
        (
            imis(pay(105, "10.00"), amount="11.00"),
            "Line 1, control amount: the header says 11.00; the rows add up to 10.00",
        ),
        (imis(pay(105, "10.00", batch="OTHER")), "Line 2, batch: 'OTHER' differs from the header's batch LB0115"),
        (imis(pay(105, "10.00").replace(",AR,", ",XX,")), "Line 2, AR: 'XX' found"),
        (
            imis(pay(105, "10.00").replace(",", "\t"), amount="0"),
            "Line 2, delimiter: fields are separated by tabs; this file uses commas",
        ),
        (imis(pay(105, "10.00"), batch="TOOLONGBATCH1"), "Line 1, batch: 'TOOLONGBATCH1' is not a batch number"),
        (b"", "File: the file is empty"),
        (b"\xff\xfeB\x00H\x00", "Line 1: the file is UTF-16 text"),
        (imis(pay(105, "10.00")).replace(b"\n", b"\r"), "Line 1: the BH line has 16 fields; expected 7"),
        (imis(pay(105, '"10.00')), 'Line 2, fields: a double quote (") is opened and not closed'),
        (b"hello,world\n", "Line 1, record type: 'hello' is not a BH header nor a CSV header row"),
    ],
)
def test_bad_input__clear_error_and_nothing_posted(books, data, expected):
    imp = validate(data)
    assert imp.status == ARImport.Status.INVALID
    texts = error_texts(imp)
    assert any(t.startswith(expected) for t in texts), texts
    with pytest.raises(ARImportError):
        ar_import_post(ar_import=imp)
    assert not Payment.objects.exists()


def test_bad_input__latin1_line_named(books):
    data = imis(pay(105, "10.00", name="Zoë")).replace("Zoë".encode(), "Zoë".encode("latin-1"))
    imp = validate(data)
    assert imp.status == ARImport.Status.INVALID
    assert error_texts(imp)[0].startswith("Line 2: is not UTF-8 text (byte 0xEB at column")


def test_bad_input__file_over_the_size_limit(books, tmp_path):
    path = tmp_path / "big.txt"
    head = imis(pay(105, "10.00"))
    with path.open("wb") as fh:
        fh.write(head)
        line = pay(105, "10.00").encode() + b"\n"
        fh.write(line * (50 * 1024 * 1024 // len(line) + 1))
    with path.open("rb") as fh:
        imp = ar_import_validate(fileobj=fh, file_name="big.txt")
    assert imp.status == ARImport.Status.INVALID
    assert error_texts(imp) == ["File: the file is 50.0 MB; the limit is 50 MB: split it into smaller files"]
    assert not imp.rows.exists()


def test_bad_input__stream_over_the_size_limit_stops_reading(books):
    class Stream(io.RawIOBase):  # cannot tell its size up front
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.inner.readinto(b)

    data = imis(*[pay(105, "1.00", check=str(n)) for n in range(200)])
    imp = ar_import_validate(fileobj=io.BufferedReader(Stream(data)), file_name="s.txt", max_bytes=1000)
    assert error_texts(imp) == [
        "File: the file is more than 0.000953674 MB; the limit is 0.000953674 MB: split it into smaller files"
    ]
    assert not imp.rows.exists()


def test_bad_input__posted_batch_refused(books):
    batch = BatchFactory(number="LB0115", control_count=0, control_amount=D("0"))
    from finance.services.batches import batch_post, batch_transition

    batch_transition(batch=batch, to_status="ready")
    batch_post(batch=batch)
    imp = validate(imis(pay(105, "10.00")))
    assert "Line 1, batch: batch LB0115 exists and is posted" in error_texts(imp)


def test_bad_input__invoice_of_another_entity_refused(books, ledger):
    from tests.factories import LedgerSetup

    other = LedgerSetup.build(code="FDN")
    other.cash.is_active = False  # the header's 1000-00 names ASSN's cash account only
    other.cash.save()
    inv = make_invoice(other, books["ann"], books["batch"], "10.00")
    imp = validate(imis(pay(105, "10.00", invoice=inv.number)), auto_apply=False)
    assert f"Line 2, invoice number: invoice {inv.number} belongs to another financial entity" in error_texts(imp)[0]


def test_every_bad_row_is_reported_not_only_the_first(books):
    imp = validate(
        imis(pay(999, "10.00", check="1"), pay(105, "-1", check="2"), pay(105, "5.00", check="3"), amount="0")
    )
    lines = {(e["line"], e["field"]) for e in imp.errors if e["level"] == "error"}
    assert {(2, "customer"), (3, "amount")} <= lines


# --- the set-based posting gives the ledger of payment_receive row by row -------------------


def _snapshot():
    apps = sorted(
        (a.payment.reference, a.invoice.number, a.line.line_number, str(a.amount))
        for a in Payment.objects.get(reference="1")
        .applications.none()
        .model.objects.select_related("payment", "invoice", "line")
    )
    invoices = sorted((i.number, i.type, str(i.balance)) for i in Invoice.objects.all())
    # The import posts one summary entry where payment_receive posts one per payment:
    # the same amounts on the same accounts, per kind and GL-export flag.
    journal = sorted(
        (kind, code, excluded, str(net))
        for kind, code, excluded, net in JournalEntry.lines.rel.related_model.objects.values_list(
            "entry__kind", "account__code", "entry__exclude_from_gl_export"
        ).annotate(net=Sum(F("debit") - F("credit")))
    )
    return apps, invoices, journal


def _post_one_row_at_a_time(imp) -> list[tuple]:
    """The rows of a validated import posted one at a time through payment_receive (the
    ledger's service), as a clerk would enter them; each row's (applied, credit, text)."""
    import finance.ar_import.services as svc

    imp = ARImport.objects.select_related("cash_account", "entity").get(pk=imp.pk)
    batch = BatchFactory(number=imp.batch_number)
    method = svc.validation._import_method(imp.cash_account)
    plans = []
    for row in imp.rows.select_related("contact").order_by("line_number"):
        applications = None
        if not imp.auto_apply and row.invoice_id:
            lines = list(
                InvoiceLine.objects.filter(invoice_id=row.invoice_id, invoice__entity_id=imp.entity_id, balance__gt=0)
                .select_related("invoice")
                .order_by("line_number")
            )
            remaining, applications = row.amount, []
            for i, line in enumerate(lines):
                if remaining <= 0:
                    break
                part = remaining if i == len(lines) - 1 else min(line.balance, remaining)
                applications.append(ApplicationSpec(line, part))
                remaining -= part
            applications = applications or None
        payment = payment_receive(
            payer=row.contact,
            method=method,
            amount=row.amount,
            date=row.date,
            batch=batch,
            applications=applications,
            auto_apply=imp.auto_apply,
            reference=row.check_number,
            cash_account=imp.cash_account,
            source=Payment.Source.IMPORT,
            allow_line_overpayment=True,
        )
        applied = [
            (n, ln, a)
            for t, n, ln, a in payment.applications.order_by("pk").values_list(
                "invoice__type", "invoice__number", "line__line_number", "amount"
            )
            if t != Invoice.Type.CREDIT
        ]
        total = sum((a for *_, a in applied), D("0.00"))
        plans.append((total, row.amount - total, ", ".join(f"{n}/{ln} {a}" for n, ln, a in applied)))
    return plans


@pytest.mark.parametrize("auto_apply", [True, False])
def test_set_based_posting_gives_the_ledger_of_payment_receive_row_by_row(books, auto_apply):
    extra = ContactFactory(party_id="108")
    pays = [
        pay(105, "120.00", check="1", invoice=books["old"].number),
        pay(105, "100.00", check="2", invoice=books["old"].number),
        pay(106, "260.00", check="3", invoice=books["bob_inv"].number),
        pay(108, "15.00", check="4", invoice="424242"),
        pay("*KEYCORP", "5.00", check="5", invoice=books["new"].number),
    ]
    data = imis(*pays)
    results = {}
    for way in ("row by row", "set-based"):
        with transaction.atomic():
            imp = validate(data, auto_apply=auto_apply)
            assert imp.status == ARImport.Status.VALIDATED, error_texts(imp)
            preview = list(imp.rows.order_by("line_number").values_list("plan_applied", "plan_credit", "plan_text"))
            if way == "set-based":
                imp = ar_import_post(ar_import=imp)
                posted = list(imp.rows.order_by("line_number").values_list("plan_applied", "plan_credit", "plan_text"))
            else:
                posted = _post_one_row_at_a_time(imp)
            assert preview == posted
            assert_ledger_ok()
            results[way] = (_snapshot(), posted)
            transaction.set_rollback(True)
    assert results["row by row"] == results["set-based"]
    assert extra.pk
