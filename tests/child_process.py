"""The environment of a child process (a worker to kill, a command) that must use the
test run's own PostgreSQL database and Redis, not the defaults."""

import os
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def child_env(*, processor: bool = False, **extra: str) -> dict:
    """``os.environ`` with the test settings and the test database and Redis of this run;
    ``processor``: also the sandbox processor the test's live server serves; ``extra``:
    more variables."""
    s = connection.settings_dict
    host = quote(s["HOST"], safe="") if (s["HOST"] or "").startswith("/") else (s["HOST"] or "127.0.0.1")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "paycentral.settings_test",
        "TEST_DATABASE_URL": f"postgres://{s['USER']}@{host}:{s['PORT'] or 5432}/{s['NAME']}",
        "TEST_REDIS_URL": settings.TEST_REDIS_URL,
    }
    if processor:
        env |= {
            "SANDBOX_PROCESSOR_URL": settings.SANDBOX_PROCESSOR_URL,
            "SANDBOX_PROCESSOR_API_KEY": settings.SANDBOX_PROCESSOR_API_KEY,
            "SANDBOX_PROCESSOR_TIMEOUT": "30",
        }
    return env | extra
