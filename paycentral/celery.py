"""The Celery application. Tasks live in each app's ``tasks.py`` and are discovered."""

import logging
import logging.config
import os

from celery import Celery, platforms
from celery.exceptions import WorkerShutdown
from celery.signals import celeryd_init, setup_logging, worker_ready
from celery.utils.log import mlevel
from celery.worker import state
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")

app = Celery("paycentral")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger("paycentral.worker")


@setup_logging.connect
@celeryd_init.connect
def use_django_logging(**kwargs):
    """The worker and beat log with the project's LOGGING (one line per event, one format,
    the association's time zone) instead of Celery's own formats; warnings too (from the
    worker's start, before Celery's check of the user it runs as, which may warn)."""
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)
    level = kwargs.get("loglevel") or (kwargs.get("options") or {}).get("loglevel")
    if level:  # the command's --loglevel
        logging.getLogger().setLevel(mlevel(level))


def _waiting_for_messages(frame) -> bool:
    """The main thread is between two looks into the broker (kombu's polling sleep of a
    transport such as the filesystem one): nothing is being received or acknowledged."""
    code = frame.f_code if frame is not None else None
    idle = code is not None and code.co_name == "drain_events" and "kombu" in code.co_filename
    return idle and not state.active_requests


def _warm_shutdown(signum, frame):
    log.info("Stopping: the running tasks finish, no new task starts.")
    state.should_stop = platforms.EX_OK
    if _waiting_for_messages(frame):
        # Stop now rather than after the loop's next two 2-second receive cycles (a
        # polling transport): the worker then stops as above, the running tasks first.
        raise WorkerShutdown(platforms.EX_OK)


@worker_ready.connect
def log_warm_shutdown(**kwargs):
    """SIGTERM stops the worker as Celery's warm shutdown does (running tasks finish,
    unstarted ones stay queued), saying so in a log line instead of Celery's own
    message written around the logging, and within the process manager's grace (5 s)."""
    platforms.signals["SIGTERM"] = _warm_shutdown
