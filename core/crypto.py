"""Credentials at rest: Fernet encryption for integration and processor secrets.

The key comes from ``FIELD_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest
first, so keys can be rotated: every key decrypts, the first encrypts). Without it
a key is derived from ``SECRET_KEY`` with HKDF, which is fine for the embedded demo
and the tests but ties the stored secrets to the secret key.

``EncryptedTextField`` stores the token; the model attribute is the plain value.
A value read from the database, or saved once, keeps its token: saved again unchanged
(a whole-row ``save()``, the same value assigned again) it is written as it was, so the
stored token changes only when the secret does (what the audit trail's triggers see).
After a key rotation a secret is encrypted with the newest key when it is set again.
``mask_secret`` is what a page or the admin may show of it.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.db.models.query_utils import DeferredAttribute


class DecryptionError(Exception):
    """A stored secret cannot be read with any configured key."""


def _derived_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"paycentral-field-encryption", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [k.encode() for k in keys if k] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in material])


def fernet() -> MultiFernet:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) or ()
    return _fernet(tuple(keys), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("a stored secret cannot be decrypted with the configured keys") from exc


def mask_secret(value: str | None, visible: int = 4) -> str:
    """``sk_live_…abcd``-style: never more than the last ``visible`` characters."""
    if not value:
        return ""
    if len(value) <= visible * 2:
        return "•" * len(value)
    return "•" * 8 + value[-visible:]


class Sealed(str):
    """A secret's plain value with the token it is stored as."""

    def __new__(cls, value: str, token: str):
        sealed = super().__new__(cls, value)
        sealed.token = token
        return sealed

    def __reduce__(self):
        return Sealed, (str(self), self.token)


class SealedAttribute(DeferredAttribute):
    """The model attribute of an ``EncryptedTextField``: assigning the value it holds
    again keeps the token that value is stored as."""

    def __set__(self, instance, value):
        current = instance.__dict__.get(self.field.attname)
        if isinstance(current, Sealed) and not isinstance(value, Sealed) and value == current:
            return
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; reads and writes plain strings."""

    description = "Encrypted text"
    descriptor_class = SealedAttribute

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return Sealed(decrypt(value), value)

    def pre_save(self, model_instance, add):
        value = super().pre_save(model_instance, add)
        if value and not isinstance(value, Sealed):
            value = Sealed(value, encrypt(value))
            setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value):
        if isinstance(value, Sealed):
            return value.token
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
