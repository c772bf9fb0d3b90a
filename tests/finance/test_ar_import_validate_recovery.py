"""The check of an uploaded AR import file in the worker (``validate_ar_import``) killed
part-way, with a chunk of rows staged: nothing of it is kept, the file still shows as
being checked, and the task run again (a redelivery, or staff's "Check again") checks
it once, with exactly the file's rows and the preview of an uninterrupted check."""

import io
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import finance.ar_import.services as svc
from finance.ar_import.services import ar_import_upload, ar_import_validate
from finance.ar_import.tasks import validate_ar_import
from finance.ledger_check import verify_ledger
from finance.models import Payment
from finance.models_ar_import import ARImport, ARImportRow
from paycentral.celery import app as celery_app
from tests.child_process import child_env
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
ROWS = 12_000  # three chunks of validation.CHUNK rows: the kill comes after the first is staged

# The worker: runs the task and stops (sleeps) once the first chunk of rows is written
# (in the check's transaction, not committed), so that the test can kill it there.
KILLED_WORKER = """
import sys, time
import django
django.setup()
import finance.ar_import.services as svc
from finance.ar_import.tasks import validate_ar_import
write_chunk = svc.validation._RowWriter.flush
def stop_after_first_chunk(self):
    write_chunk(self)
    open(sys.argv[2], "w").write("staged")
    time.sleep(300)
svc.validation._RowWriter.flush = stop_after_first_chunk
validate_ar_import(int(sys.argv[1]))
"""


@pytest.fixture
def payer(ledger):
    """Owes two invoices (100.00 and 250.00): the preview applies to both, the rest is credit."""
    contact = ContactFactory(party_id="105", name="Ann Payer")
    make_invoice(ledger, contact, BatchFactory(), "100.00")
    make_invoice(ledger, contact, BatchFactory(), "250.00")
    return contact


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def eager():
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def _file() -> bytes:
    amounts = ["1.00", "2.50", "0.75"]
    return imis(
        *(pay(105, amounts[i % 3], check=str(10_000 + i), name="Ann Payer") for i in range(ROWS)),
    )


def _upload(data: bytes) -> ARImport:
    """Stored as a big upload is; the check it queues on commit is left to the killed
    worker (not sent here)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(validate_ar_import, "delay", lambda *args, **kwargs: None)
        imp = ar_import_upload(fileobj=SimpleUploadedFile("lockbox.txt", data), file_name="lockbox.txt")
    assert imp.status == ARImport.Status.UPLOADED
    return imp


def _kill_mid_check(imp: ARImport, media: Path, marker: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(imp.pk), str(marker)],
        cwd=ROOT,
        env=child_env(MEDIA_ROOT=str(media)),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker did not stage the first chunk"
            time.sleep(0.1)
        # A chunk is staged in the worker's open transaction; outside it nothing shows
        # but the progress (written from its own connection).
        imp.refresh_from_db()
        assert imp.status == ARImport.Status.UPLOADED and imp.progress > 0
        assert not ARImportRow.objects.filter(ar_import=imp).exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()


def _preview(imp: ARImport) -> tuple:
    imp.refresh_from_db()
    rows = ARImportRow.objects.filter(ar_import=imp).order_by("line_number")
    return (
        imp.status,
        imp.row_count,
        imp.total_amount,
        imp.applied_amount,
        imp.credit_amount,
        imp.credit_count,
        imp.error_count,
        list(rows.values_list("line_number", "amount", "plan_applied", "plan_credit", "plan_text")),
    )


def test_validate_task_killed_mid_check__run_again__validated_once_with_the_files_rows(payer, media, tmp_path):
    assert ROWS > 2 * svc.CHUNK
    data = _file()
    imp = _upload(data)
    _kill_mid_check(imp, media, tmp_path / "staged")

    # After the kill: the staged chunk went with the worker's transaction; the import is
    # still "uploaded" (staff see "Checking…" at the progress it had reached).
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.UPLOADED and imp.progress > 0
    assert not ARImportRow.objects.filter(ar_import=imp).exists()

    # The broker hands the task to a worker again (acks_late); it waits for the killed
    # check's lock to go with its connection, then checks the file once.
    result = validate_ar_import(imp.pk)
    assert result == {"id": imp.pk, "status": ARImport.Status.VALIDATED, "errors": 0, "rows": ROWS}
    assert validate_ar_import(imp.pk)["status"] == ARImport.Status.VALIDATED  # again: nothing more
    rows = ARImportRow.objects.filter(ar_import=imp)
    assert rows.count() == ROWS
    assert sorted(rows.values_list("line_number", flat=True)) == list(range(2, ROWS + 2))  # each line once

    # The same preview as the same file checked without interruption.
    fresh = ar_import_validate(fileobj=io.BytesIO(data), file_name="lockbox.txt")
    got, expected = _preview(imp), _preview(fresh)
    assert got == expected
    assert got[:5] == (ARImport.Status.VALIDATED, ROWS, Decimal("17000.00"), Decimal("350.00"), Decimal("16650.00"))
    assert not Payment.objects.exists()
    assert verify_ledger().ok


def test_validate_task_killed_and_never_redelivered__staff_check_again(
    client, staff_user, payer, media, tmp_path, eager
):
    """Without a redelivery the import would say "Checking…" for ever: the page offers
    "Check again", which queues the check (refused while a check is running)."""
    imp = _upload(_file())
    _kill_mid_check(imp, media, tmp_path / "staged")
    client.force_login(staff_user)
    detail = reverse("finance:ar_import_detail", args=[imp.pk])
    page = client.get(detail).content.decode()
    assert "Checking every row of the file in the background" in page
    assert 'data-testid="ar-import-check-again"' in page

    # The killed backend's lock goes a moment after the kill; until then the check is
    # "running" and nothing is queued.
    deadline = time.monotonic() + 20
    while True:
        resp = client.post(reverse("finance:ar_import_recover", args=[imp.pk]), follow=True)
        text = resp.content.decode()
        if "Checking again" in text:
            break
        assert "The worker is checking the file now" in text
        assert time.monotonic() < deadline, "the killed check's lock was never released"
        time.sleep(0.2)
    assert "The check of the file had stopped before it finished; nothing was kept." in text
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.VALIDATED and imp.row_count == ROWS
    assert ARImportRow.objects.filter(ar_import=imp).count() == ROWS
    assert "Post 12,000 payments" in client.get(detail).content.decode()
    # Once checked, the button is gone and the recover action changes nothing.
    client.post(reverse("finance:ar_import_recover", args=[imp.pk]))
    assert ARImportRow.objects.filter(ar_import=imp).count() == ROWS
    assert 'data-testid="ar-import-check-again"' not in client.get(detail).content.decode()
