"""Pay Central settings.

Everything that differs between machines comes from the environment (django-environ).
With nothing set the app runs in its *embedded default* mode: an embedded PostgreSQL
server with its data under ``var/pgdata`` (``core/embedded_db.py``), Celery on
kombu's filesystem transport under ``var/broker``, DEBUG on, the sandbox processor and
the sandbox OpenWater. ``DATABASE_URL`` names a PostgreSQL server of your own and
``REDIS_URL`` a Redis for the broker and cache. ``paycentral.settings_production``
layers the hardening that ``manage.py check --deploy`` expects.
"""

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("PAYCENTRAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str(
    "SECRET_KEY",
    default="django-insecure-embedded-default-key-change-me-in-production-0123456789",
)
DEBUG = env.bool("DEBUG")
# With DEBUG on, show the product's 404 and 500 pages rather than Django's technical ones
# (the demo, `make run`, turns it on); a server error's traceback is still logged.
PRODUCT_ERROR_PAGES = env.bool("PRODUCT_ERROR_PAGES", default=False)
# Fernet keys for credentials at rest (newest first); derived from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Index operator classes (finance migration 0026: the contact finder's prefix indexes).
    "django.contrib.postgres",
    "axes",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "ninja",
    "pgtrigger",
    # The project's apps, lowest layer first (the layers are import-linter contracts in
    # pyproject.toml): the core, the ledger, the apps built on the ledger, the checkout,
    # then the API, the integrations and the audit trail (after the apps whose admin
    # pages it adds the History section to).
    "core",
    "finance",
    "finance.membership",
    "finance.reporting",
    "finance.ar_import",
    "checkout",
    "api",
    "integrations",
    "integrations.openwater",
    "audit",
]
# Development tools, installed here and in the tests but not by production settings: the
# sandbox payment processor and the sandbox OpenWater (sandboxes/, routed under /sandbox/
# where installed) and the demo and scale data commands (demo/).
DEVELOPMENT_APPS = ["sandboxes.processor", "sandboxes.openwater", "demo"]
INSTALLED_APPS += DEVELOPMENT_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Renews a signed-in session's idle time, saving it at most once a SESSION_RENEW_SECONDS.
    "core.middleware.SessionIdleRenewalMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.context.AuditActorMiddleware",
    "core.middleware.LoginRequiredMiddleware",
    # Last: turns a locked-out login attempt into the lockout page (HTTP 429).
    "axes.middleware.AxesMiddleware",
    # With DEBUG and PRODUCT_ERROR_PAGES: the product's 404 and 500 pages (otherwise unused).
    "core.error_pages.ProductErrorPagesMiddleware",
]

ROOT_URLCONF = "paycentral.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "paycentral.wsgi.application"


# --- Database -------------------------------------------------------------------
# PostgreSQL is the only database. With no DATABASE_URL, the embedded server (a
# PostgreSQL from a pip-installed wheel, data under var/pgdata, Unix socket only) is
# started by the first process that needs it (core/embedded_db.py).
def database_from_url(url: str) -> dict:
    """Django's DATABASES entry for a ``postgres://`` URL; a Unix socket folder may be
    given percent-encoded as the host (``postgres://user@%2Frun%2Fpostgresql/name``)."""
    config = environ.Env.db_url_config(url)
    if not config["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured(
            f"{url.split(':', 1)[0]}: PostgreSQL (postgres://...) is the only database supported."
        )
    config["HOST"] = unquote(config["HOST"] or "")
    return config


EMBEDDED_DATABASE = "DATABASE_URL" not in env.ENVIRON
EMBEDDED_DATABASE_DIR = VAR_DIR / "pgdata"
if EMBEDDED_DATABASE:
    # Started by the first connection (core/embedded_backend), not here.
    DATABASES = {
        "default": {
            "ENGINE": "core.embedded_backend",
            "NAME": "paycentral",
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "",
            "PORT": "",
            "EMBEDDED_DATA_DIR": str(EMBEDDED_DATABASE_DIR),
        }
    }
else:
    DATABASES = {"default": database_from_url(env.str("DATABASE_URL"))}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# The ledger services' statements are prepared once per connection (finance/services/rows.py).
