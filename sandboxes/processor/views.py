"""The sandbox processor's JSON API (see README.md). Views parse and authenticate; the
state changes are in ``services``."""

import functools
import json
import logging
import secrets
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from sandboxes.processor import services
from sandboxes.processor.services import ApiResult, SandboxApiError

log = logging.getLogger(__name__)


def _error(status: int, type_: str, code: str, message: str) -> JsonResponse:
    return _respond(ApiResult(status, {"error": {"type": type_, "code": code, "message": message}}))


def _respond(result: ApiResult) -> JsonResponse:
    response = JsonResponse(result.body, status=result.status)
    response["Request-Id"] = "req_" + secrets.token_hex(8)
    for name, value in result.headers.items():
        response[name] = value
    return response


def _accepted_keys() -> list[str]:
    return [key for key in settings.SANDBOX_PROCESSOR_API_KEYS if key]


def sandbox_api(*methods: str):
    """Enabled check, method check, API-key auth and JSON parsing for a sandbox view.

    The view gets ``(request, account, payload, **kwargs)`` and returns an ApiResult.
    """

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs):
            if not settings.SANDBOX_PROCESSOR_ENABLED:
                return _error(404, "invalid_request_error", "not_found", "The sandbox processor is disabled.")
            if request.method not in methods:
                return _error(
                    405, "invalid_request_error", "method_not_allowed", f"{request.method} is not allowed here."
                )
            header = request.headers.get("Authorization", "")
            scheme, _, api_key = header.partition(" ")
            if scheme != "Bearer" or not api_key:
                return _error(
                    401,
                    "authentication_error",
                    "api_key_missing",
                    "No API key provided. Send 'Authorization: Bearer sk_sandbox_…'.",
                )
            if not any(secrets.compare_digest(api_key.encode(), key.encode()) for key in _accepted_keys()):
                return _error(
                    401, "authentication_error", "api_key_invalid", f"Invalid API key provided: {api_key[:14]}…"
                )
            payload: dict = {}
            if request.method == "POST" and request.body:
                try:
                    payload = json.loads(request.body)
                except (ValueError, UnicodeDecodeError):
                    return _error(400, "invalid_request_error", "invalid_json", "The request body is not valid JSON.")
                if not isinstance(payload, dict):
                    return _error(400, "invalid_request_error", "invalid_json", "The request body must be an object.")
            account = services.account_for_key(api_key)
            try:
                result = view(request, account, payload, **kwargs)
            except SandboxApiError as exc:
                result = ApiResult(exc.status, exc.body)
            if result.delay_seconds:
                # tok_timeout: everything is committed; answer after the client gave up.
                connection.close()
                time.sleep(result.delay_seconds)
                close_old_connections()
            return _respond(result)

        return wrapper

    return decorator


def _idempotency_key(request: HttpRequest) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not key or len(key) > 255:
        raise services.invalid(
            "idempotency_key_missing", "Send an Idempotency-Key header (at most 255 characters) with every POST."
        )
    return key


def _create_once(request, account, payload, create) -> ApiResult:
    """A POST that creates something, answered once per ``Idempotency-Key``: the same
    key again gets the first answer (``services.idempotent``)."""
    key = _idempotency_key(request)
    return services.idempotent(
        account=account,
        key=key,
        method="POST",
        path=request.path,
        payload=payload,
        handler=lambda: create(account=account, idempotency_key=key, payload=payload),
    )


@sandbox_api("POST", "GET")
def charges(request, account, payload):
    """POST: create a charge. GET: the account's charges, newest first, filtered by
    ``customer`` and ``created[gte|gt|lte|lt]``, paged by ``limit`` and ``starting_after``."""
    if request.method == "GET":
        return ApiResult(200, services.charge_list(account=account, params=request.GET, path=request.path))
    return _create_once(request, account, payload, services.charge_create)


@sandbox_api("GET")
def charge_search(request, account, payload):
    """GET ?idempotency_key=…: the search index, which lags behind new charges by
    ``SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS``."""
    key = request.GET.get("idempotency_key", "")
    if not key:
        raise services.invalid("parameter_missing", "Search by idempotency_key.", "idempotency_key")
    found = services.charge_search(account=account, idempotency_key=key)
    return ApiResult(200, {"object": "search_result", "data": [services.charge_body(c) for c in found]})


