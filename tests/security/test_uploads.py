"""Upload limits and storage: request size caps, the AR import's stored file name, and
what it makes of a file that is not an AR file."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from finance.models_ar_import import ARImport

pytestmark = pytest.mark.django_db

UPLOAD = "/ar-import/upload/"
MB = 1024 * 1024


@pytest.fixture
def clerk(ledger, staff_user):
    """AR/Cash level 2: may import payments."""
    client = Client(raise_request_exception=False)
    client.force_login(staff_user)
    return client


def _lockbox(size: int) -> bytes:
    """A plain CSV of at least ``size`` bytes (one header row, then payment rows)."""
    rows = ["customer_id,invoice_number,amount,check_number,date"]
    n = 0
    while sum(len(r) + 1 for r in rows) < size:
        n += 1
        rows.append(f"10001,,1.00,{n:08d},2026-01-10")
    return ("\n".join(rows) + "\n").encode()


@override_settings(UPLOAD_MAX_REQUEST_BYTES=1 * MB)
def test_upload__larger_than_the_request_limit_is_refused_before_reading(clerk):
    big = SimpleUploadedFile("big.csv", b"x" * (2 * MB), content_type="text/csv")

    response = clerk.post(UPLOAD, {"file": big})

    assert response.status_code == 400
    assert not ARImport.objects.exists()


@override_settings(UPLOAD_MAX_REQUEST_BYTES=1 * MB)
def test_upload__under_the_request_limit_goes_through(clerk):
    small = SimpleUploadedFile("small.csv", _lockbox(10_000), content_type="text/csv")

    response = clerk.post(UPLOAD, {"file": small})

    assert response.status_code == 302
    assert ARImport.objects.count() == 1


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=64 * 1024)
def test_form_body__larger_than_the_data_limit_is_refused(clerk):
    response = clerk.post("/batches/new/", {"description": "x" * (128 * 1024)})

    assert response.status_code == 400


def test_ar_import__stores_the_file_under_a_generated_name(clerk):
    """A file big enough to be checked in the worker is stored; its name on disk is the
    application's, never the uploader's (which is kept for display only)."""
    hostile = SimpleUploadedFile("../../../../etc/cron.d/evil.php", _lockbox(MB + 1), content_type="text/csv")

    response = clerk.post(UPLOAD, {"file": hostile})

    assert response.status_code == 302
    imp = ARImport.objects.get()
    try:
        assert imp.status == ARImport.Status.UPLOADED
        assert imp.upload.name.startswith("ar_imports/")
        assert "evil" not in imp.upload.name and ".." not in imp.upload.name
        assert imp.upload.name.endswith(".txt")
        assert imp.file_name == "evil.php"  # the display name: the basename only
        assert default_storage.exists(imp.upload.name)
    finally:
        imp.upload.delete(save=False)


def test_ar_import__a_binary_file_is_refused_with_the_reason(clerk):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    upload = SimpleUploadedFile("payments.csv", png, content_type="text/csv")

    response = clerk.post(UPLOAD, {"file": upload})

    assert response.status_code == 302
    imp = ARImport.objects.get()
    assert imp.status == ARImport.Status.INVALID
    assert not imp.is_postable
    assert imp.errors, "the import says why it was refused"
    assert not imp.upload  # a small file is checked in the request, never stored


def test_upload_handler__counts_nothing_itself():
    """The size check hands every byte on to the next handler unchanged."""
    from core.uploads import RequestSizeLimitUploadHandler

    handler = RequestSizeLimitUploadHandler()
    assert handler.handle_raw_input(io.BytesIO(b""), {}, 10, b"b") is None
    assert handler.receive_data_chunk(b"abc", 0) == b"abc"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def _product_change(client, product, image):
    from django.urls import reverse

    url = reverse("admin:finance_product_change", args=[product.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "image"}
    for name in ("entity", "income_account", "deferred_income_account"):
        if hasattr(data.get(name), "pk"):
            data[name] = data[name].pk
    data["image"] = image
    return client.post(url, data)


def test_product_picture__stored_under_a_generated_name_by_its_content(client, ledger, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)
    product = ledger.dues
    response = _product_change(client, product, SimpleUploadedFile("../../etc/Dues Photo.PNG", PNG, "image/png"))
    assert response.status_code == 302, response.content[:800]
    product.refresh_from_db()
    name = product.image.name
    assert name.startswith("products/") and name.endswith(".png") and "Dues" not in name and ".." not in name
    assert len(name) == len("products/") + 32 + len(".png")
    assert default_storage.open(name).read() == PNG
    default_storage.delete(name)


@pytest.mark.parametrize(
    "upload,message",
    [
        (("logo.png", b"<script>alert(1)</script>", "image/png"), "must be a PNG, JPEG, GIF or WebP image"),
        (("big.png", PNG + b"\x00" * (2 * MB), "image/png"), "the limit is 2,097,152 bytes"),
    ],
    ids=["not-an-image", "too-big"],
)
def test_product_picture__refused_with_a_message_and_nothing_stored(client, ledger, django_user_model, upload, message):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)
    product = ledger.dues
    response = _product_change(client, product, SimpleUploadedFile(*upload))
    assert response.status_code == 200
    assert message in response.content.decode()
    product.refresh_from_db()
    assert not product.image
