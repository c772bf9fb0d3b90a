"""Webhook signatures in the scheme Stripe uses (and the sandbox copies):
``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint secret>``.

``verify`` refuses a missing or wrong signature and one older than ``tolerance``
seconds (a replayed delivery), comparing in constant time.
"""

import hashlib
import hmac
import time

from processors.base import WebhookSignatureError

DEFAULT_TOLERANCE = 300


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(payload: bytes, header: str | None, secret: str, tolerance: int = DEFAULT_TOLERANCE) -> None:
    if not secret:
        raise WebhookSignatureError("No webhook secret is configured for this account.")
    if not header:
        raise WebhookSignatureError("The signature header is missing.")
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v for k, v in parts if k.strip() == "v1"]
    if not timestamps or not signatures or not timestamps[0].isdigit():
        raise WebhookSignatureError("The signature header is malformed.")
    t = int(timestamps[0])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s.strip()) for s in signatures):
        raise WebhookSignatureError("The signature does not match the payload.")
    if abs(time.time() - t) > tolerance:
        raise WebhookSignatureError("The signature is too old (replayed delivery?).")
