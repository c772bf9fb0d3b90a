"""AR import in the worker: a posting whose worker was killed is recovered and posted
again (once); big files are checked in the worker with progress."""

import io
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

import finance.ar_import.services as svc
from finance.ar_import.services import (
    LOCK_POST,
    ARImportError,
    ar_import_post,
    ar_import_recover,
    ar_import_upload,
    ar_import_validate_stored,
)
from finance.ar_import.tasks import post_ar_import, validate_ar_import
from finance.ledger_check import verify_ledger
from finance.models import Payment
from finance.models_ar_import import ARImport, ARImportRow
from paycentral.celery import app as celery_app
from tests.child_process import child_env
from tests.db import advisory_lock_elsewhere, conninfo
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay, validate
from tests.finance.test_tasks import worker  # noqa: F401 - the embedded Celery worker fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def payer(ledger):
    contact = ContactFactory(party_id="105", name="Ann Payer")
    make_invoice(ledger, contact, BatchFactory(), "100.00")
    return contact


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path / "media"


@pytest.fixture
def eager():
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def _many_rows(n: int, customer="105") -> bytes:
    """A file of ``n`` PAY rows of one payer (distinct check numbers)."""
    return imis(*(pay(customer, "1.00", check=str(10_000 + i), name="Ann Payer") for i in range(n)))


# --- a posting whose worker stopped ----------------------------------------------------------

# The worker: posts the import, and stops (sleeps) after everything is written but before
# the commit, so that the test can kill it there.
KILLED_WORKER = """
import os, sys, time
import django
django.setup()
import finance.ar_import.services as svc
from finance.models_ar_import import ARImport
write_all = svc.posting._post_sql
def stop_before_commit(*args, **kwargs):
    write_all(*args, **kwargs)
    open(sys.argv[2], "w").write("written")
    time.sleep(300)
svc.posting._post_sql = stop_before_commit
svc.ar_import_post(ar_import=ARImport.objects.get(pk=int(sys.argv[1])))
"""


@pytest.mark.django_db(transaction=True)
def test_recover__worker_killed_while_posting__nothing_posted_then_posted_once(payer, tmp_path):
    imp = validate(imis(pay(105, "130.00", check="1"), pay(105, "20.00", check="2")))
    marker = tmp_path / "written"
    env = child_env()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(imp.pk), str(marker)], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker did not reach the commit"
            time.sleep(0.1)
        # Everything is written, not committed, the worker alive: "posting", and not released.
        imp.refresh_from_db()
        assert imp.status == ARImport.Status.POSTING
        assert ar_import_recover(ar_import=imp) is False
        with pytest.raises(ARImportError, match="cannot be posted"):
            ar_import_post(ar_import=imp)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
    # The server rolls the worker's transaction back and drops its lock when the
    # connection closes (a moment after the kill).
    deadline = time.monotonic() + 20
    while not ar_import_recover(ar_import=imp):
        assert time.monotonic() < deadline, "the killed worker's posting was never released"
        time.sleep(0.2)
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.FAILED and "interrupted" in imp.message
    assert not Payment.objects.exists() and not ARImportRow.objects.filter(posted=True).exists()
    assert ar_import_recover(ar_import=imp) is False  # twice: nothing more to do
    imp = ar_import_post(ar_import=imp)
    assert imp.status == ARImport.Status.POSTED
    assert sorted(Payment.objects.values_list("amount", flat=True)) == [Decimal("20.00"), Decimal("130.00")]
    assert verify_ledger().ok


@pytest.mark.django_db(transaction=True)
def test_recover__refused_while_another_session_posts(payer):
    imp = validate(imis(pay(105, "40.00", check="1")))
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.POSTING, posting_started_at=timezone.now())
    with advisory_lock_elsewhere(LOCK_POST, imp.pk):  # a live posting's lock
        assert ar_import_recover(ar_import=imp) is False
        assert post_ar_import(imp.pk)["status"] == ARImport.Status.POSTING  # the task leaves it alone
        ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.VALIDATED)
        with pytest.raises(ARImportError, match="is being posted already"):
            ar_import_post(ar_import=imp)
        ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.POSTING)
    assert not Payment.objects.exists()
    assert ar_import_recover(ar_import=imp) is True  # the other posting let go of its lock


