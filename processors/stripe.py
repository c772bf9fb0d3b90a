"""The Stripe adapter, on the official ``stripe`` library (``StripeClient``).

A charge is a PaymentIntent created and confirmed off-session with a saved payment
method (attached to the customer it names), or, when the card is to be kept,
confirmed with ``setup_future_usage=off_session`` for its customer, which attaches the
payment method to that customer on success (a payment method used without a customer
can never be used again); a payment request is a PaymentIntent without one (``requires_payment_method``)
that the customer pays (``get_payment_request`` reads it back; the intent is then both
the request and its charge). The interface's ``processor_id`` is the PaymentIntent id.
Every POST carries the caller's idempotency key, which is also written into the
intent's metadata (``idempotency_key``): an unknown outcome is reconciled by sending the
same request with the same key (Stripe replays its first answer for 24 hours) and by
listing the customer's PaymentIntents since the attempt (``GET /v1/payment_intents``
by customer and ``created``, newest first, ``starting_after`` while ``has_more``) and
matching that metadata. The Search API (``find_charge_by_idempotency_key``) is a last
resort only: Stripe says not to use it for read-after-write, its results can lag by a
minute or more, and not every account has it. The library's own retries are off: the
caller's policy decides.

==========================================  ============================================
``stripe.CardError`` (402)                  ProcessorDeclined (``.result``: the intent)
``InvalidRequestError`` 404                 ProcessorNotFound
``InvalidRequestError``                     ProcessorInvalidRequest
``IdempotencyError``                        ProcessorIdempotencyConflict
``AuthenticationError``/``PermissionError``  ProcessorAuthenticationError
``RateLimitError``, ``APIError`` (5xx,      ProcessorUnavailable
409 key in use by a request in flight)
``APIConnectionError`` on connect           ProcessorUnavailable
``APIConnectionError`` after sending a POST  ProcessorTimeout (outcome unknown)
==========================================  ============================================
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import requests
import stripe

from processors.base import (
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
from processors.money import from_minor_units, to_minor_units

_STATUS = {
    "succeeded": ChargeStatus.SUCCEEDED,
    "processing": ChargeStatus.PROCESSING,
    "requires_action": ChargeStatus.REQUIRES_ACTION,
    "requires_confirmation": ChargeStatus.REQUIRES_ACTION,
    "requires_capture": ChargeStatus.PROCESSING,
    "canceled": ChargeStatus.FAILED,
    # After a confirmation attempt failed, the intent waits for another method.
    "requires_payment_method": ChargeStatus.FAILED,
}

# The charge's payment_method_details.type → the interface's method type.
_METHOD_TYPES = {"card": PaymentMethodType.CARD, "us_bank_account": PaymentMethodType.ACH}


def _get(obj: Any, name: str, default=None):
    if obj is None:
        return default
    try:
        value = obj[name]
    except (KeyError, TypeError):
        value = getattr(obj, name, default)
    return default if value is None else value


def _intent_result(pi: Any) -> ChargeResult:
    currency = str(_get(pi, "currency", "")).upper()
    error = _get(pi, "last_payment_error")
    charge = _get(pi, "latest_charge")
    disputed = bool(_get(charge, "disputed", False)) if not isinstance(charge, str) else False
    refunded = _get(charge, "amount_refunded", 0) if not isinstance(charge, str) else 0
    metadata = _to_dict(_get(pi, "metadata", {}) or {})
    details = _get(charge, "payment_method_details") if not isinstance(charge, str) else None
    method_type = _METHOD_TYPES.get(str(_get(details, "type", "")), "")
    customer = _get(pi, "customer", "")  # the customer's id, or the Customer when expanded
    return ChargeResult(
        status=_STATUS.get(_get(pi, "status", ""), ChargeStatus.FAILED),
        processor_id=_get(pi, "id", ""),
        amount=from_minor_units(int(_get(pi, "amount", 0)), currency),
        currency=currency,
        amount_refunded=from_minor_units(int(refunded or 0), currency),
        disputed=disputed,
        failure_code=str(_get(error, "decline_code", "") or _get(error, "code", "")),
        failure_message=str(_get(error, "message", "")),
        idempotency_key=str(metadata.get("idempotency_key", "")),
        payment_method_type=method_type,
        metadata={str(k): str(v) for k, v in metadata.items()},
        customer_ref=customer if isinstance(customer, str) else str(_get(customer, "id", "")),
        raw=_to_dict(pi),
    )


def _refund_result(refund: Any) -> RefundResult:
    currency = str(_get(refund, "currency", "")).upper()
    status = {"succeeded": RefundStatus.SUCCEEDED, "failed": RefundStatus.FAILED, "canceled": RefundStatus.FAILED}
    return RefundResult(
        status=status.get(_get(refund, "status", ""), RefundStatus.PENDING),
        processor_id=_get(refund, "id", ""),
        charge_id=str(_get(refund, "payment_intent", "") or _get(refund, "charge", "")),
        amount=from_minor_units(int(_get(refund, "amount", 0)), currency),
        currency=currency,
        failure_code=str(_get(refund, "failure_reason", "")),
        raw=_to_dict(refund),
    )


def _to_dict(obj: Any) -> dict:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(obj) if isinstance(obj, dict) else {}


class StripeProcessor(PaymentProcessor):
    def __init__(self, api_key: str, api_base: str | None = None, timeout: float = 20.0):
        self.timeout = timeout
        self._http = stripe.RequestsClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=0,
            http_client=self._http,
        )
        self._v1 = self._client.v1

    def close(self) -> None:
        self._http.close()

    # --- the interface ----------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeResult:
        currency = request.currency.upper()
        params: dict[str, Any] = {
            "amount": to_minor_units(request.amount, currency),
            "currency": currency.lower(),
            "payment_method": request.payment_method_token,
            "confirm": True,
            "off_session": True,
            "description": request.description,
            "metadata": {**request.metadata, "idempotency_key": request.idempotency_key},
            "expand": ["latest_charge"],
        }
        if request.customer_ref:
            params["customer"] = request.customer_ref
        if request.save_payment_method:
            # Attach the payment method to the customer when the charge succeeds, so it
            # can be charged again later. Stripe refuses ``off_session`` with it ("you
            # cannot set up future usages when processing payments off-session"): the
            # card is being entered now, so this charge is on session.
            params["setup_future_usage"] = "off_session"
            del params["off_session"]
        pi = self._call(self._v1.payment_intents.create, params, key=request.idempotency_key, post=True, declines=True)
        return _intent_result(pi)

    def create_payment_request(self, request: PaymentRequestSpec) -> PaymentRequestResult:
        currency = request.currency.upper()
        params: dict[str, Any] = {
            "amount": to_minor_units(request.amount, currency),
            "currency": currency.lower(),
            "description": request.description,
            "metadata": {**request.metadata, "idempotency_key": request.idempotency_key},
        }
        if request.customer_ref:
            params["customer"] = request.customer_ref
        pi = self._call(self._v1.payment_intents.create, params, key=request.idempotency_key, post=True)
        return PaymentRequestResult(
            processor_id=pi["id"],
            status=pi["status"],
            amount=from_minor_units(int(pi["amount"]), currency),
            currency=currency,
            raw=_to_dict(pi),
        )

    def get_payment_request(self, request_id: str) -> PaymentRequestResult:
        """The payment request's PaymentIntent. Once the customer has paid it (or tried
        to: a latest charge exists, or it is processing or paid), ``charge_id`` is the
        intent's own id, since the intent is the charge here; ``get_charge`` of it says
        whether it succeeded, is still settling or failed (back to
        ``requires_payment_method``, open again)."""
        pi = self._call(
            lambda params, options=None: self._v1.payment_intents.retrieve(request_id, params, options),
            {"expand": ["latest_charge"]},
        )
        currency = str(_get(pi, "currency", "")).upper()
        status = str(_get(pi, "status", ""))
        tried = bool(_get(pi, "latest_charge")) or status in ("processing", "requires_capture", "succeeded")
        return PaymentRequestResult(
            processor_id=_get(pi, "id", ""),
            status=status,
            amount=from_minor_units(int(_get(pi, "amount", 0)), currency),
            currency=currency,
            charge_id=_get(pi, "id", "") if tried else "",
            raw=_to_dict(pi),
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        currency = request.currency.upper()
        params: dict[str, Any] = {
            "payment_intent": request.charge_id,
            "reason": request.reason,
            "metadata": dict(request.metadata),
        }
        if request.amount is not None:
            params["amount"] = to_minor_units(request.amount, currency)
        return _refund_result(self._call(self._v1.refunds.create, params, key=request.idempotency_key, post=True))

    def get_charge(self, charge_id: str) -> ChargeResult:
        pi = self._call(
            lambda params, options=None: self._v1.payment_intents.retrieve(charge_id, params, options),
            {"expand": ["latest_charge"]},
        )
        return _intent_result(pi)

    def get_refund(self, refund_id: str) -> RefundResult:
        return _refund_result(
            self._call(lambda params, options=None: self._v1.refunds.retrieve(refund_id, params, options), {})
        )

    def list_charges(self, *, customer_ref: str, created_since: datetime.datetime) -> Iterator[ChargeResult]:
        """``GET /v1/payment_intents?customer=…&created[gte]=…&limit=100``, newest first,
        following ``starting_after`` while ``has_more``. Without a customer, every
        intent created since."""
        params: dict[str, Any] = {
            "created": {"gte": int(created_since.timestamp())},
            "limit": 100,
            "expand": ["data.latest_charge"],
        }
        if customer_ref:
            params["customer"] = customer_ref
        while True:
            page = self._call(self._v1.payment_intents.list, dict(params))
            items = list(_get(page, "data", []))
            for pi in items:
                yield _intent_result(pi)
            if not items or not _get(page, "has_more", False):
                return
            params["starting_after"] = _get(items[-1], "id", "")

    def find_charge_by_idempotency_key(self, idempotency_key: str) -> ChargeResult | None:
        """The Search API on the metadata we attach; it may lag (see the module doc)."""
        if "'" in idempotency_key or "\\" in idempotency_key:
            raise ValueError(f"not an idempotency key: {idempotency_key!r}")
        found = self._call(
            self._v1.payment_intents.search,
            {"query": f"metadata['idempotency_key']:'{idempotency_key}'", "expand": ["data.latest_charge"]},
        )
        items = list(found["data"])
        return _intent_result(items[0]) if items else None

    def parse_webhook(self, payload: bytes, headers, secret: str) -> ProcessorEvent:
        """Checks ``Stripe-Signature`` with the library; reads payment_intent.* events
        (the intent's state) and charge.dispute.* events (the disputed intent)."""
        try:
            event = stripe.Webhook.construct_event(payload, headers.get("Stripe-Signature"), secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise WebhookSignatureError(str(exc)) from exc
        obj = event["data"]["object"]
        kind = event["type"]
        if kind.startswith("payment_intent."):
            result = _intent_result(obj)
            return ProcessorEvent(
                id=event["id"], type=kind, charge_id=result.processor_id, charge=result, raw=_to_dict(event)
            )
        if kind.startswith("charge.dispute."):
            return ProcessorEvent(
                id=event["id"],
                type=kind,
                charge_id=str(_get(obj, "payment_intent", "")),
                disputed=kind == "charge.dispute.created" or _get(obj, "status", "") not in ("won", "warning_closed"),
                raw=_to_dict(event),
            )
        return ProcessorEvent(id=event["id"], type=kind, raw=_to_dict(event))

    def get_payment_method(self, payment_method_id: str) -> PaymentMethodDetails:
        """``GET /v1/payment_methods/{id}``: the card a Payment Element made
        (``stripe.createPaymentMethod({elements})``): brand, last4, expiry."""
        pm = self._call(
            lambda params, options=None: self._v1.payment_methods.retrieve(payment_method_id, params, options), {}
        )
        card = _get(pm, "card")
        if card is None:
            raise ProcessorInvalidRequest(f"Payment method {payment_method_id} is not a card.")
        customer = _get(pm, "customer", "")
        return PaymentMethodDetails(
            processor_id=str(_get(pm, "id", "")),
            brand=str(_get(card, "brand", "")),
            last4=str(_get(card, "last4", "")),
            exp_month=int(_get(card, "exp_month", 0)),
            exp_year=int(_get(card, "exp_year", 0)),
            customer_ref=customer if isinstance(customer, str) else str(_get(customer, "id", "")),
        )

    # --- Stripe only --------------------------------------------------------------

    def create_customer(self, *, name: str, email: str = "", reference: str = "", idempotency_key: str) -> str:
        """``POST /v1/customers``: a Stripe customer for a contact (``reference``, our
        party id, in its metadata); returns cus_…. Idempotent on the key for 24 hours."""
        params = {"name": name, "metadata": {"party_id": reference}}
        if email:
            params["email"] = email
        return self._call(self._v1.customers.create, params, key=idempotency_key, post=True)["id"]

    def attach_payment_method(self, *, payment_method: str, customer: str) -> dict:
        """Save a payment method (pm_…) on a customer, for autopay."""
        pm = self._call(
            lambda params, options=None: self._v1.payment_methods.attach(payment_method, params, options),
            {"customer": customer},
        )
        return _to_dict(pm)

    # --- errors -------------------------------------------------------------------

    def _call(self, fn, params: dict, *, key: str = "", post: bool = False, declines: bool = False):
        if post and not key:
            raise ValueError("every POST to a processor needs an idempotency key")
        options = {"idempotency_key": key} if key else {}
        try:
            return fn(params, options)
        except stripe.CardError as exc:
            pi = _get(exc.error, "payment_intent") if exc.error is not None else None
            result = _intent_result(pi) if (declines and pi) else None
            raise ProcessorDeclined(
                exc.user_message or str(exc), result=result, **self._kwargs(exc, processor_id=_get(pi, "id", ""))
            ) from exc
        except stripe.IdempotencyError as exc:
            raise ProcessorIdempotencyConflict(str(exc), **self._kwargs(exc)) from exc
        except stripe.InvalidRequestError as exc:
            cls = ProcessorNotFound if exc.http_status == 404 else ProcessorInvalidRequest
            raise cls(exc.user_message or str(exc), **self._kwargs(exc)) from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise ProcessorAuthenticationError(str(exc), **self._kwargs(exc)) from exc
        except stripe.RateLimitError as exc:
            raise ProcessorUnavailable(str(exc), **self._kwargs(exc)) from exc
        except stripe.APIConnectionError as exc:
            cause = exc.__cause__
            not_sent = isinstance(cause, requests.exceptions.ConnectTimeout) or (
                isinstance(cause, requests.exceptions.ConnectionError)
                and not isinstance(cause, requests.exceptions.ReadTimeout)
                and "NewConnectionError" in repr(cause)
            )
            if not post or not_sent:
                raise ProcessorUnavailable(f"Cannot reach Stripe: {cause!r}", code="connection_error") from exc
            raise ProcessorTimeout(
                f"No answer from Stripe within {self.timeout}s; the request may have been processed. "
                f"Reconcile with idempotency key {key!r}.",
                code="timeout",
            ) from exc
        except stripe.APIError as exc:
            raise ProcessorUnavailable(str(exc), **self._kwargs(exc)) from exc
        except stripe.StripeError as exc:
            raise ProcessorError(str(exc), **self._kwargs(exc)) from exc

    @staticmethod
    def _kwargs(exc: stripe.StripeError, processor_id: str = "") -> dict:
        return {
            "code": exc.code or "",
            "http_status": exc.http_status,
            "request_id": exc.request_id or "",
            "processor_id": processor_id,
            "raw": exc.json_body if isinstance(exc.json_body, dict) else {},
        }
