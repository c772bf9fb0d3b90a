"""Credentials at rest: encrypted, read back plain, and a secret saved unchanged keeps
its stored token (the token changes only when the secret does)."""

import copy
import pickle

import pytest
from django.db import connection

from core.crypto import Sealed
from finance.models import GatewayAccount

pytestmark = pytest.mark.django_db


def stored(account) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM paycentral_gatewayaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def account(ledger):
    return GatewayAccount.objects.create(
        name="Stripe", processor=GatewayAccount.Processor.STRIPE, entity=ledger.entity, secret_key="sk_live_abc123"
    )


def test_a_secret_saved_unchanged_keeps_its_token(account):
    token = stored(account)
    assert token and "abc123" not in token
    account.name = "Stripe live"
    account.save()  # the instance that saved it first
    assert stored(account) == token
    again = GatewayAccount.objects.get(pk=account.pk)
    assert again.secret_key == "sk_live_abc123"
    again.secret_key = "sk_live_abc123"  # the same value assigned again (a form, a full_clean)
    again.save()
    assert stored(account) == token


def test_a_changed_secret_gets_a_new_token(account):
    token = stored(account)
    again = GatewayAccount.objects.get(pk=account.pk)
    again.secret_key = "sk_live_xyz789"
    again.save()
    assert stored(account) != token
    assert GatewayAccount.objects.get(pk=account.pk).secret_key == "sk_live_xyz789"
    GatewayAccount.objects.filter(pk=account.pk).update(secret_key="sk_live_def456")
    assert GatewayAccount.objects.get(pk=account.pk).secret_key == "sk_live_def456"


def test_a_read_secret_is_a_plain_string_that_copies_and_pickles(account):
    value = GatewayAccount.objects.get(pk=account.pk).secret_key
    assert isinstance(value, Sealed) and value == "sk_live_abc123" and str(value) == "sk_live_abc123"
    for twin in (copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert twin == value and twin.token == value.token
