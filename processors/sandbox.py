"""The sandbox processor adapter: a real HTTP client (httpx) for the sandbox's JSON API.

It maps each HTTP outcome to the interface's results and errors and never retries:

=====================================  ==============================================
2xx                                    ChargeResult / RefundResult
402 (card_error)                       ProcessorDeclined (``.result``: the failed charge)
400                                    ProcessorInvalidRequest
401                                    ProcessorAuthenticationError
404                                    ProcessorNotFound
409                                    ProcessorIdempotencyConflict
429, 5xx; connection refused / reset   ProcessorUnavailable (retry with the same key)
  before the request was sent
no answer in time after sending        ProcessorTimeout (POST: outcome unknown); a GET
                                       that times out is ProcessorUnavailable
=====================================  ==============================================
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import httpx

from processors import signatures
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

# The sandbox's payment method types on the wire → the interface's.
_METHOD_TYPES = {"card": PaymentMethodType.CARD, "us_bank_account": PaymentMethodType.ACH}
# Errors raised before any byte of the request reached the server: nothing happened.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class SandboxProcessor(PaymentProcessor):
    """Talks to the sandbox processor at ``base_url`` (…/sandbox/processor/v1)."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0, *, transport=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "PayCentral/1 (sandbox adapter)",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    # --- the interface ----------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeResult:
        currency = request.currency.upper()
        body = {
            "amount": to_minor_units(request.amount, currency),
            "currency": currency,
            "source": request.payment_method_token,
            "customer": request.customer_ref,
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        if request.save_payment_method:
            body["setup_future_usage"] = "off_session"
        data = self._request("POST", "/charges", json=body, idempotency_key=request.idempotency_key)
        return _charge_result(data)

    def refund(self, request: RefundRequest) -> RefundResult:
        currency = request.currency.upper()
        body: dict[str, Any] = {
            "charge": request.charge_id,
            "currency": currency,
            "reason": request.reason,
            "metadata": dict(request.metadata),
        }
        if request.amount is not None:
            body["amount"] = to_minor_units(request.amount, currency)
        data = self._request("POST", "/refunds", json=body, idempotency_key=request.idempotency_key)
        return _refund_result(data)

    def get_charge(self, charge_id: str) -> ChargeResult:
        return _charge_result(self._request("GET", f"/charges/{_path_id(charge_id)}"))

    def get_refund(self, refund_id: str) -> RefundResult:
        return _refund_result(self._request("GET", f"/refunds/{_path_id(refund_id)}"))

    def list_charges(self, *, customer_ref: str, created_since: datetime.datetime) -> Iterator[ChargeResult]:
        """``GET charges?customer=…&created[gte]=…&limit=100``, newest first, following
        ``starting_after`` while ``has_more``."""
        params: dict[str, Any] = {"created[gte]": int(created_since.timestamp()), "limit": 100}
        if customer_ref:
            params["customer"] = customer_ref
        while True:
            page = self._request("GET", "/charges", params=params)
            items = page.get("data") or []
            for item in items:
                yield _charge_result(item)
            if not items or not page.get("has_more"):
                return
            params = {**params, "starting_after": items[-1]["id"]}

    def find_charge_by_idempotency_key(self, idempotency_key: str) -> ChargeResult | None:
        """``GET charges/search?idempotency_key=…``: the sandbox's search, which lags
        ``SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS`` behind new charges."""
        data = self._request("GET", "/charges/search", params={"idempotency_key": idempotency_key})
        items = data.get("data") or []
        return _charge_result(items[0]) if items else None

    def create_payment_request(self, request: PaymentRequestSpec) -> PaymentRequestResult:
        currency = request.currency.upper()
        body = {
            "amount": to_minor_units(request.amount, currency),
            "currency": currency,
            "customer": request.customer_ref,
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        data = self._request("POST", "/payment_requests", json=body, idempotency_key=request.idempotency_key)
        return _payment_request_result(data)

    def get_payment_request(self, request_id: str) -> PaymentRequestResult:
        return _payment_request_result(self._request("GET", f"/payment_requests/{_path_id(request_id)}"))

    def create_customer(self, *, name: str, email: str = "", reference: str = "", idempotency_key: str) -> str:
        """``POST customers``: a customer to keep cards for; returns its id (cus_…)."""
        body = {"name": name, "email": email, "metadata": {"party_id": reference} if reference else {}}
        data = self._request("POST", "/customers", json=body, idempotency_key=idempotency_key)
        customer_id = data.get("id")
        if not isinstance(customer_id, str) or not customer_id:
            raise ProcessorError("The sandbox processor answered a customer without an id.", raw=data)
        return customer_id

    def get_payment_method(self, payment_method_id: str) -> PaymentMethodDetails:
        """``GET payment_methods/{id}``: a card tokenized by the sandbox's card form."""
        data = self._request("GET", f"/payment_methods/{_path_id(payment_method_id)}")
        return _payment_method_details(data)

    def parse_webhook(self, payload: bytes, headers, secret: str) -> ProcessorEvent:
        """Sandbox events: ``{"id": "evt_…", "type": "charge.updated" | "charge.disputed",
        "data": {"object": <charge>}}`` signed in header ``Sandbox-Signature``."""
        signatures.verify(payload, headers.get("Sandbox-Signature"), secret)
        try:
            data = json.loads(payload)
            charge = _charge_result(data["data"]["object"])
            return ProcessorEvent(
                id=str(data["id"]),
                type=str(data["type"]),
                charge_id=charge.processor_id,
                charge=charge,
                disputed=charge.disputed,
                raw=data,
            )
        except (ValueError, KeyError, TypeError, ProcessorError) as exc:
            raise WebhookSignatureError(f"The event cannot be read: {exc}") from exc

    # --- sandbox only -------------------------------------------------------------

    def advance(self, charge_id: str) -> ChargeResult:
        """Settle a processing charge (or dispute a tok_dispute one) now."""
        path = f"/test_helpers/charges/{_path_id(charge_id)}/advance"
        return _charge_result(self._request("POST", path, moves_money=False))

    def pay_payment_request(self, request_id: str, source: str) -> PaymentRequestResult:
        """The customer pays the request on its hosted page with test token ``source``
        (a card or bank token). A declined token raises ``ProcessorDeclined``; a request
        already paid (or still settling) is refused with 409."""
        path = f"/test_helpers/payment_requests/{_path_id(request_id)}/pay"
        return _payment_request_result(self._request("POST", path, json={"source": source}, moves_money=False))

    # --- HTTP ---------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, json=None, params=None, idempotency_key: str = "", moves_money: bool = True
    ) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if method == "POST" and moves_money and not idempotency_key:
            raise ValueError("every POST to a processor needs an idempotency key")
        try:
            response = self._client.request(method, path, json=json, params=params, headers=headers)
        except _NOT_SENT as exc:
            raise ProcessorUnavailable(f"Cannot reach the sandbox processor: {exc}", code="connection_error") from exc
        except httpx.TimeoutException as exc:
            if method == "GET":
                raise ProcessorUnavailable(f"The sandbox processor did not answer in time: {exc}") from exc
            raise ProcessorTimeout(
                f"No answer from the sandbox processor within {self.timeout}s; the request may have been "
                f"processed. Reconcile with idempotency key {idempotency_key!r}.",
                code="timeout",
            ) from exc
        except httpx.TransportError as exc:
            if method == "GET":
                raise ProcessorUnavailable(f"The sandbox processor connection failed: {exc}") from exc
            raise ProcessorTimeout(
                f"The connection failed after the request was sent; the outcome is unknown. Reconcile with "
                f"idempotency key {idempotency_key!r}. ({exc})",
                code="connection_lost",
            ) from exc
        return _raise_for_status(response)


def _path_id(value: str) -> str:
    if not value or "/" in value or "?" in value or "#" in value:
        raise ValueError(f"not a processor id: {value!r}")
    return value


def _raise_for_status(response: httpx.Response) -> dict:
    request_id = response.headers.get("Request-Id", "")
    try:
        data = response.json()
    except ValueError:
        data = None
    status = response.status_code
    if 200 <= status < 300:
        if not isinstance(data, dict):
            raise ProcessorError(
                f"The sandbox processor answered {status} without a JSON object.",
                http_status=status,
                request_id=request_id,
            )
        return data
    error = (data or {}).get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    message = error.get("message") or f"HTTP {status} from the sandbox processor"
    kwargs = {
        "code": error.get("code") or "",
        "http_status": status,
        "request_id": request_id,
        "raw": data if isinstance(data, dict) else {},
        "processor_id": error.get("charge") or "",
    }
    if status == 402:
        charge = error.get("charge_object")
        result = _charge_result(charge) if isinstance(charge, dict) else None
        raise ProcessorDeclined(message, result=result, **kwargs)
    if status == 429 or status >= 500:
        raise ProcessorUnavailable(message, **kwargs)
    exc_class = {
        400: ProcessorInvalidRequest,
        401: ProcessorAuthenticationError,
        403: ProcessorAuthenticationError,
        404: ProcessorNotFound,
        409: ProcessorIdempotencyConflict,
    }.get(status, ProcessorError)
    raise exc_class(message, **kwargs)


def _charge_result(data: dict) -> ChargeResult:
    try:
        currency = data["currency"].upper()
        return ChargeResult(
            status=ChargeStatus(data["status"]),
            processor_id=data["id"],
            amount=from_minor_units(data["amount"], currency),
            currency=currency,
            amount_refunded=from_minor_units(data.get("amount_refunded") or 0, currency),
            disputed=bool(data.get("disputed")),
            failure_code=data.get("failure_code") or "",
            failure_message=data.get("failure_message") or "",
            idempotency_key=data.get("idempotency_key") or "",
            payment_method_type=_METHOD_TYPES.get(data.get("payment_method_type") or "", ""),
            payment_request_id=str((data.get("metadata") or {}).get("payment_request") or ""),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            customer_ref=str(data.get("customer") or ""),
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProcessorError(f"Unexpected charge object from the sandbox processor: {exc!r}", raw=data) from exc


def _payment_request_result(data: dict) -> PaymentRequestResult:
    try:
        currency = data["currency"].upper()
        return PaymentRequestResult(
            processor_id=data["id"],
            status=data["status"],
            amount=from_minor_units(data["amount"], currency),
            currency=currency,
            charge_id=data.get("charge") or "",
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProcessorError(f"Unexpected payment request from the sandbox processor: {exc!r}", raw=data) from exc


def _refund_result(data: dict) -> RefundResult:
    try:
        currency = data["currency"].upper()
        return RefundResult(
            status=RefundStatus(data["status"]),
            processor_id=data["id"],
            charge_id=data["charge"],
            amount=from_minor_units(data["amount"], currency),
            currency=currency,
            failure_code=data.get("failure_code") or "",
            failure_message=data.get("failure_message") or "",
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProcessorError(f"Unexpected refund object from the sandbox processor: {exc!r}", raw=data) from exc


def _payment_method_details(data: dict) -> PaymentMethodDetails:
    try:
        card = data["card"]
        return PaymentMethodDetails(
            processor_id=data["id"],
            brand=str(card["brand"]),
            last4=str(card["last4"]),
            exp_month=int(card["exp_month"]),
            exp_year=int(card["exp_year"]),
            customer_ref=str(data.get("customer") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProcessorError(f"Unexpected payment method from the processor: {exc!r}", raw=data) from exc
