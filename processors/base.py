"""The payment processor interface.

Every processor adapter (the sandbox now, Stripe later) implements ``PaymentProcessor``
and speaks only these dataclasses and errors, so the services that take money (refunds,
the cart, invoice sync with its retry policies) never see a provider's wire format.

Rules the interface keeps:

- Money crosses it as ``Decimal`` with the currency beside it; adapters send integer
  minor units on the wire (``to_minor_units``), never floats.
- Every call that moves money carries an idempotency key chosen and *stored* by the
  caller before the call. Retrying with the same key is always safe; charging again with
  a new key after an unknown outcome is never safe.
- A processor keeps the answer to a key for ``IDEMPOTENCY_WINDOW`` (Stripe: at least 24
  hours after the first request, whatever that answer was, 500s included): the same
  request sent again with the key within it gets that answer (or, when the processor
  never received the first, is done now, once). After the window the key may be
  forgotten and a resend could charge again, so callers stop resending before it ends.
- The charge a request made is found by reading, strongly consistent, the recent charges
  (``list_charges``: the customer's when the request named one, else every charge since
  the attempt) and matching the metadata the caller attached
  (``idempotency_key``). A search by key (``find_charge_by_idempotency_key``) may lag
  behind writes (Stripe's Search API: a minute or more, and not on every account): a last
  resort, never proof that a charge does not exist.
- Adapters do not retry. They map each outcome to a result or to one error class and
  let the caller's policy decide:

  ============================  ===========================================================
  ``ProcessorDeclined``         the processor refused the payment (card declined): do not
                                retry the same method; ``.result`` holds the failed charge
  ``ProcessorUnavailable``      5xx, 429 or no connection: nothing known to have happened;
                                retry later *with the same idempotency key*
  ``ProcessorTimeout``          the request may have been processed (no answer in time):
                                reconcile by sending the same request with the same key
                                or reading ``list_charges``; never charge again with a
                                new key
  ``ProcessorInvalidRequest``   the request is wrong (e.g. refund above what is left)
  ``ProcessorIdempotencyConflict``  the key was already used for a different request (its
                                first answer is kept but not given)
  ``ProcessorAuthenticationError``  bad or missing credentials (configuration)
  ``ProcessorNotFound``         no such charge, refund or payment request
  ============================  ===========================================================
"""

from __future__ import annotations

import abc
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

# How long a processor keeps the answer to an idempotency key after the first request
# (Stripe documents "at least 24 hours"; the sandbox keeps them for good).
IDEMPOTENCY_WINDOW = datetime.timedelta(hours=24)


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    # Accepted but not final (ACH debits, delayed card capture): poll or wait for a webhook.
    PROCESSING = "processing"
    FAILED = "failed"
    # The customer must act (3-D Secure); the charge is not paid yet.
    REQUIRES_ACTION = "requires_action"


class PaymentMethodType(StrEnum):
    """The kind of method a charge was paid with (decides the ledger's payment method)."""

    CARD = "card"
    ACH = "ach"  # a US bank account debit


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class ChargeRequest:
    amount: Decimal  # major units, e.g. Decimal("19.99"); exact in the currency's minor unit
    currency: str  # ISO 4217, e.g. "USD"
    payment_method_token: str  # a card/bank token or a saved payment method id
    idempotency_key: str  # stored by the caller before the call, reused on every retry
    # The processor's customer id (Stripe: cus_…), only when the contact has one there
    # (a saved card belongs to its customer); "" sends none. Never our party id: Stripe
    # refuses a customer it does not know ("No such customer"). Our ids go in metadata.
    customer_ref: str = ""
    # Keep the payment method for later charges (Stripe: ``setup_future_usage`` =
    # off_session, which attaches it to ``customer_ref`` once the charge succeeds). Only
    # with a ``customer_ref``: a payment method used without a customer can never be
    # used again (Stripe refuses it), so a card to be saved is charged with its customer.
    save_payment_method: bool = False
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.save_payment_method and not self.customer_ref:
            raise ValueError("a payment method is kept for later only on a customer (customer_ref)")


