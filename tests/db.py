"""Helpers for tests that open a second PostgreSQL session beside Django's."""

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection


def conninfo() -> str:
    """The libpq connection string of the test database Django is using."""
    s = connection.settings_dict
    return f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} user={s['USER']} dbname={s['NAME']}"


@contextlib.contextmanager
def advisory_lock_elsewhere(key1: int, key2: int) -> Iterator[psycopg.Connection]:
    """Hold the advisory lock ``(key1, key2)`` from a second session, as a live run in
    another process does, for the ``with`` block.

    On leaving the block the lock is released explicitly (``pg_advisory_unlock``) before
    the session closes: closing a connection ends the server's backend only later, and
    its locks stay held until that backend has exited, so a test that went on as soon
    as the connection was closed would race the server."""
    with psycopg.connect(conninfo(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [key1, key2])
        yield other
        released = other.execute("SELECT pg_advisory_unlock(%s, %s)", [key1, key2]).fetchone()[0]
        assert released, f"the advisory lock ({key1}, {key2}) was not held by the other session"
