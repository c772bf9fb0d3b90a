"""Hostile lockbox files, through import_ar and the upload page: control characters in a
field, amounts beyond what the ledger holds, a header without PAY lines, a line of a
megabyte, and the same checks sent again under a new batch number. A refused file
leaves no batch, payment or journal row behind; each posting leaves the ledger clean."""

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finance.ar_import.services import ARImportError, ar_import_post
from finance.ledger_check import verify_ledger
from finance.models import Batch, Invoice, JournalEntry, JournalLine, Payment, PaymentApplication
from finance.models_ar_import import ARImport
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import bh, imis, pay, validate
from tests.finance.test_ar_import_views import eager  # noqa: F401 - Celery tasks run in the request

pytestmark = pytest.mark.django_db

LEDGER_MODELS = (Batch, Payment, PaymentApplication, Invoice, JournalEntry, JournalLine)


@pytest.fixture
def payers(ledger):
    ann = ContactFactory(party_id="105", name="Ann Payer")
    bob = ContactFactory(party_id="1002", name="Bob Payer")
    make_invoice(ledger, ann, BatchFactory(number="B-INV"), "100.00")
    return {"ann": ann, "bob": bob}


def ledger_counts() -> dict:
    return {model.__name__: model.objects.count() for model in LEDGER_MODELS}


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def run_command(tmp_path, data: bytes, *args) -> tuple[str, str]:
    """import_ar on ``data``: (stdout, stderr); raises CommandError when it refuses."""
    path = tmp_path / "lockbox.txt"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_ar", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        exc.out, exc.err = out.getvalue(), err.getvalue()
        raise
    return out.getvalue(), err.getvalue()


def refused_by_command(tmp_path, data: bytes, *args) -> CommandError:
    before = ledger_counts()
    with pytest.raises(CommandError) as caught:
        run_command(tmp_path, data, *args)
    assert caught.value.returncode == 1
    assert ledger_counts() == before, "a refused file left ledger rows behind"
    return caught.value


def upload(client, data: bytes, **extra):
    return client.post(
        reverse("finance:ar_import_upload"),
        {"file": SimpleUploadedFile("lockbox.txt", data), "auto_apply": "", **extra},
        follow=True,
    )


def refused_by_upload(client, data: bytes) -> str:
    before = ledger_counts()
    resp = upload(client, data)
    assert resp.status_code == 200
    imp = ARImport.objects.latest("pk")
    assert imp.status == ARImport.Status.INVALID
    resp = client.post(reverse("finance:ar_import_post", args=[imp.pk]), follow=True)
    assert "it cannot be posted" in resp.content.decode()
    assert ledger_counts() == before, "a refused file left ledger rows behind"
    return client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()


# --- control characters inside a field -----------------------------------------------------------

CONTROL_CASES = [
    (pay("10\x0002", "10.00"), "Line 2, customer: contains NUL (0x00) at character 3; remove it"),
    (pay(1002, "1\x000.00"), "Line 2, amount: contains NUL (0x00) at character 2; remove it"),
    (pay(1002, "10.00", check="77\x1b1"), "Line 2, check number: contains ESC (0x1B) at character 3; remove it"),
    (pay(1002, "10.00", name="Bob\rPayer"), "Line 2, payer name: contains a carriage return (0x0D) at character 4"),
    (pay(1002, "10.00", desc="AR\x7fPayment"), "Line 2, description: contains DEL (0x7F) at character 3"),
]


@pytest.mark.parametrize(("line", "expected"), CONTROL_CASES)
def test_control_character_in_a_field__command_refuses_naming_line_and_field(payers, tmp_path, line, expected):
    exc = refused_by_command(tmp_path, imis(line, amount="10.00"))
    assert expected in exc.err, exc.err
    assert not ARImport.objects.filter(status=ARImport.Status.VALIDATED).exists()


def test_control_characters__upload_page_lists_them_and_posts_nothing(client, staff_user, payers):
    client.force_login(staff_user)
    page = refused_by_upload(client, imis(pay("10\x0002", "10.00", check="1"), pay(1002, "1\x000.00", check="2")))
    assert "customer: contains NUL (0x00) at character 3; remove it" in page
    assert "amount: contains NUL (0x00) at character 2; remove it" in page


def test_control_character_in_the_header__named_with_its_field(payers, tmp_path):
    data = ("\n".join([bh(1, "10.00", desc="Lock\x00box"), pay(1002, "10.00")]) + "\n").encode()
    exc = refused_by_command(tmp_path, data)
    assert "Line 1, description: contains NUL (0x00) at character 5; remove it" in exc.err


def test_tab_delimited_file_with_a_nul__the_tabs_are_delimiters_the_nul_an_error(payers, tmp_path):
    data = imis(pay(1002, "1\x000.00", sep="\t"), amount="10.00", sep="\t")
    exc = refused_by_command(tmp_path, data)
    assert exc.err.strip().splitlines() == ["Line 2, amount: contains NUL (0x00) at character 2; remove it"]