# Turn off behind a pooler that shares one server session between transactions.
LEDGER_PREPARED_STATEMENTS = env.bool("LEDGER_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Database triggers are declared in the models' Meta.triggers (core/db_triggers.py)
# and installed by the migrations makemigrations writes for them, like any schema change;
# `migrate` does not reinstall them on its own, and `manage.py pgtrigger ls` shows whether
# the database has what the code declares.
PGTRIGGER_MIGRATIONS = True
PGTRIGGER_INSTALL_ON_MIGRATE = False

# --- Cache and Celery -------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_BROKER = not REDIS_URL
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    BROKER_DIR = VAR_DIR / "broker"
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "ledger-health-check": {
        "task": "finance.tasks.check_ledger",
        "schedule": env.int("LEDGER_CHECK_INTERVAL_SECONDS", default=3600),
    },
    # Each started OpenWater integration runs when its own interval has passed.
    "openwater-pushback": {
        "task": "integrations.openwater.tasks.pushback_due",
        "schedule": env.int("OPENWATER_PUSHBACK_TICK_SECONDS", default=60),
    },
    "processor-payment-requests": {
        "task": "integrations.tasks.create_payment_requests",
        "schedule": env.int("PROCESSOR_REQUEST_INTERVAL_SECONDS", default=60),
    },
    "processor-poll": {
        "task": "integrations.tasks.poll_processor",
        "schedule": env.int("PROCESSOR_POLL_INTERVAL_SECONDS", default=300),
    },
    "processor-reconcile": {
        "task": "integrations.tasks.reconcile_attempts",
        "schedule": env.int("PROCESSOR_RECONCILE_INTERVAL_SECONDS", default=300),
    },
    # Renewal runs left "creating" by a build whose worker stopped.
    "renewal-build-recovery": {
        "task": "membership.recover_renewal_builds",
        "schedule": env.int("RENEWAL_BUILD_RECOVERY_INTERVAL_SECONDS", default=300),
    },
    "subscription-package-recovery": {
        "task": "membership.recover_subscription_packages",
        "schedule": env.int("SUBSCRIPTION_PACKAGE_RECOVERY_INTERVAL_SECONDS", default=300),
    },
    "processor-autopay": {
        "task": "integrations.tasks.autopay_run",
        "schedule": crontab(hour=env.int("AUTOPAY_HOUR", default=6), minute=env.int("AUTOPAY_MINUTE", default=0)),
    },
}