@dataclass(frozen=True, kw_only=True)
class ChargeResult:
    status: ChargeStatus
    processor_id: str  # the processor's charge id, e.g. "ch_…"
    amount: Decimal
    currency: str
    amount_refunded: Decimal = Decimal("0.00")
    # Set when the payer disputed a succeeded charge (chargeback); status stays succeeded.
    disputed: bool = False
    failure_code: str = ""
    failure_message: str = ""
    idempotency_key: str = ""
    # A ``PaymentMethodType`` value; "" when the processor does not say.
    payment_method_type: str = ""
    # The payment request this charge pays (the customer paid it), when the processor
    # makes a separate charge for it (the sandbox); "" otherwise. Stripe's payment
    # request is itself the intent, so there ``processor_id`` is the request id.
    payment_request_id: str = ""
    # The metadata the charge carries (what the caller attached: invoice, sync record,
    # idempotency key…), as the processor reports it.
    metadata: dict[str, str] = field(default_factory=dict)
    # The customer the charge was made for (``ChargeRequest.customer_ref``: the
    # processor's customer id), "" when the processor names none.
    customer_ref: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_final(self) -> bool:
        return self.status in (ChargeStatus.SUCCEEDED, ChargeStatus.FAILED)


@dataclass(frozen=True, kw_only=True)
class RefundRequest:
    charge_id: str
    # None refunds what is left of the charge; otherwise a partial or full amount.
    amount: Decimal | None
    # The charge's currency: amounts go on the wire in its minor units, and the
    # processor refuses a refund in another currency.
    currency: str
    idempotency_key: str
    reason: str = "requested_by_customer"  # requested_by_customer | duplicate | fraudulent
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RefundResult:
    status: RefundStatus
    processor_id: str  # the processor's refund id, e.g. "re_…"
    charge_id: str
    amount: Decimal
    currency: str
    failure_code: str = ""
    failure_message: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class PaymentRequestSpec:
    """An amount offered to a customer to pay (Stripe: a PaymentIntent without a method)."""

    amount: Decimal
    currency: str
    idempotency_key: str  # stored by the caller before the call
    customer_ref: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PaymentRequestResult:
    processor_id: str  # e.g. "pr_…" or "pi_…"
    status: str  # the processor's word: "requires_payment_method" until the customer pays
    amount: Decimal
    currency: str
    # The latest charge the customer made on the request ("" until they pay): its state
    # (``get_charge``) says whether the request is paid, still settling, or failed and
    # open again. Stripe: the intent's own id once the customer has paid or tried to.
    charge_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class PaymentMethodDetails:
    """A card the processor tokenized (its card form, Stripe's Payment Element): what
    may be kept of it. Never a card number."""

    processor_id: str  # e.g. "pm_…"
    brand: str  # "visa", "mastercard", …
    last4: str
    exp_month: int
    exp_year: int
    customer_ref: str = ""  # the processor's customer it is attached to, if any


@dataclass(frozen=True, kw_only=True)
class ProcessorEvent:
    """A verified webhook event, reduced to what invoice sync needs."""

    id: str  # the processor's event id: the same event delivered twice has the same id
    type: str  # the processor's event type, e.g. "payment_intent.succeeded"
    # The processor's id of the charge (or payment intent) the event is about.
    charge_id: str = ""
    # That charge in its state at the event (None for events that carry another object,
    # e.g. a dispute).
    charge: ChargeResult | None = None
    # The charge was disputed (chargeback opened).
    disputed: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class WebhookSignatureError(Exception):
    """A webhook whose signature is missing, wrong or too old: refuse it (400)."""


class ProcessorError(Exception):
    """Base of every processor failure. ``retryable`` says whether the same request
    (same idempotency key) may be sent again later."""

    retryable = False
    # True only for ProcessorTimeout: the request may have been processed.
    outcome_unknown = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        http_status: int | None = None,
        processor_id: str = "",
        request_id: str = "",
        raw: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.processor_id = processor_id
        self.request_id = request_id
        self.raw = raw or {}


