"""Test settings: the real PostgreSQL and Redis.

``TEST_DATABASE_URL`` (default: postgres://postgres@127.0.0.1:5432/paycentral) is used
when a server answers there; otherwise the suite starts the embedded PostgreSQL server
(core/embedded_db.py, data under var/test/pgdata), so every test runs on every
machine. ``TEST_REDIS_URL`` (default: redis://127.0.0.1:6379/15) is probed once: without
Redis the in-memory broker is used and the tests marked ``redis`` are skipped with a loud
summary line, unless ``REQUIRE_SERVICES=1`` (set by .ci/run), which turns a missing Redis
or browser into a failure.
"""

import os
import socket
from pathlib import Path
from urllib.parse import unquote, urlparse

os.environ.setdefault("PAYCENTRAL_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/paycentral")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    host = unquote(parsed.hostname or "") if parsed.hostname else "127.0.0.1"
    if host.startswith("/"):  # a Unix socket folder
        return Path(host, f".s.PGSQL.{parsed.port or default_port}").exists()
    try:
        with socket.create_connection((host, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _reachable(TEST_DATABASE_URL, 5432)
# The base settings read DATABASE_URL: the test server when one answers, else none, which
# starts the embedded server.
if POSTGRES_AVAILABLE:
    os.environ["DATABASE_URL"] = TEST_DATABASE_URL
else:
    os.environ.pop("DATABASE_URL", None)

from paycentral.settings import *  # noqa: E402,F403
from paycentral.settings import EMBEDDED_DATABASE, env  # noqa: E402

REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
TEST_REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
REDIS_AVAILABLE = _reachable(TEST_REDIS_URL, 6379)
TEST_DATABASE_EMBEDDED = EMBEDDED_DATABASE

if REDIS_AVAILABLE:
    REDIS_URL = TEST_REDIS_URL
    CELERY_BROKER_URL = TEST_REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": TEST_REDIS_URL}}
else:
    CELERY_BROKER_URL = "memory://"
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEBUG = False
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise looks for it at startup
