"""Sign-in hardening: failed-login lockout (django-axes), idle session expiry, and the
cookie flags of the production settings."""

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher, make_password
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.middleware import SessionIdleRenewalMiddleware
from core.models import Module
from paycentral import settings as product_settings

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "pw-clerk-123"  # the staff_user fixture's
ROOT = Path(__file__).resolve().parents[2]


def _sign_in(client, password, username="clerk", path=LOGIN, address="10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail(client, times, **kwargs):
    """``times`` wrong passwords: the form again with its error, until the one that
    reaches the limit, which is answered with the lockout page."""
    for attempt in range(1, times + 1):
        response = _sign_in(client, "wrong-password", **kwargs)
        if attempt < settings.AXES_FAILURE_LIMIT:
            assert response.status_code == 200
            assert "Please enter a correct username and password" in response.content.decode()
        else:
            assert response.status_code == 429


def test_lockout__after_the_limit_even_the_right_password_is_refused(staff_user):
    client = Client()
    _fail(client, settings.AXES_FAILURE_LIMIT)

    response = _sign_in(client, PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert f"{settings.AXES_FAILURE_LIMIT} failed attempts" in " ".join(page.split())
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get(username="clerk")
    # The refused attempt with the right password counts as one more failure.
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT + 1
    assert attempt.ip_address == "10.0.0.1"


def test_lockout__one_below_the_limit_still_signs_in(staff_user):
    client = Client()
    _fail(client, settings.AXES_FAILURE_LIMIT - 1)

    response = _sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


def test_lockout__success_resets_the_count(staff_user):
    client = Client()
    _fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert _sign_in(client, PASSWORD).status_code == 302
    client.logout()
    assert not AccessAttempt.objects.filter(username="clerk").exists()

    _fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert _sign_in(client, PASSWORD).status_code == 302


def test_lockout__is_per_username_and_address(staff_user, django_user_model):
    django_user_model.objects.create_user("other", password="pw-other-123")
    client = Client()
    _fail(client, settings.AXES_FAILURE_LIMIT)

    # The same user from another address, and another user from the locked address, sign in.
    assert _sign_in(Client(), PASSWORD, address="10.0.0.2").status_code == 302
    assert _sign_in(Client(), "pw-other-123", username="other").status_code == 302
    # The locked pair stays locked.
    assert _sign_in(Client(), PASSWORD).status_code == 429


def test_lockout__ends_after_the_cool_off(staff_user):
    client = Client()
    _fail(client, settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, PASSWORD).status_code == 429

    later = timezone.now() - settings.AXES_COOLOFF_TIME - datetime.timedelta(seconds=1)
    AccessAttempt.objects.filter(username="clerk").update(attempt_time=later)

    assert _sign_in(client, PASSWORD).status_code == 302


def test_lockout__admin_login_counts_too(staff_user):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "wrong-password", path="/admin/login/")

    response = _sign_in(client, PASSWORD, path="/admin/login/")

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_test_client_login__still_works_without_a_request(staff_user):
    """Client.login() authenticates without an HTTP request: the lockout backend stands aside."""
    client = Client()
    assert client.login(username="clerk", password=PASSWORD)
    assert not client.login(username="clerk", password="wrong-password")


def test_passwords__argon2id_by_default_and_older_hashes_upgraded_at_sign_in(staff_user):
    """The product's settings (the tests' own use a fast hasher) store passwords with
    Argon2id; a password stored with PBKDF2 still signs in and is stored again with it."""
    with override_settings(PASSWORD_HASHERS=product_settings.PASSWORD_HASHERS):
        assert get_hasher().algorithm == "argon2"
        staff_user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
        staff_user.save(update_fields=["password"])

        assert _sign_in(Client(), PASSWORD).status_code == 302

        staff_user.refresh_from_db()
        assert identify_hasher(staff_user.password).algorithm == "argon2"
        assert check_password(PASSWORD, staff_user.password)


# --- Sessions -----------------------------------------------------------------------------


def _session(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def test_session__expires_after_the_idle_time(staff_user, grant):
    grant(staff_user, Module.AR_CASH, 1)
    client = Client()
    assert _sign_in(client, PASSWORD).status_code == 302
    assert client.get("/contacts/").status_code == 200

    idle_until = _session(client).expire_date
    assert abs((idle_until - timezone.now()) - datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)) < (
        datetime.timedelta(seconds=30)
    )

    Session.objects.filter(pk=_session(client).pk).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    response = client.get("/contacts/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/?next=/contacts/")


def _renewed_long_ago(client) -> None:
    """Make the session's last renewal older than SESSION_RENEW_SECONDS."""
    session = client.session
    session[SessionIdleRenewalMiddleware.KEY] = int(time.time()) - settings.SESSION_RENEW_SECONDS - 1
    session.save()


def test_session__a_request_renews_the_idle_time(staff_user, grant):
    grant(staff_user, Module.AR_CASH, 1)
    client = Client()
    assert _sign_in(client, PASSWORD).status_code == 302
    _renewed_long_ago(client)
    soon = timezone.now() + datetime.timedelta(minutes=1)
    Session.objects.filter(pk=_session(client).pk).update(expire_date=soon)

    assert client.get("/contacts/").status_code == 200

    assert _session(client).expire_date > soon + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 120)


