"""The lockbox file the README shows previews and posts against the demo data as it is
(seed_demo with its default seed, as ``make run`` loads it): through import_ar and
through the upload page. The file is read out of README.md, so the two cannot drift."""

import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse

from finance.ledger_check import verify_ledger
from finance.models import Batch, FinancialEntity, JournalEntry, Payment
from finance.models_ar_import import ARImport
from tests.finance.test_ar_import_views import eager  # noqa: F401 - Celery tasks run in the request

README = Path(__file__).resolve().parents[2] / "README.md"
TODAY = datetime.date(2026, 3, 15)


def readme_lockbox_file() -> bytes:
    """The fenced block that follows the lockbox-demo-file marker in README.md."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- lockbox-demo-file\b.*?-->\s*```text\n(.*?)```", text, re.S)
    assert found, "README.md has no lockbox demo file block"
    return found.group(1).encode()


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo as `make run` loads it (the default seed), once for the module, rolled back at the end."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", "--today", TODAY.isoformat(), stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def test_readme_file_is_an_imis_lockbox_file():
    lines = readme_lockbox_file().decode().splitlines()
    assert lines[0].startswith("BH,") and all(line.startswith("PAY,") for line in lines[1:])
    assert all(len(line.split(",")) == 14 for line in lines[1:])  # the layout of the iMIS documentation


@pytest.mark.django_db
def test_readme_file__command_previews_then_posts_it(demo, tmp_path):
    path = tmp_path / "lockbox-demo.txt"
    path.write_bytes(readme_lockbox_file())
    out = io.StringIO()
    call_command("import_ar", str(path), "--entity", "ASSN", "--dry-run", stdout=out)
    assert "Rows: 3, total 1335.00 (control count 3, control amount 1335.00)" in out.getvalue()
    assert "Dry run: nothing was posted." in out.getvalue()
    assert not Batch.objects.filter(number="LB0115").exists()

    out = io.StringIO()
    call_command("import_ar", str(path), "--entity", "ASSN", stdout=out)
    assert "Posted 3 payments (1335.00) into batch LB0115" in out.getvalue()
    imp = ARImport.objects.get(status=ARImport.Status.POSTED, batch__number="LB0115")
    payments = Payment.objects.filter(batch=imp.batch).select_related("payer", "cash_account__entity")
    assert sorted((p.payer.party_id, p.reference, p.amount) for p in payments) == [
        ("23456", "20411", Decimal("500.00")),
        ("23483", "20412", Decimal("760.00")),  # *BCF157, the Major Key
        ("23507", "20413", Decimal("75.00")),
    ]
    assert {(p.cash_account.code, p.cash_account.entity.code) for p in payments} == {("1000-00", "ASSN")}
    report = verify_ledger()
    assert report.ok, report.format()


@pytest.mark.django_db
def test_readme_file__without_an_entity_the_error_says_how_to_name_it(demo, tmp_path):
    path = tmp_path / "lockbox-demo.txt"
    path.write_bytes(readme_lockbox_file())
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_ar", str(path), stdout=io.StringIO(), stderr=err)
    assert (
        "Line 1, cash account: cash account 1000-00 exists in several entities (ASSN, FDN): choose the financial "
        "entity of the import (on the upload page, or import_ar --entity ASSN), or write the code as ASSN:1000-00"
    ) in err.getvalue()
    # Written as the error says, the header names its entity itself.
    path.write_bytes(readme_lockbox_file().replace(b",1000-00\n", b",ASSN:1000-00\n", 1))
    out = io.StringIO()
    call_command("import_ar", str(path), stdout=out)
    assert "Posted 3 payments (1335.00) into batch LB0115" in out.getvalue()
    assert verify_ledger().ok


@pytest.mark.django_db
def test_readme_file__upload_page_previews_then_posts_it(demo, client, eager, django_capture_on_commit_callbacks):  # noqa: F811
    clerk = get_user_model().objects.get(username="clerk")
    client.force_login(clerk)
    assn = FinancialEntity.objects.get(code="ASSN")
    page = client.get(reverse("finance:ar_import_upload")).content.decode()
    # Several entities: the upload asks which, starting on the first (the clerk has no import yet).
    assert re.search(rf'<option value="{assn.pk}" selected>ASSN', page), page
    journal_before = JournalEntry.objects.count()
    resp = client.post(
        reverse("finance:ar_import_upload"),
        {"file": SimpleUploadedFile("lockbox-demo.txt", readme_lockbox_file()), "entity": assn.pk, "auto_apply": ""},
        follow=True,
    )
    imp = ARImport.objects.get(file_name="lockbox-demo.txt")
    assert imp.status == ARImport.Status.VALIDATED, imp.errors
    preview = resp.content.decode()
    assert "Harbor Point Credit Union" in preview and "Bluestem Community Foundation" in preview
    assert "Post 3 payments" in preview
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("finance:ar_import_post", args=[imp.pk]), follow=True)
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.POSTED and imp.posted_by == clerk
    assert Payment.objects.filter(batch=imp.batch).count() == 3
    assert JournalEntry.objects.count() > journal_before
    assert verify_ledger().ok
    # The next upload starts on the entity of this one.
    page = client.get(reverse("finance:ar_import_upload")).content.decode()
    assert re.search(rf'<option value="{assn.pk}" selected>ASSN', page)