@sandbox_api("GET")
def charge_detail(request, account, payload, charge_id):
    return ApiResult(200, services.charge_body(services.charge_retrieve(account=account, charge_id=charge_id)))


@sandbox_api("POST")
def charge_advance(request, account, payload, charge_id):
    return ApiResult(200, services.charge_body(services.charge_advance(account=account, charge_id=charge_id)))


@sandbox_api("POST")
def refunds(request, account, payload):
    return _create_once(request, account, payload, services.refund_create)


@sandbox_api("POST")
def customers(request, account, payload):
    return _create_once(request, account, payload, services.customer_create)


@sandbox_api("GET")
def refund_detail(request, account, payload, refund_id):
    return ApiResult(200, services.refund_body(services.refund_retrieve(account=account, refund_id=refund_id)))


@sandbox_api("POST")
def payment_requests(request, account, payload):
    return _create_once(request, account, payload, services.payment_request_create)


@sandbox_api("GET")
def payment_request_detail(request, account, payload, request_id):
    pr = services.payment_request_retrieve(account=account, request_id=request_id)
    return ApiResult(200, services.payment_request_body(pr))


@sandbox_api("POST")
def payment_request_pay(request, account, payload, request_id):
    """Test helper: the customer pays the request with ``{"source": "tok_visa"}``."""
    return services.payment_request_pay(account=account, request_id=request_id, payload=payload)


# --- the card form: a script the checkout pages load, and the endpoint it posts to ---------


def _publishable_account(key: str) -> str | None:
    """The account of a publishable key ``pk_sandbox_…``: that of the secret key with
    the same rest (``sk_sandbox_…``), when the server accepts that secret key."""
    if not key.startswith("pk_"):
        return None
    secret = "sk_" + key[3:]
    if not any(secrets.compare_digest(secret.encode(), k.encode()) for k in _accepted_keys()):
        return None
    return services.account_for_key(secret)


def _cors(response: HttpResponse) -> HttpResponse:
    # The card form runs on the checkout's pages, which may be served from another origin.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def elements_js(request: HttpRequest):
    """``elements.js``: the sandbox's card form (``SandboxElements``), which a checkout
    page mounts; it sends the card to ``payment_methods`` with the publishable key and
    hands back a payment method id. The page never sees where the number goes."""
    if not settings.SANDBOX_PROCESSOR_ENABLED:
        return HttpResponse(status=404)
    script = render_to_string("sandbox_processor/elements.js", {})
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return _cors(response)


@csrf_exempt
def payment_methods(request: HttpRequest):
    """POST (from the card form, a plain-text JSON body so no preflight is needed):
    ``{"key": "pk_sandbox_…", "card": {"number", "exp_month", "exp_year", "cvc"}}`` →
    a payment method (``pm_…``, brand, last4, expiry)."""
    if not settings.SANDBOX_PROCESSOR_ENABLED:
        return _error(404, "invalid_request_error", "not_found", "The sandbox processor is disabled.")
    if request.method != "POST":
        return _error(405, "invalid_request_error", "method_not_allowed", f"{request.method} is not allowed here.")
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        return _cors(_error(400, "invalid_request_error", "invalid_json", "The request body must be a JSON object."))
    account = _publishable_account(str(payload.get("key") or ""))
    if account is None:
        return _cors(
            _error(401, "authentication_error", "api_key_invalid", "Send the sandbox's publishable key (pk_…).")
        )
    try:
        method = services.payment_method_create(account=account, payload=payload)
    except SandboxApiError as exc:
        return _cors(_respond(ApiResult(exc.status, exc.body)))
    return _cors(_respond(ApiResult(200, services.payment_method_body(method))))


@sandbox_api("GET")
def payment_method_detail(request, account, payload, method_id):
    method = services.payment_method_retrieve(account=account, method_id=method_id)
    return ApiResult(200, services.payment_method_body(method))
