"""Upload limits that hold before a view runs."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
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
