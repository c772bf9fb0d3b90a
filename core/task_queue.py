"""Queueing Celery tasks by name, once the transaction commits.

A service that queues follow-up work (build a run, validate a file, process a package)
sends the task by its registered name: the task module imports the service it runs, so
the service does not import the task module back. Task names are the message contract
between the web processes and the workers (each task is registered under an explicit
``name``).
"""

from functools import partial

from celery import current_app
from django.db import transaction


def send_task(name: str, *args, **kwargs) -> None:
    """Send the task registered as ``name`` now, through the task itself (its ``delay``:
    its options, and run at once when ``task_always_eager`` is set). A process that has
    not loaded the apps' task modules yet loads them first (Celery's autodiscovery, as a
    worker does at start); a name no app registers is an error, not a lost message."""
    if name not in current_app.tasks:
        current_app.autodiscover_tasks(force=True)
    current_app.tasks[name].delay(*args, **kwargs)


def send_task_on_commit(name: str, *args, **kwargs) -> None:
    """``send_task`` once the current transaction commits (at once outside one); nothing
    is sent when it rolls back."""
    transaction.on_commit(partial(send_task, name, *args, **kwargs))
