"""Passwords are stored with Argon2id at OWASP's parameters, and older hashes are stored
again with them at the next sign-in. (The test settings hash with MD5 for speed; these
tests use the production list.)"""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse

from paycentral import settings as production

pytestmark = pytest.mark.django_db


@override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS)
def test_new_passwords_are_argon2id_with_19_mib_2_passes_1_lane():
    encoded = make_password("correct horse battery staple")
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password("correct horse battery staple", encoded)
    assert not check_password("wrong", encoded)


@override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS)
def test_a_hash_with_older_parameters_is_stored_again_at_sign_in(client):
    # Django's own Argon2 defaults (100 MiB, 8 lanes), as passwords were stored before.
    older = Argon2PasswordHasher().encode("pw-older-1", Argon2PasswordHasher().salt())
    assert "m=102400" in older and "p=8" in older
    user = User.objects.create(username="older", password=older, is_staff=True)
    response = client.post(reverse("login"), {"username": "older", "password": "pw-older-1"})
    assert response.status_code == 302 and response.url == reverse("finance:dashboard")
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert user.password != older


def test_the_icon_is_public_and_named_by_every_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in client.get(reverse("login")).content.decode()
