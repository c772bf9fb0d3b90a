"""Long jobs (an AR import's posting, a renewal run's build and posting, a Subscription
API package, an OpenWater pushback run): one run at a time per subject, progress that
shows while the run's transaction is open, and a run that stopped told from one that
is still going.

A run holds a PostgreSQL session advisory lock (``namespace``, the subject's id) for as
long as it runs. PostgreSQL drops a session's advisory locks when its connection closes
and rolls its transaction back, so a worker that is killed leaves the lock free and
nothing half-written: whoever takes the lock next knows no run is going, and a subject
still marked as running was left by a run that stopped.
"""

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models

from finance.locks import session_advisory_lock, side_connection_writer

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """A kind of long job on rows of ``model``: ``name`` for messages, the advisory lock
    ``namespace``, the status a row has while a run works on it, and the field that
    holds its progress (percent), if any."""

    name: str
    namespace: int
    model: type[models.Model]
    running_status: str = ""
    progress_field: str | None = "progress"

    def lock(self, key: int) -> AbstractContextManager[bool]:
        """Try to take the run's lock for ``key``; yields whether it is held."""
        return session_advisory_lock(self.namespace, key)

    def run(self, key: int, body: Callable[[], T], *, wait: float = 0.0, busy: Callable[[], T]) -> T:
        """``body()`` while holding the lock of ``key``. While another session holds it
        (a run still going, or a killed worker's session still closing) wait up to
        ``wait`` seconds for it, then return ``busy()``: never two runs at once."""
        deadline = time.monotonic() + wait
        while True:
            with self.lock(key) as held:
                if held:
                    return body()
            if time.monotonic() >= deadline:
                logger.info("%s %s is being worked on elsewhere; left to that run", self.name, key)
                return busy()
            time.sleep(0.2)

    def progress(self, key: int, status: str = "") -> tuple[Callable[[int], None], Any]:
        """``(write, pool)``: ``write(percent)`` records the run's progress on its row from a
        connection of its own (so it shows while the run's transaction is open), only
        while the row has ``status`` (the running status by default). Shut ``pool`` down
        when done."""
        if self.progress_field is None:
            raise ValueError(f"{self.name}: this job records no progress")
        field, status = self.progress_field, status or self.running_status
        return side_connection_writer(
            lambda percent: self.model._default_manager.filter(pk=key, status=status).update(**{field: percent}),
            f"{self.name} {key}",
        )

    def recover(
        self,
        key: int,
        release: Callable[[models.QuerySet, Any], T],
        *,
        stopped: Callable[[Any], bool] = lambda row: True,
    ) -> T | None:
        """Deal with a row left in the running status by a run that stopped: take the
        lock (when it is held a run is still going: None), read the row again and, when
        it is still running and ``stopped(row)`` says its run has stopped (not merely
        queued), return ``release(rows, row)``, where ``rows`` selects the row only while
        it is still in the running status (a conditional update: one caller acts)."""
        manager = self.model._default_manager
        if not manager.filter(pk=key, status=self.running_status).exists():
            return None
        with self.lock(key) as held:
            if not held:
                return None
            row: Any = manager.get(pk=key)
            if row.status != self.running_status or not stopped(row):
                return None
            return release(manager.filter(pk=key, status=self.running_status), row)