# --- amounts beyond what the columns hold ----------------------------------------------------------


def test_two_amounts_whose_total_has_13_digits__command_refuses_before_writing(payers, tmp_path):
    data = imis(pay(105, "999999999999.99", check="1"), pay(1002, "999999999999.99", check="2"), amount="0")
    exc = refused_by_command(tmp_path, data)
    assert "File: the rows add up to 1999999999999.98, more than 999999999999.99, the largest amount" in exc.err
    assert "Rows: 2, total more than the ledger holds" in exc.out
    # One of them alone is the largest amount the ledger holds: it posts.
    out, _ = run_command(tmp_path, imis(pay(1002, "999999999999.99", check="2")))
    assert "Posted 1 payments (999999999999.99)" in out
    assert Payment.objects.get(payer=payers["bob"]).amount == Decimal("999999999999.99")
    assert_ledger_ok()


def test_two_amounts_whose_total_has_13_digits__upload_page_shows_the_error(client, staff_user, payers):
    client.force_login(staff_user)
    page = refused_by_upload(
        client, imis(pay(105, "999999999999.99", check="1"), pay(1002, "999999999999.99", check="2"), amount="0")
    )
    assert "the rows add up to 1999999999999.98, more than 999999999999.99" in page
    assert "more than the ledger holds" in page  # the file's total, in the totals table


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            imis(pay(1002, "1000000000000.00"), amount="0"),
            "Line 2, amount: '1000000000000.00' is more than 999999999999.99, the largest amount the ledger holds",
        ),
        (
            imis(pay(1002, "10.00"), amount="1999999999999.98"),
            "Line 1, control amount: '1999999999999.98' is more than 999999999999.99",
        ),
    ],
)
def test_amount_or_control_amount_beyond_the_columns__refused_with_line_and_field(payers, tmp_path, data, expected):
    exc = refused_by_command(tmp_path, data)
    assert expected in exc.err, exc.err


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (imis(pay(1002, "10.00"), count="99999999999"), "Line 1, control count: '99999999999' is not a whole number"),
        (imis(pay(1002, "10.00"), count="\u00b2"), "Line 1, control count: '\u00b2' is not a whole number"),
        (imis(pay(1002, "10.00"), cash="ASSN:" + "1" * 40), "Line 1, cash account: is 45 characters; at most 40"),
    ],
)
def test_header_fields_beyond_their_columns__refused_not_a_traceback(payers, tmp_path, data, expected):
    exc = refused_by_command(tmp_path, data)
    assert expected in exc.err, exc.err


# --- a header and no payment ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [(bh(0, "0.00") + "\n").encode(), (bh("", "0.00") + "\n\n\n").encode()])
def test_header_without_pay_lines__refused_and_no_batch_left(payers, tmp_path, data):
    exc = refused_by_command(tmp_path, data)
    assert "File: no payments in the file: the BH header line is followed by no PAY line" in exc.err
    assert not Batch.objects.filter(number="LB0115").exists()


def test_csv_header_row_without_rows__refused(payers, tmp_path):
    exc = refused_by_command(tmp_path, b"customer_id,amount,check_number\n", "--batch", "CSV1")
    assert "File: no payments in the file: the header row is followed by no row" in exc.err
    assert not Batch.objects.filter(number="CSV1").exists()


def test_header_without_pay_lines__upload_page(client, staff_user, payers):
    client.force_login(staff_user)
    page = refused_by_upload(client, (bh(0, "0.00") + "\n").encode())
    assert "no payments in the file" in page
    assert not Batch.objects.filter(number="LB0115").exists()


# --- a line of a megabyte -------------------------------------------------------------------------


def test_line_of_a_megabyte__says_the_line_is_too_long_and_nothing_else(payers, tmp_path):
    long_line = pay(1002, "10.00", check="2", desc='"' + "x" * (1024 * 1024) + '"')
    data = imis(pay(1002, "10.00", check="1"), long_line, count=2, amount="20.00")
    exc = refused_by_command(tmp_path, data)
    errors = exc.err.strip().splitlines()
    assert errors == [
        f"Line 3: the line is {len(long_line.encode()):,} bytes long; a line may be at most 4,096 bytes "
        "(a missing line break?); it was not read"
    ], errors
    assert "not a PAY line" not in exc.err and "control" not in exc.err


def test_line_of_a_megabyte__upload_page(client, staff_user, payers):
    client.force_login(staff_user)
    # Just under the size checked in the request (1 MB), as a line of a megabyte is the same refusal.
    long_line = "PAY,,AR,1002,,,10.00" + "," * 1_000_000
    page = refused_by_upload(client, imis(long_line, count=1, amount="10.00"))
    assert "a line may be at most 4,096 bytes" in page
    assert "is not a PAY line" not in page


