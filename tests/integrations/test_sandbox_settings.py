"""The sandbox processor is served in development and off in production settings."""

import os
import subprocess
import sys
from pathlib import Path

from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent.parent

PROBE = (
    "import django; django.setup(); from django.conf import settings; from django.urls import resolve, Resolver404\n"
    "print(settings.SANDBOX_PROCESSOR_ENABLED)\n"
    "try:\n    resolve('/sandbox/processor/v1/charges'); print('served')\n"
    "except Resolver404:\n    print('not served')\n"
)


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
    return out.stdout.strip().splitlines()[-2:]


def test_sandbox__served_by_default_in_the_embedded_mode(tmp_path):
    assert _probe("paycentral.settings", tmp_path) == ["True", "served"]


def test_sandbox__not_served_with_production_settings(tmp_path):
    assert _probe("paycentral.settings_production", tmp_path) == ["False", "not served"]


def test_sandbox__production_demo_may_turn_it_on(tmp_path):
    assert _probe("paycentral.settings_production", tmp_path, SANDBOX_PROCESSOR_ENABLED="True") == ["True", "served"]


def test_sandbox__url_is_public_to_the_login_middleware(client, settings):
    # No session: the sandbox answers 401 itself instead of redirecting to the login page.
    settings.SANDBOX_PROCESSOR_ENABLED = True
    assert resolve("/sandbox/processor/v1/charges").url_name == "charges"
    response = client.get("/sandbox/processor/v1/charges/ch_x")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