def test_session__renewed_at_most_once_a_renewal_period(staff_user, grant):
    """Pages read the session but write it only when its last renewal is older than
    SESSION_RENEW_SECONDS: no UPDATE of the session row on every request."""
    grant(staff_user, Module.AR_CASH, 1)
    client = Client()
    assert _sign_in(client, PASSWORD).status_code == 302
    assert client.get("/contacts/").status_code == 200  # the first page renews
    renewed = _session(client).expire_date

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/contacts/").status_code == 200

    assert not [q["sql"] for q in queries.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert _session(client).expire_date == renewed


def test_session__settings_come_from_the_environment():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_AGE, s.SESSION_RENEW_SECONDS, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)",
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
            "DJANGO_SETTINGS_MODULE": "paycentral.settings",
            "SESSION_IDLE_MINUTES": "10",
            "SESSION_RENEW_SECONDS": "30",
            "AXES_FAILURE_LIMIT": "3",
            "AXES_COOLOFF_MINUTES": "60",
            "PAYCENTRAL_VAR_DIR": str(ROOT / "var" / "test"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["600", "30", "3", "1:00:00"]


def test_production_settings__secure_http_only_host_cookies(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY, "
            "s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SAMESITE, s.SECURE_SSL_REDIRECT)",
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}},
            "DJANGO_SETTINGS_MODULE": "paycentral.settings_production",
            "SECRET_KEY": "a-long-random-production-secret-key-for-the-check-0123456789-abcdefghij",
            "ALLOWED_HOSTS": "pay.example.org",
            "PAYCENTRAL_VAR_DIR": str(tmp_path / "var"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "True",
        "True",
        "True",
        "True",
        "__Host-sessionid",
        "__Host-csrftoken",
        "Lax",
        "True",
    ]


def test_lockout__behind_a_proxy_counts_the_forwarded_client(staff_user, settings):
    """Behind one trusted proxy the client is the last X-Forwarded-For entry; an entry
    the client wrote itself (further left) changes nothing."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            LOGIN,
            {"username": "clerk", "password": "wrong-password"},
            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7",
            **proxy,
        )

    locked = Client().post(
        LOGIN, {"username": "clerk", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy
    )
    spoofed = Client().post(
        LOGIN, {"username": "clerk", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="5.6.7.8, 203.0.113.7", **proxy
    )
    elsewhere = Client().post(
        LOGIN, {"username": "clerk", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy
    )

    assert locked.status_code == 429
    assert spoofed.status_code == 429
    assert elsewhere.status_code == 302
    assert AccessAttempt.objects.get(username="clerk").ip_address == "203.0.113.7"