# --- the same checks under a new batch number ------------------------------------------------------


def first_file():
    return imis(pay(105, "40.00", check="501"), pay(1002, "25.00", check="502"), batch="LB1")


def resent_file():
    """The same checks (payer, check number, amount) under another batch number, and a new one."""
    return imis(
        pay(105, "40.00", check="501"), pay(1002, "25.00", check="502"), pay(1002, "9.00", check="503"), batch="LB2"
    )


def test_repeats__command_warns_naming_the_batch_and_needs_allow_repeats(payers, tmp_path):
    run_command(tmp_path, first_file())
    first = {p.reference: p for p in Payment.objects.filter(batch__number="LB1")}
    exc = refused_by_command(tmp_path, resent_file())
    assert "2 row(s) repeat payments posted before" in str(exc) and "--allow-repeats" in str(exc)
    warnings = [line for line in exc.out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: Line 2, row: the same payer, check number and amount were posted before, in batch LB1 "
        f"(payment {first['501'].pk})",
        "warning: Line 3, row: the same payer, check number and amount were posted before, in batch LB1 "
        f"(payment {first['502'].pk})",
    ]
    assert not Batch.objects.filter(number="LB2").exists()

    out, _ = run_command(tmp_path, resent_file(), "--allow-repeats")
    assert "Posted 3 payments (74.00) into batch LB2" in out
    assert Payment.objects.filter(reference="501").count() == 2
    assert_ledger_ok()


def test_repeats__upload_page_warns_each_row_and_asks_for_a_confirmation(
    client,
    staff_user,
    payers,
    eager,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    client.force_login(staff_user)
    ar_import_post(ar_import=validate(first_file()))
    page = upload(client, resent_file()).content.decode()
    imp = ARImport.objects.latest("pk")
    assert (imp.status, imp.repeat_count) == (ARImport.Status.VALIDATED, 2)
    assert page.count("row: the same payer, check number and amount were posted before, in batch LB1") == 2
    assert 'data-testid="ar-import-repeats"' in page and 'name="confirm_repeats"' in page
    assert "2 rows repeat payments posted before" in page

    before = ledger_counts()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(reverse("finance:ar_import_post", args=[imp.pk]), follow=True)
    assert "confirm that they are to be posted again" in resp.content.decode()
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.VALIDATED and ledger_counts() == before

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("finance:ar_import_post", args=[imp.pk]), {"confirm_repeats": "1"}, follow=True)
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.POSTED
    assert Payment.objects.filter(batch__number="LB2").count() == 3
    assert_ledger_ok()


def test_repeats__posted_after_the_preview__the_posting_refuses_them_unconfirmed(payers):
    resent = validate(resent_file())
    assert resent.status == ARImport.Status.VALIDATED and resent.repeat_count == 0
    ar_import_post(ar_import=validate(first_file()))
    before = ledger_counts()
    with pytest.raises(ARImportError, match=r"2 rows repeat payments posted before .*line 2: batch LB1"):
        ar_import_post(ar_import=resent)
    resent.refresh_from_db()
    assert (resent.status, resent.repeat_count) == (ARImport.Status.FAILED, 2)
    assert ledger_counts() == before
    ar_import_post(ar_import=resent, allow_repeats=True)
    assert Payment.objects.filter(batch__number="LB2").count() == 3
    assert_ledger_ok()


def test_repeats__a_reversed_payment_or_a_row_without_check_number_is_no_repeat(payers, ledger):
    from finance.services.payments import payment_reverse

    ar_import_post(ar_import=validate(imis(pay(105, "40.00", check="501"), pay(1002, "25.00", check=""))))
    payment_reverse(payment=Payment.objects.get(reference="501"), batch=BatchFactory(number="B-REV"), reason="NSF")
    imp = validate(imis(pay(105, "40.00", check="501"), pay(1002, "25.00", check=""), batch="LB3"))
    assert imp.status == ARImport.Status.VALIDATED and imp.repeat_count == 0
    ar_import_post(ar_import=imp)
    assert_ledger_ok()


def test_repeats__found_in_one_query_whatever_the_number_of_rows(payers):
    """The earlier postings are looked up by one join of the staged rows with the
    payments: as many queries for 40 repeated rows as for one."""

    def queries_to_validate(n_rows: int, batch: str, first_check: int) -> int:
        pays = [pay(1002, "1.00", check=str(first_check + i)) for i in range(n_rows)]
        ar_import_post(ar_import=validate(imis(*pays, batch=f"{batch}A")))
        with CaptureQueriesContext(connection) as ctx:
            imp = validate(imis(*pays, batch=f"{batch}B"))
        assert imp.repeat_count == n_rows
        return len(ctx.captured_queries)

    assert queries_to_validate(1, "ONE", 9000) == queries_to_validate(40, "MANY", 9100)