class ProcessorDeclined(ProcessorError):
    """The payment was refused (card declined, bank account closed). Not retryable with
    the same payment method. ``result`` is the failed charge when the processor made one."""

    def __init__(self, message: str, *, result: ChargeResult | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.result = result


class ProcessorUnavailable(ProcessorError):
    """5xx, 429, or the connection failed before the request was answered in a way that
    says nothing happened. Retry later with the same idempotency key."""

    retryable = True


class ProcessorTimeout(ProcessorError):
    """No answer in time: the request may or may not have been processed. Reconcile
    (find the charge by its idempotency key, or retry with the *same* key); never
    charge again with a new key."""

    outcome_unknown = True


class ProcessorInvalidRequest(ProcessorError):
    """The processor refused the request as invalid (e.g. refund above what is left)."""


class ProcessorIdempotencyConflict(ProcessorError):
    """The idempotency key was already used with a different request."""


class ProcessorAuthenticationError(ProcessorError):
    """Missing or wrong API key: a configuration problem, not a payment problem."""


class ProcessorNotFound(ProcessorError):
    """No such charge, refund or payment request at the processor."""


class PaymentProcessor(abc.ABC):
    """What Pay Central needs from a payment processor. Implementations do not retry."""

    @abc.abstractmethod
    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Create a charge. Returns succeeded, processing or requires_action; raises
        ``ProcessorDeclined`` when refused and ``ProcessorTimeout`` when the outcome is
        unknown."""

    @abc.abstractmethod
    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund all (``amount=None``) or part of a charge; never more than is left."""

    @abc.abstractmethod
    def get_charge(self, charge_id: str) -> ChargeResult:
        """The charge's current state (status lookup, used by pollers and reconcilers)."""

    @abc.abstractmethod
    def get_refund(self, refund_id: str) -> RefundResult:
        """The refund's current state."""

    @abc.abstractmethod
    def list_charges(self, *, customer_ref: str, created_since: datetime.datetime) -> Iterator[ChargeResult]:
        """The charges made for ``customer_ref`` (as sent in ``ChargeRequest``) at or after
        ``created_since`` by the processor's clock, newest first, every page (Stripe: the
        PaymentIntents list by customer and creation time, which, unlike search, shows a
        charge as soon as it exists). Lazy: a page is fetched when the iteration reaches
        it, so a caller that finds what it looks for stops early."""

    def find_charge(self, request: ChargeRequest, *, created_since: datetime.datetime) -> ChargeResult | None:
        """The charge ``request`` made, read from ``list_charges`` and matched on the
        metadata the request attached (``idempotency_key``), or None when the customer's
        charges since ``created_since`` hold none. Strongly consistent."""
        for charge in self.list_charges(customer_ref=request.customer_ref, created_since=created_since):
            if charge.metadata.get("idempotency_key") == request.idempotency_key:
                return charge
        return None

    @abc.abstractmethod
    def find_charge_by_idempotency_key(self, idempotency_key: str) -> ChargeResult | None:
        """The charge created with this key, found by the processor's search, or None.

        Search may lag behind writes (Stripe: a minute or more, and not on every
        account): None does not mean that no charge exists. A last resort after
        ``find_charge`` and a resend with the same key."""

    @abc.abstractmethod
    def create_payment_request(self, request: PaymentRequestSpec) -> PaymentRequestResult:
        """Offer an amount to a customer (idempotent on ``request.idempotency_key``)."""

    @abc.abstractmethod
    def get_payment_request(self, request_id: str) -> PaymentRequestResult:
        """The payment request's current state, with the charge the customer paid it
        with (``charge_id``; fetch it with ``get_charge``). Used by the poller."""

    def create_customer(self, *, name: str, email: str = "", reference: str = "", idempotency_key: str) -> str:
        """Create the processor's customer for one of our contacts (``reference``: our
        party id, kept in its metadata) and return its id (Stripe: cus_…), idempotent on
        ``idempotency_key``. Cards are kept for later on a customer. Adapters without
        customers refuse."""
        raise ProcessorInvalidRequest(f"{type(self).__name__} cannot create customers.")

    def get_payment_method(self, payment_method_id: str) -> PaymentMethodDetails:
        """The card behind a payment method id (brand, last four digits, expiry), to
        save it on a contact. Adapters without card forms refuse."""
        raise ProcessorInvalidRequest(f"{type(self).__name__} cannot read payment methods.")

    @abc.abstractmethod
    def parse_webhook(self, payload: bytes, headers, secret: str) -> ProcessorEvent:
        """Verify a webhook's signature with ``secret`` and return its event; raises
        ``WebhookSignatureError`` when it cannot be trusted."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Adapters holding none need not override it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
