"""The console log of every process (web, worker, beat, commands): one line per event,
in one format, with the time in the association's time zone.

``settings.LOGGING`` names these classes. Django sets the process's time zone to
``TIME_ZONE`` when its settings load, so ``%(asctime)s`` is local time there (with its
UTC offset); the process manager of ``make run`` is given the same zone
(``core.embedded_db run``), so the times it prefixes agree.
"""

import logging

# The one format of every line (the offset says which time zone the time is in).
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S%z"


class OneLineFormatter(logging.Formatter):
    """A message of several lines (a warning with its source line, a banner) is joined
    into one. The traceback of an error (``exc_info``) still follows its line: the
    developer's view of a server error."""

    def __init__(self, fmt: str = FORMAT, datefmt: str = DATE_FORMAT, **kwargs):
        super().__init__(fmt, datefmt, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        if "\n" in record.message:
            record.message = " ".join(part.strip() for part in record.message.splitlines() if part.strip())
        return super().formatMessage(record)


class ClientErrorWithoutTraceback(logging.Filter):
    """A refused (403) or missing (404) page is the client's error, not the code's: its
    record keeps its one line ("Forbidden (Permission denied): /path") and drops the
    traceback of the PermissionDenied or Http404 behind it. Server errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.exc_info and status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class StreamLines:
    """A text stream that logs each non-empty line written to it at INFO on ``logger``
    (a command's ``stdout`` made into log lines)."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self.logger.info(line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self.logger.info(self._pending.rstrip())
        self._pending = ""

    def isatty(self) -> bool:
        return False
