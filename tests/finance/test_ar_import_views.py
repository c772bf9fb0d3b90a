"""AR import in the staff UI: upload → preview → post → history, and access rules."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import Module
from finance.models import Payment
from finance.models_ar_import import ARImport
from paycentral.celery import app as celery_app
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer(ledger):
    contact = ContactFactory(party_id="105", name="Ann Payer")
    make_invoice(ledger, contact, BatchFactory(), "100.00")
    return contact


@pytest.fixture
def eager():
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def upload(client, data: bytes, **extra):
    return client.post(
        reverse("finance:ar_import_upload"),
        {"file": SimpleUploadedFile("lockbox.txt", data), "auto_apply": "", **extra},
        follow=True,
    )


def test_upload_preview_post_history(client, staff_user, payer, eager, django_capture_on_commit_callbacks):
    client.force_login(staff_user)
    assert client.get(reverse("finance:ar_import_upload")).status_code == 200
    resp = upload(client, imis(pay(105, "130.00", check="55")))
    imp = ARImport.objects.get()
    assert resp.redirect_chain[-1][0] == reverse("finance:ar_import_detail", args=[imp.pk])
    page = resp.content.decode()
    assert "Preview of lockbox.txt" in page and "Ann Payer" in page and "30.00" in page
    assert "Post 1 payment" in page
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(reverse("finance:ar_import_post", args=[imp.pk]), follow=True)
    imp.refresh_from_db()
    assert imp.status == ARImport.Status.POSTED and imp.posted_by == staff_user
    assert Payment.objects.get().amount == 130
    history = client.get(reverse("finance:ar_import_list")).content.decode()
    assert "lockbox.txt" in history and imp.batch.number in history
    # Its badge is its batch's state: open, not posted yet.
    badge = history.split('data-testid="ar-import-status"', 1)[1].split("</span>", 1)[0]
    assert badge.endswith(">Open") and "Posted" not in badge
    assert "clerk" in history
    detail = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
    assert f"Payment {Payment.objects.get().pk}" in detail


def test_upload_invalid_file_shows_row_errors_and_no_post_button(client, staff_user, payer):
    client.force_login(staff_user)
    resp = upload(client, imis(pay(999, "12.345"), amount="0"))
    page = resp.content.decode()
    assert "customer: no contact has party id 999" in page
    assert "amount: &#x27;12.345&#x27; has more than two decimal places" in page
    assert "table-danger" in page
    assert "Post 1 payment" not in page
    imp = ARImport.objects.get()
    resp = client.post(reverse("finance:ar_import_post", args=[imp.pk]), follow=True)
    assert "it cannot be posted" in resp.content.decode()
    assert not Payment.objects.exists()


def test_file_level_errors_are_listed(client, staff_user, payer):
    client.force_login(staff_user)
    page = upload(client, imis(pay(105, "10.00"), cash="9999-99")).content.decode()
    assert "Line 1, cash account: no active cash account (GL account code or payment method code) has the code" in page


def test_undecodable_line_is_listed_with_the_file_problems(client, staff_user, payer):
    client.force_login(staff_user)
    data = imis(pay(105, "10.00", name="Zoë")).replace("Zoë".encode(), "Zoë".encode("latin-1"))
    page = upload(client, data).content.decode()
    assert "Line 2: is not UTF-8 text (byte 0xEB" in page


def test_progress_partial(client, staff_user, payer):
    client.force_login(staff_user)
    upload(client, imis(pay(105, "10.00")))
    imp = ARImport.objects.get()
    resp = client.get(reverse("finance:ar_import_progress", args=[imp.pk]))
    assert resp.status_code == 200 and "Queued" in resp.content.decode()
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.POSTING, progress=40)
    assert 'style="width: 40%"' in client.get(reverse("finance:ar_import_progress", args=[imp.pk])).content.decode()
    ARImport.objects.filter(pk=imp.pk).update(status=ARImport.Status.FAILED)
    resp = client.get(reverse("finance:ar_import_progress", args=[imp.pk]))
    assert resp.status_code == 204 and resp["HX-Refresh"] == "true"


def test_viewer_sees_history_but_cannot_upload_or_post(client, django_user_model, grant, payer, staff_user):
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    grant(viewer, Module.AR_CASH, 1)
    client.force_login(staff_user)
    upload(client, imis(pay(105, "10.00")))
    imp = ARImport.objects.get()
    client.force_login(viewer)
    history = client.get(reverse("finance:ar_import_list"))
    assert history.status_code == 200 and "Upload a file" not in history.content.decode()
    assert client.get(reverse("finance:ar_import_upload")).status_code == 403
    assert client.post(reverse("finance:ar_import_post", args=[imp.pk])).status_code == 403
    assert "Post 1 payment" not in client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()


def test_anonymous_goes_to_login(client):
    resp = client.get(reverse("finance:ar_import_list"))
    assert resp.status_code == 302 and "login" in resp["Location"]
