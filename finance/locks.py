"""Session advisory locks: "one of these jobs at a time", and proof that a job is still
running.

A job that holds its lock for as long as it runs lets a later caller tell a job that is
still running (the lock is held) from one whose worker died (PostgreSQL drops a
session's advisory locks when its connection closes, and rolls its transaction back).
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.db import connection


@contextmanager
def session_advisory_lock(namespace: int, key: int):
    """Try to take the advisory lock (``namespace``, ``key``) for this session; yield
    True while it is held, False at once when another session holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def side_connection_writer(update, label: str):
    """``(write, pool)``: ``write(percent)`` runs ``update(percent)`` on a connection of
    its own (a one-thread pool), so a job's progress is committed and shows while the
    job's own transaction is still open. Progress is informative only: a failure is
    logged as ``label`` and never stops the job. Shut ``pool`` down when done."""
    pool = ThreadPoolExecutor(max_workers=1)

    def write(percent: int):
        def run():
            try:
                update(percent)
            finally:
                connection.close()  # the pool thread's own connection

        try:
            pool.submit(run).result(timeout=10)
        except Exception:
            logging.getLogger(__name__).warning("%s: could not record progress", label, exc_info=True)

    return write, pool