@pytest.mark.django_db(transaction=True)
def test_post_task__redelivered_after_the_worker_died_posts_once(payer):
    """acks_late: the broker hands the task to another worker; the import still says
    "posting" but no posting runs: the task releases it and posts."""
    imp = validate(imis(pay(105, "40.00", check="1")))
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.POSTING, posting_started_at=timezone.now())
    assert post_ar_import(imp.pk)["status"] == ARImport.Status.POSTED
    assert post_ar_import(imp.pk)["status"] == ARImport.Status.POSTED
    assert Payment.objects.count() == 1
    assert verify_ledger().ok


@pytest.mark.django_db
def test_recover__only_imports_that_are_posting(payer):
    imp = validate(imis(pay(105, "40.00", check="1")))
    assert ar_import_recover(ar_import=imp) is False
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.VALIDATED


@pytest.mark.django_db(transaction=True)
def test_recover_view__releases_and_posts_again(client, staff_user, payer, eager, media):
    imp = validate(imis(pay(105, "40.00", check="1")))
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.POSTING, posting_started_at=timezone.now())
    client.force_login(staff_user)
    page = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
    assert "Check and post again" in page
    resp = client.post(reverse("finance:ar_import_recover", args=[imp.pk]), follow=True)
    assert (
        "The posting had stopped before it finished; nothing had been posted. Posting again." in resp.content.decode()
    )
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.POSTED and imp.posted_by == staff_user
    assert Payment.objects.count() == 1


# --- big files are checked in the worker -------------------------------------------------------


@pytest.mark.django_db
def test_upload__stored_then_checked_by_the_task(payer, media, django_capture_on_commit_callbacks, eager):
    with django_capture_on_commit_callbacks(execute=True):
        imp = ar_import_upload(
            fileobj=SimpleUploadedFile("big.txt", imis(pay(105, "130.00", check="5"))), file_name="big.txt"
        )
        assert imp.status == ARImport.Status.UPLOADED and imp.upload.name.startswith("ar_imports/")
        assert not ARImportRow.objects.exists()
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.VALIDATED, svc.problems(imp)
    assert (imp.row_count, imp.applied_amount, imp.credit_amount) == (1, Decimal("100.00"), Decimal("30.00"))
    assert Path(media, imp.upload.name).read_bytes().startswith(b"BH,LB0115")  # the file is kept
    before = ARImportRow.objects.count()
    assert validate_ar_import(imp.pk)["status"] == ARImport.Status.VALIDATED  # twice: no second set of rows
    assert ARImportRow.objects.count() == before == 1