# --- Auth ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2id first, the hasher Django's documentation recommends (memory-hard, so stronger
# than PBKDF2 against guessing on GPUs), with OWASP's parameters (core/hashers.py: 19 MiB,
# 2 passes, 1 lane; about 20 ms of CPU per sign-in). Passwords stored with the others, or
# with other Argon2 parameters, are still checked, and stored again with these at their
# next sign-in.
PASSWORD_HASHERS = [
    "core.hashers.OwaspArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "start"  # sign-in itself sends members to their checkout, staff to the dashboard
LOGOUT_REDIRECT_URL = "login"
# The lockout check runs first and refuses a locked-out username + address before the
# password is checked (django-axes); then the usual model backend.
AUTHENTICATION_BACKENDS = [
    "core.auth_backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins: after AXES_FAILURE_LIMIT failures for one username from one address,
# that pair is refused for AXES_COOLOFF_MINUTES (attempts are kept in the database and
# listed in the admin under "Axes"); a successful login clears the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Reverse proxies in front of the app (production: the TLS proxy). With 0 the client
# address is REMOTE_ADDR; with n it is read from X-Forwarded-For, n entries from the right.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "core.auth_backends.client_address"
# Sessions end after SESSION_IDLE_MINUTES without a request and when the browser closes.
# A request renews the idle time by saving the session, at most once every
# SESSION_RENEW_SECONDS (core.middleware.SessionIdleRenewalMiddleware), not on every
# request: saving it each time cost every page an UPDATE and a commit.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_RENEW_SECONDS = env.int("SESSION_RENEW_SECONDS", default=60)
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- i18n ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True
# One way to write dates and times on every page and in every CSV: core/formats/en.
FORMAT_MODULE_PATH = ["core.formats"]

# --- Static and media --------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Request bodies other than files (form fields, JSON): at most UPLOAD_MAX_FORM_MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("UPLOAD_MAX_FORM_MB", default=10) * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# Uploaded files above this size go to a temporary file instead of memory. Each upload
# form sets its own maximum file size (the AR import: finance.ar_import.parser.MAX_FILE_BYTES).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# A multipart request larger than UPLOAD_MAX_REQUEST_MB is refused (400) before it is read.
UPLOAD_MAX_REQUEST_BYTES = env.int("UPLOAD_MAX_REQUEST_MB", default=60) * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "core.uploads.RequestSizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

DJANGO_TABLES2_TEMPLATE = "finance/_table.html"  # bootstrap5, with sort marks and totals rows
DJANGO_TABLES2_PAGE_RANGE = 8

# --- Pay Central -------------------------------------------------------------------
PAYCENTRAL = {
    # Name shown in the navigation bar and page titles.
    "ORGANIZATION_NAME": env.str("ORGANIZATION_NAME", default="Pay Central"),
}

# --- Payment processors --------------------------------------------------------------
# The sandbox processor (sandboxes/processor) is served under /sandbox/processor/v1/
# when enabled: on by default here; production settings install it only when enabled.
SANDBOX_PROCESSOR_ENABLED = env.bool("SANDBOX_PROCESSOR_ENABLED", default=True)
# Where the sandbox adapter sends its requests, and the key it sends.
SANDBOX_PROCESSOR_URL = env.str("SANDBOX_PROCESSOR_URL", default="http://127.0.0.1:8000/sandbox/processor/v1")
SANDBOX_PROCESSOR_API_KEY = env.str("SANDBOX_PROCESSOR_API_KEY", default="sk_sandbox_demo")
# Seconds the adapter waits for an answer before the outcome is "unknown" (ProcessorTimeout).
SANDBOX_PROCESSOR_TIMEOUT = env.float("SANDBOX_PROCESSOR_TIMEOUT", default=10.0)
# Server side: the keys the sandbox accepts (each is its own sandbox account), how long
# a processing charge takes to settle (or a tok_dispute charge to be disputed), and how
# long tok_timeout holds its answer (longer than any client timeout).
SANDBOX_PROCESSOR_API_KEYS = env.list("SANDBOX_PROCESSOR_API_KEYS", default=[SANDBOX_PROCESSOR_API_KEY])
SANDBOX_PROCESSOR_SETTLE_SECONDS = env.float("SANDBOX_PROCESSOR_SETTLE_SECONDS", default=5.0)
SANDBOX_PROCESSOR_TIMEOUT_DELAY = env.float("SANDBOX_PROCESSOR_TIMEOUT_DELAY", default=30.0)

# The console of every process (web, worker, beat, commands): one line per request or
# event, one format, the association's TIME_ZONE (core/logging.py). A 403 or 404 is one
# line; a server error keeps its traceback. Celery uses this too (paycentral/celery.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"()": "core.logging.OneLineFormatter"}},
    "filters": {"client_errors": {"()": "core.logging.ClientErrorWithoutTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["client_errors"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers (its console and the development server's format) are
        # replaced by the one above, so that nothing is printed twice.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # The sign-in lockout's start banner is noise in every command; its lockouts are warnings.
        "axes": {"level": "WARNING"},
        # Warnings (Django's configure_logging captures them) are log lines too.
        "py.warnings": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

_log = logging.getLogger("paycentral.settings")
_db = DATABASES["default"]
_parts = [
    f"embedded PostgreSQL (data in {EMBEDDED_DATABASE_DIR}, started on first use)"
    if EMBEDDED_DATABASE
    else f"PostgreSQL database {_db['NAME']} on {_db['HOST'] or 'localhost'}",
    f"filesystem Celery broker at {VAR_DIR / 'broker'}" if EMBEDDED_BROKER else "Redis broker and cache",
]
# The first line every process logs (paycentral/apps.py): which database and broker are in use.
SETTINGS_MODE_MESSAGE = (
    ("Embedded default mode: " if EMBEDDED_DATABASE and EMBEDDED_BROKER else "Services mode: ")
    + "; ".join(_parts)
    + (" (set DATABASE_URL / REDIS_URL for servers of your own)." if EMBEDDED_DATABASE or EMBEDDED_BROKER else ".")
)
