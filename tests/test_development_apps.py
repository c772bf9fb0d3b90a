"""The development apps (the sandboxes and the demo data) are installed and routed by the
default and test settings; production settings leave them out unless a production-like
demo turns the sandbox processor on."""

import os
import subprocess
import sys
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_PATHS = ["/sandbox/processor/v1/charges", "/sandbox/openwater/v2/Invoices"]

PROBE = (
    "import django; django.setup(); from django.conf import settings; from django.apps import apps\n"
    "from django.core.management import get_commands; from django.urls import resolve, Resolver404\n"
    "print(settings.SANDBOX_PROCESSOR_ENABLED)\n"
    "print(','.join(a for a in settings.DEVELOPMENT_APPS if apps.is_installed(a)) or '-')\n"
    "print(','.join(c for c in ('seed_demo', 'generate_scale_data') if c in get_commands()) or '-')\n"
    f"for path in {SANDBOX_PATHS!r}:\n"
    "    try:\n        resolve(path); print('served')\n"
    "    except Resolver404:\n        print('not served')\n"
)
ALL_APPS = "sandboxes.processor,sandboxes.openwater,demo"
COMMANDS = "seed_demo,generate_scale_data"


def _probe(settings_module: str, tmp_path, **extra) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "DATABASE_URL", "DEBUG"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        PAYCENTRAL_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="a-long-random-production-secret-key-for-the-probe-0123456789-abcdefghij",
        ALLOWED_HOSTS="pay.example.org",
        **extra,
    )
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-5:]


def test_development_apps__installed_and_served_by_default_in_the_embedded_mode(tmp_path):
    assert _probe("paycentral.settings", tmp_path) == ["True", ALL_APPS, COMMANDS, "served", "served"]


def test_development_apps__not_installed_nor_routed_with_production_settings(tmp_path):
    assert _probe("paycentral.settings_production", tmp_path) == ["False", "-", "-", "not served", "not served"]


def test_development_apps__a_production_demo_may_turn_them_on(tmp_path):
    out = _probe("paycentral.settings_production", tmp_path, SANDBOX_PROCESSOR_ENABLED="True")
    assert out == ["True", ALL_APPS, COMMANDS, "served", "served"]


def test_development_apps__installed_in_the_tests():
    assert all(apps.is_installed(app) for app in settings.DEVELOPMENT_APPS)
    assert {"seed_demo", "generate_scale_data"} <= set(get_commands())
    assert get_commands()["seed_demo"] == "demo"


def test_sandbox__url_is_public_to_the_login_middleware(client, settings):
    # No session: the sandbox answers 401 itself instead of redirecting to the login page.
    settings.SANDBOX_PROCESSOR_ENABLED = True
    assert resolve("/sandbox/processor/v1/charges").url_name == "charges"
    response = client.get("/sandbox/processor/v1/charges/ch_x")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
