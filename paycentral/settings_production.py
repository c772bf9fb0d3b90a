"""Production settings: the embedded defaults hardened for ``check --deploy``.

Requires ``SECRET_KEY``, ``ALLOWED_HOSTS`` and normally ``DATABASE_URL`` and
``REDIS_URL`` in the environment. Served by gunicorn behind a TLS-terminating proxy.
"""

import os

os.environ.setdefault("DEBUG", "False")

from paycentral.settings import *  # noqa: E402,F403
from paycentral.settings import env  # noqa: E402

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# One TLS proxy in front of gunicorn: sign-in lockouts count the client's address from
# X-Forwarded-For, not the proxy's (set 0 when nothing stands in front).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Cookies: HTTPS only, never readable by scripts (the CSRF token reaches htmx through the
# page), and "__Host-" names so no subdomain can set or widen them.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The sandboxes and the demo data (DEVELOPMENT_APPS) are for development and demos: not
# installed, not routed. A production-like demo may turn them on with the sandbox processor.
SANDBOX_PROCESSOR_ENABLED = env.bool("SANDBOX_PROCESSOR_ENABLED", default=False)
if not SANDBOX_PROCESSOR_ENABLED:
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in DEVELOPMENT_APPS]  # noqa: F405
