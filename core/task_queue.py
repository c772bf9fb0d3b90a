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
    """Send the task registered as ``name`` now. Where this process has registered it,
    through the task itself (its ``delay``: eager when ``task_always_eager`` is set);
    otherwise by name to the broker, for the workers that have."""
    task = current_app.tasks.get(name)
    if task is not None:
        task.delay(*args, **kwargs)
    else:
        current_app.send_task(name, args=args, kwargs=kwargs)


def send_task_on_commit(name: str, *args, **kwargs) -> None:
    """``send_task`` once the current transaction commits (at once outside one); nothing
    is sent when it rolls back."""
    transaction.on_commit(partial(send_task, name, *args, **kwargs))