@pytest.mark.django_db
def test_upload__bad_file_checked_in_the_worker_is_invalid_with_line_and_field(payer, media, eager):
    data = imis(pay(105, "12.345", check="5"), pay(999, "10.00", check="6"), amount="10.00")
    imp = ar_import_upload(fileobj=SimpleUploadedFile("bad.txt", data), file_name="bad.txt")
    imp = ar_import_validate_stored(ar_import=imp)
    assert imp.status == ARImport.Status.INVALID
    texts = svc.problems(imp)
    assert any(t == "Line 2, amount: '12.345' has more than two decimal places" for t in texts), texts
    assert "Line 3, customer: no contact has party id 999" in texts
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_upload__progress_recorded_while_the_worker_reads(payer, media, monkeypatch, eager):
    seen = []
    real_writer = svc.validation._progress_writer

    def spying_writer(imp_id, status=ARImport.Status.POSTING):
        write, pool = real_writer(imp_id, status)

        def spy(percent):
            write(percent)
            # Read back from another session: visible while the check's transaction is open.
            with psycopg.connect(conninfo()) as other:
                stored = other.execute("SELECT progress FROM finance_arimport WHERE id = %s", [imp_id]).fetchone()[0]
            seen.append((percent, stored))

        return spy, pool

    monkeypatch.setattr(svc.validation, "_progress_writer", spying_writer)
    imp = ar_import_upload(fileobj=SimpleUploadedFile("big.txt", _many_rows(12_000)), file_name="big.txt")
    imp = ar_import_validate_stored(ar_import=imp)
    assert imp.status == ARImport.Status.VALIDATED, svc.problems(imp)[:5]
    assert imp.row_count == 12_000
    assert len(seen) == 3, seen  # one per chunk of 5,000 rows
    assert [p for p, _ in seen] == sorted(p for p, _ in seen) and seen[-1][0] == 90
    assert all(percent == stored for percent, stored in seen), seen


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_upload_view__big_file_checked_by_a_real_worker(client, staff_user, payer, media, worker):  # noqa: F811
    data = _many_rows(25_000)
    assert len(data) > 1024 * 1024
    client.force_login(staff_user)
    resp = client.post(
        reverse("finance:ar_import_upload"), {"file": SimpleUploadedFile("big.txt", data), "auto_apply": ""}
    )
    imp = ARImport.objects.get()
    assert resp.status_code == 302 and resp.url == reverse("finance:ar_import_detail", args=[imp.pk])
    deadline = time.monotonic() + 120
    while True:
        page = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
        imp.refresh_from_db()
        if imp.status != ARImport.Status.UPLOADED:
            break
        # Still uploaded after the page was rendered (the status only moves on), so the
        # page was rendered while the worker was checking.
        assert "Checking every row of the file in the background" in page
        assert time.monotonic() < deadline, "the worker did not check the file"
        time.sleep(0.5)
    assert imp.status == ARImport.Status.VALIDATED, svc.problems(imp)[:5]
    assert (imp.row_count, imp.total_amount) == (25_000, Decimal("25000.00"))
    progress = client.get(reverse("finance:ar_import_progress", args=[imp.pk]) + "?phase=check")
    assert progress.status_code == 204 and progress["HX-Refresh"] == "true"
    page = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
    assert "Post 25,000 payments" in page


@pytest.mark.django_db
def test_progress_view__check_phase_renders_until_checked(client, staff_user, payer, media):
    imp = ar_import_upload(fileobj=io.BytesIO(imis(pay(105, "1.00"))), file_name="x.txt")  # not run: no commit
    ARImport.objects.filter(pk=imp.pk).update(progress=42)
    client.force_login(staff_user)
    resp = client.get(reverse("finance:ar_import_progress", args=[imp.pk]) + "?phase=check")
    assert resp.status_code == 200 and "42%" in resp.content.decode() and "Checking every row" in resp.content.decode()
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.INVALID)
    resp = client.get(reverse("finance:ar_import_progress", args=[imp.pk]) + "?phase=check")
    assert resp.status_code == 204 and resp["HX-Refresh"] == "true"


@pytest.mark.django_db
def test_progress_view__released_posting_queued_again_waits_for_the_worker(client, staff_user, payer):
    """Between "Check and post again" and the worker's claim the import is failed
    (interrupted): the bar keeps polling; a real failure ends it."""
    imp = validate(imis(pay(105, "40.00", check="1")))
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.FAILED, message=svc.INTERRUPTED)
    client.force_login(staff_user)
    url = reverse("finance:ar_import_progress", args=[imp.pk])
    resp = client.get(url)
    assert resp.status_code == 200 and "Queued: waiting for the worker" in resp.content.decode()
    page = client.get(reverse("finance:ar_import_detail", args=[imp.pk]) + "?queued=1").content.decode()
    assert 'data-testid="ar-progress"' in page and "Posting failed" not in page
    ARImport.objects.filter(pk=imp.pk).update(message="disk on fire")
    resp = client.get(url)
    assert resp.status_code == 204 and resp["HX-Refresh"] == "true"
    page = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
    assert "Posting failed, nothing was posted: disk on fire" in page
