"""Test settings: the real PostgreSQL and Redis when reachable.

``TEST_DATABASE_URL`` (default: postgres://postgres@127.0.0.1:5432/paycentral) and
``TEST_REDIS_URL`` (default: redis://127.0.0.1:6379/15) are probed once. When one is
unreachable the suite falls back to SQLite / the in-memory broker and the tests marked
``postgres`` / ``redis`` are skipped with a loud summary line, unless
``REQUIRE_SERVICES=1`` (set by .ci/run), which turns a missing service into a failure.
"""

import os
import socket
from urllib.parse import urlparse

os.environ.setdefault("PAYCENTRAL_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from paycentral.settings import *  # noqa: E402,F403
from paycentral.settings import VAR_DIR, env  # noqa: E402

REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
TEST_DATABASE_URL = env.str("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/paycentral")
TEST_REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _reachable(TEST_DATABASE_URL, 5432)
REDIS_AVAILABLE = _reachable(TEST_REDIS_URL, 6379)

if POSTGRES_AVAILABLE:
    DATABASES = {"default": env.db_url_config(TEST_DATABASE_URL)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "test.sqlite3")}}

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
