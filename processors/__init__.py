"""Payment processor adapters behind one small interface (``base.PaymentProcessor``).

``get_processor(gateway_account)`` returns the adapter for a GatewayAccount; callers
use only the interface's dataclasses and errors. A library of the outside world: it
imports no app of the project (the ledger's refunds, the checkout's card charges and
the invoice sync all use it).
"""

from django.conf import settings

from processors.base import (
    IDEMPOTENCY_WINDOW,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    PaymentMethodDetails,
    PaymentMethodType,
    PaymentProcessor,
    PaymentRequestResult,
    PaymentRequestSpec,
    ProcessorAuthenticationError,
    ProcessorDeclined,
    ProcessorError,
    ProcessorEvent,
    ProcessorIdempotencyConflict,
    ProcessorInvalidRequest,
    ProcessorNotFound,
    ProcessorTimeout,
    ProcessorUnavailable,
    RefundRequest,
    RefundResult,
    RefundStatus,
    WebhookSignatureError,
)
from processors.sandbox import SandboxProcessor

# The processors a gateway account can name (``GatewayAccount.processor``).
SANDBOX = "sandbox"
STRIPE = "stripe"

__all__ = [
    "IDEMPOTENCY_WINDOW",
    "ChargeRequest",
    "ChargeResult",
    "ChargeStatus",
    "PaymentMethodDetails",
    "PaymentMethodType",
    "PaymentProcessor",
    "PaymentRequestResult",
    "PaymentRequestSpec",
    "ProcessorAuthenticationError",
    "ProcessorDeclined",
    "ProcessorError",
    "ProcessorEvent",
    "ProcessorIdempotencyConflict",
    "ProcessorInvalidRequest",
    "ProcessorNotFound",
    "ProcessorTimeout",
    "ProcessorUnavailable",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
    "SANDBOX",
    "STRIPE",
    "SandboxProcessor",
    "WebhookSignatureError",
    "get_processor",
]


def get_processor(gateway_account) -> PaymentProcessor:
    """The adapter for ``gateway_account.processor``; the caller closes it when done.

    The sandbox reads its URL, key and timeout from settings (SANDBOX_PROCESSOR_URL,
    SANDBOX_PROCESSOR_API_KEY, SANDBOX_PROCESSOR_TIMEOUT); Stripe uses the account's
    encrypted secret key and its API base (blank: Stripe's own). Whether an inactive account
    may still be used (refunds of old payments) is the caller's rule, not this one's.
    ``gateway_account`` is a ``finance.models.GatewayAccount``: its ``processor`` is one of
    ``SANDBOX``, ``STRIPE`` (the values of ``GatewayAccount.Processor``).
    """
    kind = gateway_account.processor
    if kind == SANDBOX:
        return SandboxProcessor(
            base_url=settings.SANDBOX_PROCESSOR_URL,
            api_key=settings.SANDBOX_PROCESSOR_API_KEY,
            timeout=settings.SANDBOX_PROCESSOR_TIMEOUT,
        )
    if kind == STRIPE:
        # Imported when a Stripe account is used: the Stripe SDK takes a fifth of a second
        # to import, which processes without a Stripe account never pay.
        from processors.stripe import StripeProcessor

        if not gateway_account.secret_key:
            raise ProcessorAuthenticationError(f"Gateway account {gateway_account.name!r} has no Stripe secret key.")
        return StripeProcessor(
            api_key=gateway_account.secret_key,
            api_base=gateway_account.api_base or None,
            timeout=getattr(settings, "STRIPE_TIMEOUT", 20.0),
        )
    raise NotImplementedError(f"Gateway account {gateway_account.name!r} has an unknown processor {kind!r}.")
