"""The AR import with several financial entities (the header's cash account code found in
the entity chosen on upload or with import_ar --entity, or written ENTITY:CODE), and
discarding an import that was not posted."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from finance.ar_import.services import ARImportError, ar_import_discard, ar_import_post
from finance.ledger_check import verify_ledger
from finance.models import Batch, Invoice, JournalEntry, JournalLine, Payment, PaymentApplication
from finance.models_ar_import import ARImport, ARImportRow
from tests.factories import BatchFactory, ContactFactory, GLAccountFactory, LedgerSetup
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay, validate
from tests.finance.test_ar_import_recovery import media  # noqa: F401 - MEDIA_ROOT in a temporary folder
from tests.finance.test_ar_import_views import eager  # noqa: F401 - Celery tasks run in the request

pytestmark = pytest.mark.django_db

LEDGER_MODELS = (Batch, Payment, PaymentApplication, Invoice, JournalEntry, JournalLine)


@pytest.fixture
def two(ledger):
    """ASSN (the ``ledger`` fixture) and FDN, each with a cash account 1000-00; Ann owes both."""
    fdn = LedgerSetup.build(code="FDN")
    ann = ContactFactory(party_id="105", name="Ann Payer")
    batch = BatchFactory(number="B-INV")
    assn_invoice = make_invoice(ledger, ann, batch, "100.00")
    fdn_invoice = make_invoice(fdn, ann, batch, "60.00")
    return {"assn": ledger, "fdn": fdn, "ann": ann, "assn_invoice": assn_invoice, "fdn_invoice": fdn_invoice}


def ledger_counts() -> dict:
    return {model.__name__: model.objects.count() for model in LEDGER_MODELS}


def command(tmp_path, data: bytes, *args) -> str:
    path = tmp_path / "lockbox.txt"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("import_ar", str(path), *args, stdout=out, stderr=out)
    return out.getvalue()


def refused(tmp_path, data: bytes, *args) -> str:
    before = ledger_counts()
    path = tmp_path / "lockbox.txt"
    path.write_bytes(data)
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_ar", str(path), *args, stdout=io.StringIO(), stderr=err)
    assert ledger_counts() == before
    return err.getvalue() + str(caught.value)


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


# --- the entity -----------------------------------------------------------------------------------


def test_imis_cash_account_code__a_payment_method_code_names_its_cash_account(ledger, tmp_path):
    """iMIS writes its own cash account codes in the header (its documentation's example:
    CASH), not GL account numbers: the payment method of that code gives the account."""
    ContactFactory(party_id="105", name="Ann Payer")
    out = command(tmp_path, imis(pay(105, "30.00", check="1"), cash="CASH"))
    assert "Posted 1 payments (30.00)" in out
    assert Payment.objects.get(reference="1").cash_account == ledger.cash
    assert_ledger_ok()
    # Lower case as well; and a code nothing has is refused with the line and field.
    assert "Posted 1 payments (5.00)" in command(tmp_path, imis(pay(105, "5.00", check="2"), cash="check", batch="B2"))
    text = refused(tmp_path, imis(pay(105, "5.00", check="3"), cash="LOCKBOX", batch="B3"))
    assert "Line 1, cash account: no active cash account (GL account code or payment method code) has the code" in text


def test_imis_cash_account_code__the_methods_account_must_be_in_the_imports_entity(two, tmp_path):
    text = refused(tmp_path, imis(pay(105, "5.00"), cash="CASH"), "--entity", "FDN")
    assert "payment method CASH deposits to cash account 1000-00 of entity" in text
    assert "the import is for entity FDN" in text


def test_command_entity__cash_account_and_invoices_of_that_entity(two, tmp_path):
    out = command(tmp_path, imis(pay(105, "80.00", check="1")), "--entity", "FDN")
    assert "cash account 1000-00 (entity FDN)" in out and "Posted 1 payments (80.00)" in out
    payment = Payment.objects.get(reference="1")
    assert (payment.entity, payment.cash_account) == (two["fdn"].entity, two["fdn"].cash)
    debit = JournalLine.objects.get(entry__ar_import__rows__payment=payment, debit__gt=0)
    assert debit.account == two["fdn"].cash
    two["fdn_invoice"].refresh_from_db()
    two["assn_invoice"].refresh_from_db()
    assert (two["fdn_invoice"].balance, two["assn_invoice"].balance) == (0, 100)  # FDN's invoice only
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert (credit.entity, credit.balance) == (two["fdn"].entity, -20)
    assert_ledger_ok()


def test_command_without_entity__the_error_names_the_ways_to_choose(two, tmp_path):
    text = refused(tmp_path, imis(pay(105, "80.00")))
    assert "cash account 1000-00 exists in several entities (ASSN, FDN): choose the financial entity" in text
    assert "import_ar --entity ASSN" in text and "ASSN:1000-00" in text
    # A code that only one entity has needs no choice.
    GLAccountFactory(entity=two["assn"].entity, code="1010-00", name="Lockbox bank", role="cash", type="asset")
    assert "Posted 1 payments" in command(tmp_path, imis(pay(105, "30.00"), cash="1010-00"))
    assert Payment.objects.get().cash_account.code == "1010-00"


def test_entity_qualified_code_in_the_header(two, tmp_path):
    out = command(tmp_path, imis(pay(105, "30.00", check="1"), cash="FDN:1000-00"))
    assert "Posted 1 payments (30.00)" in out
    assert Payment.objects.get(reference="1").cash_account == two["fdn"].cash
    assert_ledger_ok()


@pytest.mark.parametrize(
    ("cash", "args", "expected"),
    [
        ("FDN:1000-00", ["--entity", "ASSN"], "Line 1, cash account: the cash account names entity FDN; the import "),
        ("XYZ:1000-00", [], "Line 1, cash account: no financial entity has the code 'XYZ'"),
        ("1010-00", ["--entity", "FDN"], "entity FDN has no active cash account with the code '1010-00' (entity ASSN"),
        ("1000-00", ["--entity", "NOPE"], "--entity 'NOPE': no financial entity has that code (ASSN, FDN)"),
    ],
)
def test_entity_mismatches_are_refused(two, tmp_path, cash, args, expected):
    GLAccountFactory(entity=two["assn"].entity, code="1010-00", name="Lockbox bank", role="cash", type="asset")
    assert expected in refused(tmp_path, imis(pay(105, "30.00"), cash=cash), *args)


def upload(client, data: bytes, **extra):
    return client.post(
        reverse("finance:ar_import_upload"),
        {"file": SimpleUploadedFile("lockbox.txt", data), "auto_apply": "", **extra},
        follow=True,
    )


def selected_entity(client) -> str | None:
    page = client.get(reverse("finance:ar_import_upload")).content.decode()
    found = re.search(r'<option value="(\d+)" selected>', page)
    return found and found.group(1)


def test_upload_page__entity_required_with_several_starts_on_the_last_one_chosen(
    client,
    staff_user,
    two,
    eager,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    client.force_login(staff_user)
    assn, fdn = two["assn"].entity, two["fdn"].entity
    assert selected_entity(client) == str(assn.pk)  # no import yet: the first
    page = upload(client, imis(pay(105, "80.00", check="1")), entity="").content.decode()
    assert "This field is required." in page and not ARImport.objects.exists()
    upload(client, imis(pay(105, "80.00", check="1")), entity=fdn.pk)
    imp = ARImport.objects.get()
    assert (imp.status, imp.entity, imp.cash_account) == (ARImport.Status.VALIDATED, fdn, two["fdn"].cash)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("finance:ar_import_post", args=[imp.pk]))
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.POSTED
    assert Payment.objects.get().cash_account == two["fdn"].cash
    assert selected_entity(client) == str(fdn.pk)  # the entity of the clerk's last import
    assert_ledger_ok()


def test_upload_page__one_entity_nothing_to_choose__an_entity_qualified_code_is_accepted(client, staff_user, ledger):
    client.force_login(staff_user)
    ContactFactory(party_id="105")
    assert 'name="entity"' not in client.get(reverse("finance:ar_import_upload")).content.decode()
    upload(client, imis(pay(105, "10.00", check="1")))
    upload(client, imis(pay(105, "10.00", check="2"), batch="LB2", cash="ASSN:1000-00"))
    imports = list(ARImport.objects.order_by("pk"))
    assert [i.status for i in imports] == [ARImport.Status.VALIDATED] * 2, [i.errors for i in imports]
    assert {i.cash_account for i in imports} == {ledger.cash}


# --- discarding -------------------------------------------------------------------------------------


def test_discard_invalid_import_from_the_list(client, staff_user, two):
    client.force_login(staff_user)
    before = ledger_counts()
    upload(client, imis(pay(105, "10.00"), pay(999, "5.00", check="2")), entity=two["assn"].entity.pk)
    imp = ARImport.objects.get()
    assert imp.status == ARImport.Status.INVALID and ARImportRow.objects.filter(ar_import=imp).count() == 2
    listing = client.get(reverse("finance:ar_import_list")).content.decode()
    assert f'data-testid="ar-import-discard-{imp.pk}"' in listing
    resp = client.post(reverse("finance:ar_import_discard", args=[imp.pk]), follow=True)
    assert resp.redirect_chain[-1][0] == reverse("finance:ar_import_list")
    page = resp.content.decode()
    assert f"AR import {imp.pk} (lockbox.txt) discarded; nothing was posted" in page
    assert f'href="/ar-import/{imp.pk}/"' not in page and "Show discarded imports (1)" in page
    imp.refresh_from_db()
    assert (imp.status, imp.discarded_by) == (ARImport.Status.DISCARDED, staff_user)
    assert imp.discarded_at is not None and imp.sha256 and imp.error_count == 1  # the record is kept
    assert not ARImportRow.objects.filter(ar_import=imp).exists()  # the staged rows are not
    assert ledger_counts() == before
    shown = client.get(reverse("finance:ar_import_list") + "?show=discarded").content.decode()
    assert f'href="/ar-import/{imp.pk}/"' in shown and "Discarded" in shown
    detail = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
    assert 'data-testid="ar-import-discarded"' in detail and 'data-testid="ar-import-discard"' not in detail


def test_discarded_import_cannot_be_posted(two, client, staff_user):
    imp = validate(imis(pay(105, "10.00")), entity=two["assn"].entity)
    assert imp.status == ARImport.Status.VALIDATED
    ar_import_discard(ar_import=imp)
    with pytest.raises(ARImportError, match="is discarded; it cannot be posted"):
        ar_import_post(ar_import=imp)
    client.force_login(staff_user)
    resp = client.post(reverse("finance:ar_import_post", args=[imp.pk]), follow=True)
    assert "is discarded; it cannot be posted" in resp.content.decode()
    assert not Payment.objects.exists()


def test_failed_import_can_be_discarded_a_posted_one_cannot(two, monkeypatch):
    import finance.ar_import.services as svc

    failing = validate(imis(pay(105, "10.00", check="1")), entity=two["assn"].entity)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(svc.posting, "_post_journal_sql", boom)
    with pytest.raises(RuntimeError):
        ar_import_post(ar_import=failing)
    monkeypatch.undo()
    failing.refresh_from_db()
    assert failing.status == ARImport.Status.FAILED
    assert ar_import_discard(ar_import=failing).status == ARImport.Status.DISCARDED
    assert ar_import_discard(ar_import=failing).status == ARImport.Status.DISCARDED  # twice: no-op

    posted = ar_import_post(ar_import=validate(imis(pay(105, "10.00", check="2")), entity=two["assn"].entity))
    with pytest.raises(ARImportError, match="is posted; only an import that was not posted"):
        ar_import_discard(ar_import=posted)
    posted.refresh_from_db()
    assert posted.status == ARImport.Status.POSTED and posted.rows.count() == 1
    assert Payment.objects.count() == 1
    assert_ledger_ok()


def test_big_upload__checked_in_the_worker_in_the_chosen_entity__discard_keeps_the_file(
    client,
    staff_user,
    two,
    media,  # noqa: F811
    eager,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    client.force_login(staff_user)
    name, desc = "Ann Payer of a rather long name " * 3, "Lockbox payment with a long description " + "x" * 19
    data = imis(*[pay(105, "1.00", check=str(70_000 + i), name=name[:100], desc=desc[:60]) for i in range(6_000)])
    assert len(data) > 1024 * 1024  # over the size checked in the request
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, data, entity=two["fdn"].entity.pk)
    imp = ARImport.objects.get()
    assert imp.upload and imp.status == ARImport.Status.VALIDATED, imp.errors
    assert (imp.entity, imp.cash_account, imp.row_count) == (two["fdn"].entity, two["fdn"].cash, 6_000)
    before = ledger_counts()
    client.post(reverse("finance:ar_import_discard", args=[imp.pk]))
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.DISCARDED and not ARImportRow.objects.filter(ar_import=imp).exists()
    assert (media / imp.upload.name).read_bytes() == data  # the file is kept for the record
    assert ledger_counts() == before
