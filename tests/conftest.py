"""Suite-wide fixtures and the service policy.

Every test runs on PostgreSQL: the server at TEST_DATABASE_URL, or the embedded one the
test settings start. Redis is used when it answers; tests marked ``redis`` (or ``e2e``,
without chromium) skip loudly without it, and with REQUIRE_SERVICES=1 a missing Redis or
browser stops the run.
"""

import shutil

import pytest
from django.conf import settings

from core.models import Module, ModuleAuthorization

CHROMIUM = shutil.which("chromium")


def _missing_services() -> list[str]:
    missing = []
    if not settings.REDIS_AVAILABLE:
        missing.append(f"Redis ({settings.TEST_REDIS_URL})")
    return missing


def pytest_configure(config):
    if settings.REQUIRE_SERVICES:
        missing = _missing_services()
        if not CHROMIUM:
            missing.append("Debian chromium (/usr/bin/chromium) for the browser tests")
        if missing:
            raise pytest.UsageError("REQUIRE_SERVICES=1 but these are not available: " + "; ".join(missing))


def pytest_collection_modifyitems(config, items):
    skips = {
        "redis": None if settings.REDIS_AVAILABLE else "Redis is not reachable",
        "e2e": None if CHROMIUM else "chromium is not installed",
    }
    for item in items:
        for marker, reason in skips.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=f"SERVICE MISSING: {reason}"))


def pytest_terminal_summary(terminalreporter):
    missing = _missing_services() + ([] if CHROMIUM else ["chromium"])
    if missing:
        terminalreporter.write_sep(
            "!", "SKIPPED TESTS: these services are missing: " + ", ".join(missing), red=True, bold=True
        )
    else:
        where = "the embedded server" if settings.TEST_DATABASE_EMBEDDED else settings.TEST_DATABASE_URL
        terminalreporter.write_line(
            f"Services in use: PostgreSQL ({where}), Redis ({settings.TEST_REDIS_URL}), chromium ({CHROMIUM})."
        )


@pytest.fixture
def grant():
    """grant(user, module, level) sets a module authorization level."""

    def _grant(user, module: str, level: int):
        ModuleAuthorization.objects.update_or_create(user=user, module=module, defaults={"level": level})
        if hasattr(user, "_module_levels"):
            del user._module_levels
        return user

    return _grant


@pytest.fixture
def ledger(db):
    """A financial entity with its chart of accounts, products and payment methods."""
    from tests.factories import LedgerSetup

    return LedgerSetup.build()


@pytest.fixture
def staff_user(db, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    ModuleAuthorization.objects.create(user=user, module=Module.AR_CASH, level=2)
    ModuleAuthorization.objects.create(user=user, module=Module.ORDERS, level=2)
    return user


@pytest.fixture
def manager_user(db, django_user_model):
    user = django_user_model.objects.create_user("manager", password="pw-manager-123", is_staff=True)
    for module in (Module.AR_CASH, Module.ORDERS, Module.FINANCE):
        ModuleAuthorization.objects.create(user=user, module=module, level=4)
    return user
