"""The console of ``make run``: its processes (web, worker, beat) log one line per event
in one format and one time zone, and Ctrl-C stops them all, cleanly, with exit code 0.

The test runs ``make serve`` (the command line of ``make run`` without the install,
migrate and seed steps) on the test database, in a pseudo-terminal as a user's shell
would, and presses Ctrl-C there.
"""

import io
import logging
import os
import pty
import re
import select
import signal
import socket
import sys
import termios
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse

from core.logging import ClientErrorWithoutTraceback, OneLineFormatter
from tests.child_process import child_env

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# honcho's prefix: its clock and the process name.
PREFIXED = re.compile(r"^(?P<clock>\d\d:\d\d:\d\d) (?P<name>\S+)\s+\| (?P<text>.*)$")
# The one format of settings.LOGGING (core/logging.py).
LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?P<offset>[+-]\d{4}) (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: \S.*$"
)
STARTED = ("Development server at", "celery@", "beat: Starting...")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Terminal:
    """A command run in a pseudo-terminal (its session's controlling terminal)."""

    def __init__(self, args: list[str], env: dict):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: no echo of the ^C typed below, then the command
            attrs = termios.tcgetattr(0)
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(0, termios.TCSANOW, attrs)
            os.chdir(ROOT)
            os.execvpe(args[0], args, env)
        self.output = b""
        self.returncode: int | None = None

    def read_until(self, done, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if done(self.text()):
                return True
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # the other side closed: the command ended
                    return done(self.text())
                if not data:
                    return done(self.text())
                self.output += data
        return done(self.text())

    def text(self) -> str:
        return ANSI.sub("", self.output.decode(errors="replace")).replace("\r", "")

    def wait(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() >= end:
                break
            else:
                time.sleep(0.1)
        return self.returncode


def _get(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db
def test_make_serve__one_format_one_time_zone__ctrl_c_stops_everything_and_exits_0(tmp_path):
    port = _free_port()
    env = child_env()
    env = {k: v for k, v in env.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL", "TZ"}}
    env |= {
        "DATABASE_URL": env["TEST_DATABASE_URL"],
        "PAYCENTRAL_VAR_DIR": str(tmp_path / "var"),
        "PORT": str(port),
    }
    term = Terminal(["make", "--no-print-directory", "serve"], env)
    try:
        started = term.read_until(lambda text: all(mark in text for mark in STARTED), timeout=180)
        assert started, term.text()
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/healthz") == 200
        assert _get(base + "/static/no-such-file.css") == 404
        assert _get(base + "/accounts/login/", data=b"username=x") == 403  # no CSRF cookie
        assert term.read_until(lambda text: "/static/no-such-file.css" in text, timeout=10), term.text()
        assert term.read_until(lambda text: '"POST /accounts/login/ HTTP/1.1" 403' in text, timeout=10), term.text()

        os.write(term.fd, b"\x03")  # Ctrl-C, as typed in the terminal
        term.read_until(lambda text: False, timeout=12)
        code = term.wait(timeout=20)
    finally:
        if term.wait(timeout=0) is None:
            os.killpg(term.pid, signal.SIGKILL)
            term.wait(timeout=10)
    text = term.text()
    assert code == 0, text
    assert "SIGKILL" not in text, text
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"{name} stopped (rc=0)" in text, text

    zone = ZoneInfo(settings.TIME_ZONE)
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    for line in lines:
        prefixed = PREFIXED.match(line)
        if prefixed and prefixed["name"] == "system":
            continue  # honcho's own events: started, SIGINT received, stopped (rc=0)
        logged = LOG_LINE.match(prefixed["text"] if prefixed else line)
        assert logged, f"not in the one format: {line!r}"
        at = datetime.strptime(logged["time"] + logged["offset"], "%Y-%m-%d %H:%M:%S%z")
        assert at.utcoffset() == at.astimezone(zone).utcoffset(), line  # the association's time zone
        if prefixed:  # honcho's clock shows the same time zone
            clock = datetime.strptime(prefixed["clock"], "%H:%M:%S").time()
            shown = at.astimezone(zone).replace(tzinfo=None)
            delta = abs(datetime.combine(shown.date(), clock) - shown).total_seconds()
            assert delta <= 5 or delta >= 86400 - 5, line
    assert "Traceback" not in text
    # Each refusal is logged once: one "Forbidden" line (the security log) and its request line.
    assert len([line for line in lines if "Forbidden (CSRF cookie not set.)" in line]) == 1, text


def test_a_refused_page_is_one_line_without_traceback(client, staff_user):
    """A 403 is logged once, as one line; so is a 404 (the client's errors)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(ClientErrorWithoutTraceback())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.force_login(staff_user)
        assert client.get(reverse("finance:batch_create")).status_code in (200, 403)
        assert client.get(reverse("admin:index").replace("admin", "no-such-page")).status_code == 404
        refused = client.get(reverse("finance:batch_post", kwargs={"pk": 1}))
        assert refused.status_code == 403
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert any(line.endswith("Forbidden (Permission denied): /batches/1/post/") for line in lines), lines
    assert any("Not Found: /no-such-page/" in line for line in lines), lines
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert "Traceback" not in stream.getvalue()


def test_a_server_error_keeps_its_traceback():
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: /x", (), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.status_code = 500
    assert ClientErrorWithoutTraceback().filter(record)
    assert "Traceback" in OneLineFormatter().format(record)
