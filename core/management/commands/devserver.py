"""The web process of ``make run``: Django's development server (with the static files
of ``runserver``), logging in the console's one format and stopping cleanly.

- What ``runserver`` prints (system checks, unapplied migrations, its banner) becomes log
  lines (logger ``paycentral.web``), one per line, and each request one line
  (``django.server``), in the format and time zone of ``settings.LOGGING``.
- SIGTERM (what the process manager sends on Ctrl-C) stops it as Ctrl-C stops
  ``runserver``: the server closes and the process exits 0.
"""

import logging
import signal

from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand

from core.logging import StreamLines

log = logging.getLogger("paycentral.web")


def _stop(signum, frame):
    raise KeyboardInterrupt


class Command(RunserverCommand):
    help = "Django's development server, logging in one format and stopped cleanly by SIGTERM (make run)."

    def execute(self, *args, **options):
        options["stdout"] = StreamLines(log)
        options["stderr"] = StreamLines(log)
        signal.signal(signal.SIGTERM, _stop)
        return super().execute(*args, **options)

    def on_bind(self, server_port):
        address = f"[{self.addr}]" if self._raw_ipv6 else ("0.0.0.0" if self.addr == "0" else self.addr)
        log.info(
            "Development server at %s://%s:%s/ (not for production; Ctrl-C stops it)",
            self.protocol,
            address,
            server_port,
        )
