"""Upload limits that hold before a view runs."""

import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.files.uploadhandler import FileUploadHandler


class RequestSizeLimitUploadHandler(FileUploadHandler):
    """Refuse a multipart (file upload) request whose body is larger than
    ``settings.UPLOAD_MAX_REQUEST_BYTES``, before any of it is read or written to disk.

    Django caps form fields (DATA_UPLOAD_MAX_MEMORY_SIZE) but streams files of any size
    to temporary files; this handler is the hard cap above every form's own file limit
    (the AR import allows 50 MB and says so on its form). The answer is HTTP 400, as for
    any request body that is too big. The handler handles no data itself: the next
    handlers (memory, then temporary file) do.
    """

    def handle_raw_input(self, input_data, meta, content_length, boundary, encoding=None):
        limit = getattr(settings, "UPLOAD_MAX_REQUEST_BYTES", None)
        if limit and content_length and content_length > limit:
            raise RequestDataTooBig(
                f"Upload of {content_length} bytes refused: the limit is {limit} bytes (UPLOAD_MAX_REQUEST_MB)."
            )
        return None

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None


# --- Images (product pictures) ---------------------------------------------------------

IMAGE_MAX_BYTES = 2 * 1024 * 1024
# The first bytes of each allowed image type, and the extension its stored name gets.
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_kind(head: bytes) -> str | None:
    """``png``/``jpg``/``gif``/``webp`` by the file's content (never by its name), else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for signature, kind in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def _head(file, n: int = 16) -> bytes:
    position = file.tell() if hasattr(file, "tell") else None
    file.seek(0)
    head = file.read(n)
    file.seek(position or 0)
    return head


def validate_image_upload(file) -> None:
    """An uploaded picture: at most IMAGE_MAX_BYTES, and a PNG, JPEG, GIF or WebP by content."""
    if file.size > IMAGE_MAX_BYTES:
        raise ValidationError(
            f"The picture is {file.size:,} bytes; the limit is {IMAGE_MAX_BYTES:,} bytes.", code="too_big"
        )
    if image_kind(_head(file)) is None:
        raise ValidationError("The picture must be a PNG, JPEG, GIF or WebP image.", code="not_an_image")


def product_image_path(instance, filename: str) -> str:
    """Stored under a generated name (never the uploader's), with the extension of its
    content type: ``products/<uuid>.<ext>``."""
    kind = image_kind(_head(instance.image.file)) if instance.image else None
    return f"products/{uuid.uuid4().hex}.{kind or 'bin'}"
