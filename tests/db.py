"""Helpers for tests that open a second PostgreSQL session beside Django's."""

from django.db import connection


def conninfo() -> str:
    """The libpq connection string of the test database Django is using."""
    s = connection.settings_dict
    return f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} user={s['USER']} dbname={s['NAME']}"
